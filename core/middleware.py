"""Turn an unreachable database into a 503 the client can retry, never a 500 page."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("database unavailable: %s", exception)
        message = "The database is unavailable; retry later."
        if request.path.startswith("/ofrep/"):
            # OFREP clients read their own error shape (errorCode/errorDetails), not ours.
            body = {"errorCode": "GENERAL", "errorDetails": message}
        else:
            body = {"error": {"code": "database_unavailable", "message": message}}
        if request.path.startswith("/public/"):
            body["success"] = False
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
        response["Retry-After"] = str(settings.DATABASE_RETRY_AFTER_SECONDS)
        return response
