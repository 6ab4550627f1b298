"""CORS for /ofrep/*: OpenFeature web providers evaluate flags from customers' sites.

Every /ofrep/ response allows any origin with ``Access-Control-Allow-Origin: *``
rather than echoing the request's Origin. OFREP authenticates with an SDK key
sent as ``Authorization: Bearer`` or ``X-API-Key`` — headers the script sets
itself, which the Fetch standard does not count as credentials — and never
with cookies, so no response needs ``Allow-Credentials`` and none depends on
the Origin: no ``Vary: Origin``, and a shared cache may keep a 304's headers.
An SDK key is public by design (it ships in the page), so no origin list would
protect it. ``*`` would fail only a client that opts into
``credentials: "include"``, which no OFREP provider does.

Hand-written rather than django-cors-headers (which serves /public/): its
settings are global, and /ofrep/ needs other allowed and exposed headers.
"""

from __future__ import annotations

from django.http import HttpResponse

OFREP_PREFIX = "/ofrep/"
ALLOW_METHODS = "GET, POST, OPTIONS"
# What the OFREP providers send: the key (either header), a JSON body, and the bulk re-poll's ETag.
ALLOW_HEADERS = "Authorization, X-API-Key, Content-Type, If-None-Match"
# Hidden from cross-origin scripts unless listed: without ETag every re-poll is a full 200,
# without Retry-After a rate-limited provider cannot back off.
EXPOSE_HEADERS = "ETag, Retry-After"
# Firefox honours a day; Chromium caps any value at two hours.
MAX_AGE_SECONDS = 86400


class OfrepCorsMiddleware:
    """Answers /ofrep/ preflights (204) and adds the CORS headers to every other /ofrep/ response.

    Listed first in the middleware stacks, so that responses made by the
    middleware below it (503 database unavailable, 500, URL-resolver 404) carry
    the headers too: a browser hides a response without them from the script,
    which then sees a network error instead of the OFREP error body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(OFREP_PREFIX):
            return self.get_response(request)
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            # A preflight carries no SDK key: answered before authentication, for any /ofrep/ path.
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Origin"] = "*"
            response["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
            return response
        response = self.get_response(request)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
