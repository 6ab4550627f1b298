"""The SQL of Feature Usage: the fold's statements and the reads', one readable template each.

As Zulip's ``analytics/lib/counts.py`` writes its count queries: each statement is one
template, its identifiers named (``{reach}``, ``{feature}``), quoted from model
metadata by ``lib.sql`` when the statement is rendered; values are named parameters
(``%(product)s``). Where a statement has one expression per column (the 32 running
totals of a block, the 24 hours of a day), the template names the list and a helper
renders its items. Every bit operation is parenthesised: PostgreSQL gives ``&`` and
``<<`` the same precedence, left to right (issue 18).

``tests/analytics/test_sql_rendering.py`` renders each statement and compares it with
``tests/analytics/sql_snapshots/*.sql``, so that a reviewer sees the SQL a change produces.

The fold's statements (``events_batch_table_sql`` … ``delete_zero_counts_sql``) run on both
databases (issue 18, item 6: one fold, so that the two cannot disagree unseen). Where SQLite
must differ, the difference is one named fragment rendered per ``vendor`` (the ``SQLITE_`` /
``POSTGRESQL_`` pairs below): the temporary table's lifetime, the local day and hour, a day's
ordinal and its inverse, a date literal, and the rows of a block's days. SQLite has no
``BIT_OR`` aggregate: ``register_sqlite_functions`` adds one to each connection. Statements
only PostgreSQL needs (its settings, ``ANALYZE``) are not run on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection
from django.db.models import Model

from analytics.models import BLOCK_DAYS, NO_PREVIOUS_DAY, RUNNING_COLUMNS, FeatureReachCounter
from lib.sql import BYTE_ORDER, column, qn, table


def _vendor(vendor: str | None) -> str:
    return vendor or connection.vendor


def _ordinal(day: str = "day", vendor: str | None = None) -> str:
    """Python's date.toordinal() of a date column: days since 0001-01-01, plus one.

    SQLite keeps dates as ISO text; its julianday() of 0001-01-01 is 1721425.5 (exact in binary).
    """
    if _vendor(vendor) == "postgresql":
        return f"(({day} - DATE '0001-01-01') + 1)"
    return f"CAST(julianday({day}) - 1721424.5 AS integer)"


def _date_literal(iso: str, vendor: str | None = None) -> str:
    """A date constant: typed on PostgreSQL, ISO text on SQLite (how Django stores a DateField there)."""
    return f"DATE '{iso}'" if _vendor(vendor) == "postgresql" else f"'{iso}'"


def _temporary(vendor: str | None) -> str:
    """A fold's temporary tables live until its transaction ends. SQLite has no ON COMMIT clause:
    the fold drops them itself (it does on both), and a rolled-back CREATE leaves nothing."""
    return " ON COMMIT DROP" if _vendor(vendor) == "postgresql" else ""


# The local day and hour of an event. SQLite stores datetimes as UTC text and has no time
# zones: Django's own functions (registered on every SQLite connection, what TruncDate and
# ExtractHour with tzinfo compile to) convert them.
# The fold's batch converts an event's time once, to the start of its local hour (a local
# timestamp; text on SQLite), and reads the day and hour from that per group, not per event:
# 1M events' batch table in 1.5-2.0 s instead of 1.9-2.8 s (alternated, load ~3).
POSTGRESQL_LOCAL_DAY = "CAST(({occurred_at} AT TIME ZONE %(zone)s) AS date)"
POSTGRESQL_LOCAL_HOUR = "CAST(EXTRACT(HOUR FROM ({occurred_at} AT TIME ZONE %(zone)s)) AS integer)"
POSTGRESQL_LOCAL_HOUR_START = "date_trunc('hour', {occurred_at} AT TIME ZONE %(zone)s)"
POSTGRESQL_DAY_OF_HOUR_START = "CAST({hour_start} AS date)"
POSTGRESQL_HOUR_OF_HOUR_START = "CAST(EXTRACT(HOUR FROM {hour_start}) AS integer)"
SQLITE_LOCAL_DAY = "django_datetime_cast_date({occurred_at}, %(zone)s, 'UTC')"
SQLITE_LOCAL_HOUR = "CAST(django_datetime_extract('hour', {occurred_at}, %(zone)s, 'UTC') AS integer)"
SQLITE_LOCAL_HOUR_START = "django_datetime_trunc('hour', {occurred_at}, %(zone)s, 'UTC')"
SQLITE_DAY_OF_HOUR_START = "substr({hour_start}, 1, 10)"
SQLITE_HOUR_OF_HOUR_START = "CAST(substr({hour_start}, 12, 2) AS integer)"


class BitOr:
    """SQLite: the BIT_OR aggregate of PostgreSQL (NULLs ignored; NULL over no value)."""

    def __init__(self) -> None:
        self.value = None

    def step(self, value) -> None:
        if value is not None:
            self.value = int(value) if self.value is None else self.value | int(value)

    def finalize(self):
        return self.value


def register_sqlite_functions(dbapi_connection) -> None:
    """What the fold's statements need beyond SQLite's own functions (called for each new connection)."""
    dbapi_connection.create_aggregate("BIT_OR", 1, BitOr)


def _batch_filter(required: Sequence[str], nonblank: Sequence[str]) -> str:
    """WHERE over batch columns: ``required`` not NULL, ``nonblank`` not '' (or nothing)."""
    conditions = [f"{qn(name)} IS NOT NULL" for name in required] + [f"{qn(name)} <> ''" for name in nonblank]
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


# ---------------------------------------------------------------- the fold (both databases)
#
# The fold (analytics/counters.py) groups a claimed batch of events once into a temporary
# table, groups it again without the hour, then adds it to each counter table with one
# ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE SET c = c + EXCLUDED.c``: the
# database groups and adds, Python never sees a row per event. Batch columns are named as
# the counter models' fields (``license_id``, ``domain``, ``day``, …).

FOLD_TRANSACTION_SETTINGS = (
    "SET LOCAL work_mem = '{work_mem_mb}MB'; SET LOCAL synchronous_commit = off; SET LOCAL enable_nestloop = off"
)


def fold_transaction_settings_sql(*, work_mem_mb: int) -> str:
    """In a fold's transaction: room to group in memory, and no wait for the WAL flush at commit
    (a commit lost in a crash loses its watermark move with it: the same events are folded again).

    No nested loops: the only joins a fold makes are the reach points' joins of the batch to
    the pair blocks, which the planner sized from statistics taken before the fold grew the
    pair tables (often when they were empty): a nested loop probing the (product, feature,
    block) index once per batch pair read every block of that feature each time, minutes
    per fold on the PERFORMANCE.md shape (issue 18, item 5). A hash join reads the
    product's pair blocks once."""
    return FOLD_TRANSACTION_SETTINGS.format(work_mem_mb=int(work_mem_mb))


