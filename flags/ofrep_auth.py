"""SDK-key authentication and the per-key rate limit of the OFREP endpoints."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from core import keys
from flags.models import SdkKey

SDK_KEY_PREFIX = "sdk_"
THROTTLE_SCOPE = "ofrep"


class SdkKeyRejected(Exception):
    def __init__(self, status: int, details: str):
        super().__init__(details)
        self.status, self.details = status, details


# secret hash -> (monotonic expiry, row or None); see authenticate_sdk_key
_KEY_CACHE: dict[str, tuple[float, tuple | None]] = {}
_KEY_CACHE_MAX = 10_000


def key_cache_seconds() -> float:
    return float(getattr(settings, "FLAG_CONFIG_CACHE_SECONDS", 1.0))


def forget_cached_keys() -> None:
    _KEY_CACHE.clear()


def _presented_key(meta) -> str:
    # Read from META directly: building request.headers costs more than the rest of the check.
    scheme, _, token = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return meta.get("HTTP_X_API_KEY", "").strip()


def authenticate_sdk_key(request) -> tuple[int, int, int]:
    """(key id, environment id, environment config version) of the request's key.

    Looked up in the database at most once a second per key and process: at a
    thousand evaluations a second the lookup, not the evaluation, would be the
    cost of a request. A write in this process forgets the cache at once
    (services call ``forget_cached_keys``); other workers see a revoked key or
    a changed flag within ``FLAG_CONFIG_CACHE_SECONDS``.
    """
    raw = _presented_key(request.META)
    if not raw:
        raise SdkKeyRejected(401, "An SDK key is required: Authorization: Bearer sdk_… or X-API-Key: sdk_….")
    if not raw.startswith(SDK_KEY_PREFIX):
        raise SdkKeyRejected(401, "Flag evaluation needs an environment SDK key (sdk_…).")
    digest = keys.hash_secret(raw)
    now = time.monotonic()
    cached = _KEY_CACHE.get(digest)
    if cached is not None and cached[0] > now:
        row = cached[1]
    else:
        row = (
            SdkKey.objects.filter(secret_hash=digest)
            .values_list("pk", "revoked_at", "environment_id", "environment__config_version")
            .first()
        )
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[digest] = (now + key_cache_seconds(), row)
    if row is None:
        raise SdkKeyRejected(401, "The SDK key is unknown.")
    key_id, revoked_at, environment_id, version = row
    if revoked_at is not None:
        raise SdkKeyRejected(403, "The SDK key was revoked.")
    return key_id, environment_id, version


def rate_limit_retry_after(key_id: int) -> int | None:
    """Seconds to wait when the key is over its rate, else None.

    A fixed window counter (one ``incr``) rather than DRF's sliding history,
    which stores and rewrites one timestamp per request: at thousands of
    evaluations a second that list is the slowest part of a request.
    """
    rate = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(THROTTLE_SCOPE)
    if not rate:
        return None
    allowed, window = SimpleRateThrottle.parse_rate(None, rate)
    now = time.time()
    window_start = int(now // window)
    cache_key = f"ofrep-rate:{key_id}:{window}:{window_start}"
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window's first request (or its counter just expired)
        count = 1 if cache.add(cache_key, 1, timeout=window + 1) else _incr_or_one(cache_key)
    if count <= allowed:
        return None
    return max(1, math.ceil((window_start + 1) * window - now))


def _incr_or_one(cache_key: str) -> int:
    try:
        return cache.incr(cache_key)
    except ValueError:
        return 1
