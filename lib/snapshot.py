"""One consistent, read-only view of the database an answer reads, for every statement inside.

Every read that combines several statements (counters and the tail above a watermark,
a flag's fold and the raw rows above its watermark) takes them in one snapshot, so a
writer committing between two of them cannot make the answer count an event twice or
not at all; and none of them may write (a read never writes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

from lib import sql
from lib.replica import current_read_alias

SNAPSHOT_FLAG = "packedge_read_snapshot"
# A tail of a few hundred thousand events groups in memory instead of sorting on disk (4 MB default).
READ_WORK_MEM_MB = 64


@contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent, read-only view of the database the answer reads (primary or replica) for the statements inside."""
    alias = current_read_alias()
    connection = connections[alias]
    if connection.in_atomic_block or getattr(connection, SNAPSHOT_FLAG, False):
        yield  # the caller's transaction (tests, a nested call) is the snapshot
        return
    setattr(connection, SNAPSHOT_FLAG, True)
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic(using=alias):
                with connection.cursor() as cursor:
                    cursor.execute(sql.read_only_snapshot_sql(work_mem_mb=READ_WORK_MEM_MB))
                yield
            return
        # SQLite: atomic() would BEGIN IMMEDIATE (settings), taking the write lock; a deferred
        # transaction in WAL mode reads one snapshot and blocks no writer.
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute(sql.sqlite_begin_deferred_sql())
            try:
                yield
            finally:
                cursor.execute(sql.commit_sql())
    finally:
        setattr(connection, SNAPSHOT_FLAG, False)
