"""``POST /public/v1/flag-evaluations``: evaluation counts aggregated by an SDK.

A plain Django view like the other public endpoints (``events.public_apis``):
SDK-key authentication as for OFREP, the ingestion error shape
(``{"success": false, "error": {code, message}}``), a per-key rate limit and a
body limit checked before the body is read.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from flags import buckets, selectors
from flags.buckets import BucketError
from flags.ofrep_auth import SdkKeyRejected, authenticate_sdk_key, rate_limit_retry_after
from lib.public_bodies import public_body_read

RATE_SCOPE = "flag_evaluations"


@csrf_exempt
def flag_evaluations_create(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return HttpResponse(status=204, headers={"Allow": "POST, OPTIONS"})
    try:
        if request.method != "POST":
            raise BucketError("Use POST.", code="method_not_allowed", status=405)
        try:
            key_id, environment_id, version = authenticate_sdk_key(request)
        except SdkKeyRejected as rejected:
            raise BucketError(
                rejected.details,
                code={401: "invalid_sdk_key", 403: "revoked_sdk_key"}.get(rejected.status, "rate_limited"),
                status=rejected.status,
                retry_after=rejected.retry_after,
            ) from None
        retry_after = rate_limit_retry_after(key_id, RATE_SCOPE)
        if retry_after is not None:
            raise BucketError(
                "Too many requests for this SDK key; retry later.",
                code="rate_limited",
                status=429,
                retry_after=retry_after,
            )
        now = timezone.now()
        bucket = buckets.bucket_parse(
            public_body_read(request, limit=buckets.MAX_BODY_BYTES, error=BucketError), now=now
        )
        flags = selectors.environment_flags(environment_id=environment_id, config_version=version)
        buckets.bucket_store(
            environment_id=environment_id,
            flag_ids={key: flag.id for key, flag in flags.items()},
            bucket=bucket,
            now=now,
        )
    except BucketError as error:
        response = HttpResponse(
            json.dumps({"success": False, "error": {"code": error.code, "message": error.message}}),
            status=error.status,
            content_type="application/json",
        )
        if error.status == 405:
            response["Allow"] = "POST, OPTIONS"
        if error.retry_after:
            response["Retry-After"] = str(error.retry_after)
        return response
    # A retried bucket gets the same answer as the first copy: the client may stop retrying.
    return HttpResponse(json.dumps({"success": True, "accepted": len(bucket.entries)}), content_type="application/json")