TEMP_BUFFERS = "SET temp_buffers = '{megabytes}MB'"


def temp_buffers_sql(*, megabytes: int) -> str:
    """Once per session, before its first temporary table: memory for temporary tables."""
    return TEMP_BUFFERS.format(megabytes=int(megabytes))


EVENTS_BATCH_TABLE = """
CREATE TEMPORARY TABLE {batch}{temporary} AS
SELECT license_id, domain, event, feature, {day_of_hour_start} AS day, {hour_of_hour_start} AS hour, n
FROM (
    SELECT {license} AS license_id, {domain} AS domain, {event} AS event, {feature} AS feature,
           {local_hour_start} AS hour_start,
           CAST(COUNT(*) AS integer) AS n
    FROM {events}
    WHERE {product} = %(product)s AND {id} BETWEEN %(low)s AND %(high)s AND NOT {is_system}
    GROUP BY 1, 2, 3, 4, 5
) AS by_hour
"""


def events_batch_table_sql(event_model: type[Model], *, batch_table: str, vendor: str | None = None) -> str:
    """A temporary table of one product's events in an id range, grouped by license, domain, names, local day and hour.

    Parameters: ``zone``, ``product``, ``low`` and ``high`` (ids, inclusive). System events are left out.
    ``n`` is an integer, not COUNT's bigint: the running-total upserts sum it 32 times per
    row, and sums of bigints keep numeric states, several times slower and larger.
    """
    e = event_model
    postgresql = _vendor(vendor) == "postgresql"
    occurred_at = column(e, "occurred_at")
    return EVENTS_BATCH_TABLE.format(
        batch=qn(batch_table),
        temporary=_temporary(vendor),
        local_hour_start=(POSTGRESQL_LOCAL_HOUR_START if postgresql else SQLITE_LOCAL_HOUR_START).format(
            occurred_at=occurred_at
        ),
        day_of_hour_start=(POSTGRESQL_DAY_OF_HOUR_START if postgresql else SQLITE_DAY_OF_HOUR_START).format(
            hour_start="hour_start"
        ),
        hour_of_hour_start=(POSTGRESQL_HOUR_OF_HOUR_START if postgresql else SQLITE_HOUR_OF_HOUR_START).format(
            hour_start="hour_start"
        ),
        license=column(e, "license"),
        domain=column(e, "domain"),
        event=column(e, "event"),
        feature=column(e, "feature"),
        events=table(e),
        product=column(e, "product"),
        id=qn(e._meta.pk.column),
        is_system=column(e, "is_system"),
    ).strip()


COARSER_BATCH_TABLE = """
CREATE TEMPORARY TABLE {batch}{temporary} AS
SELECT {keys}, CAST(SUM(n) AS integer) AS n
FROM {source}
GROUP BY {keys}
"""


def coarser_batch_table_sql(batch_table: str, *, source: str, keys: Sequence[str], vendor: str | None = None) -> str:
    """A temporary table of ``source`` (a batch table) grouped again by fewer ``keys``, ``n`` summed."""
    return COARSER_BATCH_TABLE.format(
        batch=qn(batch_table), temporary=_temporary(vendor), keys=", ".join(qn(key) for key in keys), source=qn(source)
    ).strip()


# The counter tables whose rows changed more than autovacuum's analyze threshold since their
# last ANALYZE: the table's own autovacuum_analyze_* storage parameters where it has them, the
# server's settings otherwise (the formula of PostgreSQL's autovacuum.c; reltuples is -1 before
# the first ANALYZE, 0 rows then).
STALE_STATISTICS = """
SELECT stats.relname
FROM pg_stat_user_tables AS stats
JOIN pg_class AS class ON class.oid = stats.relid
WHERE stats.relname = ANY(%(tables)s)
  AND stats.n_mod_since_analyze > COALESCE(
        (SELECT CAST(option_value AS float8) FROM pg_options_to_table(class.reloptions)
         WHERE option_name = 'autovacuum_analyze_threshold'),
        CAST(current_setting('autovacuum_analyze_threshold') AS float8))
      + COALESCE(
        (SELECT CAST(option_value AS float8) FROM pg_options_to_table(class.reloptions)
         WHERE option_name = 'autovacuum_analyze_scale_factor'),
        CAST(current_setting('autovacuum_analyze_scale_factor') AS float8)) * GREATEST(class.reltuples, 0)
ORDER BY stats.relname
"""


def stale_statistics_sql() -> str:
    """PostgreSQL: which of ``%(tables)s`` (a list of table names) autovacuum would analyze now; one name per row."""
    return STALE_STATISTICS.strip()


