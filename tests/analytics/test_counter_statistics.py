"""The worker analyzes the counter tables autovacuum would analyze, right after its fold.

Hand-computed: 120 events an hour apart (five days), each with its own hour and one of 60
features, no license and no domain, make 120 rows in each of the three counters by day or hour
and none in any other. Autovacuum's threshold (this server's, the defaults: 50 rows plus 10 %
of the table's rows) is then passed by those three only; 10 more events stay under the next
threshold (50 + 12 = 62), 70 more pass it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from analytics.counter_statistics import counter_statistics_refresh
from analytics.counters import COUNTER_MODELS, counters_fold
from analytics.models import DayHourCounter, FeatureDayCounter, FeatureHourCounter
from lib import sql as core_sql
from tests.events.factories import EventFactory, ProductFactory

START = datetime(2026, 3, 2, tzinfo=UTC)
BY_DAY_OR_HOUR = sorted(model._meta.db_table for model in (DayHourCounter, FeatureDayCounter, FeatureHourCounter))


def _send(product, hours: range) -> None:
    for hour in hours:
        EventFactory(
            product=product, event="use", feature=f"f{hour % 60}", domain="", occurred_at=START + timedelta(hours=hour)
        )


def _estimated_rows(name: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [name])
        return cursor.fetchone()[0]


@pytest.fixture
def analyzed_from_nothing():
    """Every counter table analyzed empty, so only this test's fold counts towards a threshold."""
    if connection.vendor != "postgresql":
        pytest.skip("statistics are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(core_sql.flush_statistics_sql())  # earlier tests' writes from this session
        for model in COUNTER_MODELS:
            cursor.execute(core_sql.analyze_sql(model._meta.db_table))


@pytest.mark.django_db(transaction=True)
def test_a_fold_past_the_threshold_gets_its_tables_analyzed_and_a_small_one_does_not(org, analyzed_from_nothing):
    product = ProductFactory(organization=org, timezone="UTC")
    _send(product, range(120))
    assert counters_fold(product=product) == 120

    assert counter_statistics_refresh() == BY_DAY_OR_HOUR
    assert [_estimated_rows(name) for name in BY_DAY_OR_HOUR] == [120, 120, 120]

    _send(product, range(120, 130))  # 10 new rows each: under 50 + 10 % of 120
    assert counters_fold(product=product) == 10
    assert counter_statistics_refresh() == []
    assert _estimated_rows(FeatureHourCounter._meta.db_table) == 120

    _send(product, range(130, 200))  # 80 rows since the last ANALYZE: over 62
    assert counters_fold(product=product) == 70
    assert counter_statistics_refresh() == BY_DAY_OR_HOUR
    assert _estimated_rows(FeatureHourCounter._meta.db_table) == 200


@pytest.mark.django_db(transaction=True)
def test_a_tables_own_threshold_is_the_one_that_counts(org, analyzed_from_nothing):
    day_counter = FeatureDayCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{day_counter}" SET (autovacuum_analyze_threshold = 500)')
    try:
        product = ProductFactory(organization=org, timezone="UTC")
        _send(product, range(120))
        counters_fold(product=product)
        assert counter_statistics_refresh() == [name for name in BY_DAY_OR_HOUR if name != day_counter]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{day_counter}" RESET (autovacuum_analyze_threshold)')


@pytest.mark.django_db
def test_inside_a_transaction_nothing_is_analyzed(org):
    """A test's transaction stands for a fold's: ANALYZE would hold its lock until the commit."""
    product = ProductFactory(organization=org, timezone="UTC")
    _send(product, range(120))
    counters_fold(product=product)
    assert counter_statistics_refresh() == []
