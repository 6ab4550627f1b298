"""Reading the body of a public endpoint (ingestion, SDK count buckets): JSON or text/plain, bounded.

``navigator.sendBeacon`` sends ``text/plain`` (no CORS preflight), so both are
JSON here. The declared length may lie, or be absent with a chunked body:
what arrived is measured, and at most one byte past the limit is read.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "")


def public_body_read(request: HttpRequest, *, limit: int, error: Callable[..., Exception]) -> bytes:
    """The raw body; ``error(message, code=, status=)`` builds what is raised for 415 and 413."""
    content_type = request.content_type or ""
    if content_type not in ACCEPTED_CONTENT_TYPES and not content_type.endswith("+json"):
        raise error(
            "Content-Type: send application/json or text/plain with a JSON body.",
            code="unsupported_media_type",
            status=415,
        )
    too_large = error(f"body: at most {limit} bytes.", code="payload_too_large", status=413)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body
