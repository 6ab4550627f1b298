"""At most one fold per product runs; its lag (the tail and the age of its first event) is logged and shown.

Issue 18: with a fold running for minutes, the next ones waited on its lock and queued up.
A fold that finds another running now returns at once and folds nothing.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from analytics import counters
from analytics.counters import FoldLag, counters_fold, fold_lag, unfolded_events
from analytics.models import CounterState, FeatureDayCounter
from tests.events.factories import EventFactory, ProductFactory

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # "now" in these tests


def received(product, *ages: float, is_system: bool = False) -> None:
    """One event per age (seconds before T), created in this order (so with ascending ids)."""
    for age in ages:
        EventFactory(
            product=product,
            event="export_pdf",
            is_system=is_system,
            occurred_at=T - timedelta(days=1),
            received_at=T - timedelta(seconds=age),
        )


@pytest.mark.django_db(transaction=True)
def test_two_folds_at_once_one_folds_and_the_other_does_nothing(org, monkeypatch, caplog):
    product = ProductFactory(organization=org)
    received(product, 30, 20, 10)
    entered, release = threading.Event(), threading.Event()
    fold_range = counters._fold_range

    def slow_fold_range(**kwargs):  # the first fold stops inside its step until told to go on
        entered.set()
        assert release.wait(60)
        fold_range(**kwargs)

    monkeypatch.setattr(counters, "_fold_range", slow_fold_range)
    results: dict[str, int] = {}

    def fold(name: str):
        def run():
            try:
                results[name] = counters_fold(product=product)
            finally:
                connection.close()  # each thread its own database connection

        return threading.Thread(target=run)

    first, second = fold("first"), fold("second")
    caplog.set_level("INFO", logger="analytics.fold")
    first.start()
    assert entered.wait(60)
    second.start()
    second.join(60)  # the second neither waits for the first nor folds
    assert not second.is_alive()
    assert results == {"second": 0}
    assert unfolded_events(product=product).count() == 3
    assert any("skipped, another fold of this product is running" in r.getMessage() for r in caplog.records)
    release.set()
    first.join(60)
    assert results == {"second": 0, "first": 3}
    assert sum(FeatureDayCounter.objects.filter(product=product).values_list("count", flat=True)) == 3
    assert not unfolded_events(product=product).exists()
    # Once the first is done, the lock is free again.
    received(product, 5)
    assert counters_fold(product=product) == 1


@pytest.mark.django_db
def test_the_lag_is_the_tail_and_the_age_of_its_first_event(org):
    product = ProductFactory(organization=org)
    assert fold_lag(product=product, at=T) == FoldLag(events=0, seconds=0.0)
    received(product, 300, 200)
    counters_fold(product=product)
    assert fold_lag(product=product, at=T) == FoldLag(events=0, seconds=0.0)
    # The tail: 42.5 s, then one received earlier but stored later (the first by id decides), a system event.
    received(product, 42.5, 50)
    received(product, 1, is_system=True)
    assert fold_lag(product=product, at=T) == FoldLag(events=3, seconds=42.5)
    assert fold_lag(product=product, at=T + timedelta(seconds=60)) == FoldLag(events=3, seconds=102.5)


@pytest.mark.django_db
def test_each_fold_logs_what_it_folded_and_its_lag_before_and_after(org, monkeypatch, caplog):
    product = ProductFactory(organization=org, public_id="prd_lag")
    received(product, 12.34, 4)
    monkeypatch.setattr(counters, "now", lambda: T)
    caplog.set_level("INFO", logger="analytics.fold")
    assert counters_fold(product=product) == 2
    (line,) = [r.getMessage() for r in caplog.records if r.name == "analytics.fold"]
    assert re.fullmatch(
        r"fold prd_lag: 2 events in \d+\.\d\d s; lag before 2 events / 12\.3 s, after 0 events / 0\.0 s", line
    ), line


@pytest.mark.django_db
def test_the_product_shows_its_fold_lag(api, org, monkeypatch):
    product = ProductFactory(organization=org)
    received(product, 90, 30)
    monkeypatch.setattr(counters, "now", lambda: T)
    answer = api.get(f"/v1/products/{product.public_id}").json()["data"]["analytics"]
    assert answer == {"state": "ready", "lagEvents": 2, "lagSeconds": 90.0}
    listed = api.get("/v1/products").json()["data"]
    assert [p["analytics"] for p in listed] == [answer]
    counters_fold(product=product)
    answer = api.get(f"/v1/products/{product.public_id}").json()["data"]["analytics"]
    assert answer == {"state": "ready", "lagEvents": 0, "lagSeconds": 0.0}
    assert CounterState.objects.get(product=product).folded_through == max(product.events.values_list("id", flat=True))


def test_the_openapi_schema_documents_the_lag(client, db):
    schema = client.get("/v1/openapi.json").json()
    analytics = schema["components"]["schemas"]["ProductAnalytics"]
    assert set(analytics["properties"]) == {"state", "progressPct", "recount", "lagEvents", "lagSeconds"}
    assert analytics["properties"]["lagEvents"]["type"] == "integer"
    assert analytics["properties"]["lagSeconds"]["type"] == "number"
    assert set(analytics["required"]) == {"state", "lagEvents", "lagSeconds"}
