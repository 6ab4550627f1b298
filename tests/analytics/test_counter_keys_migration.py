"""Migration 0005 (counters keyed by their natural key, led by the product) keeps every counter row, both ways.

PostgreSQL alters the tables in place; SQLite rebuilds them. Both directions run
here over folded counters of several days, licenses and domains.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.counters import COUNTER_MODELS, counters_fold
from analytics.models import CounterState, FeatureReachCounter, LicenseHourCounter
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

BEFORE = ("analytics", "0004_counters_without_database_foreign_keys")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rows_by_table() -> dict[str, list[tuple]]:
    """Every counter row (and the watermark) read with plain SQL, without ``id``: it holds either schema."""
    tables = {model._meta.db_table: model for model in (*COUNTER_MODELS, CounterState)}
    rows = {}
    with connection.cursor() as cursor:
        for table, model in tables.items():
            columns = [field.column for field in model._meta.local_concrete_fields if field.column != "id"]
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 (model metadata)
            rows[table] = sorted(tuple(str(value) for value in row) for row in cursor.fetchall())
    return rows


@pytest.mark.django_db(transaction=True)
def test_the_counters_survive_the_new_keys_both_ways(org):
    product = ProductFactory(organization=org, timezone="Europe/Paris")
    licenses = [LicenseFactory(product=product) for _ in range(3)]
    for index in range(40):
        EventFactory(
            product=product,
            event="export_pdf" if index % 3 else "share",
            feature="export_pdf" if index % 3 else "share",
            license=licenses[index % 3] if index % 4 else None,
            domain=f"site{index % 2}.example" if index % 5 else "",
            occurred_at=START + timedelta(hours=7 * index),
        )
    assert counters_fold(product=product) == 40
    folded = rows_by_table()
    assert len(folded["events_licensehourcounter"]) == 30  # the events with a license, each in its own hour
    assert FeatureReachCounter.objects.filter(product=product).exists()

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([BEFORE])
    try:
        assert rows_by_table() == folded
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(DISTINCT id) FROM events_licensehourcounter")
            assert cursor.fetchone() == (30,)  # the surrogate key is back, one per row
    finally:
        MigrationExecutor(connection).migrate(latest)

    assert rows_by_table() == folded
    # and the fold still adds to the rows by their new key: event 1's license and hour again
    EventFactory(product=product, license=licenses[1], occurred_at=START + timedelta(hours=7))
    assert counters_fold(product=product) == 1
    hours = LicenseHourCounter.objects.filter(product=product)
    assert hours.count() == 30
    assert hours.get(license=licenses[1], day="2026-03-02", hour=17).count == 2  # 16:00 UTC is 17:00 in Paris
