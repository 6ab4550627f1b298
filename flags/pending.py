"""Since when each process holds recorded evaluations not yet written: the freshness of the flag answers.

The recorder (recording.py) answers an evaluation before its row is written, so
the database alone cannot say up to when the recorded evaluations are complete.
Each process's recorder therefore keeps a short history of its *pending since*:
the evaluation time of the oldest evaluation it holds that is not committed yet
(None: nothing pending), one entry ``(from, since)`` per change, the time
``from`` taken after the change is in effect (after the COMMIT that wrote rows;
after the append of a new oldest row and before that evaluation is answered).

``pending_since_at(moment)`` is the oldest evaluation held unwritten by any live
process at ``moment``. An evaluation answered before ``moment`` was appended
before it: at ``moment`` it was either committed or pending, and then not newer
than that process's pending since. A history is needed, not only the present:
a replica's answer is as of its replay point, seconds ago, and rows written
since then are on the primary only.

With ``CACHE_URL=redis://…`` the histories are in Redis, shared by every process
(a list per process, a sorted set of live processes); without it, only this
process's own (one process: ``make run``, the tests). A process that has not
said anything for ``ALIVE_SECONDS`` is gone (killed): what it held is lost, not
late, and it stops holding the answers back.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

HISTORY = 256  # entries per process: at four flushes a second, a minute, above REPLICA_MAX_LAG_SECONDS
ALIVE_SECONDS = 60
MEMBERS_KEY = "flag-recorder:alive"
HISTORY_KEY = "flag-recorder:history:"
UNKNOWN = "unknown"  # the history does not reach back to the moment asked about


class PendingHistory:
    """One process's ``(from, since)`` entries, newest first, mirrored to Redis when the cache is Redis."""

    def __init__(self) -> None:
        self._entries: deque[tuple[float, float | None]] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()
        self._trimmed = False
        self._pid = os.getpid()

    def member(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    def note(self, since: datetime | None) -> None:
        """Record that, from now on, this process's pending since is ``since``. May raise (Redis)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child starts with nothing pending of its own
                self._entries.clear()
                self._trimmed, self._pid = False, os.getpid()
            now = time.time()
            value = None if since is None else since.timestamp()
            if len(self._entries) == HISTORY:
                self._trimmed = True
            self._entries.appendleft((now, value))
            client = _redis()
            if client is not None:
                redis_cache, redis = client
                key = redis_cache.make_and_validate_key(HISTORY_KEY + self.member())
                pipe = redis.pipeline(transaction=False)
                pipe.lpush(key, f"{now!r} {value!r}")
                pipe.ltrim(key, 0, HISTORY - 1)
                pipe.expire(key, ALIVE_SECONDS * 2)
                pipe.zadd(redis_cache.make_and_validate_key(MEMBERS_KEY), {self.member(): now})
                pipe.execute()

    def heartbeat(self) -> None:
        """Still alive (while something is pending and no change is published): keep the answers waiting for it."""
        client = _redis()
        if client is None:
            return
        redis_cache, redis = client
        now = time.time()
        members = redis_cache.make_and_validate_key(MEMBERS_KEY)
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(members, {self.member(): now})
        pipe.expire(redis_cache.make_and_validate_key(HISTORY_KEY + self.member()), ALIVE_SECONDS * 2)
        pipe.zremrangebyscore(members, "-inf", now - ALIVE_SECONDS * 2)
        pipe.execute()

    def local_at(self, moment: float) -> float | None | str:
        with self._lock:
            return _in_effect(list(self._entries), moment, trimmed=self._trimmed)


def _in_effect(entries: list[tuple[float, float | None]], moment: float, *, trimmed: bool) -> float | None | str:
    """The ``since`` in effect at ``moment`` in newest-first entries; None before the first; UNKNOWN if cut."""
    for at, since in entries:
        if at <= moment:
            return since
    return UNKNOWN if trimmed else None


def _redis():
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend, backend._cache.get_client(write=True)


def pending_since_at(history: PendingHistory, moment: datetime) -> datetime | None | str:
    """The oldest evaluation any live process held unwritten at ``moment`` (None: none; UNKNOWN). May raise (Redis)."""
    at = moment.timestamp()
    client = _redis()
    if client is None:
        values = [history.local_at(at)]
    else:
        redis_cache, redis = client
        members = redis.zrangebyscore(
            redis_cache.make_and_validate_key(MEMBERS_KEY), time.time() - ALIVE_SECONDS, "+inf"
        )
        pipe = redis.pipeline(transaction=False)
        for member in members:
            pipe.lrange(redis_cache.make_and_validate_key(HISTORY_KEY + member.decode()), 0, HISTORY - 1)
        values = []
        for raw in pipe.execute():
            entries = []
            for item in raw:
                when, since = item.decode().split(" ")
                entries.append((float(when), None if since == "None" else float(since)))
            values.append(_in_effect(entries, at, trimmed=len(entries) == HISTORY))
    if UNKNOWN in values:
        return UNKNOWN
    oldest = min((value for value in values if value is not None), default=None)
    return None if oldest is None else datetime.fromtimestamp(oldest, tz=UTC)