ADD_BATCH = """
INSERT INTO {counter} ({key_columns}, {added_columns})
SELECT %(product)s, {groups},
       {sums}
FROM {batch}{where}
GROUP BY {groups}
ORDER BY {order}
ON CONFLICT ({key_columns}) DO UPDATE SET {additions}
"""


def _add_batch_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    sums: Mapping[str, str],
    derived_keys: Mapping[str, str] | None = None,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """The batch grouped per ``keys`` (batch columns) and ``derived_keys`` (field → expression over
    them), added to ``model``'s rows: each field of ``sums`` gains its aggregate. Parameter: ``product``.

    ORDER BY follows the primary key's columns in the index's order, so that the upsert walks the index once.
    """
    derived_keys = derived_keys or {}
    key_columns = [
        column(model, "product"),
        *(column(model, key.removesuffix("_id")) for key in keys),
        *(column(model, name) for name in derived_keys),
    ]
    added = [column(model, name) for name in sums]
    by_field = {**{key.removesuffix("_id"): qn(key) for key in keys}, **derived_keys}
    counter = table(model)
    return ADD_BATCH.format(
        counter=counter,
        key_columns=", ".join(key_columns),
        added_columns=", ".join(added),
        groups=", ".join([*(qn(key) for key in keys), *derived_keys.values()]),
        sums=",\n       ".join(sums.values()),
        batch=qn(batch_table),
        where=_batch_filter(required, nonblank),
        order=", ".join(by_field[field.name] for field in model._meta.pk_fields if field.name in by_field),
        additions=", ".join(f"{c} = {counter}.{c} + EXCLUDED.{c}" for c in added),
    ).strip()


def add_batch_counts_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """Add the batch's counts per ``keys`` to ``model``'s ``count``. Parameter: ``product``."""
    return _add_batch_sql(
        model, keys, batch_table=batch_table, sums={"count": "SUM(n)"}, required=required, nonblank=nonblank
    )


HOUR_SUM = "SUM(CASE WHEN hour = {hour} THEN n ELSE 0 END)"


def add_batch_hour_columns_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    hour_fields: Sequence[str],
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """Add the batch's counts per ``keys`` (a day among them) to ``model``'s one column per hour of the day.

    Field k of ``hour_fields`` gains the batch's events of hour k. Parameter: ``product``.
    """
    sums = {name: HOUR_SUM.format(hour=k) for k, name in enumerate(hour_fields)}
    return _add_batch_sql(model, keys, batch_table=batch_table, sums=sums, required=required, nonblank=nonblank)


# Column k of a block gains the batch's events of the block's days 0..k.
RUNNING_SUM = "SUM(CASE WHEN MOD({ordinal}, {block_days}) <= {k} THEN n ELSE 0 END)"
BLOCK_OF_DAY = "{ordinal} / {block_days}"


def add_batch_running_blocks_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    running_fields: Sequence[str] = RUNNING_COLUMNS,
    block_days: int = BLOCK_DAYS,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
    vendor: str | None = None,
) -> str:
    """Add the batch to ``model``'s running-total rows per ``keys`` + block of ``block_days`` days.

    Running totals stay running totals when added. Parameter: ``product``.
    """
    days = int(block_days)
    ordinal = _ordinal(vendor=vendor)
    sums = {name: RUNNING_SUM.format(ordinal=ordinal, block_days=days, k=k) for k, name in enumerate(running_fields)}
    return _add_batch_sql(
        model,
        keys,
        batch_table=batch_table,
        sums=sums,
        derived_keys={"block": BLOCK_OF_DAY.format(ordinal=ordinal, block_days=days)},
        required=required,
        nonblank=nonblank,
    )


