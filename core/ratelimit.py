"""The one rate limiter: requests per (scope, identity) in fixed windows, on the configured cache.

Ingestion limits per public key, OFREP per SDK key, the sign-in pages per
username and per client address. A fixed window costs one ``incr`` per request,
where DRF's sliding history stores and rewrites one timestamp per request
(1,000 entries at 1000/s). Rates read ``settings.RATE_LIMITS[scope]`` at each
call, so an overridden setting takes effect at once; ``None`` means unlimited.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"1000/s"`` → (1000, 1); ``"5/15min"`` → (5, 900). ValueError on anything else."""
    count, _, period = rate.partition("/")
    digits = period.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = period[len(digits) :]
    if unit not in PERIODS or not count.isdigit() or (digits and not digits.isdigit()):
        raise ValueError(f"not a rate: {rate!r}")
    return int(count), PERIODS[unit] * int(digits or 1)


def rate_of(scope: str) -> str | None:
    return settings.RATE_LIMITS.get(scope)


def rate_limit_hit(*, scope: str, identity: str, rate: str | None = None) -> int | None:
    """Count one request; the seconds to wait when it is over the scope's rate, else None."""
    rate = rate if rate is not None else rate_of(scope)
    if not rate:
        return None
    allowed, window = parse_rate(rate)
    now = time.time()
    window_start = int(now // window)
    key = f"rl:{scope}:{identity}:{window}:{window_start}"
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first request (or its counter just expired)
        count = 1 if cache.add(key, 1, timeout=window + 1) else _incr_or_one(key)
    if count <= allowed:
        return None
    return max(1, math.ceil((window_start + 1) * window - now))


def rate_limit_exceeded(*, scope: str, identity: str, rate: str | None = None) -> int | None:
    """Like ``rate_limit_hit`` but without counting: the seconds to wait if the identity is already over."""
    rate = rate if rate is not None else rate_of(scope)
    if not rate:
        return None
    allowed, window = parse_rate(rate)
    now = time.time()
    window_start = int(now // window)
    count = cache.get(f"rl:{scope}:{identity}:{window}:{window_start}", 0)
    if count < allowed:
        return None
    return max(1, math.ceil((window_start + 1) * window - now))


def _incr_or_one(key: str) -> int:
    try:
        return cache.incr(key)
    except ValueError:
        return 1
