"""The database-specific SQL of PackEdge, in one place.

The ORM writes everything else. What is here is what the ORM cannot say
cheaply: the ingestion insert (one statement over a JSON array, licenses found
by a join, duplicate uuids skipped), plain multi-row inserts for the recorders,
additive upserts and advisory locks. Identifiers always come from model
metadata and are quoted here; no other module builds SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Model

# PostgreSQL types of the JSON fields an INSERT … SELECT reads (SQLite reads them with json_extract).
_PG_TYPES = {"text": "text", "boolean": "boolean", "jsonb": "jsonb", "timestamptz": "timestamptz", "bigint": "bigint"}


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


def json_rows_source(vendor: str, fields: Mapping[str, str], *, param: str = "%(rows)s") -> str:
    """A row source ``v(field, …)`` over one JSON array parameter of objects.

    psycopg splits a query's placeholders in Python, which for 1,000 rows × 10
    placeholders costs more than the insert itself: one JSON parameter does not.
    """
    if vendor == "postgresql":
        typed = ", ".join(f"{qn(name)} {_PG_TYPES[kind]}" for name, kind in fields.items())
        return f"json_to_recordset({param}::json) AS v({typed})"
    extracted = ", ".join(f"json_extract(j.value, '$.{name}') AS {qn(name)}" for name in fields)
    return f"(SELECT {extracted} FROM json_each({param}) AS j) AS v"


def insert_json_rows_with_license_sql(
    vendor: str,
    *,
    model: type[Model],
    owner_field: str,
    json_fields: Mapping[str, str],
    license_model: type[Model],
    license_field: str,
    json_key_field: str,
    license_key_field: str,
    dedup_model: type[Model],
    dedup_field: str,
) -> str:
    """The ingestion insert: ``INSERT … SELECT`` over a JSON array, one join resolving license keys.

    Named parameters: ``owner`` (the owner's id) and ``rows`` (the JSON array).
    A row whose ``dedup_field`` is already in ``dedup_model`` for the owner is
    skipped: the dedup table's primary key (owner, value) decides, so a retried
    uuid is a no-op even when two copies race and the rows live in different
    partitions. On PostgreSQL the dedup insert is a data-modifying CTE whose
    RETURNING says which rows are new; on SQLite a trigger does it.
    """
    columns = [column(model, owner_field), *(column(model, name) for name in json_fields), column(model, license_field)]
    values = ", ".join(f"v.{qn(name)}" for name in json_fields)
    license_owner = license_model._meta.get_field(owner_field).column
    dedup_table, dedup_owner = table(dedup_model), column(dedup_model, owner_field)
    dedup_value, value = column(dedup_model, dedup_field), f"v.{qn(dedup_field)}"
    license_join = (
        f"LEFT JOIN {table(license_model)} AS l ON v.{qn(json_key_field)} <> '' "
        f"AND l.{qn(license_owner)} = %(owner)s AND l.{column(license_model, license_key_field)} = v.{qn(json_key_field)}"
    )
    insert = f"INSERT INTO {table(model)} ({', '.join(columns)}) SELECT %(owner)s, {values}, l.{qn(license_model._meta.pk.column)}"
    if vendor == "postgresql":
        return (
            f"WITH v AS MATERIALIZED (SELECT * FROM {json_rows_source(vendor, json_fields)}), "
            f"fresh AS (INSERT INTO {dedup_table} ({dedup_owner}, {dedup_value}) "
            f"SELECT %(owner)s, {value} FROM v WHERE {value} IS NOT NULL ON CONFLICT DO NOTHING RETURNING {dedup_value}) "
            f"{insert} FROM v {license_join} WHERE {value} IS NULL OR {value} IN (SELECT {dedup_value} FROM fresh)"
        )
    # SQLite has no data-modifying CTE: a trigger of migration events.0009 does the same
    # per row (records the uuid, or skips the row when it is already recorded), so the
    # insert stays one statement there too.
    return f"{insert} FROM {json_rows_source(vendor, json_fields)} {license_join}"


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


# ---------------------------------------------------------------- partitions (PostgreSQL)


def _timestamp_literal(moment: datetime) -> str:
    # DDL takes no parameters; the bounds are datetimes computed by us, never user input.
    return "'" + moment.astimezone(UTC).isoformat() + "'"


def is_partitioned_sql() -> str:
    """One parameter, the table name: a row when it is a partitioned table."""
    return "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)"


def partitions_sql() -> str:
    """One parameter, the parent table's name: (name, bound expression) of each partition."""
    return (
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
        "JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname"
    )


def create_range_partition_sql(model: type[Model], name: str, start: datetime, end: datetime) -> str:
    return (
        f"CREATE TABLE {qn(name)} PARTITION OF {table(model)} "
        f"FOR VALUES FROM ({_timestamp_literal(start)}) TO ({_timestamp_literal(end)})"
    )


def create_default_partition_sql(model: type[Model], name: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {qn(name)} PARTITION OF {table(model)} DEFAULT"


def months_in_partition_sql(name: str, field_column: str) -> str:
    """The UTC months (as timestamps) that rows of one partition fall in."""
    return f"SELECT DISTINCT date_trunc('month', {qn(field_column)}, 'UTC') FROM {qn(name)}"


def move_into_new_partition_sql(
    model: type[Model], *, name: str, default_name: str, field_name: str, start: datetime, end: datetime
) -> list[str]:
    """Statements (one transaction) that give [start, end) a partition when the default one holds rows in it.

    PostgreSQL refuses to create such a partition directly: the rows move out of
    the default partition into a new table, which is then attached.
    """
    bounds = f"{_timestamp_literal(start)} AND {column(model, field_name)} < {_timestamp_literal(end)}"
    return [
        f"CREATE TABLE {qn(name)} (LIKE {table(model)} INCLUDING DEFAULTS)",
        f"WITH moved AS (DELETE FROM {qn(default_name)} WHERE {column(model, field_name)} >= {bounds} RETURNING *) "
        f"INSERT INTO {qn(name)} SELECT * FROM moved",
        f"ALTER TABLE {table(model)} ATTACH PARTITION {qn(name)} "
        f"FOR VALUES FROM ({_timestamp_literal(start)}) TO ({_timestamp_literal(end)})",
    ]


def lock_timeout_sql(milliseconds: int) -> str:
    return f"SET LOCAL lock_timeout = {int(milliseconds)}"


def constraints_immediate_sql() -> str:
    """Check deferred foreign keys now: PostgreSQL refuses to drop a table with such checks pending."""
    return "SET CONSTRAINTS ALL IMMEDIATE"


def delete_dedup_rows_of_sql(*, dedup_model: type[Model], source: str, owner_field: str, dedup_field: str) -> str:
    """Forget the dedup keys of the rows of ``source`` (a partition about to be dropped)."""
    owner, value = column(dedup_model, owner_field), column(dedup_model, dedup_field)
    return (
        f"DELETE FROM {table(dedup_model)} AS d USING {qn(source)} AS s "
        f"WHERE s.{value} IS NOT NULL AND d.{owner} = s.{owner} AND d.{value} = s.{value}"
    )


def delete_dedup_rows_before_sql(
    *, dedup_model: type[Model], model: type[Model], owner_field: str, dedup_field: str, field_name: str
) -> str:
    """Like ``delete_dedup_rows_of_sql`` for the rows of ``model`` before one timestamp parameter."""
    owner, value = column(dedup_model, owner_field), column(dedup_model, dedup_field)
    return (
        f"DELETE FROM {table(dedup_model)} WHERE ({owner}, {value}) IN (SELECT {column(model, owner_field)}, "
        f"{column(model, dedup_field)} FROM {table(model)} WHERE {column(model, field_name)} < %s "
        f"AND {column(model, dedup_field)} IS NOT NULL)"
    )


# ---------------------------------------------------------------- counters folded from a batch of events
#
# The Feature Usage fold (analytics/counters.py) groups a claimed batch of events once
# into a temporary table, then adds it to each counter table with one
# ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE SET c = c + EXCLUDED.c``: the
# database groups and adds, Python never sees a row per event. Batch columns are
# named as the counter models' fields (``license_id``, ``domain``, ``day``, …).


def _ordinal(day: str = "day") -> str:
    """Python's date.toordinal() of a PostgreSQL date column: days since 0001-01-01, plus one."""
    return f"(({day} - DATE '0001-01-01') + 1)"


_ORDINAL = _ordinal()


def _batch_filter(required: Sequence[str], nonblank: Sequence[str]) -> str:
    """WHERE over batch columns: ``required`` not NULL, ``nonblank`` not ''."""
    conditions = [f"{qn(name)} IS NOT NULL" for name in required] + [f"{qn(name)} <> ''" for name in nonblank]
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def events_batch_table_sql(event_model: type[Model], *, batch_table: str, owner_field: str) -> str:
    """A temporary table of one owner's events in an id range, grouped by license, domain, names, local day and hour.

    Parameters: zone, zone, owner id, lowest id, highest id. System events are left out.
    ``n`` is an integer, not COUNT's bigint: the running-total upserts sum it 32 times per
    row, and sums of bigints keep numeric states, several times slower and larger.
    """
    e = event_model
    at = column(e, "occurred_at")
    return (
        f"CREATE TEMPORARY TABLE {qn(batch_table)} ON COMMIT DROP AS "
        f"SELECT {column(e, 'license')} AS license_id, {column(e, 'domain')} AS domain, "
        f"{column(e, 'event')} AS event, {column(e, 'feature')} AS feature, "
        f"CAST(({at} AT TIME ZONE %s) AS date) AS day, "
        f"CAST(EXTRACT(HOUR FROM ({at} AT TIME ZONE %s)) AS integer) AS hour, CAST(COUNT(*) AS integer) AS n "
        f"FROM {table(e)} WHERE {column(e, owner_field)} = %s AND {qn(e._meta.pk.column)} BETWEEN %s AND %s "
        f"AND NOT {column(e, 'is_system')} "
        f"GROUP BY 1, 2, 3, 4, 5, 6"
    )


def _conflict_order(model: type[Model], keys: Sequence[str], select_keys: dict[str, str]) -> str:
    """ORDER BY the primary key's columns in the index's order, so that the upsert walks the index once, in order."""
    ordered = [select_keys[field.name] for field in model._meta.pk_fields if field.name in select_keys]
    return ", ".join(ordered)


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
    them), added to ``model``'s rows: each field of ``sums`` gains its aggregate. One parameter: the product id."""
    derived_keys = derived_keys or {}
    key_columns = [
        column(model, "product"),
        *(column(model, key.removesuffix("_id")) for key in keys),
        *(column(model, name) for name in derived_keys),
    ]
    added = [column(model, name) for name in sums]
    groups = ", ".join([*(qn(key) for key in keys), *derived_keys.values()])
    order = _conflict_order(model, keys, {**{key.removesuffix("_id"): qn(key) for key in keys}, **derived_keys})
    return (
        f"INSERT INTO {table(model)} ({', '.join(key_columns)}, {', '.join(added)}) "
        f"SELECT %s, {groups}, {', '.join(sums.values())} FROM {qn(batch_table)} {_batch_filter(required, nonblank)} "
        f"GROUP BY {groups} ORDER BY {order} "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table(model)}.{c} + EXCLUDED.{c}" for c in added)
    )


