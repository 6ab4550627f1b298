"""``POST /ofrep/v1/track``: OpenFeature tracking events into the same ingestion as ``track()``.

OpenFeature's Tracking API (``client.track(name, context, details)``) reaches
the provider's ``track`` method; OFREP defines no endpoint for it yet (an open
proposal in open-feature/protocol, issue 71, with no schema). This endpoint
takes the OpenFeature names as they are — ``trackingEventName``, ``context``
(the evaluation context), ``trackingEventDetails`` — in a bulk body, because
the proposal's discussion asks for flushed batches.

Authenticated with the environment's SDK key, as evaluation is; the event goes
to the product the environment's project is linked to, through
``events.ingestion`` (the same validation, the same single ``INSERT``, the same
``uuid`` idempotency): an OpenFeature event and a ``track()`` event are one
stream. Errors use OFREP's shape (``errorCode``, ``errorDetails``), the details
naming the field as the client sent it (``events[2].trackingEventName``).

Attribution, as the flag rollup resolves a license: the product's license whose
key is ``context.licenseKey``, else the one whose key is ``context.targetingKey``.
A targetingKey that is no license key is not stored (it is usually a user id).
"""

from __future__ import annotations

import re

from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from events import ingestion
from events.ingestion import IngestError
from events.models import License
from flags.evaluation import TARGETING_KEY
from flags.models import Environment
from flags.ofrep_apis import LICENSE_KEY
from flags.ofrep_auth import SdkKeyRejected, authenticate_sdk_key, rate_limit_retry_after
from lib.openapi import cross_field_rules
from lib.public_bodies import public_body_read

RATE_SCOPE = "ofrep"
MAX_EVENTS = ingestion.MAX_BATCH_EVENTS
MAX_BODY_BYTES = ingestion.MAX_BATCH_BODY_BYTES
# Ingestion's field names -> the OpenFeature names this body uses, for the error messages.
_FIELD_NAMES = {
    "event": "trackingEventName",
    "properties": "trackingEventDetails",
    "uuid": "id",
    "license_key": "context.licenseKey",
}
_FIELD_IN_MESSAGE = re.compile(r"^(events\[\d+\]\.)(event|properties|uuid|license_key)\b")
_ERROR_CODES = {400: "PARSE_ERROR", 413: "PARSE_ERROR", 415: "PARSE_ERROR"}


class TrackingFailure(Exception):
    def __init__(self, status: int, code: str, details: str, retry_after: int = 0):
        super().__init__(details)
        self.status, self.code, self.details, self.retry_after = status, code, details, retry_after


def _ofrep_field_names(message: str) -> str:
    return _FIELD_IN_MESSAGE.sub(lambda m: m.group(1) + _FIELD_NAMES[m.group(2)], message)


def tracking_parse(data: dict, *, now, fallback_domain: str) -> list[tuple[ingestion.IncomingEvent, str, str]]:
    """Each event as ingestion's :class:`IncomingEvent` (license key still unresolved), with its
    context's licenseKey and targetingKey; all or nothing, the first bad field named."""
    raw_events = data.get("events")
    if raw_events is None:
        raise IngestError('events: required; send {"events": [{"trackingEventName": …, "context": {…}}]}.')
    if not isinstance(raw_events, list):
        raise IngestError("events: must be a list of tracking event objects.")
    if not 1 <= len(raw_events) <= MAX_EVENTS:
        raise IngestError(f"events: must hold 1 to {MAX_EVENTS} events, not {len(raw_events)}.")
    parsed = []
    for index, raw in enumerate(raw_events):
        prefix = f"events[{index}]."
        if not isinstance(raw, dict):
            raise IngestError(f"events[{index}]: must be a JSON object.")
        context = raw.get("context")
        if context is None:
            context = {}
        if not isinstance(context, dict):
            raise IngestError(f"{prefix}context: must be a JSON object (the evaluation context).")
        keys = {}
        for name in (LICENSE_KEY, TARGETING_KEY):
            value = context.get(name)
            if value is not None and not isinstance(value, str):
                raise IngestError(f"{prefix}context.{name}: must be a string.")
            keys[name] = (value or "").strip()
            if len(keys[name]) > 200 or "\x00" in keys[name]:
                raise IngestError(f"{prefix}context.{name}: at most 200 characters, without NUL.")
        translated = {
            "event": raw.get("trackingEventName"),
            "properties": raw.get("trackingEventDetails"),
            "timestamp": raw.get("timestamp"),
            "uuid": raw.get("id"),
            "site": raw.get("site"),
        }
        try:
            event = ingestion.event_parse(translated, now=now, fallback_domain=fallback_domain, field_prefix=prefix)
        except IngestError as error:
            raise IngestError(_ofrep_field_names(error.message), code=error.code, status=error.status) from None
        parsed.append((event, keys[LICENSE_KEY], keys[TARGETING_KEY]))
    return parsed


