"""Marks the SDK key of an accepted flag request as used (flags.key_usage)."""

from __future__ import annotations

from django.utils import timezone

from flags.key_usage import presented_sdk_key, sdk_key_mark_used

# The endpoints an SDK key opens: OFREP evaluation and the SDKs' evaluation counts.
SDK_KEY_PATHS = ("/ofrep/", "/public/v1/flag-evaluations")


class SdkKeyUsageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # POST only: a read never writes. Below 400: the key was accepted (a 304 re-poll is a use).
        if request.method == "POST" and response.status_code < 400 and request.path.startswith(SDK_KEY_PATHS):
            raw = presented_sdk_key(request)
            if raw:
                sdk_key_mark_used(raw_key=raw, now=timezone.now())
        return response