def add_batch_counts_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """Add the batch's counts per ``keys`` to ``model``'s ``count``; one parameter: the product id."""
    return _add_batch_sql(
        model, keys, batch_table=batch_table, sums={"count": "SUM(n)"}, required=required, nonblank=nonblank
    )


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

    Field k of ``hour_fields`` gains the batch's events of hour k. One parameter: the product id.
    """
    sums = {name: f"SUM(CASE WHEN hour = {k} THEN n ELSE 0 END)" for k, name in enumerate(hour_fields)}
    return _add_batch_sql(model, keys, batch_table=batch_table, sums=sums, required=required, nonblank=nonblank)


def add_batch_running_blocks_sql(
    model: type[Model],
    keys: Sequence[str],
    *,
    batch_table: str,
    running_fields: Sequence[str],
    block_days: int,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """Add the batch to ``model``'s running-total rows per ``keys`` + block of ``block_days`` days.

    Field k of a block gains the batch's events of the block's days 0..k, so running
    totals stay running totals when added. One parameter: the product id.
    """
    sums = {
        name: f"SUM(CASE WHEN MOD({_ORDINAL}, {int(block_days)}) <= {k} THEN n ELSE 0 END)"
        for k, name in enumerate(running_fields)
    }
    return _add_batch_sql(
        model,
        keys,
        batch_table=batch_table,
        sums=sums,
        derived_keys={"block": f"{_ORDINAL} / {int(block_days)}"},
        required=required,
        nonblank=nonblank,
    )


def add_batch_reach_points_sql(
    reach_model: type[Model],
    pairs_model: type[Model],
    entity: str,
    *,
    batch_table: str,
    running_fields: Sequence[str],
    block_days: int,
    no_previous_day: str,
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
) -> str:
    """Add the batch's changes to ``reach_model``'s points (day, previous day used) of each (``entity``, feature) pair.

    Run before the pair blocks take the batch: they tell which days each pair used
    before. A pair's points are its used days with the one before (``LAG``, or
    ``no_previous_day``). Only the pairs with a fresh day (a batch day their blocks do
    not count yet: a bit mask per pair block, joined to the batch days) change: for
    those, the change is the points of old ∪ fresh days minus those of the old days,
    summed per point (unchanged points cancel). Once a product's pairs have been
    seen, most batches bring few fresh days, and only those pairs' old days are read.
    Parameters: product id (the masks), product id (the old days), product id and kind
    (the points written). Points whose count falls to 0 stay at 0:
    ``delete_zero_counts_sql`` removes them.
    """
    r, p = reach_model, pairs_model
    ent = column(p, entity.removesuffix("_id"))
    feature, block = column(p, "feature"), column(p, "block")
    start = "DATE '0001-01-01'"  # ordinal 1, as Python's date.toordinal()
    totals = [f"b.{column(p, name)}" for name in running_fields]
    key = [column(r, name) for name in ("product", "kind", "day", "feature", "previous_day")]
    count = column(r, "count")
    days = int(block_days)
    window = "WINDOW w AS (PARTITION BY entity, feature ORDER BY day)"
    # Bit k of a block row's mask: the row counts events on the block's day k (its running total grew).
    mask = " | ".join(
        f"(CASE WHEN {total} > {totals[k - 1] if k else 0} THEN (CAST(1 AS bigint) << {k}) ELSE 0 END)"
        for k, total in enumerate(totals)
    )
    day_block = f"{_ordinal('n.day')} / {days}"
    # Parenthesised: PostgreSQL gives & and << the same precedence, left to right (issue 18).
    day_bit = f"(CAST(1 AS bigint) << CAST(MOD({_ordinal('n.day')}, {days}) AS integer))"
    return (
        f"WITH new_days AS (SELECT DISTINCT {qn(entity)} AS entity, feature, day FROM {qn(batch_table)} "
        f"{_batch_filter(required, nonblank)}), "
        f"new_blocks AS (SELECT DISTINCT entity, feature, {day_block} AS block FROM new_days AS n), "
        # the days each (pair, block) of the batch already counts, over every event name of the pair
        f"old_masks AS (SELECT b.{ent} AS entity, b.{feature} AS feature, b.{block} AS block, BIT_OR({mask}) AS used "
        f"FROM {table(p)} AS b JOIN new_blocks AS nb "
        f"ON b.{ent} = nb.entity AND b.{feature} = nb.feature AND b.{block} = nb.block "
        f"WHERE b.{column(p, 'product')} = %s GROUP BY 1, 2, 3), "
        "fresh AS (SELECT n.entity, n.feature, n.day FROM new_days AS n LEFT JOIN old_masks AS m "
        f"ON m.entity = n.entity AND m.feature = n.feature AND m.block = {day_block} "
        f"WHERE (COALESCE(m.used, 0) & {day_bit}) = 0), "
        "touched AS (SELECT DISTINCT entity, feature FROM fresh), "
        f"old_days AS (SELECT DISTINCT b.{ent} AS entity, b.{feature} AS feature, "
        f"{start} + (b.{block} * {days} + k - 2) AS day "
        f"FROM {table(p)} AS b JOIN touched AS t ON b.{ent} = t.entity AND b.{feature} = t.feature "
        f"CROSS JOIN LATERAL (SELECT ARRAY[{', '.join(totals)}] AS a) AS x "
        f"CROSS JOIN generate_series(1, {len(running_fields)}) AS k "
        f"WHERE b.{column(p, 'product')} = %s AND x.a[k] > COALESCE(x.a[k - 1], 0)), "
        # fresh days are not among the old ones: the two sets are disjoint
        "all_days AS (SELECT entity, feature, day FROM old_days UNION ALL SELECT entity, feature, day FROM fresh), "
        f"points AS (SELECT feature, day, LAG(day, 1, DATE '{no_previous_day}') OVER w AS previous, 1 AS delta "
        f"FROM all_days {window} "
        f"UNION ALL SELECT feature, day, LAG(day, 1, DATE '{no_previous_day}') OVER w, -1 FROM old_days {window}) "
        f"INSERT INTO {table(r)} ({', '.join(key)}, {count}) "
        "SELECT %s, %s, day, feature, previous, SUM(delta) FROM points GROUP BY day, feature, previous "
        "HAVING SUM(delta) <> 0 ORDER BY day, feature, previous "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {count} = {table(r)}.{count} + EXCLUDED.{count}"
    )


def delete_zero_counts_sql(model: type[Model]) -> str:
    """Rows of one product (one parameter) whose ``count`` fell to 0."""
    return f"DELETE FROM {table(model)} WHERE {column(model, 'product')} = %s AND {column(model, 'count')} = 0"


def coarser_batch_table_sql(batch_table: str, *, source: str, keys: Sequence[str]) -> str:
    """A temporary table of ``source`` (a batch table) grouped again by fewer ``keys``, ``n`` summed."""
    names = ", ".join(qn(key) for key in keys)
    return (
        f"CREATE TEMPORARY TABLE {qn(batch_table)} ON COMMIT DROP AS "
        f"SELECT {names}, CAST(SUM(n) AS integer) AS n FROM {qn(source)} GROUP BY {names}"
    )


def fold_transaction_settings_sql(*, work_mem: str) -> str:
    """PostgreSQL, in a fold's transaction: room to group in memory, and no wait for the WAL flush at commit
    (a commit lost in a crash loses its watermark move with it: the same events are folded again)."""
    return f"SET LOCAL work_mem = '{int(work_mem.removesuffix('MB'))}MB'; SET LOCAL synchronous_commit = off"


def analyze_sql(name: str) -> str:
    """Statistics of a table (a fold's batch tables: temporary tables are never analyzed by autovacuum)."""
    return f"ANALYZE {qn(name)}"


def temp_buffers_sql(*, megabytes: int) -> str:
    """PostgreSQL, once per session before its first temporary table: memory for temporary tables."""
    return f"SET temp_buffers = '{int(megabytes)}MB'"


def batch_distinct_sql(
    columns: Sequence[str], *, batch_table: str, required: Sequence[str] = (), nonblank: Sequence[str] = ()
) -> str:
    """The distinct values of ``columns`` in the batch."""
    return (
        f"SELECT DISTINCT {', '.join(qn(name) for name in columns)} FROM {qn(batch_table)} "
        f"{_batch_filter(required, nonblank)}"
    )


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


# Flag exposure (flags.reach): plain SQL both databases run, over the raw evaluations.


def _one_environment(model: type[Model], alias: str = "", *, per_environment: bool) -> str:
    """`` AND environment = %s`` when a statement is run for one environment (the rollup's fallback,
    which isolates a tenant whose rows fail): always the last condition, so its parameter comes last."""
    if not per_environment:
        return ""
    return f" AND {alias + '.' if alias else ''}{column(model, 'environment')} = %s"


def delete_days_sql(model: type[Model], *, days: int, per_environment: bool = False) -> str:
    """``DELETE … WHERE day IN (%s, …)`` for ``days`` days [and one environment]."""
    return f"DELETE FROM {table(model)} WHERE {column(model, 'day')} IN ({', '.join(['%s'] * days)})" + (
        _one_environment(model, per_environment=per_environment)
    )


def delete_day_range_sql(model: type[Model], *, bounded: bool, per_environment: bool = False) -> str:
    """``DELETE … WHERE day >= %s [AND day < %s] [AND environment = %s]``."""
    day = column(model, "day")
    return (
        f"DELETE FROM {table(model)} WHERE {day} >= %s"
        + (f" AND {day} < %s" if bounded else "")
        + _one_environment(model, per_environment=per_environment)
    )


def _raw_evaluations_join(evaluation, flag, environment, project) -> str:
    """Raw evaluations of flags and environments that still exist, with the project (and its product)."""
    e, f, v, p = evaluation, flag, environment, project
    return (
        f"FROM {table(e)} e "
        f"JOIN {table(f)} f ON f.{column(f, 'id')} = e.{column(e, 'flag')} "
        f"JOIN {table(v)} v ON v.{column(v, 'id')} = e.{column(e, 'environment')} "
        f"JOIN {table(p)} p ON p.{column(p, 'id')} = v.{column(v, 'project')} "
    )


def key_days_insert_sql(
    *, days: int, evaluation, key_day, flag, environment, project, per_environment: bool = False
) -> str:
    """Evaluations per (environment, flag, variant, targeting key, day) of ``days`` days, errors and keyless left out."""
    e, k = evaluation, key_day
    columns = ", ".join(column(k, n) for n in ["environment", "flag", "variant", "targeting_key", "day", "evaluations"])
    group = ", ".join(f"e.{column(e, n)}" for n in ["environment", "flag", "variant", "targeting_key", "day"])
    return (
        f"INSERT INTO {table(k)} ({columns}) SELECT {group}, COUNT(*) "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND e.{column(e, 'targeting_key')} <> ''{_one_environment(e, 'e', per_environment=per_environment)} "
        f"GROUP BY {group} ORDER BY {_key_order(e, 'targeting_key')}"
    )


def _key_order(evaluation, subject: str) -> str:
    """The order of the key and license days' primary key (flag, environment, subject, variant, day):
    rows inserted in it append to the index's right edge instead of dirtying pages at random."""
    e = evaluation
    return ", ".join(f"e.{column(e, n)}" for n in ["flag", "environment", subject, "variant", "day"])


def license_days_insert_sql(
    *, days: int, evaluation, license_day, license, flag, environment, project, per_environment: bool = False
) -> str:
    """Evaluations per (environment, flag, variant, license, day): the license of the project's product
    whose key is the evaluation's license key, else its targeting key (two joins on the license key index)."""
    e, ld, lic, p = evaluation, license_day, license, project
    columns = ", ".join(
        column(ld, n) for n in ["environment", "flag", "variant", "license", "day", "evaluations", "last_seen_at"]
    )
    license_id = f"COALESCE(by_license.{column(lic, 'id')}, by_target.{column(lic, 'id')})"
    group = (
        f"e.{column(e, 'environment')}, e.{column(e, 'flag')}, e.{column(e, 'variant')}, {license_id}, "
        f"e.{column(e, 'day')}"
    )
    return (
        f"INSERT INTO {table(ld)} ({columns}) SELECT {group}, COUNT(*), MAX(e.{column(e, 'evaluated_at')}) "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"LEFT JOIN {table(lic)} by_license ON by_license.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_license.{column(lic, 'key')} = e.{column(e, 'license_key')} AND e.{column(e, 'license_key')} <> '' "
        f"LEFT JOIN {table(lic)} by_target ON by_target.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_target.{column(lic, 'key')} = e.{column(e, 'targeting_key')} "
        f"AND e.{column(e, 'targeting_key')} <> '' "
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND p.{column(p, 'product')} IS NOT NULL AND {license_id} IS NOT NULL"
        f"{_one_environment(e, 'e', per_environment=per_environment)} GROUP BY {group} "
        f"ORDER BY e.{column(e, 'flag')}, e.{column(e, 'environment')}, {license_id}, e.{column(e, 'variant')}, "
        f"e.{column(e, 'day')}"
    )


def license_totals_add_sql(
    *, total, license_day, license, per_variant: bool, sign: int, days: int | None, per_environment: bool = False
) -> str:
    """Add (``sign`` 1) or take away (-1) the license days of ``days`` days (``None``: the days before
    one date) to the per-license totals, per variant or over every variant (''); an additive upsert.

    Parameters: the days (or the one date). The later ``last_seen_at`` is kept:
    taking a day away never makes it later, so it stays exact while the row counts.
    """
    t, d, lic = total, license_day, license
    variant = f"d.{column(d, 'variant')}" if per_variant else "''"
    group = ", ".join(
        f"d.{column(d, n)}"
        for n in (["environment", "flag", "variant", "license"] if per_variant else ["environment", "flag", "license"])
    )
    columns = [
        column(t, n)
        for n in ["environment", "flag", "variant", "license", "license_public_id", "evaluations", "last_seen_at"]
    ]
    evaluations, latest, key = (
        columns[5],
        columns[6],
        [column(t, n) for n in ["flag", "environment", "license", "variant"]],
    )
    # the conflict key's order: the upserts walk the primary key's index left to right
    order = ", ".join(
        f"d.{column(d, n)}" for n in (["flag", "environment", "license"] + (["variant"] if per_variant else []))
    )
    day = f"d.{column(d, 'day')}"
    when = f"{day} IN ({', '.join(['%s'] * days)})" if days is not None else f"{day} < %s"
    return (
        f"INSERT INTO {table(t)} ({', '.join(columns)}) "
        f"SELECT d.{column(d, 'environment')}, d.{column(d, 'flag')}, {variant}, d.{column(d, 'license')}, "
        f"MAX(l.{column(lic, 'public_id')}), {sign} * SUM(d.{column(d, 'evaluations')}), MAX(d.{column(d, 'last_seen_at')}) "
        f"FROM {table(d)} d JOIN {table(lic)} l ON l.{column(lic, 'id')} = d.{column(d, 'license')} "
        f"WHERE {when}{_one_environment(d, 'd', per_environment=per_environment)} GROUP BY {group} ORDER BY {order} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {evaluations} = {table(t)}.{evaluations} + excluded.{evaluations}, "
        f"{latest} = CASE WHEN excluded.{latest} > {table(t)}.{latest} THEN excluded.{latest} ELSE {table(t)}.{latest} END"
    )


def reach_points_insert_sql(
    *,
    point,
    subject_days,
    kind: str,
    subject: str,
    per_variant: bool,
    bounded: bool,
    no_previous: str,
    seek_earlier: bool = True,
    per_environment: bool = False,
) -> str:
    """Each subject's (day, previous day) pairs in the bounds, summed into reach points.

    Inside the bounds the previous day is the row before (LAG); only a
    subject's first day in the bounds looks further back, with one index seek
    (COALESCE evaluates its second argument only when the first is NULL).
    Parameters: the bounds' first day (for the seek), then the bounds. Without
    ``seek_earlier`` (no subject day can precede the bounds: a backlog rolled up
    from its first day), no seek and no first parameter: the seek was ~1 µs per
    subject, 700,000 of them per statement at 1M evaluations.
    ``per_variant`` False counts a subject once over every variant ('').
    """
    r, m = point, subject_days
    env, flag, variant, day, subj = (column(m, n) for n in ["environment", "flag", "variant", "day", subject])
    same_variant = f"AND p.{variant} = l.variant_name " if per_variant else ""
    earlier = (
        f"(SELECT MAX(p.{day}) FROM {table(m)} p WHERE p.{flag} = l.flag_id AND p.{env} = l.env_id "
        f"{same_variant}AND p.{subj} = l.subject_id AND p.{day} < %s)"
    )
    variant_expr = f"k.{variant}" if per_variant else "''"
    bounds = (
        f"k.{day} >= %s"
        + (f" AND k.{day} < %s" if bounded else "")
        + _one_environment(m, "k", per_environment=per_environment)
    )
    # Over every variant a subject may have several rows a day (one per variant): no DISTINCT
    # (a sort of every key day); the repeats get their own day as LAG and are left out below.
    # The window's partition follows the primary key (flag, environment, subject, variant,
    # day), so the rows come in its order instead of being sorted (measured: 4.8 → 1.6 s at 1M).
    rows = (
        f"SELECT k.{env} AS env_id, k.{flag} AS flag_id, {variant_expr} AS variant_name, "
        f"k.{subj} AS subject_id, k.{day} AS seen_day FROM {table(m)} k WHERE {bounds}"
    )
    lagged = (
        "SELECT env_id, flag_id, variant_name, subject_id, seen_day, LAG(seen_day) OVER "
        f"(PARTITION BY flag_id, env_id, subject_id, variant_name ORDER BY seen_day) AS lag_day FROM ({rows}) r"
    )
    points = (
        f"SELECT env_id, flag_id, variant_name, seen_day, "
        f"COALESCE(lag_day, {earlier + ', ' if seek_earlier else ''}'{no_previous}') AS prev_day "
        f"FROM ({lagged}) l" + ("" if per_variant else " WHERE lag_day IS NULL OR lag_day <> seen_day")
    )
    columns = ", ".join(
        column(r, n) for n in ["environment", "flag", "kind", "variant", "day", "previous_day", "count"]
    )
    return (
        f"INSERT INTO {table(r)} ({columns}) SELECT env_id, flag_id, '{kind}', variant_name, seen_day, prev_day, "
        f"COUNT(*) FROM ({points}) pts GROUP BY env_id, flag_id, variant_name, seen_day, prev_day"
    )


def read_only_snapshot_sql(*, work_mem_mb: int) -> str:
    """PostgreSQL, first in a transaction: every statement sees one snapshot, and none may write.

    ``work_mem`` for this transaction only: the tail's aggregate sorts or hashes in memory.
    """
    return f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL work_mem = '{int(work_mem_mb)}MB'"


def hash_aggregation_sql(*, only: bool) -> str:
    """PostgreSQL, inside a transaction: ``only`` groups by hashing, never by sorting first, until set back.

    For the tail a read adds: its rows were inserted moments ago, so the table's
    statistics rarely know them, and a planner that expects a handful of rows sorts
    several hundred thousand before grouping them (a third of a second); a hash groups
    them in one pass.
    """
    return f"SET LOCAL enable_sort = {'off' if only else 'on'}"


def additive_values_upsert_sql(model: type[Model], *, key_fields: Sequence[str], added_columns: Sequence[str]) -> str:
    """``INSERT … VALUES … ON CONFLICT (key) DO UPDATE SET c = t.c + EXCLUDED.c``, for ``executemany``.

    ``added_columns`` are column names (the 32 running-total columns of a block are not separate fields).
    """
    t = table(model)
    keys = [column(model, name) for name in key_fields]
    added = [qn(name) for name in added_columns]
    columns = [*keys, *added]
    return (
        f"INSERT INTO {t} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{c} = {t}.{c} + EXCLUDED.{c}" for c in added)
    )