# The reach points: a pair's points are its used days, each with the one before. Only the
# pairs with a fresh day (a batch day their blocks do not count yet) change, and only around
# their fresh days: with F the fresh days and N the old days next to one (the last old day
# before it, the first after it), the change is points(N ∪ F) − points(N). A point of two
# old days with no fresh day between them is in both and cancels; a run of fresh days between
# old days a and b replaces (b, a) by (f1, a), (f2, f1), …, (b, fm). So the statement reads
# each pair's blocks as one bit mask per block (no row per old day) and orders rows per fresh
# day, not per day the pair ever used (issue 18, item 5: that grew with licenses × features ×
# days and took minutes per fold on the PERFORMANCE.md shape). Days are ordinals here.
ADD_BATCH_REACH_POINTS = """
WITH new_days AS (
    SELECT DISTINCT {batch_entity} AS entity, feature, day
    FROM {batch}{where}
),
batch_pairs AS (
    SELECT DISTINCT entity, feature FROM new_days
),
old_blocks AS (
    -- each block of the batch's pairs, the days it already counts as a mask, over every event name of the pair
    SELECT b.{entity} AS entity, b.{feature} AS feature, b.{block} AS block,
           BIT_OR({day_mask}) AS used
    FROM {pairs} AS b
    JOIN batch_pairs AS p ON b.{entity} = p.entity AND b.{feature} = p.feature
    WHERE b.{product} = %(product)s
    GROUP BY 1, 2, 3
    HAVING BIT_OR({day_mask}) <> 0
),
fresh AS (
    -- the batch days the pairs' blocks do not count yet, with the mask of the day's block (0: a new block)
    SELECT n.entity, n.feature, {ordinal_of_new_day} AS ordinal, COALESCE(m.used, 0) AS used
    FROM new_days AS n
    LEFT JOIN old_blocks AS m ON m.entity = n.entity AND m.feature = n.feature AND m.block = {block_of_new_day}
    WHERE (COALESCE(m.used, 0) & {day_bit}) = 0
),
touched AS (
    SELECT DISTINCT entity, feature FROM fresh
),
blocks AS (
    -- the touched pairs' old blocks and the new blocks of their fresh days, each with the
    -- last old day of the blocks before it and the first old day of the blocks after it;
    -- a pair with no old block has no old day next to any day (a product's first fold: none)
    SELECT entity, feature, block,
           MAX(last_day) OVER (PARTITION BY {pair_partition} ORDER BY block
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS day_before,
           MIN(first_day) OVER (PARTITION BY {pair_partition} ORDER BY block
                                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS day_after
    FROM (
        SELECT o.entity, o.feature, o.block,
               o.block * {block_days} + {highest_bit_of_used} AS last_day,
               o.block * {block_days} + {lowest_bit_of_used} AS first_day
        FROM old_blocks AS o
        JOIN touched AS t ON o.entity = t.entity AND o.feature = t.feature
        UNION ALL
        SELECT DISTINCT f.entity, f.feature, f.ordinal / {block_days}, CAST(NULL AS integer), CAST(NULL AS integer)
        FROM fresh AS f
        JOIN (SELECT DISTINCT entity, feature FROM old_blocks) AS o ON o.entity = f.entity AND o.feature = f.feature
        WHERE f.used = 0
    ) AS pair_blocks
),
fresh_bits AS (
    -- a fresh day's block mask split at the day: the old days below it, the lowest old day above it
    SELECT entity, feature, ordinal, ordinal - MOD(ordinal, {block_days}) AS block_start,
           (used & ({day_bit_of_ordinal} - 1)) AS below,
           (above & -above) AS above
    FROM (SELECT entity, feature, ordinal, used, (used & -({next_day_bit_of_ordinal})) AS above FROM fresh) AS f
),
near_days AS (
    -- N: the old day before each fresh day (in its block, or the blocks before) and the one after
    SELECT f.entity, f.feature,
           CASE WHEN f.below <> 0 THEN f.block_start + {highest_bit_below} ELSE b.day_before END AS ordinal
    FROM fresh_bits AS f
    JOIN blocks AS b ON b.entity = f.entity AND b.feature = f.feature AND b.block = f.ordinal / {block_days}
    WHERE f.below <> 0 OR b.day_before IS NOT NULL
    UNION
    SELECT f.entity, f.feature,
           CASE WHEN f.above <> 0 THEN f.block_start + {highest_bit_above} ELSE b.day_after END
    FROM fresh_bits AS f
    JOIN blocks AS b ON b.entity = f.entity AND b.feature = f.feature AND b.block = f.ordinal / {block_days}
    WHERE f.above <> 0 OR b.day_after IS NOT NULL
),
all_days AS (
    -- fresh days are not among the old ones: the two sets are disjoint
    SELECT entity, feature, ordinal FROM near_days
    UNION ALL
    SELECT entity, feature, ordinal FROM fresh
),
points AS (
    SELECT feature, ordinal, LAG(ordinal, 1, {no_previous}) OVER w AS previous, 1 AS delta
    FROM all_days
    WINDOW w AS (PARTITION BY {pair_partition} ORDER BY ordinal)
    UNION ALL
    SELECT feature, ordinal, LAG(ordinal, 1, {no_previous}) OVER w, -1
    FROM near_days
    WINDOW w AS (PARTITION BY {pair_partition} ORDER BY ordinal)
)
INSERT INTO {reach} ({reach_key}, {count})
SELECT %(product)s, %(kind)s, {day_of_ordinal}, feature, {day_of_previous}, SUM(delta)
FROM points
GROUP BY ordinal, feature, previous
HAVING SUM(delta) <> 0
ORDER BY ordinal, feature, previous
ON CONFLICT ({reach_key}) DO UPDATE SET {count} = {reach}.{count} + EXCLUDED.{count}
"""
# Bit k of a block row's mask: the row counts events on the block's day k (its running total grew).
DAY_MASK_BIT = "(CASE WHEN {total} > {before} THEN (CAST(1 AS bigint) << {k}) ELSE 0 END)"
# Parenthesised: PostgreSQL gives & and << the same precedence, left to right (issue 18), and so
# does SQLite, with | too.
DAY_BIT = "(CAST(1 AS bigint) << CAST(MOD({ordinal}, {block_days}) AS integer))"
NEXT_DAY_BIT = "(CAST(1 AS bigint) << CAST(MOD({ordinal}, {block_days}) + 1 AS integer))"
# The highest set bit of a mask of one block's days (0 < mask < 2^32), one WHEN a bit: both
# databases have no portable function for it, and a CASE needs none.
HIGHEST_BIT = "(CASE {bits} ELSE 0 END)"
HIGHEST_BIT_WHEN = "WHEN {mask} >= (CAST(1 AS bigint) << {k}) THEN {k}"


def _highest_bit(mask: str, block_days: int) -> str:
    return HIGHEST_BIT.format(
        bits=" ".join(HIGHEST_BIT_WHEN.format(mask=mask, k=k) for k in range(block_days - 1, 0, -1))
    )


def _pair_partition(pairs_model: type[Model], entity: str, vendor: str) -> str:
    """The pairs' windows partition by (entity, feature): equality only, so PostgreSQL may sort the
    text keys in byte order (``lib.sql.BYTE_ORDER``)."""
    text_entity = pairs_model._meta.get_field(entity.removesuffix("_id")).get_internal_type() == "CharField"
    byte_order = BYTE_ORDER if vendor == "postgresql" else ""
    return f"entity{byte_order if text_entity else ''}, feature{byte_order}"


