"""Live per-day counters of flag activity, added to as evaluations are written.

``FlagActivityDay`` (evaluations per environment, flag, UTC day and variant)
and ``UnknownFlagDay`` (evaluations of undefined keys) are what flag health,
the console's sparklines and the unknown-flags list read: flags × days rows,
current within one recorder flush, instead of a scan of raw evaluations.

The additive upsert (``lib.sql.additive_upsert_sql``) keeps two writers (two
workers flushing at once) from losing each other's counts. Rows go in key
order so that two concurrent flushes lock them in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.db import connection

from flags.models import FlagActivityDay, UnknownFlagDay
from lib import sql

# (environment id, flag id, day, variant or "" for errors) -> (evaluations, last evaluated at)
ActivityTotals = dict[tuple[int, int, date, str], tuple[int, datetime]]
# (environment id, day, flag key) -> (evaluations, last seen at)
UnknownTotals = dict[tuple[int, date, str], tuple[int, datetime]]


def add(totals: dict, key: tuple, count: int, at: datetime) -> None:
    """Fold one evaluation (or ``count`` of them) into in-memory totals before an upsert."""
    previous = totals.get(key)
    if previous is None:
        totals[key] = (count, at)
    else:
        totals[key] = (previous[0] + count, max(previous[1], at))


def activity_add(totals: ActivityTotals) -> None:
    _upsert(
        FlagActivityDay,
        key_fields=["environment", "flag", "day", "variant"],
        count_field="evaluations",
        time_field="last_evaluated_at",
        rows=((*key, count, at) for key, (count, at) in sorted(totals.items())),
    )


def unknown_add(totals: UnknownTotals) -> None:
    _upsert(
        UnknownFlagDay,
        key_fields=["environment", "day", "key"],
        count_field="evaluations",
        time_field="last_seen_at",
        rows=((*key, count, at) for key, (count, at) in sorted(totals.items())),
    )


def _upsert(model, *, key_fields: list[str], count_field: str, time_field: str, rows: Iterable[tuple]) -> None:
    statement = sql.additive_upsert_sql(model, key_fields=key_fields, count_field=count_field, latest_field=time_field)
    ops = connection.ops
    params = [
        [
            ops.adapt_datetimefield_value(value)
            if isinstance(value, datetime)
            else ops.adapt_datefield_value(value)
            if isinstance(value, date)
            else value
            for value in row
        ]
        for row in rows
    ]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(statement, params)
