"""The OpenFeature Remote Evaluation Protocol: single and bulk evaluation.

OFREP has its own bodies — ``{key, value, variant, reason, metadata}`` on
success, ``{key, errorCode, errorDetails}`` on failure — and its own OpenAPI
document (open-feature/protocol), so these are plain Django views rather than
DRF ones: the /v1 machinery (content negotiation, authentication and throttle
classes, its error shape) would cost about a third of a request that must
answer a thousand times a second. The stock Python provider reads
``errorDetails`` from every error body and ``reason``/``variant`` from every
success, so both are always present.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from flags import recording, selectors
from flags.definitions import NAME_PATTERN
from flags.evaluation import TARGETING_KEY, CompiledFlag, EvaluationError, evaluate
from flags.models import Reason
from flags.ofrep_auth import SdkKeyRejected, authenticate_sdk_key, rate_limit_retry_after
from lib.text import lone_surrogate_path

logger = logging.getLogger(__name__)

# The context attribute naming the customer's license (license-aware flags).
LICENSE_KEY = "licenseKey"
# OFREP's type names, as the spec's flagEvaluation.supportedTypes enum spells them ("int", not
# "integer"): "number" flags answer integers and floats alike.
SUPPORTED_TYPES = ("boolean", "string", "int", "float", "object")


class OfrepFailure(Exception):
    def __init__(self, status: int, code: str, details: str, headers: dict | None = None):
        super().__init__(details)
        self.status, self.code, self.details, self.headers = status, code, details, headers or {}


@method_decorator(csrf_exempt, name="dispatch")
class OfrepApiView(View):
    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except OfrepFailure as failure:
            body = {"errorCode": failure.code, "errorDetails": failure.details}
            if key := kwargs.get("key"):
                body = {"key": key, **body}
            response = JsonResponse(body, status=failure.status)
            for name, value in failure.headers.items():
                response[name] = value
            return response

    def environment(self, request):
        """(environment id, config version) of the request's SDK key; 401/403/429 otherwise."""
        try:
            key_id, environment_id, version = authenticate_sdk_key(request)
        except SdkKeyRejected as rejected:
            headers = {"Retry-After": str(rejected.retry_after)} if rejected.retry_after else None
            raise OfrepFailure(rejected.status, "GENERAL", rejected.details, headers) from None
        retry_after = rate_limit_retry_after(key_id)
        if retry_after is not None:
            raise OfrepFailure(
                429, "GENERAL", "Too many evaluations for this SDK key; retry later.", {"Retry-After": str(retry_after)}
            )
        return environment_id, version

    def context(self, request) -> dict[str, Any]:
        try:
            raw = request.body
        except RequestDataTooBig:
            raise OfrepFailure(413, "PARSE_ERROR", "The body is too large.") from None
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise OfrepFailure(400, "PARSE_ERROR", "The body is not valid JSON (or nested too deeply).") from None
        if not isinstance(body, dict):
            raise OfrepFailure(400, "PARSE_ERROR", 'The body must be a JSON object: {"context": {...}}.')
        if "context" not in body:
            return {}
        context = body["context"]
        # null too: the spec's context is an object, and no stock provider sends null (they omit it).
        if not isinstance(context, dict):
            raise OfrepFailure(400, "INVALID_CONTEXT", "context must be a JSON object.")
        targeting_key = context.get(TARGETING_KEY)
        if targeting_key is not None and not isinstance(targeting_key, str):
            raise OfrepFailure(400, "INVALID_CONTEXT", "context.targetingKey must be a string.")
        # Refused here rather than stored escaped: such a key cannot be written, and one
        # row in the recorder's batch must not cost the evaluations beside it their record.
        if poisoned := lone_surrogate_path(context, path="context"):
            raise OfrepFailure(400, "INVALID_CONTEXT", f"{poisoned}: must be Unicode text (a lone surrogate is not).")
        return context


def success_body(flag: CompiledFlag, resolution) -> dict:
    return {
        "key": flag.key,
        "value": resolution.value,
        "variant": resolution.variant,
        "reason": resolution.reason.label,
        "metadata": {},
    }


def context_keys(context: dict) -> dict[str, str]:
    """The context's targetingKey and licenseKey as recorded: what exposure matches licenses by."""
    license_key = context.get(LICENSE_KEY)
    # PostgreSQL text cannot hold NUL: one such key would fail the recorder's whole batch.
    return {
        "targeting_key": (context.get(TARGETING_KEY) or "").replace("\x00", ""),
        "license_key": license_key.replace("\x00", "") if isinstance(license_key, str) else "",
    }


