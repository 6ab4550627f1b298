"""``POST /public/v1/event`` served from WSGI without Django's handler chain (issue 22).

Profiled in process, one single event through the machine handler spent about as
much CPU in Django's request cycle as in its own work: the middleware chain (seven
wrapped layers), URL resolution over every app's patterns, django-cors-headers'
regex and header patching. None of it decides anything for this one path and
method, so :class:`SingleEventApplication` calls the same view
(``events.public_apis.event_create``) on the same ``WSGIRequest`` and adds by hand
exactly the headers ``settings.MACHINE_MIDDLEWARE`` would add (:data:`MIRRORED`):

* ``SecurityMiddleware``: nosniff, Referrer-Policy, Cross-Origin-Opener-Policy,
  HSTS on a secure request. A plain-HTTP request that it would redirect to HTTPS
  goes to Django instead.
* ``CorsMiddleware`` (django-cors-headers, any origin, no credentials): ``Vary:
  origin``, and with an Origin header ``Access-Control-Allow-Origin: *`` and the
  exposed headers.
* ``CommonMiddleware``: Content-Length, and the Host check (``ALLOWED_HOSTS``):
  a Host it would refuse goes to Django, which answers its own 400.
* ``DatabaseUnavailableMiddleware``: the same 503 (``lib.middleware.unavailable_response``).
* ``OfrepCorsMiddleware``, ``SdkKeyUsageMiddleware``: nothing on this path.

Everything else (another method, a preflight, a CORS or security setting this
module does not mirror) goes to the Django machine handler, which stays the
reference: ``tests/events/test_wsgi_event.py`` compares both answer by answer.
The ``request_started`` / ``request_finished`` signals are sent as Django sends
them (the database connections' age and health are checked there), and an
unexpected exception is Django's own 500 (``response_for_exception``: logged,
``got_request_exception`` sent).
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from events.public_apis import event_create
from lib.middleware import unavailable_response

PATH = "/public/v1/event"
# The stack whose response headers SingleEventApplication reproduces; another list disables it.
MIRRORED = (
    "flags.cors.OfrepCorsMiddleware",
    "lib.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "events.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "flags.middleware.SdkKeyUsageMiddleware",
)


def mirrored_settings() -> bool:
    """Whether the settings are the ones this path reproduces (else every request goes to Django)."""
    return (
        tuple(settings.MACHINE_MIDDLEWARE) == MIRRORED
        and settings.CORS_ALLOW_ALL_ORIGINS
        and not settings.CORS_ALLOW_CREDENTIALS
        and not getattr(settings, "CORS_ALLOW_PRIVATE_NETWORK", False)
        and settings.CORS_URLS_REGEX == r"^/public/.*$"
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
    )


class SingleEventApplication:
    """The lean path; ``fallback`` (the machine handler) serves what it does not."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback
        # Django's handler sends its signals with its class as the sender, and so do we.
        self.sender = type(fallback)

    def __call__(self, environ, start_response):
        if not mirrored_settings():
            return self.fallback(environ, start_response)
        request = WSGIRequest(environ)  # reads nothing of the body: Django can still take the request
        if not _host_allowed(request) or (settings.SECURE_SSL_REDIRECT and not request.is_secure()):
            # A 400 for the Host or a redirect to HTTPS: Django's own answer.
            return self.fallback(environ, start_response)
        signals.request_started.send(sender=self.sender, environ=environ)
        try:
            response = event_create(request)
        except Exception as error:
            response = unavailable_response(request.path, error) or response_for_exception(request, error)
        headers = response_headers(request, response)
        # As django.core.handlers.wsgi.WSGIHandler: the response is the iterable, and closing it
        # (the server does, once sent) sends request_finished.
        response._handler_class = self.sender
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return response


def _host_allowed(request: WSGIRequest) -> bool:
    """CommonMiddleware's check (``request.get_host()``), remembered per Host header and settings."""
    # override_settings (and pytest-django's settings fixture) installs a new settings holder.
    return host_valid(request._get_raw_host(), id(settings._wrapped))


@functools.lru_cache(maxsize=1024)  # bounded: a client may send any Host it likes
def host_valid(raw_host: str, settings_holder: int) -> bool:
    probe = HttpRequest()
    probe.META = {"HTTP_HOST": raw_host}
    try:
        probe.get_host()
    except DisallowedHost:
        return False
    return True


# What MIRRORED adds, by lower-cased name: a response already holding one of them takes the slow path.
_ADDED = frozenset(
    (
        "content-length",
        "vary",
        "access-control-allow-origin",
        "access-control-expose-headers",
        "strict-transport-security",
        "x-content-type-options",
        "referrer-policy",
        "cross-origin-opener-policy",
    )
)


def response_headers(request: WSGIRequest, response) -> list[tuple[str, str]]:
    """The response's headers and those MIRRORED adds, in the order Django sends them.

    The view's responses carry Content-Type and at most Retry-After or Allow, so the
    added headers are a fixed list per (settings, Origin present, HTTPS), built once.
    """
    items = list(response.items())
    if any(name.lower() in _ADDED for name, _ in items):
        _middleware_headers(request, response)
        return list(response.items())
    origin = request.META.get("HTTP_ORIGIN")
    tail = added_headers(id(settings._wrapped), bool(origin) and origin_parses(origin), request.is_secure())
    return [*items, ("Content-Length", str(len(response.content))), *tail]


@functools.lru_cache(maxsize=64)
def added_headers(settings_holder: int, with_origin: bool, secure: bool) -> tuple[tuple[str, str], ...]:
    """The headers after Content-Length, as _middleware_headers sets them on an empty response."""
    probe = HttpResponse()
    del probe.headers["Content-Type"]
    _added_after_length(probe, with_origin=with_origin, secure=secure)
    return tuple(probe.items())


def _middleware_headers(request: WSGIRequest, response) -> None:
    """What MIRRORED adds to a response of this path, in the order Django adds it (innermost first)."""
    # CommonMiddleware
    if "Content-Length" not in response.headers:
        response.headers["Content-Length"] = str(len(response.content))
    origin = request.META.get("HTTP_ORIGIN")
    _added_after_length(response, with_origin=bool(origin) and origin_parses(origin), secure=request.is_secure())


def _added_after_length(response, *, with_origin: bool, secure: bool) -> None:
    headers = response.headers
    # CorsMiddleware (events.middleware, django-cors-headers with CORS_ALLOW_ALL_ORIGINS)
    patch_vary_headers(response, ("origin",))
    if with_origin:
        headers["access-control-allow-origin"] = "*"
        if settings.CORS_EXPOSE_HEADERS:
            headers["access-control-expose-headers"] = ", ".join(settings.CORS_EXPOSE_HEADERS)
    # SecurityMiddleware
    if settings.SECURE_HSTS_SECONDS and secure and "Strict-Transport-Security" not in headers:
        headers["Strict-Transport-Security"] = _hsts(
            settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD
        )
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.setdefault("X-Content-Type-Options", "nosniff")
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        headers.setdefault(
            "Referrer-Policy",
            ",".join([v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy),
        )
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.setdefault("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)


def origin_parses(origin: str) -> bool:
    """django-cors-headers adds nothing for an Origin that ``urlsplit`` refuses."""
    try:
        urlsplit(origin)
    except ValueError:
        return False
    return True


@functools.cache
def _hsts(seconds: int, subdomains: bool, preload: bool) -> str:
    header = f"max-age={seconds}"
    if subdomains:
        header += "; includeSubDomains"
    if preload:
        header += "; preload"
    return header
