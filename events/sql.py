"""The SQL of the event stream: the ingestion insert, the monthly partitions and the license look-up.

As ``analytics/sql.py`` (and Zulip's ``analytics/lib/counts.py``) write theirs: each
statement is one template, its identifiers named (``{events}``, ``{license_key}``),
quoted from model metadata by ``lib.sql`` when the statement is rendered; values are
parameters (``%(owner)s``, ``%s``). DDL takes no parameters: partition bounds are
timestamps this module computes (``_timestamp_literal``), never user input.

``tests/events/test_sql_rendering.py`` renders each statement and compares it with
``tests/events/sql_snapshots/*.sql``, so that a reviewer sees the SQL a change produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from events.models import Event, EventUuid, License
from lib.sql import column, qn, table

# PostgreSQL types of the JSON fields the insert reads (SQLite reads them with json_extract).
_PG_TYPES = {"text": "text", "boolean": "boolean", "jsonb": "jsonb", "timestamptz": "timestamptz", "bigint": "bigint"}


# ---------------------------------------------------------------- the ingestion insert
#
# One statement per request over one JSON array parameter (``rows``) of event objects:
# psycopg splits a query's placeholders in Python, which for 1,000 rows × 10
# placeholders costs more than the insert itself. One join finds the licenses by key.
# A row whose uuid is already recorded for the product is skipped: the dedup table's
# primary key (product, uuid) decides, so a retried uuid is a no-op even when two
# copies race and the rows live in different partitions.

INSERT_EVENTS_POSTGRESQL = """
WITH v AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%(rows)s::json) AS v({typed_fields})
),
fresh AS (
    INSERT INTO {uuids} ({uuid_product}, {uuid_value})
    SELECT %(owner)s, v.{uuid} FROM v WHERE v.{uuid} IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING {uuid_value}
)
INSERT INTO {events} ({product}, {columns}, {license})
SELECT %(owner)s, {values}, l.{license_id}
FROM v
LEFT JOIN {licenses} AS l
       ON v.{license_key} <> '' AND l.{license_product} = %(owner)s AND l.{key} = v.{license_key}
WHERE v.{uuid} IS NULL OR v.{uuid} IN (SELECT {uuid_value} FROM fresh)
"""

# SQLite has no data-modifying CTE: a trigger of migration events.0009 does the dedup
# per row (records the uuid, or skips the row when it is already recorded), so the
# insert stays one statement there too.
INSERT_EVENTS_SQLITE = """
INSERT INTO {events} ({product}, {columns}, {license})
SELECT %(owner)s, {values}, l.{license_id}
FROM (SELECT {extracted} FROM json_each(%(rows)s) AS j) AS v
LEFT JOIN {licenses} AS l
       ON v.{license_key} <> '' AND l.{license_product} = %(owner)s AND l.{key} = v.{license_key}
"""


def insert_events_sql(vendor: str, *, json_fields: Mapping[str, str]) -> str:
    """The ingestion insert: ``INSERT … SELECT`` over a JSON array of events, licenses found by key.

    ``json_fields``: the Event fields each JSON object carries (name → type), beside the
    product and the license the statement adds. Named parameters: ``owner`` (the product's
    id) and ``rows`` (the JSON array). The JSON objects are keyed by field name, which is
    also the column name of each of these fields.
    """
    identifiers = {
        "events": table(Event),
        "product": column(Event, "product"),
        "columns": ", ".join(column(Event, name) for name in json_fields),
        "license": column(Event, "license"),
        "values": ", ".join(f"v.{qn(name)}" for name in json_fields),
        "licenses": table(License),
        "license_id": qn(License._meta.pk.column),
        "license_product": column(License, "product"),
        "key": column(License, "key"),
        "license_key": qn("license_key"),
    }
    if vendor == "postgresql":
        return INSERT_EVENTS_POSTGRESQL.format(
            typed_fields=", ".join(f"{qn(name)} {_PG_TYPES[kind]}" for name, kind in json_fields.items()),
            uuids=table(EventUuid),
            uuid_product=column(EventUuid, "product"),
            uuid_value=column(EventUuid, "uuid"),
            uuid=qn("uuid"),
            **identifiers,
        ).strip()
    return INSERT_EVENTS_SQLITE.format(
        extracted=", ".join(f"json_extract(j.value, '$.{name}') AS {qn(name)}" for name in json_fields),
        **identifiers,
    ).strip()


# ---------------------------------------------------------------- partitions (PostgreSQL)


def _timestamp_literal(moment: datetime) -> str:
    # DDL takes no parameters; the bounds are datetimes computed by us, never user input.
    return "'" + moment.astimezone(UTC).isoformat() + "'"


IS_PARTITIONED = "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)"


def is_partitioned_sql() -> str:
    """One parameter, the table name: a row when it is a partitioned table."""
    return IS_PARTITIONED


PARTITIONS = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass(%s)
ORDER BY c.relname
"""


