"""Answers while events arrive and folds run at the same time: each equals the oracle over one snapshot.

Hypothesis draws the batches; one thread ingests them (each batch one transaction,
acknowledged at commit), another folds in a loop as the worker does, and the test
reads Feature Usage meanwhile. Every answer must equal the naive oracle read in
the same snapshot, and count at least every event acknowledged before the request.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.counters import counters_fold_all, unfolded_events
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from events.models import Event
from events.services import events_write_barrier_enter
from lib.snapshot import read_snapshot
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import LicenseFactory, ProductFactory

BASE = datetime(2026, 3, 2, tzinfo=UTC)  # every event lands inside the window below, in any of the zones
NAMES = [("export_pdf", "export_pdf"), ("feature_used", "bulk_edit"), ("dashboard_view", "dashboard_view")]
DOMAINS = ["", "a.com", "b.com"]
READS = 6

batches_strategy = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 20 * 24 * 60 - 1),  # minute within 20 days
            st.integers(0, len(NAMES) - 1),
            st.one_of(st.none(), st.integers(0, 2)),
            st.integers(0, len(DOMAINS) - 1),
        ),
        min_size=1,
        max_size=25,
    ),
    min_size=3,
    max_size=8,
)


def in_own_connection(work):
    def run():
        try:
            work()
        finally:
            close_old_connections()
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches_strategy, zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]))
def test_every_answer_equals_the_oracle_while_ingestion_and_folds_run(org, batches, zone):
    product = ProductFactory(organization=org, timezone=zone)
    licenses = [LicenseFactory(product=product) for _ in range(3)]
    acknowledged = [0]
    errors: list[BaseException] = []
    done = threading.Event()

    def ingest():
        for batch in batches:
            rows = [
                Event(
                    product=product,
                    event=NAMES[name][0],
                    feature=NAMES[name][1],
                    license=None if license is None else licenses[license],
                    domain=DOMAINS[domain],
                    occurred_at=BASE + timedelta(minutes=minute),
                )
                for minute, name, license, domain in batch
            ]
            with transaction.atomic():
                # A writer outside ingestion holds the product's write barrier too (shared).
                events_write_barrier_enter(product_id=product.pk)
                Event.objects.bulk_create(rows)
            acknowledged[0] += len(rows)
        done.set()

    def fold():
        while not done.is_set():
            counters_fold_all()
        counters_fold_all()

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                done.set()

        return in_own_connection(run)

    threads = [threading.Thread(target=guarded(ingest)), threading.Thread(target=guarded(fold))]
    for thread in threads:
        thread.start()
    query = FeatureUsageQuery(product=product, date_from=date(2026, 3, 1), date_to=date(2026, 3, 25))
    try:
        for _ in range(READS):
            before = acknowledged[0]
            with read_snapshot():  # the oracle reads the very snapshot the answer was computed from
                fast = feature_usage(query)
                naive = naive_feature_usage(product=product, date_from=query.date_from, date_to=query.date_to)
            assert fast == naive
            assert fast["totals"]["events"] >= before
    finally:
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert not unfolded_events(product=product).exists()
    final = feature_usage(query)
    assert final["totals"]["events"] == sum(len(batch) for batch in batches)
    assert final == naive_feature_usage(product=product, date_from=query.date_from, date_to=query.date_to)