def add_batch_reach_points_sql(
    pairs_model: type[Model],
    entity: str,
    *,
    batch_table: str,
    running_fields: Sequence[str] = RUNNING_COLUMNS,
    block_days: int = BLOCK_DAYS,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
    vendor: str | None = None,
) -> str:
    """Add the batch's changes to the reach points (day, previous day used) of each (``entity``, feature) pair.

    Run before the pair blocks take the batch: they tell which days each pair used
    before (a bit mask per pair block, joined to the batch's pairs). Only the fresh days
    and the old days next to them are ordered: the cost follows the batch, not the pairs'
    history. Parameters: ``product``, ``kind``. Points whose count falls to 0 stay at 0:
    ``delete_zero_counts_sql`` removes them.
    """
    r, p = FeatureReachCounter, pairs_model
    vendor = _vendor(vendor)
    days = int(block_days)
    totals = [f"b.{column(p, name)}" for name in running_fields]
    new_day_ordinal = _ordinal("n.day", vendor)
    return ADD_BATCH_REACH_POINTS.format(
        batch_entity=qn(entity),
        pair_partition=_pair_partition(p, entity, vendor),
        batch=qn(batch_table),
        where=_batch_filter(required, nonblank),
        block_of_new_day=BLOCK_OF_DAY.format(ordinal=new_day_ordinal, block_days=days),
        ordinal_of_new_day=new_day_ordinal,
        entity=column(p, entity.removesuffix("_id")),
        feature=column(p, "feature"),
        block=column(p, "block"),
        block_days=days,
        day_mask="\n           | ".join(
            DAY_MASK_BIT.format(total=total, before=totals[k - 1] if k else 0, k=k) for k, total in enumerate(totals)
        ),
        pairs=table(p),
        product=column(p, "product"),
        day_bit=DAY_BIT.format(ordinal=new_day_ordinal, block_days=days),
        day_bit_of_ordinal=DAY_BIT.format(ordinal="ordinal", block_days=days),
        next_day_bit_of_ordinal=NEXT_DAY_BIT.format(ordinal="ordinal", block_days=days),
        highest_bit_of_used=_highest_bit("o.used", days),
        lowest_bit_of_used=_highest_bit("(o.used & -o.used)", days),
        highest_bit_below=_highest_bit("f.below", days),
        highest_bit_above=_highest_bit("f.above", days),
        no_previous=int(NO_PREVIOUS_DAY.toordinal()),
        day_of_ordinal=ordinal_to_date(vendor, "ordinal"),
        day_of_previous=ordinal_to_date(vendor, "previous"),
        reach=table(r),
        reach_key=", ".join(column(r, name) for name in ("product", "kind", "day", "feature", "previous_day")),
        count=column(r, "count"),
    ).strip()


DELETE_ZERO_COUNTS = "DELETE FROM {model} WHERE {product} = %(product)s AND {count} = 0"


def delete_zero_counts_sql(model: type[Model]) -> str:
    """Rows of one product (parameter ``product``) whose ``count`` fell to 0."""
    return DELETE_ZERO_COUNTS.format(model=table(model), product=column(model, "product"), count=column(model, "count"))


# ---------------------------------------------------------------- the reach repair (both databases)

# The days 0 … 31 of a block, as rows (a recursive CTE: both databases have it).
BLOCK_DAY_ROWS = "block_days (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM block_days WHERE k < {last})"


def ordinal_to_date(vendor: str, expression: str) -> str:
    """The date whose Python ``toordinal()`` is ``expression`` (an integer)."""
    if vendor == "postgresql":
        return f"(DATE '0001-01-01' + CAST(({expression}) - 1 AS integer))"
    return f"date('0001-01-01', '+' || (({expression}) - 1) || ' days')"


def _block_day_used(alias: str, running_fields: Sequence[str] = RUNNING_COLUMNS) -> str:
    """True when a running-totals row counts events on its block's day ``k`` (its running total grew)."""
    cases = " ".join(
        f"WHEN {k} THEN {alias}.{qn(name)} > {f'{alias}.{qn(running_fields[k - 1])}' if k else '0'}"
        for k, name in enumerate(running_fields)
    )
    return f"(CASE block_days.k {cases} END)"


REACH_POINTS_FROM_BLOCKS = """
WITH RECURSIVE {block_day_rows},
used AS (
    SELECT DISTINCT b.{entity} AS entity, b.{pair_feature} AS feature,
           b.{block} * {block_days} + block_days.k AS ordinal
    FROM {pairs} AS b CROSS JOIN block_days
    WHERE b.{pair_product} = %(product)s AND {day_used}
),
points AS (
    SELECT feature, ordinal,
           LAG(ordinal, 1, {no_previous}) OVER (PARTITION BY {pair_partition} ORDER BY ordinal) AS previous
    FROM used
)
INSERT INTO {reach} ({product}, {kind}, {day}, {feature}, {previous_day}, {count})
SELECT %(product)s, %(kind)s, {day_of_ordinal}, feature, {day_of_previous}, COUNT(*)
FROM points
GROUP BY feature, ordinal, previous
"""


def reach_points_from_blocks_sql(pairs_model: type[Model], entity: str, *, vendor: str | None = None) -> str:
    """Every reach point of one product and kind, from the pair blocks of ``entity`` (``license`` or ``domain``).

    A pair's points are its used days, each with the one before (or NO_PREVIOUS_DAY);
    the pair blocks tell the used days of every pair. Parameters: ``product``, ``kind``.
    The repair of data folded before issue 18's fix: the pair blocks were always right.
    """
    vendor = _vendor(vendor)
    r, p = FeatureReachCounter, pairs_model
    return REACH_POINTS_FROM_BLOCKS.format(
        block_day_rows=BLOCK_DAY_ROWS.format(last=BLOCK_DAYS - 1),
        entity=column(p, entity),
        pair_partition=_pair_partition(p, entity, vendor),
        pair_feature=column(p, "feature"),
        block=column(p, "block"),
        block_days=int(BLOCK_DAYS),
        pairs=table(p),
        pair_product=column(p, "product"),
        day_used=_block_day_used("b"),
        no_previous=int(NO_PREVIOUS_DAY.toordinal()),
        reach=table(r),
        product=column(r, "product"),
        kind=column(r, "kind"),
        day=column(r, "day"),
        feature=column(r, "feature"),
        previous_day=column(r, "previous_day"),
        count=column(r, "count"),
        day_of_ordinal=ordinal_to_date(vendor, "ordinal"),
        day_of_previous=ordinal_to_date(vendor, "previous"),
    ).strip()


