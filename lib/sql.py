"""Database-specific SQL shared by the apps: quoting, locks, generic inserts and upserts.

Identifiers always come from model metadata and are quoted here (``qn``, ``table``,
``column``). Statements that belong to one app live with it: Feature Usage's (the fold,
the reach repair, the reads) in ``analytics/sql.py``, the event stream's (the ingestion
insert, the partitions, the license look-up) in ``events/sql.py``, flag exposure's (the
nightly reach structures, the unrolled days' subjects) in ``flags/sql.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

# PostgreSQL: a text sort key compared by its bytes, as in the "C" locale. Equal strings are
# equal under any deterministic collation, so groups, partitions and windows are the same; the
# database's own collation (C.UTF-8 here, en_US elsewhere) compares by strcoll, without
# abbreviated keys: most of the time of the flag backlog's sorts of keys and variants
# (`EXPLAIN ANALYZE` at 1M, load ~6: 980,016 keys sorted in 7.3 → 3.2 s) and of the fold's
# reach windows (671,755 domain pair days in 900 → 530 ms). SQLite compares bytes already.
BYTE_ORDER = ' COLLATE "C"'


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model: type[Model]) -> str:
    return qn(model._meta.db_table)


def column(model: type[Model], field_name: str) -> str:
    return qn(model._meta.get_field(field_name).column)


def insert_values_sql(model: type[Model], field_names: Sequence[str]) -> str:
    """``INSERT INTO t (a, b) VALUES (%s, %s)``, for ``executemany`` of plain tuples."""
    columns = ", ".join(column(model, name) for name in field_names)
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(field_names))})"


def without_synchronous_commit(statement: str) -> str:
    """PostgreSQL: the statement in its own transaction that does not wait for the WAL flush."""
    return f"BEGIN; SET LOCAL synchronous_commit TO off; {statement}; COMMIT"


def in_own_transaction(statement: str) -> str:
    """PostgreSQL: the statement(s) in their own transaction, in the same round trip."""
    return f"BEGIN; {statement}; COMMIT"


def advisory_xact_lock_sql() -> str:
    """PostgreSQL: a lock held until the transaction ends; one bigint parameter names it."""
    return "SELECT pg_advisory_xact_lock(%s)"


def after_shared_xact_lock(statement: str, *, lock_class: int, object_param: str = "%s") -> str:
    """PostgreSQL: ``statement`` once a shared transaction-level lock (``lock_class``, one int parameter) is held.

    ``object_param`` is the placeholder of the lock's second half (``%(owner)s`` in a
    statement with named parameters). Shared holders never wait for one another, only
    for ``exclusive_xact_lock_sql`` of the same name.
    """
    return f"SELECT pg_advisory_xact_lock_shared({int(lock_class)}, {object_param}); {statement}"


def exclusive_xact_lock_sql() -> str:
    """PostgreSQL: the exclusive form of ``after_shared_xact_lock``'s lock (two int parameters)."""
    return "SELECT pg_advisory_xact_lock(%s, %s)"


def shared_xact_lock_sql() -> str:
    """PostgreSQL: the shared form of ``exclusive_xact_lock_sql`` (two int parameters), held until the transaction ends."""
    return "SELECT pg_advisory_xact_lock_shared(%s, %s)"


def try_advisory_xact_lock_sql() -> str:
    """PostgreSQL: ``advisory_xact_lock_sql``'s lock if free at once (one bigint parameter); one row, true when taken."""
    return "SELECT pg_try_advisory_xact_lock(%s)"


def try_advisory_lock_sql() -> str:
    """PostgreSQL: a session-level lock (two int parameters) if free at once; one row, true when taken."""
    return "SELECT pg_try_advisory_lock(%s, %s)"


def advisory_unlock_sql() -> str:
    """PostgreSQL: release ``try_advisory_lock_sql``'s lock (the same two int parameters)."""
    return "SELECT pg_advisory_unlock(%s, %s)"


def analyze_sql(table_name: str) -> str:
    """PostgreSQL: ``ANALYZE`` one table (its name quoted)."""
    return f"ANALYZE {qn(table_name)}"


def flush_statistics_sql() -> str:
    """PostgreSQL 15+: this session's pending table statistics (its own writes) reach the shared ones
    when its transaction ends, instead of within the next second."""
    return "SELECT pg_stat_force_next_flush()"


def lock_timeout_sql(milliseconds: int) -> str:
    return f"SET LOCAL lock_timeout = {int(milliseconds)}"


# ---------------------------------------------------------------- generic writes


def drop_table_sql(name: str) -> str:
    return f"DROP TABLE IF EXISTS {qn(name)}"


def bulk_write_settings_sql(*, work_mem_mb: int) -> str:
    """PostgreSQL, inside a transaction writing derived data: commit without waiting for the
    WAL flush, and sorts of up to ``work_mem_mb`` MB in memory, for the rest of the transaction."""
    return f"SET LOCAL synchronous_commit = off; SET LOCAL work_mem = '{int(work_mem_mb)}MB'"


def jit_off_sql() -> str:
    """PostgreSQL: no JIT compilation for the rest of the transaction."""
    return "SET LOCAL jit = off"


def additive_upsert_sql(model: type[Model], *, key_fields: Sequence[str], count_field: str, latest_field: str) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE``: the count added, the later time kept.

    The same text runs on SQLite (3.24+) and PostgreSQL; the CASE is what both
    read for "the greater of two" (GREATEST and MAX(a, b) differ). Parameters:
    the key fields, the count, the time.
    """
    columns = [column(model, name) for name in (*key_fields, count_field, latest_field)]
    keys, count, latest, t = columns[: len(key_fields)], columns[-2], columns[-1], table(model)
    return (
        f"INSERT INTO {t} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {count} = {t}.{count} + excluded.{count}, "
        f"{latest} = CASE WHEN excluded.{latest} > {t}.{latest} THEN excluded.{latest} ELSE {t}.{latest} END"
    )


def copy_from_stdin_sql(model: type[Model], field_names: Sequence[str]) -> str:
    """PostgreSQL ``COPY t (a, b) FROM STDIN``: several times faster than inserts for a rebuild."""
    return f"COPY {table(model)} ({', '.join(column(model, name) for name in field_names)}) FROM STDIN"


# One read-only snapshot for the statements of an answer (lib.snapshot).

READ_ONLY_SNAPSHOT = (
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL work_mem = '{work_mem_mb}MB'"
)


def read_only_snapshot_sql(*, work_mem_mb: int) -> str:
    """PostgreSQL, first in a transaction: every statement sees one snapshot, and none may write.

    ``work_mem`` for this transaction only: the tail's aggregate sorts or hashes in memory.
    """
    return READ_ONLY_SNAPSHOT.format(work_mem_mb=int(work_mem_mb))


def sqlite_begin_deferred_sql() -> str:
    """SQLite: a transaction that reads one snapshot (WAL) and takes no write lock until it writes."""
    return "BEGIN DEFERRED"


def commit_sql() -> str:
    return "COMMIT"