def copy_from_stdin_sql(model: type[Model], field_names: Sequence[str]) -> str:
    """PostgreSQL ``COPY t (a, b) FROM STDIN``: several times faster than inserts for a rebuild."""
    return f"COPY {table(model)} ({', '.join(column(model, name) for name in field_names)}) FROM STDIN"


def pair_rollup_sql(pairs_sql: str, *, entity: str, feature_sum: str) -> str:
    """Per feature and per entity from one scan of a window's (entity, feature) pairs (an ORM query's SQL).

    Grouping the pairs twice in a CTE replaces COUNT(DISTINCT …), whose sorts cost several times more.
    Rows: (0, feature, entities, sum of ``feature_sum``) and (1, entity, features, events).
    """
    entity, feature_sum = qn(entity), qn(feature_sum)
    return (
        f"WITH pairs AS ({pairs_sql}) "
        f"SELECT 0, feature, COUNT(*), SUM({feature_sum}) FROM pairs GROUP BY feature "
        f"UNION ALL "
        f"SELECT 1, CAST({entity} AS TEXT), COUNT(*), SUM(n) FROM pairs GROUP BY {entity}"
    )


def sqlite_begin_deferred_sql() -> str:
    """SQLite: a transaction that reads one snapshot (WAL) and takes no write lock until it writes."""
    return "BEGIN DEFERRED"


def commit_sql() -> str:
    return "COMMIT"
