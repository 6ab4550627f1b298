"""The fold's reach points on a new day of a block the pair already used (issue 18).

PostgreSQL gives ``&`` and ``<<`` the same precedence: an unparenthesised
``used & 1 << k = 0`` tested only day 0 of the block, so a pair that used day 0
lost its later days at the next fold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from analytics.counters import counters_fold
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from analytics.models import BLOCK_DAYS
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

# The first day of a 32-day block (its ordinal is a multiple of 32).
BLOCK_START = date.fromordinal((date(2026, 3, 1).toordinal() // BLOCK_DAYS + 1) * BLOCK_DAYS)
LATER = BLOCK_START + timedelta(days=9)
# 30 days that hold the later day but not the block's day 0.
WINDOW = (LATER - timedelta(days=4), LATER + timedelta(days=25))


def search_reach(product) -> tuple[int, int]:
    """(licenses, domains) of `search` in WINDOW."""
    (search,) = [
        row
        for row in feature_usage(FeatureUsageQuery(product=product, date_from=WINDOW[0], date_to=WINDOW[1]))[
            "topFeatures"
        ]
        if row["name"] == "search"
    ]
    return search["licenses"], search["domains"]


def test_a_pair_that_used_day_0_of_a_block_keeps_its_later_day_after_both_folds(org):
    product = ProductFactory(organization=org, timezone="UTC")
    license = LicenseFactory(product=product)

    def search_on(day: date) -> None:
        EventFactory(
            product=product,
            event="search",
            license=license,
            domain="shop.example",
            occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
        )

    search_on(BLOCK_START)
    counters_fold(product=product)
    search_on(LATER)
    assert search_reach(product) == (1, 1)  # the later day still in the tail
    counters_fold(product=product)
    assert search_reach(product) == (1, 1)  # and folded: a fold never changes an answer
    query = FeatureUsageQuery(product=product, date_from=WINDOW[0], date_to=WINDOW[1])
    assert feature_usage(query) == naive_feature_usage(product=product, date_from=WINDOW[0], date_to=WINDOW[1])