def licenses_resolve(*, product_id: int, pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Which of the (licenseKey, targetingKey) pairs' keys are license keys of the product: one query."""
    names = {key for pair in pairs for key in pair if key}
    if not names:
        return {}
    return dict.fromkeys(
        License.objects.filter(Q(key__in=names), product_id=product_id).values_list("key", flat=True), ""
    )


def attributed_key(license_key: str, targeting_key: str, known: dict[str, str]) -> str:
    """The key stored as the event's license_key: the licenseKey when it is a license's, else the
    targetingKey when it is one's, else the licenseKey as given (a license created later still matches by key)."""
    if license_key and license_key in known:
        return license_key
    if targeting_key and targeting_key in known:
        return targeting_key
    return license_key


@method_decorator(csrf_exempt, name="dispatch")
class TrackApi(View):
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest):
        try:
            accepted = self._track(request)
        except TrackingFailure as failure:
            response = JsonResponse({"errorCode": failure.code, "errorDetails": failure.details}, status=failure.status)
            if failure.retry_after:
                response["Retry-After"] = str(failure.retry_after)
            return response
        return JsonResponse({"accepted": accepted})

    def _track(self, request: HttpRequest) -> int:
        try:
            key_id, environment_id, _ = authenticate_sdk_key(request)
        except SdkKeyRejected as rejected:
            raise TrackingFailure(rejected.status, "GENERAL", rejected.details, rejected.retry_after) from None
        retry_after = rate_limit_retry_after(key_id, RATE_SCOPE)
        if retry_after is not None:
            raise TrackingFailure(429, "GENERAL", "Too many requests for this SDK key; retry later.", retry_after)
        product_id = Environment.objects.filter(pk=environment_id).values_list("project__product_id", flat=True).first()
        if product_id is None:
            raise TrackingFailure(
                409,
                "GENERAL",
                "This environment's project is linked to no product: link one (PATCH /v1/projects/{id} productId) "
                "so that its tracking events have licenses to count against.",
            )
        now = ingestion.now_utc()
        try:
            body = public_body_read(request, limit=MAX_BODY_BYTES, error=IngestError)
            data = ingestion.body_parse(body)
            fallback = ingestion.fallback_domain_from_headers(
                request.META.get("HTTP_ORIGIN"), request.META.get("HTTP_REFERER")
            )
            parsed = tracking_parse(data, now=now, fallback_domain=fallback)
        except IngestError as error:
            raise TrackingFailure(error.status, _ERROR_CODES.get(error.status, "GENERAL"), error.message) from None
        known = licenses_resolve(product_id=product_id, pairs=[(lk, tk) for _, lk, tk in parsed])
        events = [
            _with_license_key(event, attributed_key(license_key, targeting_key, known))
            for event, license_key, targeting_key in parsed
        ]
        ingestion.events_store(product_id=product_id, events=events, received_at=now)
        return len(events)


def _with_license_key(event: ingestion.IncomingEvent, license_key: str) -> ingestion.IncomingEvent:
    fields = {name: getattr(event, name) for name in event.__slots__}
    fields["license_key"] = license_key
    return ingestion.IncomingEvent(**fields)


def openapi_paths(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the tracking endpoint is a plain view, described by hand."""
    tracking_event = {
        "type": "object",
        "properties": {
            "trackingEventName": {"type": "string", "minLength": 1, "maxLength": 200},
            "context": {
                "type": "object",
                "description": "The evaluation context; licenseKey, else targetingKey, names the license.",
                "properties": {"targetingKey": {"type": "string"}, "licenseKey": {"type": "string"}},
            },
            "trackingEventDetails": {"type": "object", "description": "Stored as the event's properties (32 KiB)."},
            "timestamp": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "maxLength": 64, "description": "Idempotency key per product (the event uuid)."},
            "site": {"type": "string", "description": "Domain; defaults to the Origin, then Referer host."},
        },
        "required": ["trackingEventName"],
    }
    error = {"$ref": "#/components/schemas/OfrepError"}  # declared by flags.ofrep_openapi, which runs first
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": error}}}
        for code, text in [
            (400, "Bad input, naming the field"),
            (401, "Missing or unknown SDK key"),
            (403, "Revoked SDK key"),
            (409, "The project is linked to no product"),
            (413, "Body too large"),
            (415, "Not JSON"),
            (429, "Rate limited (Retry-After)"),
            (503, "Database unavailable (Retry-After)"),
        ]
    }
    body = {
        "type": "object",
        "properties": {"events": {"type": "array", "items": tracking_event, "minItems": 1, "maxItems": MAX_EVENTS}},
        "required": ["events"],
    }
    result.setdefault("paths", {})["/ofrep/v1/track"] = {
        "post": {
            "operationId": "ofrep_track",
            "summary": "Track OpenFeature tracking events (client.track) into Feature Usage",
            "description": cross_field_rules(
                "Each `trackingEventName` and `site` is text ingestion can store: no control characters, not blank.",
                "Each `timestamp` lies within the window ingestion accepts (not far in the past or future).",
                "Each `trackingEventDetails` serializes to at most 32 KiB; the body to at most 1 MiB (413).",
                "The project of the SDK key's environment is linked to a product (else 409).",
            ),
            "tags": ["ofrep"],
            "security": [{"SdkKey": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {
                    "description": "Accepted (retried ids are accepted and stored once)",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"accepted": {"type": "integer"}}}
                        }
                    },
                },
                **errors,
            },
        }
    }
    return result
