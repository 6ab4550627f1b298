"""The one rate limiter: requests per (scope, identity) in fixed windows, on the configured cache.

Ingestion limits per public key, OFREP per SDK key, the sign-in pages per
username and per client address. A fixed window costs one ``incr`` per request,
where DRF's sliding history stores and rewrites one timestamp per request
(1,000 entries at 1000/s). Rates read ``settings.RATE_LIMITS[scope]`` at each
call, so an overridden setting takes effect at once; ``None`` means unlimited.

With Redis (``CACHE_URL=redis://…``, shared by every process) an ``incr`` per
request would be a network round trip per request. Instead each process counts
locally and adds its count to Redis with one pipelined ``INCRBY`` per key,
learning the total of all processes in the same round trip: once its unsent
count reaches ``RATE_LIMIT_LOCAL_SHARE`` of the allowance (1 %: every 10th
request at 1000/s, every request at 5/15min) or ``RATE_LIMIT_SYNC_SECONDS``
(0.1 s) after the last exchange. A process thus admits at most that share of
the allowance without the others knowing: across N processes a limit can be
exceeded by at most N × 1 % of it per window. If Redis is unreachable, each
process goes on counting on its own (the limit then holds per process) rather
than refusing or failing requests.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


@functools.lru_cache(maxsize=256)  # a handful of configured rates, parsed on every request
def parse_rate(rate: str) -> tuple[int, int]:
    """``"1000/s"`` → (1000, 1); ``"5/15min"`` → (5, 900). ValueError on anything else."""
    count, _, period = rate.partition("/")
    digits = period.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = period[len(digits) :]
    if unit not in PERIODS or not count.isdigit() or (digits and not digits.isdigit()):
        raise ValueError(f"not a rate: {rate!r}")
    return int(count), PERIODS[unit] * int(digits or 1)


# Requests with a key that names nothing (an unknown or malformed public or SDK key), per client
# address: a flood of made-up keys costs a database lookup each, since no process has them cached.
INVALID_KEY_SCOPE = "invalid_key"


def client_address(request) -> str:
    """REMOTE_ADDR, or behind a trusted proxy (``BEHIND_PROXY=1``) the address the proxy appended last."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def invalid_key_retry_after(address: str) -> int | None:
    """Seconds to wait when ``address`` sent too many unknown keys; counts nothing."""
    return rate_limit_exceeded(scope=INVALID_KEY_SCOPE, identity=address) if address else None


def invalid_key_hit(address: str) -> int | None:
    """Count one request with an unknown key from ``address``; the seconds to wait when it is over the bound."""
    return rate_limit_hit(scope=INVALID_KEY_SCOPE, identity=address) if address else None


def rate_of(scope: str) -> str | None:
    return settings.RATE_LIMITS.get(scope)


@dataclass(frozen=True)
class _Window:
    key: str
    allowed: int
    seconds: int
    retry_after: int  # seconds until this window ends


