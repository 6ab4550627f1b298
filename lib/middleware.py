"""Turn an unreachable database into a 503 the client can retry, never a 500 page."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest

logger = logging.getLogger(__name__)


class NulCharacterMiddleware:
    """A NUL character in the query string is a 400, before any view or query sees it.

    The selectors check the ids they look up (lib/identifiers.py); this gives
    every query parameter the same answer to a NUL, whichever view reads it
    (the admin's search box included), instead of each view deciding alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Path segments are ids, which the selectors check (a malformed id is a 404 like an unknown one).
        if "%00" in request.META.get("QUERY_STRING", ""):
            message = "The query string must not contain NUL characters."
            if request.path.startswith("/v1/"):
                body = json.dumps({"error": {"code": "invalid_request", "message": message}})
                return HttpResponse(body, status=400, content_type="application/json")
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)


# SQLSTATE 25006 read_only_sql_transaction: a standby, a failover in progress or
# default_transaction_read_only; the write will succeed once a primary is back.
READ_ONLY_SQLSTATE = "25006"


def _is_unavailable(exception: Exception) -> bool:
    if isinstance(exception, (OperationalError, InterfaceError)):
        return True
    cause = exception.__cause__
    return isinstance(exception, DatabaseError) and getattr(cause, "sqlstate", None) == READ_ONLY_SQLSTATE


def _is_redis_unavailable(exception: Exception) -> bool:
    """Redis (cache or Celery broker) unreachable: what needs it waits for it, with a 503."""
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exception, (RedisConnectionError, RedisTimeoutError, BrokerError))


class DatabaseUnavailableMiddleware:
    """An unreachable or read-only database, or an unreachable Redis, answers 503 with Retry-After (never 500).

    Requests that do not need Redis never reach here for it (the rate limiter and sign-in
    throttle count per process, post-commit signals log and go on); what does need it waits.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return unavailable_response(request.path, exception)


def unavailable_response(path: str, exception: Exception) -> HttpResponse | None:
    """The 503 for an unreachable database or Redis raised while serving ``path``; None for any other error.

    Also called by the lean single-event path (``events.wsgi_event``), which has no middleware.
    """
    if _is_redis_unavailable(exception):
        logger.error("redis unavailable: %s", exception)
        code, message = "service_unavailable", "A backing service (Redis) is unavailable; retry later."
    elif _is_unavailable(exception):
        logger.error("database unavailable: %s", exception)
        code, message = "database_unavailable", "The database is unavailable; retry later."
    else:
        return None
    if path.startswith("/ofrep/"):
        # OFREP clients read their own error shape (errorCode/errorDetails), not ours.
        body = {"errorCode": "GENERAL", "errorDetails": message}
    else:
        body = {"error": {"code": code, "message": message}}
    if path.startswith("/public/"):
        body["success"] = False
    response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
    response["Retry-After"] = str(settings.DATABASE_RETRY_AFTER_SECONDS)
    return response


# The console's pages load only their own scripts, styles and images. Inline style
# attributes remain (the chart legends' colours), never inline scripts. Swagger UI at
# /docs/ is drf-spectacular's page: its scripts come from jsDelivr and it starts inline.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every HTML page (Django 5.2 has none built in; 6.0 will)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get("Content-Type", "").startswith("text/html"):
            response["Content-Security-Policy"] = DOCS_CSP if request.path.startswith("/docs/") else CONSOLE_CSP
        return response
