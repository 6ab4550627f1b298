"""PostgreSQL: a fold's additions to existing block rows are heap-only updates (migration 0010).

Hand-computed: one license uses features f0 … f199 once on one day: 200 license block rows of
about 190 bytes. At fillfactor 70 a page takes about 30 of them and keeps some 2,500 bytes
free, room for a dozen new versions; at the default (full pages) only the last page has any.
A second fold adds one event to every third feature, 67 rows, about 10 per page: each fits
beside its old version, so all 67 updates are heap-only (no index entry written).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from analytics.counters import counters_fold
from analytics.models import (
    DomainBlockCounter,
    DomainTotalBlock,
    LicenseBlockCounter,
    LicenseDomainBlockCounter,
    LicenseTotalBlock,
)
from lib import sql as core_sql
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

BLOCK_TABLES = [
    model._meta.db_table
    for model in (
        LicenseBlockCounter,
        DomainBlockCounter,
        LicenseDomainBlockCounter,
        LicenseTotalBlock,
        DomainTotalBlock,
    )
]
DAY = datetime(2026, 3, 4, 12, tzinfo=UTC)

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="storage parameters are PostgreSQL's")


def _updates(name: str) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(core_sql.flush_statistics_sql())
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s", [name])
        return cursor.fetchone()


@pytest.mark.django_db
def test_every_block_table_keeps_room_on_its_pages():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname", [BLOCK_TABLES]
        )
        found = dict(cursor.fetchall())
    assert found == {name: ["fillfactor=70"] for name in BLOCK_TABLES}


@pytest.mark.django_db(transaction=True)
def test_a_fold_adds_to_existing_block_rows_without_new_index_entries(org):
    product = ProductFactory(organization=org, timezone="UTC")
    license = LicenseFactory(product=product)

    def send(features):
        for k in features:
            EventFactory(product=product, event="use", feature=f"f{k}", license=license, domain="", occurred_at=DAY)
        return counters_fold(product=product)

    assert send(range(200)) == 200
    table = LicenseBlockCounter._meta.db_table
    updated_before, hot_before = _updates(table)

    assert send(range(0, 200, 3)) == 67
    updated_after, hot_after = _updates(table)
    assert (updated_after - updated_before, hot_after - hot_before) == (67, 67)
    assert LicenseBlockCounter.objects.filter(product=product, feature="f3").get().c31 == 2
