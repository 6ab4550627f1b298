"""When each SDK key was last used, for the console ("used 3 minutes ago").

Flag evaluation runs at a thousand requests a second: the mark is written at
most once a minute per key and process, remembered here without a read, and
only for a request the key was accepted on. It is for humans, so a failed
write (the database down or read-only) is dropped, never the request.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import DatabaseError

from flags.models import SdkKey
from flags.ofrep_auth import SDK_KEY_PREFIX, _presented_key
from tenancy import keys

MARK_EVERY_SECONDS = 60.0
# secret hash -> time.monotonic() of this process's last mark
_marked_at: dict[str, float] = {}
_clock = time.monotonic  # a seam for tests


def sdk_key_mark_used(*, raw_key: str, now: datetime) -> None:
    digest = keys.hash_secret(raw_key)
    clock = _clock()
    last = _marked_at.get(digest)
    if last is not None and clock - last < MARK_EVERY_SECONDS:
        return
    _marked_at[digest] = clock
    try:
        SdkKey.objects.filter(secret_hash=digest, revoked_at__isnull=True).update(last_used_at=now)
    except DatabaseError:
        pass


def forget_marks() -> None:
    _marked_at.clear()


def presented_sdk_key(request) -> str | None:
    raw = _presented_key(request.META)
    return raw if raw.startswith(SDK_KEY_PREFIX) else None
