"""PostgreSQL statements of the Feature Usage fold, built in one place (to move to ``core/sql.py``).

Identifiers come from model metadata, quoted with ``connection.ops.quote_name``;
values are always parameters. The fold groups a claimed batch of events once into
a temporary table, then adds it to each counter table with one
``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE SET c = c + EXCLUDED.c``:
the database groups and adds, Python never sees a row per event.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

from analytics.models import BLOCK_DAYS, RUNNING_COLUMNS
from events.models import Event

BATCH_TABLE = "analytics_fold_batch"
# Python's date.toordinal() of a PostgreSQL date: days since 0001-01-01, plus one.
ORDINAL = "((day - DATE '0001-01-01') + 1)"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type[Model], field: str) -> str:
    return _q(model._meta.get_field(field.removesuffix("_id")).column)


def batch_group_sql(*, one_batch: bool) -> str:
    """The claimed events of one product, grouped at the finest grain every counter needs.

    Parameters: zone, zone, product id, lowest id, highest id, then the batch number
    when ``one_batch`` (a fold), else every counted event of the range (a recount step).
    """
    claimed = "= %s" if one_batch else "IS NOT NULL"
    e = Event
    local = f"({_column(e, 'occurred_at')} AT TIME ZONE %s)"
    return (
        f"CREATE TEMPORARY TABLE {_q(BATCH_TABLE)} ON COMMIT DROP AS "
        f"SELECT {_column(e, 'license_id')} AS license_id, {_column(e, 'domain')} AS domain, "
        f"{_column(e, 'event')} AS event, {_column(e, 'feature')} AS feature, "
        f"CAST({local} AS date) AS day, CAST(EXTRACT(HOUR FROM (({_column(e, 'occurred_at')} AT TIME ZONE %s))) AS integer) AS hour, "
        f"COUNT(*) AS n FROM {_q(e._meta.db_table)} "
        f"WHERE {_column(e, 'product_id')} = %s AND {_q(e._meta.pk.column)} BETWEEN %s AND %s "
        f"AND {_column(e, 'rollup_batch')} {claimed} AND NOT {_column(e, 'is_system')} "
        f"GROUP BY 1, 2, 3, 4, 5, 6"
    )


def add_counts_sql(model: type[Model], keys: tuple[str, ...], *, where: str = "") -> str:
    """Add the batch's event counts per ``keys`` (batch columns named as the model's fields) to ``model``.

    Parameter: product id.
    """
    table = _q(model._meta.db_table)
    key_columns = [_column(model, "product_id"), *(_column(model, key) for key in keys)]
    count = _q("count")
    return (
        f"INSERT INTO {table} ({', '.join(key_columns)}, {count}) "
        f"SELECT %s, {', '.join(keys)}, SUM(n) FROM {_q(BATCH_TABLE)} {where} GROUP BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}"
    )


def add_blocks_sql(model: type[Model], keys: tuple[str, ...], *, where: str = "") -> str:
    """Add the batch to ``model``'s 32-day running-total rows per ``keys`` + block.

    Column c<k> of a block gains the batch's events of that block's days 0..k, so
    running totals stay running totals when added. Parameter: product id.
    """
    table = _q(model._meta.db_table)
    key_columns = [_column(model, "product_id"), *(_column(model, key) for key in keys), _column(model, "block")]
    running = [_q(name) for name in RUNNING_COLUMNS]
    sums = ", ".join(f"SUM(CASE WHEN MOD({ORDINAL}, {BLOCK_DAYS}) <= {k} THEN n ELSE 0 END)" for k in range(BLOCK_DAYS))
    return (
        f"INSERT INTO {table} ({', '.join(key_columns)}, {', '.join(running)}) "
        f"SELECT %s, {', '.join(keys)}, {ORDINAL} / {BLOCK_DAYS}, {sums} FROM {_q(BATCH_TABLE)} {where} "
        f"GROUP BY {', '.join(keys)}, {ORDINAL} / {BLOCK_DAYS} "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET "
        + ", ".join(f"{column} = {table}.{column} + EXCLUDED.{column}" for column in running)
    )


def days_used_sql(entity: str, *, where: str) -> str:
    """(entity, feature, day) used by the batch: what the reach points need."""
    return f"SELECT DISTINCT {entity}, feature, day FROM {_q(BATCH_TABLE)} {where}"


def drop_batch_sql() -> str:
    """Dropped as soon as used: a caller's enclosing transaction may fold several batches before it commits."""
    return f"DROP TABLE IF EXISTS {_q(BATCH_TABLE)}"
