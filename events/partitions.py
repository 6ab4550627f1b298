"""The event table's monthly partitions (PostgreSQL) and the retention that drops them.

On PostgreSQL ``events_event`` is partitioned by ``occurred_at`` month (UTC),
with a default partition as a safety net: an event whose month has no
partition yet (the schedule stopped for months, or a late event from a month
never created) is still stored, never refused. ``event_partitions_ensure``
creates the current and next months ahead of time and moves any rows that
landed in the default partition into a partition of their own month.

Retention drops whole partitions: a month goes once all of it is older than
``EVENT_RETENTION_DAYS``; that is a catalogue change, not a DELETE of millions
of rows. SQLite has one plain table: there the same months are deleted row by
row, so that the rule (and its tests) hold on both databases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from events import sql as events_sql
from events.models import Event
from lib import sql as core_sql

DEFAULT_PARTITION = f"{Event._meta.db_table}_default"
# DROP and ATTACH take a short exclusive lock on the whole table: wait at most this
# long behind a running query rather than queue every ingestion request behind it.
LOCK_TIMEOUT_MS = 5000
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: datetime | None  # None for the default partition
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


@dataclass(frozen=True, slots=True)
class PruneResult:
    dropped: list[Partition]
    deleted_rows: int  # rows deleted one by one: SQLite, or expired rows caught in the default partition
    cutoff: datetime


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{Event._meta.db_table}_p{start:%Y_%m}"


def events_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(events_sql.is_partitioned_sql(), [Event._meta.db_table])
        return cursor.fetchone() is not None


def event_partitions() -> list[Partition]:
    """The partitions of the event table, oldest first, the default one last ([] when not partitioned)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(events_sql.partitions_sql(), [Event._meta.db_table])
        rows = cursor.fetchall()
    partitions = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match is None:
            partitions.append(Partition(name=name, start=None, end=None))
        else:
            start, end = (datetime.fromisoformat(value).astimezone(UTC) for value in match.groups())
            partitions.append(Partition(name=name, start=start, end=end))
    return sorted(partitions, key=lambda p: (p.is_default, p.start or datetime.max.replace(tzinfo=UTC)))


def event_partitions_ensure(*, now: datetime | None = None, months_ahead: int | None = None) -> list[str]:
    """Create the current month's and the next ``months_ahead`` months' partitions; returns the names created.

    Also gives each month found in the default partition a partition of its own,
    moving its rows there. Idempotent; safe to run from several workers at once
    (the first takes the lock, the others find the work done).
    """
    if not events_partitioned():
        return []
    now = now or timezone.now()
    months_ahead = settings.EVENT_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(core_sql.advisory_xact_lock_sql(), [_LOCK_ID])
        cursor.execute(core_sql.lock_timeout_sql(LOCK_TIMEOUT_MS))
        existing = {p.start for p in event_partitions() if not p.is_default}
        if DEFAULT_PARTITION not in {p.name for p in event_partitions()}:
            cursor.execute(events_sql.create_default_partition_sql(DEFAULT_PARTITION))
        cursor.execute(events_sql.months_in_partition_sql(DEFAULT_PARTITION))
        stranded = {month_start(row[0]) for row in cursor.fetchall()}
        for start in sorted(stranded - existing):
            statements = events_sql.move_into_new_partition_sql(
                name=partition_name(start), default_name=DEFAULT_PARTITION, start=start, end=next_month(start)
            )
            for statement in statements:
                cursor.execute(statement)
            existing.add(start)
            created.append(partition_name(start))
        start = month_start(now)
        for _ in range(months_ahead + 1):
            if start not in existing:
                cursor.execute(events_sql.create_range_partition_sql(partition_name(start), start, next_month(start)))
                created.append(partition_name(start))
            start = next_month(start)
    return created


def retention_cutoff(*, now: datetime | None = None, retention_days: int | None = None) -> datetime:
    days = settings.EVENT_RETENTION_DAYS if retention_days is None else retention_days
    return (now or timezone.now()) - timedelta(days=days)


def raw_events_from(*, now: datetime | None = None) -> date:
    """The first day (UTC) whose raw events the retention keeps: the start of the oldest month it does not drop."""
    return month_start(retention_cutoff(now=now)).date()


def events_prune(
    *, now: datetime | None = None, retention_days: int | None = None, dry_run: bool = False
) -> PruneResult:
    """Drop every month of events that lies wholly before the retention cutoff.

    Feature Usage is not touched: its counters are tables of their own and keep
    answering for the dropped months. The uuids of dropped events are forgotten
    too (ingestion refuses events that old anyway).
    """
    cutoff = retention_cutoff(now=now, retention_days=retention_days)
    if not events_partitioned():
        return _prune_rows(cutoff=month_start(cutoff), dry_run=dry_run)
    expired = [p for p in event_partitions() if not p.is_default and p.end <= cutoff]
    deleted = 0
    if dry_run:
        return PruneResult(dropped=expired, deleted_rows=0, cutoff=cutoff)
    for partition in expired:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(core_sql.lock_timeout_sql(LOCK_TIMEOUT_MS))
            # None pending unless rows were added in this transaction.
            cursor.execute(events_sql.constraints_immediate_sql())
            cursor.execute(events_sql.delete_uuids_of_partition_sql(partition.name))
            cursor.execute(core_sql.drop_table_sql(partition.name))
    # Expired rows that waited in the default partition go row by row (normally none).
    with transaction.atomic():
        deleted = _delete_rows_before(month_start(cutoff))
    return PruneResult(dropped=expired, deleted_rows=deleted, cutoff=cutoff)


def _prune_rows(*, cutoff: datetime, dry_run: bool) -> PruneResult:
    if dry_run:
        return PruneResult(dropped=[], deleted_rows=Event.objects.filter(occurred_at__lt=cutoff).count(), cutoff=cutoff)
    with transaction.atomic():
        return PruneResult(dropped=[], deleted_rows=_delete_rows_before(cutoff), cutoff=cutoff)


def _delete_rows_before(cutoff: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(events_sql.delete_uuids_before_sql(), [cutoff])
    deleted, _ = Event.objects.filter(occurred_at__lt=cutoff).delete()
    return deleted


# pg_advisory_xact_lock key of partition maintenance ("evpart" in ASCII).
_LOCK_ID = 0x657670617274
