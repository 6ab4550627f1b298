from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from analytics.counters import COUNTER_MODELS, counters_fold, counters_rebuild, unfolded_events
from analytics.models import CounterState, FeatureHourCounter, LicenseBlockCounter
from events.models import Event
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def snapshot(product) -> dict:
    """Every counter row of the product, without ids."""
    return {
        model.__name__: sorted(
            tuple(str(value) for key, value in row.items() if key != "id")
            for row in model.objects.filter(product=product).values()
        )
        for model in COUNTER_MODELS
    }


def hour_counts(product) -> dict:
    return {
        (row.day.isoformat(), row.hour, row.feature): row.count
        for row in FeatureHourCounter.objects.filter(product=product)
    }


def test_a_fold_claims_pending_events_once(org):
    product = ProductFactory(organization=org)
    EventFactory.create_batch(3, product=product, event="export_pdf", occurred_at=NOON)
    assert counters_fold(product=product) == 3
    assert counters_fold(product=product) == 0
    assert hour_counts(product) == {("2026-03-02", 12, "export_pdf"): 3}
    assert CounterState.objects.get(product=product).folded_through == Event.objects.latest("id").id

    EventFactory(product=product, event="export_pdf", occurred_at=NOON + timedelta(minutes=5))
    assert counters_fold(product=product) == 1
    assert hour_counts(product) == {("2026-03-02", 12, "export_pdf"): 4}
    assert CounterState.objects.get(product=product).folded_through == Event.objects.latest("id").id


def test_a_fold_leaves_other_products_alone(org):
    mine, theirs = ProductFactory(organization=org), ProductFactory(organization=org)
    EventFactory(product=mine, occurred_at=NOON)
    EventFactory(product=theirs, occurred_at=NOON)
    counters_fold(product=mine)
    assert unfolded_events(product=theirs).count() == 1
    assert not FeatureHourCounter.objects.filter(product=theirs).exists()


def test_system_events_and_missing_license_or_domain_are_folded_but_not_counted(org):
    product = ProductFactory(organization=org)
    EventFactory(product=product, event="product.installed", is_system=True, occurred_at=NOON)
    EventFactory(product=product, event="export_pdf", license=None, domain="", occurred_at=NOON)
    counters_fold(product=product)
    assert not unfolded_events(product=product).exists()
    assert hour_counts(product) == {("2026-03-02", 12, "export_pdf"): 1}
    assert not LicenseBlockCounter.objects.filter(product=product).exists()


def test_folds_in_any_order_give_what_a_rebuild_gives(org):
    product = ProductFactory(organization=org, timezone="Europe/Berlin")
    licenses = LicenseFactory.create_batch(3, product=product)
    rounds = [
        [(0, 0, "a.com"), (3, 1, "b.com"), (40, 2, "")],
        [(1, 0, "a.com"), (2, 0, "a.com"), (70, 1, "c.com")],  # fills a gap, crosses a 32-day block
        [(-5, 2, "b.com"), (3, 1, "b.com"), (33, 0, "a.com")],  # late events before earlier ones
    ]
    for events in rounds:
        for day, license_index, domain in events:
            for name in ("export_pdf", "bulk_edit"):
                EventFactory(
                    product=product,
                    event=name,
                    license=licenses[license_index],
                    domain=domain,
                    occurred_at=NOON + timedelta(days=day, hours=license_index * 7),
                )
        counters_fold(product=product)
    folded = snapshot(product)
    counters_rebuild(product=product)
    assert snapshot(product) == folded
    assert folded["FeatureReachCounter"]


def test_changing_the_time_zone_recounts_days_and_hours(api, org, django_capture_on_commit_callbacks):
    product = ProductFactory(organization=org, timezone="UTC")
    EventFactory(product=product, event="export_pdf", occurred_at=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    counters_fold(product=product)
    assert hour_counts(product) == {("2026-03-02", 20, "export_pdf"): 1}
    # The recount is a task run after commit (in-process here: no broker in the tests).
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/v1/products/{product.public_id}", {"timezone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 200
    assert hour_counts(product) == {("2026-03-03", 5, "export_pdf"): 1}
    product.refresh_from_db()
    assert product.recount_progress is None


def test_the_fold_command_folds_every_product(org):
    products = ProductFactory.create_batch(2, organization=org)
    for product in products:
        EventFactory(product=product, occurred_at=NOON)
    call_command("fold_events", stdout=(out := io.StringIO()))
    assert out.getvalue().strip() == "Folded 2 events of 2 products."
    assert not any(unfolded_events(product=product).exists() for product in products)


def test_the_fold_command_keeps_folding_as_a_worker(org):
    product = ProductFactory(organization=org)
    EventFactory(product=product, occurred_at=NOON)
    call_command("fold_events", "--every", "0.01", "--passes", "2", stdout=(out := io.StringIO()))
    assert out.getvalue().splitlines() == ["Folded 1 events of 1 products.", "Folded 0 events of 0 products."]
    assert not unfolded_events(product=product).exists()


def test_the_fold_command_refuses_a_pause_of_zero():
    with pytest.raises(CommandError, match="--every"):
        call_command("fold_events", "--every", "0", stdout=io.StringIO())


def test_the_rebuild_command_rebuilds_and_refuses_unknown_products(org):
    product = ProductFactory(organization=org)
    EventFactory(product=product, occurred_at=NOON)
    call_command("rebuild_feature_usage", product.public_id, stdout=io.StringIO())
    assert hour_counts(product) == {("2026-03-02", 12, "export_pdf"): 1}
    with pytest.raises(CommandError, match="prd_nope"):
        call_command("rebuild_feature_usage", "prd_nope")


def test_a_rebuild_gives_the_counters_of_folds_in_steps(org):
    """One way of counting: a rebuild into empty counters and folds over a growing tail agree."""
    product = ProductFactory(organization=org, timezone="America/New_York")
    licenses = LicenseFactory.create_batch(2, product=product)
    for day in range(0, 45, 3):
        EventFactory(
            product=product,
            event="feature_used",
            feature="export",
            license=licenses[day % 2],
            domain=f"site{day % 3}.com",
            occurred_at=NOON + timedelta(days=day, hours=day),
        )
        if day % 9 == 0:
            counters_fold(product=product)
    counters_fold(product=product)
    folded = snapshot(product)
    counters_rebuild(product=product)
    assert snapshot(product) == folded
    assert folded["LicenseDomainBlockCounter"] and folded["LicenseDayHours"]
