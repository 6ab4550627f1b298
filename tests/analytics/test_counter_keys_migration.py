"""Migrations 0005 (counters keyed by their natural key, led by the product) and 0006 (the license
heatmap in a row per day) keep every counter, both ways.

PostgreSQL alters the tables in place; SQLite rebuilds them. Both directions run
here over folded counters of several days, licenses and domains.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.counters import COUNTER_MODELS, counters_fold
from analytics.models import CounterState, FeatureReachCounter, LicenseDayHours
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

BEFORE = ("analytics", "0004_counters_without_database_foreign_keys")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rows_by_table(*, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every counter row (and the watermark) read with plain SQL, without ``id``: it holds either schema."""
    tables = {model._meta.db_table: model for model in (*COUNTER_MODELS, CounterState)}
    rows = {}
    with connection.cursor() as cursor:
        for table, model in tables.items():
            if table in skip:
                continue
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
    # 30 events with a license (i % 4 != 0), each in an hour of its own, on 28 (license i % 3, Paris day)s
    assert len(folded["analytics_licensedayhours"]) == 28
    assert FeatureReachCounter.objects.filter(product=product).exists()

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([BEFORE])
    try:
        assert rows_by_table(skip=("analytics_licensedayhours",)) == {
            table: rows for table, rows in folded.items() if table != "analytics_licensedayhours"
        }
        with connection.cursor() as cursor:
            # the surrogate keys are back, one per row; the heatmap's rows are one per hour again
            cursor.execute("SELECT COUNT(*), COUNT(DISTINCT id), SUM(count) FROM events_licensehourcounter")
            assert cursor.fetchone() == (30, 30, 30)
            cursor.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM events_featurereachcounter")
            assert cursor.fetchone() == (len(folded["events_featurereachcounter"]),) * 2
    finally:
        MigrationExecutor(connection).migrate(latest)

    assert rows_by_table() == folded
    # and the fold still adds to the rows by their new key: event 1's license and hour again
    EventFactory(product=product, license=licenses[1], occurred_at=START + timedelta(hours=7))
    assert counters_fold(product=product) == 1
    days = LicenseDayHours.objects.filter(product=product)
    assert days.count() == 28
    assert days.get(license=licenses[1], day="2026-03-02").h17 == 2  # 16:00 UTC is 17:00 in Paris
