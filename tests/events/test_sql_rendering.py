"""Every statement of ``events/sql.py``, rendered as ingestion and the partitions render it, equals its snapshot.

A reviewer sees in ``tests/events/sql_snapshots/<statement>.<database>.sql`` the SQL a
change produces. After an intended change, write the snapshots again and review the diff:

    SQL_SNAPSHOTS_WRITE=1 pytest tests/events/test_sql_rendering.py

The partitions, the retention of uuids and the license look-up by array run on PostgreSQL
only (SQLite has one plain table and looks licenses up through the ORM); the ingestion
insert has a statement per database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from events import ingestion, partitions
from events import sql as events_sql
from tests.sql_snapshots import assert_renders_as_snapshot, builders_of

SNAPSHOTS = Path(__file__).parent / "sql_snapshots"
PG, LITE = "postgresql", "sqlite"
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
NEXT_MONTH = partitions.next_month(MONTH)
PARTITION = partitions.partition_name(MONTH)


def statements() -> dict[str, tuple[str, tuple[str, ...], object]]:
    """name → (builder, databases, render(database)), in the order ingestion and maintenance run them."""
    return {
        "insert_events": (
            "insert_events_sql",
            (PG, LITE),
            lambda db: events_sql.insert_events_sql(db, json_fields=ingestion._JSON_FIELDS),
        ),
        "is_partitioned": ("is_partitioned_sql", (PG,), lambda db: events_sql.is_partitioned_sql()),
        "partitions": ("partitions_sql", (PG,), lambda db: events_sql.partitions_sql()),
        "create_default_partition": (
            "create_default_partition_sql",
            (PG,),
            lambda db: events_sql.create_default_partition_sql(partitions.DEFAULT_PARTITION),
        ),
        "months_in_partition": (
            "months_in_partition_sql",
            (PG,),
            lambda db: events_sql.months_in_partition_sql(partitions.DEFAULT_PARTITION),
        ),
        "move_into_new_partition": (
            "move_into_new_partition_sql",
            (PG,),
            lambda db: ";\n\n".join(
                events_sql.move_into_new_partition_sql(
                    name=PARTITION, default_name=partitions.DEFAULT_PARTITION, start=MONTH, end=NEXT_MONTH
                )
            ),
        ),
        "create_range_partition": (
            "create_range_partition_sql",
            (PG,),
            lambda db: events_sql.create_range_partition_sql(PARTITION, MONTH, NEXT_MONTH),
        ),
        "constraints_immediate": (
            "constraints_immediate_sql",
            (PG,),
            lambda db: events_sql.constraints_immediate_sql(),
        ),
        "delete_uuids_of_partition": (
            "delete_uuids_of_partition_sql",
            (PG,),
            lambda db: events_sql.delete_uuids_of_partition_sql(PARTITION),
        ),
        "delete_uuids_before": ("delete_uuids_before_sql", (PG, LITE), lambda db: events_sql.delete_uuids_before_sql()),
        "licenses_by_key": ("licenses_by_key_sql", (PG,), lambda db: events_sql.licenses_by_key_sql()),
    }


CASES = [(name, db) for name, (_, databases, _) in statements().items() for db in databases]


@pytest.mark.parametrize(("name", "database"), CASES, ids=[f"{name}.{db}" for name, db in CASES])
def test_the_statement_renders_as_its_snapshot(name, database):
    assert_renders_as_snapshot(SNAPSHOTS / f"{name}.{database}.sql", statements()[name][2](database))


def test_every_statement_of_the_module_has_a_snapshot_and_every_snapshot_a_statement():
    assert builders_of(events_sql) == {builder for builder, _, _ in statements().values()}
    assert {path.name for path in SNAPSHOTS.glob("*.sql")} == {f"{name}.{db}.sql" for name, db in CASES}


def test_the_ingestion_insert_skips_a_recorded_uuid_and_finds_licenses_by_key_of_the_same_product():
    """What the statement must keep saying, whatever its layout: the dedup CTE decides, the join is per product."""
    text = (SNAPSHOTS / "insert_events.postgresql.sql").read_text()
    assert "ON CONFLICT DO NOTHING" in text and 'IN (SELECT "uuid" FROM fresh)' in text
    assert 'l."product_id" = %(owner)s AND l."key" = v."license_key"' in text