def partitions_sql() -> str:
    """One parameter, the parent table's name: (name, bound expression) of each partition."""
    return PARTITIONS.strip()


CREATE_RANGE_PARTITION = "CREATE TABLE {partition} PARTITION OF {events} FOR VALUES FROM ({start}) TO ({end})"


def create_range_partition_sql(name: str, start: datetime, end: datetime) -> str:
    """The events partition ``name`` for ``occurred_at`` in [start, end)."""
    return CREATE_RANGE_PARTITION.format(
        partition=qn(name), events=table(Event), start=_timestamp_literal(start), end=_timestamp_literal(end)
    )


CREATE_DEFAULT_PARTITION = "CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {events} DEFAULT"


def create_default_partition_sql(name: str) -> str:
    """The events partition that takes the rows of a month without a partition of its own."""
    return CREATE_DEFAULT_PARTITION.format(partition=qn(name), events=table(Event))


MONTHS_IN_PARTITION = "SELECT DISTINCT date_trunc('month', {occurred_at}, 'UTC') FROM {partition}"


def months_in_partition_sql(name: str) -> str:
    """The UTC months (as timestamps) that the events of one partition occurred in."""
    return MONTHS_IN_PARTITION.format(occurred_at=column(Event, "occurred_at"), partition=qn(name))


# PostgreSQL refuses to create a partition for a range the default partition holds rows
# in: the rows move out of the default partition into a new table, which is then attached.
MOVE_INTO_NEW_PARTITION = (
    "CREATE TABLE {partition} (LIKE {events} INCLUDING DEFAULTS)",
    """
WITH moved AS (
    DELETE FROM {default} WHERE {occurred_at} >= {start} AND {occurred_at} < {end} RETURNING *
)
INSERT INTO {partition} SELECT * FROM moved
""",
    "ALTER TABLE {events} ATTACH PARTITION {partition} FOR VALUES FROM ({start}) TO ({end})",
)


def move_into_new_partition_sql(*, name: str, default_name: str, start: datetime, end: datetime) -> list[str]:
    """Statements (one transaction) that give [start, end) a partition when the default one holds rows in it."""
    identifiers = {
        "partition": qn(name),
        "events": table(Event),
        "default": qn(default_name),
        "occurred_at": column(Event, "occurred_at"),
        "start": _timestamp_literal(start),
        "end": _timestamp_literal(end),
    }
    return [statement.format(**identifiers).strip() for statement in MOVE_INTO_NEW_PARTITION]


def constraints_immediate_sql() -> str:
    """Check deferred foreign keys now: PostgreSQL refuses to drop a table with such checks pending."""
    return "SET CONSTRAINTS ALL IMMEDIATE"


# ---------------------------------------------------------------- retention: the uuids of dropped events


DELETE_UUIDS_OF_PARTITION = """
DELETE FROM {uuids} AS d
USING {partition} AS s
WHERE s.{uuid} IS NOT NULL AND d.{uuid_product} = s.{product} AND d.{uuid_value} = s.{uuid}
"""


def delete_uuids_of_partition_sql(name: str) -> str:
    """Forget the recorded uuids of the events of partition ``name`` (about to be dropped)."""
    return DELETE_UUIDS_OF_PARTITION.format(
        uuids=table(EventUuid),
        partition=qn(name),
        uuid=column(Event, "uuid"),
        product=column(Event, "product"),
        uuid_product=column(EventUuid, "product"),
        uuid_value=column(EventUuid, "uuid"),
    ).strip()


DELETE_UUIDS_BEFORE = """
DELETE FROM {uuids}
WHERE ({uuid_product}, {uuid_value}) IN (
    SELECT {product}, {uuid} FROM {events} WHERE {occurred_at} < %s AND {uuid} IS NOT NULL
)
"""


def delete_uuids_before_sql() -> str:
    """Forget the recorded uuids of the events that occurred before one timestamp parameter."""
    return DELETE_UUIDS_BEFORE.format(
        uuids=table(EventUuid),
        uuid_product=column(EventUuid, "product"),
        uuid_value=column(EventUuid, "uuid"),
        product=column(Event, "product"),
        uuid=column(Event, "uuid"),
        events=table(Event),
        occurred_at=column(Event, "occurred_at"),
    ).strip()


# ---------------------------------------------------------------- licenses


LICENSES_BY_KEY = "SELECT {key}, {id} FROM {licenses} WHERE {product} = %s AND {key} = ANY(%s)"


def licenses_by_key_sql() -> str:
    """PostgreSQL: (key, id) of a product's licenses whose key is in an array (one parameter, not one per key)."""
    return LICENSES_BY_KEY.format(
        key=column(License, "key"),
        id=column(License, "id"),
        licenses=table(License),
        product=column(License, "product"),
    )
