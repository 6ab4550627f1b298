"""CORS for /public/*: django-cors-headers, with the preflight answered 204 as the API contract asks (README)."""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware as BaseCorsMiddleware


class CorsMiddleware(BaseCorsMiddleware):
    def check_preflight(self, request):
        response = super().check_preflight(request)
        if response is not None:
            # django-cors-headers answers 200; "No Content" is what a preflight carries.
            response.status_code = 204
        return response