def _current_window(scope: str, identity: str, rate: str | None) -> _Window | None:
    """The fixed window a request falls in now, or None when the scope is unlimited."""
    rate = rate if rate is not None else rate_of(scope)
    if not rate:
        return None
    allowed, seconds = parse_rate(rate)
    now = time.time()
    start = int(now // seconds)
    return _Window(
        key=f"rl:{scope}:{identity}:{seconds}:{start}",
        allowed=allowed,
        seconds=seconds,
        retry_after=max(1, math.ceil((start + 1) * seconds - now)),
    )


def rate_limit_hit(*, scope: str, identity: str, rate: str | None = None) -> int | None:
    """Count one request; the seconds to wait when it is over the scope's rate, else None."""
    window = _current_window(scope, identity, rate)
    if window is None:
        return None
    if isinstance(_default_cache(), RedisCache):
        count = _shared_counts.hit(window.key, allowed=window.allowed, ttl=window.seconds + 1)
    else:
        count = _incr(window.key, timeout=window.seconds + 1)
    return None if count <= window.allowed else window.retry_after


async def rate_limit_hit_async(*, scope: str, identity: str, blocking, rate: str | None = None) -> int | None:
    """``rate_limit_hit`` for an event loop (the capture server): the same counters, keys and answers.

    ``blocking(function)`` awaits ``function()`` run off the loop, on a thread of
    its own: Django's cache objects live per thread (and per task), and an
    exchange with Redis is a network round trip. With Redis the count is local
    and only the exchange (every ``RATE_LIMIT_LOCAL_SHARE`` of the allowance or
    ``RATE_LIMIT_SYNC_SECONDS``) leaves the loop; any other cache is asked off it.
    """
    window = _current_window(scope, identity, rate)
    if window is None:
        return None
    if not _redis_configured():
        return await blocking(lambda: rate_limit_hit(scope=scope, identity=identity, rate=rate))
    count, due = _shared_counts.count(window.key, allowed=window.allowed, ttl=window.seconds + 1)
    if due:
        await blocking(_shared_counts.sync)
        count = _shared_counts.estimate(window.key)
    return None if count <= window.allowed else window.retry_after


def _redis_configured() -> bool:
    """Whether the default cache is Django's RedisCache, read from the settings (no cache object built)."""
    return settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def rate_limit_exceeded(*, scope: str, identity: str, rate: str | None = None) -> int | None:
    """Like ``rate_limit_hit`` but without counting: the seconds to wait if the identity is already over."""
    window = _current_window(scope, identity, rate)
    if window is None:
        return None
    try:
        shared = cache.get(window.key, 0)
    except Exception:  # Redis unreachable: this process's own count decides, as for rate_limit_hit
        logger.warning("rate limits: Redis unreachable, counting in this process only", exc_info=True)
        shared = 0
    count = shared + _shared_counts.unsent(window.key)
    return None if count < window.allowed else window.retry_after


def rate_limit_flush() -> None:
    """Send every unsent count to Redis now (a process about to exit; the tests)."""
    _shared_counts.sync(force=True)


def _default_cache():
    from django.core.cache import caches

    return caches["default"]


def _incr(key: str, *, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or its counter just expired)
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:
            return 1


@dataclass(slots=True)
class _Count:
    ttl: int
    known: int = 0  # the total of all processes at the last exchange with Redis
    unsent: int = 0  # this process's requests since
    synced_at: float = 0.0


class _SharedCounts:
    """This process's view of the shared counters: local counts, sent to Redis in batches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, _Count] = {}
        self._syncing = False
        self._retry_at = 0.0  # after a failed exchange, Redis is left alone for REDIS_RETRY_SECONDS
        # When a caller was last told an exchange is due and has not started it yet: the others are not
        # told too (an event loop's callers would each queue one behind it on the exchange thread).
        self._due_since: float | None = None

    def hit(self, key: str, *, allowed: int, ttl: int) -> int:
        estimate, due = self.count(key, allowed=allowed, ttl=ttl)
        if due:
            self.sync()
            estimate = self.estimate(key)
        return estimate

    def estimate(self, key: str) -> int:
        """The total of all processes as this process knows it: the last exchange's, plus its own since."""
        with self._lock:
            count = self._counts.get(key)
            return count.known + count.unsent if count is not None else 0

    def count(self, key: str, *, allowed: int, ttl: int) -> tuple[int, bool]:
        """Count one request locally: (the estimated total, whether an exchange with Redis is due)."""
        now = time.monotonic()
        share = max(1, int(allowed * settings.RATE_LIMIT_LOCAL_SHARE))
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                if len(self._counts) > MAX_KEYS:
                    self._forget_expired(now)
                count = self._counts[key] = _Count(ttl=ttl, synced_at=now)
            room = allowed - count.known
            # Near the limit, exchange sooner: after 1/NEAR_LIMIT_SPLIT of the room left, so that
            # up to that many processes cannot together pass it by more than a few requests. Once
            # over it, refusing needs no exchange: an abusive client costs no round trips.
            batch = share if room <= 0 else max(1, min(share, room // NEAR_LIMIT_SPLIT))
            count.unsent += 1
            estimate = count.known + count.unsent
            due = count.unsent >= batch or now - count.synced_at >= settings.RATE_LIMIT_SYNC_SECONDS
            if due and self._due_since is not None and now - self._due_since < DUE_FORGOTTEN_SECONDS:
                due = False  # another caller is about to exchange: its answer will do
            elif due:
                self._due_since = now
        return estimate, due

    def unsent(self, key: str) -> int:
        count = self._counts.get(key)
        return count.unsent if count is not None else 0

    def sync(self, *, force: bool = False) -> None:
        """One pipelined INCRBY (and EXPIRE) per key with unsent requests; learns each key's total."""
        with self._lock:
            self._due_since = None
            if not force and (self._syncing or time.monotonic() < self._retry_at):
                return  # another thread is exchanging right now (its answer will do), or Redis is down
            self._syncing = True
            batch = [(key, count, count.unsent) for key, count in self._counts.items() if count.unsent]
            for _, count, sent in batch:
                count.unsent -= sent
        try:
            totals = self._send(batch)
        except Exception:  # Redis unreachable or failing: keep the counts for the next exchange
            logger.warning("rate limits: Redis unreachable, counting in this process only", exc_info=True)
            totals = None
        now = time.monotonic()
        with self._lock:
            self._syncing = False
            self._retry_at = now + REDIS_RETRY_SECONDS if totals is None else 0.0
            for index, (_, count, sent) in enumerate(batch):
                count.synced_at = now
                if totals is None:
                    count.unsent += sent
                    count.known = 0
                else:
                    count.known = totals[index]

    @staticmethod
    def _send(batch: list[tuple[str, _Count, int]]) -> list[int]:
        if not batch:
            return []
        redis_cache = _default_cache()
        pipeline = _redis_client(redis_cache).pipeline(transaction=False)
        for key, count, sent in batch:
            cache_key = redis_cache.make_and_validate_key(key)
            pipeline.incrby(cache_key, sent)
            pipeline.expire(cache_key, count.ttl)
        return pipeline.execute()[::2]

    def _forget_expired(self, now: float) -> None:
        for key, count in list(self._counts.items()):
            if not count.unsent and now - count.synced_at > count.ttl:
                del self._counts[key]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._retry_at = 0.0
            self._due_since = None


# One client per connection pool. Django's RedisCache builds a new redis.Redis at every call
# (get_client), and redis-py's constructor fills its table of response callbacks each time: that
# was half of an exchange's CPU in the ingestion profile. The client is thread-safe (the pool
# lends each command a connection) and the pool itself resets after a fork.
_clients: dict[int, tuple[object, object]] = {}


def _redis_client(redis_cache):
    raw = redis_cache._cache
    pool = raw._get_connection_pool(write=True)
    held = _clients.get(id(raw))
    if held is None or held[0] is not pool:
        held = _clients[id(raw)] = (pool, raw._client(connection_pool=pool))
    return held[1]


# Distinct (scope, identity, window) counters a process keeps before forgetting finished windows.
MAX_KEYS = 10_000
NEAR_LIMIT_SPLIT = 16
# A caller told to exchange that never did (its thread gone) holds up the others no longer than this.
DUE_FORGOTTEN_SECONDS = 1.0
REDIS_RETRY_SECONDS = 1.0
_shared_counts = _SharedCounts()
