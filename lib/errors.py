"""One error shape for the whole API: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

DEFAULT_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(exceptions.APIException):
    """Raise with a machine code and a message naming the field at fault."""

    def __init__(self, message: str, *, code: str | None = None, status_code: int = status.HTTP_400_BAD_REQUEST):
        self.status_code = status_code
        self.error_code = code or DEFAULT_CODES.get(status_code, "error")
        super().__init__(detail=message, code=self.error_code)


class NotFound(ApiError):
    def __init__(self, message: str = "Not found.", code: str = "not_found"):
        super().__init__(message, code=code, status_code=status.HTTP_404_NOT_FOUND)


class PaymentRequired(ApiError):
    def __init__(self, message: str = "This feature needs a paid plan.", code: str = "plan_upgrade_required"):
        super().__init__(message, code=code, status_code=status.HTTP_402_PAYMENT_REQUIRED)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def first_error_message(detail, field: str | None = None) -> str:
    """Flatten DRF's nested validation detail into one sentence naming the field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else None
            path = f"{field}.{name}" if field and name else (name or field)
            return first_error_message(value, path)
        return "Invalid input."
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)) and not _is_message_list(item):
                return first_error_message(item, f"{field}[{index}]" if field else f"[{index}]")
            return first_error_message(item, field)
        return "Invalid input."
    message = str(detail)
    if field and not message.startswith(f"{field}:"):
        return f"{field}: {message}"
    return message


def _is_message_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _code_for(exc: exceptions.APIException) -> str:
    if isinstance(exc, ApiError):
        return exc.error_code
    if isinstance(exc, exceptions.ValidationError):
        return "invalid_request"
    if isinstance(exc, exceptions.NotAuthenticated):
        return "unauthorized"
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "invalid_api_key"
    return DEFAULT_CODES.get(exc.status_code, "error")


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, RequestDataTooBig):
        # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) would otherwise answer its HTML 400 page.
        exc = ApiError(
            f"body: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.", code="payload_too_large", status_code=413
        )
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message = first_error_message(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        message = "Too many requests; retry later."
    else:
        message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = error_body(_code_for(exc), message)
    return response