DELETE_PRODUCT_ROWS = "DELETE FROM {model} WHERE {product} = %(product)s"


def delete_product_rows_sql(model: type[Model]) -> str:
    """Every row of one product (parameter ``product``)."""
    return DELETE_PRODUCT_ROWS.format(model=table(model), product=column(model, "product"))


# ---------------------------------------------------------------- the reads (both databases unless said)

TAIL_ROWS = """
WITH tail AS MATERIALIZED (
    SELECT {license} AS license_id, {domain} AS domain, {event} AS event, {feature} AS feature,
           {occurred_at} AS occurred_at
    FROM {events}
    WHERE {product} = %(product)s AND {id} > %(through)s AND NOT {is_system}{license_filter}
    ORDER BY {id}
)
SELECT license_id, domain, event, feature, {local_day} AS day, {local_hour} AS hour, COUNT(*)
FROM tail
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6
"""
TAIL_LICENSE_FILTER = " AND {license} = %(license)s"


def tail_rows_sql(event_model: type[Model], *, one_license: bool = False, vendor: str | None = None) -> str:
    """The events above a watermark, grouped by license, domain, names, local day and hour (the tail a read adds).

    Parameters: ``product``, ``through`` (the watermark), ``zone``, ``start`` and ``end``
    (UTC bounds of the days wanted, a day wider than the local days on each side), and
    ``license`` with ``one_license``. The id range is read first, as its own materialised
    step, in id order: PostgreSQL's statistics rarely know rows inserted moments ago, and
    with an estimate of one row every index of the product costs the same, so it walked the
    (product, license, occurred_at) index over every event of the product and filtered the
    ids (950,000 rows read to keep 200,000, 3.2 s at 1M; issue 18, item 5). In id order only
    the (product, id, …) primary key serves it without a sort, whatever the estimate.
    """
    e = event_model
    postgresql = _vendor(vendor) == "postgresql"
    return TAIL_ROWS.format(
        license=column(e, "license"),
        domain=column(e, "domain"),
        event=column(e, "event"),
        feature=column(e, "feature"),
        occurred_at=column(e, "occurred_at"),
        events=table(e),
        product=column(e, "product"),
        id=qn(e._meta.pk.column),
        is_system=column(e, "is_system"),
        license_filter=TAIL_LICENSE_FILTER.format(license=column(e, "license")) if one_license else "",
        local_day=(POSTGRESQL_LOCAL_DAY if postgresql else SQLITE_LOCAL_DAY).format(occurred_at="occurred_at"),
        local_hour=(POSTGRESQL_LOCAL_HOUR if postgresql else SQLITE_LOCAL_HOUR).format(occurred_at="occurred_at"),
    ).strip()


# The tail merged with the counted window in SQL (issue 18, item 5): only the answer-sized
# figures reach Python. The tail's rows come as in TAIL_ROWS (the id range first, in id
# order); a pair of the window's tail is new when no pair block of the window counts it.
TAIL_FIGURES = """
WITH {names}tail AS MATERIALIZED (
    -- the local day and hour computed once per event, in the id range's own step
    SELECT {license} AS license_id, {domain} AS domain, {event} AS event, {feature} AS feature,
           {local_day} AS day, {local_hour} AS hour
    FROM {events}
    WHERE {product} = %(product)s AND {id} > %(through)s AND NOT {is_system}
    ORDER BY {id}
),
in_days AS NOT MATERIALIZED (
    SELECT license_id, domain, feature, day, hour FROM tail
    WHERE day >= %(prior_from)s AND day <= %(date_to)s{tail_names}
),
in_window AS NOT MATERIALIZED (
    SELECT license_id, domain, feature, day, hour FROM in_days WHERE day >= %(date_from)s
),
license_pairs AS MATERIALIZED (
    SELECT license_id, feature, COUNT(*) AS n FROM in_window WHERE license_id IS NOT NULL GROUP BY license_id, feature
),
new_license_pairs AS MATERIALIZED (
    -- the window's tail pairs no pair block of the window counts: each is one more license of its feature
    SELECT license_id, feature FROM license_pairs
    EXCEPT
    SELECT b.{license_entity}, b.{license_feature} FROM {license_blocks} AS b
    WHERE b.{license_product} = %(product)s AND b.{license_block} IN ({blocks}){license_block_names}
{license_tail_entities}      AND {license_window_events} > 0
),
domain_pairs AS MATERIALIZED (
    SELECT domain, feature, COUNT(*) AS n FROM in_window WHERE domain <> '' GROUP BY domain, feature
),
new_domain_pairs AS (
    SELECT domain, feature FROM domain_pairs
    EXCEPT
    SELECT b.{domain_entity}, b.{domain_feature} FROM {domain_blocks} AS b
    WHERE b.{domain_product} = %(product)s AND b.{domain_block} IN ({blocks}){domain_block_names}
{domain_tail_entities}      AND {domain_window_events} > 0
)
SELECT 0 AS kind, feature AS name, day, 0 AS number, COUNT(*) AS n FROM in_days GROUP BY feature, day
UNION ALL
SELECT 1, '', day, hour, COUNT(*) FROM in_window GROUP BY day, hour
UNION ALL
SELECT 2, p.feature, NULL, COUNT(*),
       SUM(CASE WHEN l.{status} = %(active)s AND (l.{expires_at} IS NULL OR l.{expires_at} >= %(from_start)s)
                THEN 1 ELSE 0 END)
FROM new_license_pairs AS p LEFT JOIN {licenses} AS l ON l.{license_pk} = p.license_id
GROUP BY p.feature
UNION ALL
SELECT 3, '', NULL, license_id, SUM(n) FROM license_pairs GROUP BY license_id
UNION ALL
SELECT 4, '', NULL, license_id, COUNT(*) FROM new_license_pairs GROUP BY license_id
UNION ALL
SELECT 5, feature, NULL, 0, COUNT(*) FROM new_domain_pairs GROUP BY feature
UNION ALL
SELECT 6, domain, NULL, 0, SUM(n) FROM domain_pairs GROUP BY domain
"""
# A small tail's pairs are taken out of its own licenses' and domains' blocks only.
TAIL_ENTITIES_FILTER = "      AND b.{entity} IN (SELECT {name} FROM {pairs})\n"
# With ``event=``: the (event, feature) names it selects, as rows (Python matches them: casefold).
TAIL_NAMES = "names (event, feature) AS (VALUES {rows}),\n"
TAIL_NAME_ROW = "(%(event_{k})s, %(feature_{k})s)"
TAIL_NAMES_FILTER = " AND (event, feature) IN (SELECT event, feature FROM names)"
BLOCK_NAMES_FILTER = "\n      AND (b.{event}, b.{feature}) IN (SELECT event, feature FROM names)"
# A pair block's events in the window: the difference of its running totals over the window's days in its block.
WINDOW_EVENTS_WHEN = "WHEN b.{block} = {number} THEN {high}{minus_low}"