def record_resolution(flag: CompiledFlag, resolution, environment_id: int, at, keys: dict[str, str]) -> None:
    """Record one evaluation; ``resolution`` None is an error (no value, no variant)."""
    if resolution is None:
        recording.record(environment_id=environment_id, flag_id=flag.id, value=None, reason=Reason.ERROR, at=at, **keys)
    else:
        recording.record(
            environment_id=environment_id,
            flag_id=flag.id,
            value=resolution.value_key,
            reason=resolution.reason,
            at=at,
            variant=resolution.variant,
            **keys,
        )


def evaluate_and_record(flag: CompiledFlag, context: dict, environment_id: int, at) -> dict:
    """One flag's OFREP entry; the evaluation is recorded whatever its outcome."""
    keys = context_keys(context)
    try:
        resolution = evaluate(flag, context)
    except EvaluationError as error:
        record_resolution(flag, None, environment_id, at, keys)
        return {"key": flag.key, "errorCode": error.code, "errorDetails": error.details}
    except Exception:
        logger.exception("evaluating flag %s", flag.key)
        record_resolution(flag, None, environment_id, at, keys)
        raise OfrepFailure(500, "GENERAL", "The flag could not be evaluated; this is our fault.") from None
    record_resolution(flag, resolution, environment_id, at, keys)
    return success_body(flag, resolution)


class EvaluateFlagApi(OfrepApiView):
    def post(self, request, key: str):
        environment_id, version = self.environment(request)
        flag = selectors.environment_flags(environment_id=environment_id, config_version=version).get(key)
        if flag is None:
            # Counted for the unknown-flags list: a typo or a flag deleted while still in code.
            if NAME_PATTERN.fullmatch(key):  # only a key that could be defined: no hostile text is stored
                recording.record_unknown(environment_id=environment_id, key=key, at=timezone.now())
            raise OfrepFailure(404, "FLAG_NOT_FOUND", f"No flag '{key}' in this environment.")
        now = timezone.now()
        try:
            context = self.context(request)
        except OfrepFailure:
            recording.record(environment_id=environment_id, flag_id=flag.id, value=None, reason=Reason.ERROR, at=now)
            raise
        entry = evaluate_and_record(flag, context, environment_id, now)
        return JsonResponse(entry, status=400 if "errorCode" in entry else 200)


class EvaluateFlagsApi(OfrepApiView):
    def post(self, request):
        environment_id, version = self.environment(request)
        context = self.context(request)
        flags = selectors.environment_flags(environment_id=environment_id, config_version=version)
        entries = []
        for flag in sorted(flags.values(), key=lambda f: f.key):
            try:
                resolution = evaluate(flag, context)
            except EvaluationError as error:
                entries.append((flag, None, {"key": flag.key, "errorCode": error.code, "errorDetails": error.details}))
            else:
                entries.append((flag, resolution, success_body(flag, resolution)))
        body = {"flags": [entry for _, _, entry in entries]}
        etag = body_etag(body)
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            # Nothing is served on a 304: the client keeps what it had, so nothing is recorded.
            return HttpResponse(status=304, headers={"ETag": etag})
        now = timezone.now()
        keys = context_keys(context)
        for flag, resolution, _ in entries:
            record_resolution(flag, resolution, environment_id, now, keys)
        return JsonResponse(body, headers={"ETag": etag})


def configuration_body() -> dict:
    return {
        "name": "PackEdge",
        "capabilities": {
            "cacheInvalidation": {
                "polling": {"enabled": True, "minPollingIntervalMs": int(settings.OFREP_MIN_POLLING_INTERVAL_MS)}
            },
            "flagEvaluation": {"supportedTypes": list(SUPPORTED_TYPES)},
        },
    }


class ConfigurationApi(OfrepApiView):
    """``GET /ofrep/v1/configuration``: what a provider may rely on; the same for every key."""

    http_method_names = ["get", "options"]

    def get(self, request):
        self.environment(request)
        body = configuration_body()
        etag = body_etag(body)
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            return HttpResponse(status=304, headers={"ETag": etag})
        return JsonResponse(body, headers={"ETag": etag})


@csrf_exempt
def endpoint_not_found(request, *args, **kwargs):
    """Any other /ofrep/ path: a JSON 404 an OFREP client can read, not the site's HTML page."""
    return JsonResponse({"errorCode": "GENERAL", "errorDetails": f"No OFREP endpoint at {request.path}."}, status=404)


def body_etag(body: dict) -> str:
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'


def etag_matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",") if part.strip()]
    return any(c == "*" or c.removeprefix("W/") == etag for c in candidates)
