"""``POST /public/v1/event`` and ``POST /public/v1/events``: ingestion from customers' browsers and servers.

Plain Django views rather than DRF APIViews: DRF's request wrapping, content
negotiation, parser and renderer cost about 190 µs of CPU per request against
about 20 µs for a plain view returning the same body (measured in-process),
a fifth of the roughly 1 ms per event that P4 leaves on this machine. The
contract is small enough to hold here by hand.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from events import group_commit, ingestion
from events.ingestion import IngestError
from events.models import EVENT_NAME_MAX_LENGTH, LICENSE_KEY_MAX_LENGTH
from lib.errors import error_body
from lib.openapi import PUBLIC_ERROR_SCHEMA, cross_field_rules
from lib.public_bodies import public_body_read
from lib.ratelimit import client_address, invalid_key_hit, invalid_key_retry_after, rate_limit_hit
from lib.text import NO_CONTROL_PATTERN, SAFE_TEXT_PATTERN

SUCCESS = b'{"success": true}'


@csrf_exempt
@group_commit.counted
def event_create(request: HttpRequest) -> HttpResponse:
    return _ingest(request, batch=False)


@csrf_exempt
def event_batch_create(request: HttpRequest) -> HttpResponse:
    return _ingest(request, batch=True)


def _ingest(request: HttpRequest, *, batch: bool) -> HttpResponse:
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Allow"] = "POST, OPTIONS"
        return response
    if request.method != "POST":
        response = error_response(IngestError("Use POST.", code="method_not_allowed", status=405))
        response["Allow"] = "POST, OPTIONS"
        return response
    try:
        body = public_body_read(
            request,
            limit=ingestion.MAX_BATCH_BODY_BYTES if batch else ingestion.MAX_EVENT_BODY_BYTES,
            error=IngestError,
        )
        data = ingestion.body_parse(body)
        public_key = ingestion.public_key_from(data)
        product_id = product_id_or_refuse(public_key, client_address(request))
        rate_limit_check(rate_limit_hit(scope="ingest", identity=public_key))
        now = ingestion.now_utc()
        fallback = ingestion.fallback_domain_from_headers(
            request.META.get("HTTP_ORIGIN"), request.META.get("HTTP_REFERER")
        )
        if batch:
            events = ingestion.batch_parse(data, now=now, fallback_domain=fallback)
            ingestion.events_store(product_id=product_id, events=events, received_at=now)
        else:
            event = ingestion.event_parse(data, now=now, fallback_domain=fallback)
            # Shares one INSERT and COMMIT with the process's concurrent single events (events.group_commit).
            group_commit.event_store(product_id=product_id, event=event, received_at=now)
    except IngestError as error:
        return error_response(error)
    if batch:
        return HttpResponse(b'{"success": true, "accepted": %d}' % len(events), content_type="application/json")
    return HttpResponse(SUCCESS, content_type="application/json")


def product_id_or_refuse(public_key: str, address: str) -> int:
    """The key's product id; 401 for an unknown key, 429 once ``address`` sent too many of them."""
    product_id = ingestion.product_id_for_public_key(public_key, before_lookup=lambda: _refuse_guessing(address))
    if product_id is None:
        _refuse_guessing(address, counted=True)
        raise IngestError("public_key: unknown public key.", code="invalid_public_key", status=401)
    return product_id


def rate_limit_check(retry_after: int | None) -> None:
    """429 when the public key's rate limit said to wait (``retry_after`` from ``rate_limit_hit``)."""
    if retry_after is not None:
        raise IngestError(
            "Too many requests for this public key; retry later.",
            code="rate_limited",
            status=429,
            retry_after=retry_after,
        )


def _refuse_guessing(address: str, *, counted: bool = False) -> None:
    """429 once the client address sent too many unknown keys; ``counted``: this request is one of them.

    Only requests with unknown keys count, and a known key is never refused here: a
    customer behind the same address as a guesser keeps ingesting.
    """
    retry_after = invalid_key_hit(address) if counted else invalid_key_retry_after(address)
    if retry_after is not None:
        raise IngestError(
            "Too many requests with unknown public keys from this address; retry later.",
            code="rate_limited",
            status=429,
            retry_after=retry_after,
        )


