"""`manage.py repair_feature_reach`: the reach points recounted from the pair blocks (issue 18's upgrade)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from analytics import sql as analytics_sql
from analytics.counters import counters_fold, counters_rebuild
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from analytics.models import FeatureReachCounter
from tests.analytics.oracle import naive_feature_usage
from tests.analytics.test_fold_new_day_in_block import BLOCK_START, LATER, WINDOW
from tests.analytics.test_fold_properties import MUTANTS, mutant
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def noon(day):
    return datetime.combine(day, time(12), tzinfo=UTC)


def reach_points(product) -> list[tuple]:
    return sorted(
        FeatureReachCounter.objects.filter(product=product).values_list(
            "kind", "feature", "day", "previous_day", "count"
        )
    )


def used_over_blocks(org):
    product = ProductFactory(organization=org, timezone="Asia/Kolkata")
    licenses = LicenseFactory.create_batch(2, product=product)
    for round_days in ([0, 9, 40], [3, 9, 75], [-20, 33]):
        for day in round_days:
            for index, license in enumerate(licenses):
                EventFactory(
                    product=product,
                    event="search" if (day + index) % 2 else "export",
                    license=license,
                    domain=f"site{(day + index) % 3}.example",
                    occurred_at=NOON + timedelta(days=day, hours=index * 9),
                )
        counters_fold(product=product)
    return product


def test_the_repair_gives_back_the_points_a_rebuild_counts(org):
    product = used_over_blocks(org)
    counters_rebuild(product=product)
    expected = reach_points(product)
    assert len(expected) > 10
    # Damage as the bug did: points lost, points left with the wrong count.
    FeatureReachCounter.objects.filter(product=product, kind="license", feature="search").delete()
    FeatureReachCounter.objects.filter(product=product, kind="domain").update(count=7)
    call_command("repair_feature_reach", product.public_id, stdout=(out := io.StringIO()))
    assert reach_points(product) == expected
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Recounted {len(expected)} reach points of {product.public_id}."
    assert lines[1].startswith("Repaired 1 products in ")


def test_without_product_ids_it_repairs_every_product_and_leaves_right_points_as_they_are(org):
    first, second = used_over_blocks(org), used_over_blocks(org)
    before = {product.pk: reach_points(product) for product in (first, second)}
    FeatureReachCounter.objects.filter(product=second).delete()
    call_command("repair_feature_reach", stdout=io.StringIO())
    assert {product.pk: reach_points(product) for product in (first, second)} == before


def test_it_refuses_unknown_products_and_changes_nothing(org):
    product = used_over_blocks(org)
    before = reach_points(product)
    with pytest.raises(CommandError, match="prd_nope"):
        call_command("repair_feature_reach", product.public_id, "prd_nope")
    assert reach_points(product) == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the precedence bug was in the PostgreSQL fold")
def test_it_brings_back_what_the_old_precedence_lost(org, monkeypatch):
    builder, edits = MUTANTS["old precedence"]
    monkeypatch.setattr(analytics_sql, builder, mutant(getattr(analytics_sql, builder), edits))
    product = ProductFactory(organization=org, timezone="UTC")
    license = LicenseFactory(product=product)
    for day in (BLOCK_START, LATER):  # as the issue tells it: day 0 of a block, then 9 days later
        EventFactory(product=product, event="search", license=license, domain="shop.example", occurred_at=noon(day))
        counters_fold(product=product)
    query = FeatureUsageQuery(product=product, date_from=WINDOW[0], date_to=WINDOW[1])
    assert feature_usage(query)["topFeatures"][0]["licenses"] == 0  # the bug, reproduced
    call_command("repair_feature_reach", stdout=io.StringIO())
    assert feature_usage(query) == naive_feature_usage(product=product, date_from=WINDOW[0], date_to=WINDOW[1])
    assert feature_usage(query)["topFeatures"][0]["licenses"] == 1
