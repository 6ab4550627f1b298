"""Locks a job takes without waiting: held, or someone else holds it and the job does nothing.

On PostgreSQL a session-level advisory lock (two ints name it), so it lasts across the
transactions of a job and is released when the job ends or its connection closes (a
killed worker never leaves it held). Elsewhere (SQLite, one machine) a lock of this
process: enough for the in-process jobs of `make run` and the tests' threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from lib import sql as core_sql

_process_locks: dict[tuple[int, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


@contextmanager
def try_lock(lock_class: int, object_id: int) -> Iterator[bool]:
    """``with try_lock(CLASS, id) as held:`` held is False when another holder has it (nothing is waited for)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(core_sql.try_advisory_lock_sql(), [lock_class, object_id])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute(core_sql.advisory_unlock_sql(), [lock_class, object_id])
        return
    with _process_locks_guard:
        lock = _process_locks.setdefault((lock_class, object_id), threading.Lock())
    held = lock.acquire(blocking=False)
    try:
        yield held
    finally:
        if held:
            lock.release()