def _window_events(model: type[Model], parts: Sequence[tuple[int, int, int]]) -> str:
    """A block row's (alias ``b``) events within the window of ``parts`` (block, first column, last column)."""
    cases = " ".join(
        WINDOW_EVENTS_WHEN.format(
            block=column(model, "block"),
            number=int(number),
            high=f"b.{column(model, RUNNING_COLUMNS[high])}",
            minus_low=f" - b.{column(model, RUNNING_COLUMNS[low - 1])}" if low > 0 else "",
        )
        for number, low, high in parts
    )
    return f"(CASE {cases} ELSE 0 END)"


def tail_figures_sql(
    event_model: type[Model],
    licenses: type[Model],
    license_blocks: type[Model],
    domain_blocks: type[Model],
    *,
    parts: Sequence[tuple[int, int, int]],
    names: int | None = None,
    small_tail: bool = False,
    vendor: str | None = None,
) -> str:
    """The tail (events above the watermark) merged with a counted window, aggregated: what an answer adds.

    One row per figure the tail changes, ``(kind, name, day, number, n)``:
    0 (feature, day): events, prior window included; 1 (day, hour ``number``): events;
    2 (feature): ``number`` new licenses, ``n`` of them active; 3 (license ``number``): events;
    4 (license ``number``): new features; 5 (feature): new domains; 6 (domain): events.
    A (license or domain, feature) pair of the window's tail is new when no pair block
    of the window (``parts``: its (block, first column, last column)s) counts it, so
    distinct counts stay exact. ``names``: with ``event=``, how many (event, feature)
    names it selects (parameters ``event_<k>``, ``feature_<k>``, k < names; at least one).
    Parameters: ``product``, ``through``, ``zone``, ``prior_from``, ``date_from``, ``date_to``,
    ``active`` (the active status), ``from_start`` (an expiry before it is not active).

    The tail is read as in ``tail_rows_sql`` (the id range first, in id order), each event's
    local day and hour computed once there; the figures are grouped from it directly, each
    at its own grain, never through a row per (license, domain, feature, day, hour), which on
    a sparse product is a row per event. The window's counted pairs are taken out with
    ``EXCEPT``, which no plan turns into a nested loop over the pair blocks (their statistics
    often predate the fold that filled them: issue 18, item 5).

    ``small_tail`` (the caller counted fewer than ``TAIL_SMALL_BELOW`` events): the second side
    reads only the blocks of the tail's licenses and domains, the others cannot match. The pair
    blocks of the window grow with the product, a small tail does not: at 100M events an answer
    with nothing unfolded spent 711 of its 796 ms reading every pair block of the window (1 ms
    so), with 2,000 unfolded events 730 ms against 15-19 ms. A large tail touches every license
    and most domains, and the per-entity index scans then cost more than one read of the blocks
    (a 200,000-event tail on a 1M product: 595 against 550 ms alone, 840-890 against 600-630 ms
    in the bench with the worker folding beside it), so it reads the window's blocks whole.
    """
    e, lic, lb, db = event_model, licenses, license_blocks, domain_blocks
    postgresql = _vendor(vendor) == "postgresql"
    filtered = names is not None
    occurred_at = column(e, "occurred_at")
    return TAIL_FIGURES.format(
        names=TAIL_NAMES.format(rows=", ".join(TAIL_NAME_ROW.format(k=k) for k in range(int(names))))
        if filtered
        else "",
        license=column(e, "license"),
        domain=column(e, "domain"),
        event=column(e, "event"),
        feature=column(e, "feature"),
        events=table(e),
        product=column(e, "product"),
        id=qn(e._meta.pk.column),
        is_system=column(e, "is_system"),
        local_day=(POSTGRESQL_LOCAL_DAY if postgresql else SQLITE_LOCAL_DAY).format(occurred_at=occurred_at),
        local_hour=(POSTGRESQL_LOCAL_HOUR if postgresql else SQLITE_LOCAL_HOUR).format(occurred_at=occurred_at),
        tail_names=TAIL_NAMES_FILTER if filtered else "",
        status=column(lic, "status"),
        expires_at=column(lic, "expires_at"),
        licenses=table(lic),
        license_pk=column(lic, "id"),
        blocks=", ".join(str(int(number)) for number, _, _ in parts),
        **_pair_block_names("license", lb, parts, filtered=filtered),
        **_pair_block_names("domain", db, parts, filtered=filtered),
        license_tail_entities=TAIL_ENTITIES_FILTER.format(
            entity=column(lb, "license"), name="license_id", pairs="license_pairs"
        )
        if small_tail
        else "",
        domain_tail_entities=TAIL_ENTITIES_FILTER.format(
            entity=column(db, "domain"), name="domain", pairs="domain_pairs"
        )
        if small_tail
        else "",
    ).strip()