def error_response(error: IngestError) -> HttpResponse:
    body = error_body(error.code, error.message)
    body["success"] = False
    response = HttpResponse(json.dumps(body), status=error.status, content_type="application/json")
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


NOT_BLANK = "^(?=[\\s\\S]*\\S)"
# What OpenAPI cannot say of an event (the first two hang on the time received).
EVENT_RULES = (
    f"`timestamp` is at most {ingestion.MAX_EVENT_AGE.days} days old (one more than 10 minutes ahead "
    "counts as received now).",
    f"`properties` is at most {ingestion.MAX_PROPERTIES_BYTES} bytes once serialized as JSON, without NUL characters.",
    "`site` is a host name or an address (a URL is cut to its host).",
    "For `feature_used`, a string `properties.feature` follows the rules of `event`.",
)


def openapi_paths(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the ingestion endpoints are plain views, described by hand."""
    # Unknown fields are ignored (no additionalProperties: false): an SDK newer than the server keeps working.
    event = {
        "type": "object",
        "properties": {
            "event": {
                "type": "string",
                "minLength": 1,
                "maxLength": EVENT_NAME_MAX_LENGTH,
                "pattern": NOT_BLANK + SAFE_TEXT_PATTERN[1:],
            },
            "properties": {"type": "object", "description": "At most 32 KiB serialized."},
            "license_key": {"type": "string", "maxLength": LICENSE_KEY_MAX_LENGTH, "pattern": NO_CONTROL_PATTERN},
            "site": {
                "type": "string",
                "maxLength": 2048,
                "pattern": SAFE_TEXT_PATTERN,
                "description": "Domain; defaults to the Origin, then Referer host.",
            },
            "timestamp": {"type": "string", "format": "date-time"},
            "uuid": {
                "type": "string",
                "minLength": 1,
                "maxLength": ingestion.UUID_MAX_LENGTH,
                "pattern": NO_CONTROL_PATTERN,
                "description": "Idempotency key per product.",
            },
        },
        "required": ["event"],
    }
    single = {
        "type": "object",
        "properties": {"public_key": {"type": "string"}, **event["properties"]},
        "required": ["public_key", "event"],
    }
    batch = {
        "type": "object",
        "properties": {
            "public_key": {"type": "string"},
            "events": {"type": "array", "items": event, "minItems": 1, "maxItems": ingestion.MAX_BATCH_EVENTS},
        },
        "required": ["public_key", "events"],
    }
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": PUBLIC_ERROR_SCHEMA}}}
        for code, text in [
            (400, "Bad input, naming the field"),
            (401, "Unknown public key"),
            (413, "Body too large"),
            (415, "Not JSON"),
            (429, "Rate limited (Retry-After)"),
            (503, "Database unavailable (Retry-After)"),
        ]
    }

    def operation(operation_id: str, summary: str, schema: dict, success: dict) -> dict:
        body = {"schema": schema}
        return {
            "post": {
                "operationId": operation_id,
                "summary": summary,
                "description": cross_field_rules(*EVENT_RULES),
                "tags": ["ingestion"],
                "security": [],
                "requestBody": {"required": True, "content": {"application/json": body, "text/plain": body}},
                "responses": {
                    "200": {"description": "Accepted", "content": {"application/json": {"schema": success}}},
                    **errors,
                },
            }
        }

    result.setdefault("paths", {}).update(
        {
            "/public/v1/event": operation(
                "event_track",
                "Track one event",
                single,
                {"type": "object", "properties": {"success": {"type": "boolean"}}},
            ),
            "/public/v1/events": operation(
                "events_track_batch",
                "Track up to 1,000 events",
                batch,
                {"type": "object", "properties": {"success": {"type": "boolean"}, "accepted": {"type": "integer"}}},
            ),
        }
    )
    return result
