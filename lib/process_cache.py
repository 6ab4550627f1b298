"""One small per-process cache with expiry, for the lookups on the hot paths.

Ingestion resolves a public key, OFREP an SDK key and an environment's compiled
flags on every request; at thousands of requests a second the lookup, not the
work, would be the cost. Each worker process keeps the answer for a short,
configurable while: a write in the same process forgets it at once, other
processes see the change within the expiry. Every cache registers itself, so
one call (``process_caches_clear``, used by the tests) empties them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_REGISTRY: list[ProcessCache] = []
_MISSING = object()


class ProcessCache(Generic[V]):
    """A bounded map from key to (expiry, value); when full it is emptied (cheaper than LRU bookkeeping)."""

    def __init__(self, name: str, *, seconds: Callable[[], float], max_entries: int = 10_000) -> None:
        self.name = name
        self._seconds = seconds  # read at each fill, so a changed setting takes effect
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        _REGISTRY.append(self)

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        now = time.monotonic()
        hit = self._entries.get(key, _MISSING)
        if hit is not _MISSING and hit[0] > now:
            return hit[1]
        value = load()
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (now + self._seconds(), value)
        return value

    def fresh(self, key: Hashable, default: V | None = None) -> V | None:
        """The cached value while it has not expired, else ``default``; never loads (an event loop's hit)."""
        hit = self._entries.get(key, _MISSING)
        if hit is not _MISSING and hit[0] > time.monotonic():
            return hit[1]
        return default

    def peek(self, key: Hashable, *, max_stale: float | None = None) -> V | None:
        """The cached value even if expired (or None): what to serve when the source is unreachable.

        With ``max_stale``, only a value that expired at most that many seconds ago.
        """
        hit = self._entries.get(key)
        if hit is None:
            return None
        if max_stale is not None and time.monotonic() - hit[0] > max_stale:
            return None
        return hit[1]

    def seen(self, key: Hashable) -> bool:
        """Whether the key was loaded before and is still held, expired or not."""
        return key in self._entries

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def forget_where(self, predicate: Callable[[V], bool]) -> None:
        for key, (_, value) in list(self._entries.items()):
            if predicate(value):
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def process_caches_clear() -> None:
    for cache in _REGISTRY:
        cache.clear()