def _pair_block_names(entity: str, model: type[Model], parts, *, filtered: bool) -> dict[str, str]:
    """TAIL_FIGURES' names for one kind of pair blocks (``license_…`` or ``domain_…``)."""
    return {
        f"{entity}_blocks": table(model),
        f"{entity}_product": column(model, "product"),
        f"{entity}_block": column(model, "block"),
        f"{entity}_entity": column(model, entity),
        f"{entity}_feature": column(model, "feature"),
        f"{entity}_block_names": BLOCK_NAMES_FILTER.format(
            event=column(model, "event"), feature=column(model, "feature")
        )
        if filtered
        else "",
        f"{entity}_window_events": _window_events(model, parts),
    }


PAIR_ROLLUP = """
WITH pairs AS ({pairs})
SELECT 0, feature, COUNT(*), SUM({feature_sum}) FROM pairs GROUP BY feature
UNION ALL
SELECT 1, CAST({entity} AS TEXT), COUNT(*), SUM(n) FROM pairs GROUP BY {entity}
"""


def pair_rollup_sql(pairs_sql: str, *, entity: str, feature_sum: str) -> str:
    """Per feature and per entity from one scan of a window's (entity, feature) pairs (an ORM query's SQL).

    Grouping the pairs twice in a CTE replaces COUNT(DISTINCT …), whose sorts cost several times more.
    Rows: (0, feature, entities, sum of ``feature_sum``) and (1, entity, features, events).
    The parameters are the ORM query's.
    """
    return PAIR_ROLLUP.format(pairs=pairs_sql, entity=qn(entity), feature_sum=qn(feature_sum)).strip()


def _running(model: type[Model], name: str) -> str:
    return f"{table(model)}.{column(model, name)}"


def first_day_of_block_sql(model: type[Model]) -> str:
    """A running-totals row's first day with an event, as a day ordinal; NULL for an all-zero row.

    An expression over ``model``'s row (no parameters): ``MIN`` of it is a key's first day ever.
    Written here rather than with the ORM, whose 32 ``When`` cost more to compile than the
    statement takes to run.
    """
    block = _running(model, "block")
    cases = " ".join(
        f"WHEN {_running(model, name)} > 0 THEN {block} * {int(BLOCK_DAYS)} + {k}"
        for k, name in enumerate(RUNNING_COLUMNS)
    )
    return f"(CASE {cases} END)"


def last_day_in_window_sql(model: type[Model], *, parts: Sequence[tuple[int, int, int]]) -> str:
    """A running-totals row's last day with an event within a window, as a day ordinal; NULL when none.

    ``parts``: the window's (block, first column, last column). A day has events when its
    running total rises over the day before's; ``MAX`` of it is a key's last day in the window.
    """
    block = _running(model, "block")
    blocks = []
    for number, low, high in parts:
        rises = " ".join(
            f"WHEN {_running(model, RUNNING_COLUMNS[k])} > "
            f"{_running(model, RUNNING_COLUMNS[k - 1]) if k else '0'} THEN {int(number) * BLOCK_DAYS + k}"
            for k in range(high, low - 1, -1)
        )
        blocks.append(f"WHEN {block} = {int(number)} THEN (CASE {rises} END)")
    return f"(CASE {' '.join(blocks)} END)"


RANKED_LICENSE_PAIRS = """
WITH pairs AS ({pairs})
SELECT l.{public_id}, l.{email}, SUM(pairs.n), COUNT(*)
FROM pairs JOIN {licenses} AS l ON l.{license_pk} = pairs.{license_id}
GROUP BY l.{public_id}, l.{email}
ORDER BY SUM(pairs.n) DESC, l.{public_id} COLLATE "{collation}"
"""


def ranked_license_pairs_sql(pairs_sql: str, *, licenses: type[Model], collation: str) -> str:
    """Per license, from a window's used (license_id, feature, n) pairs (an ORM query's SQL): events and features.

    Most events first, ties by the license's public id in byte order (``collation``: ``C``
    on PostgreSQL, ``BINARY`` on SQLite), as Python orders them. The parameters are the ORM query's.
    """
    return RANKED_LICENSE_PAIRS.format(
        pairs=pairs_sql,
        public_id=column(licenses, "public_id"),
        email=column(licenses, "customer_email"),
        licenses=table(licenses),
        license_pk=column(licenses, "id"),
        license_id=qn("license_id"),
        collation=collation,
    ).strip()


HASH_AGGREGATION = "SET LOCAL enable_sort = {setting}"


def hash_aggregation_sql(*, only: bool) -> str:
    """PostgreSQL, inside a transaction: ``only`` groups by hashing, never by sorting first, until set back.

    For the tail a read adds: its rows were inserted moments ago, so the table's
    statistics rarely know them, and a planner that expects a handful of rows sorts
    several hundred thousand before grouping them (a third of a second); a hash groups
    them in one pass.
    """
    return HASH_AGGREGATION.format(setting="off" if only else "on")
