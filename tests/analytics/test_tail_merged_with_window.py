"""The tail merged with a folded window, in SQL (analytics.sql.tail_figures_sql), with every figure worked out by hand.

Every test runs twice: with the pairs looked up in the tail's own licenses' and domains'
blocks (a small tail) and in all of the window's blocks (a large one).

A pair (license or domain, feature) the window's counters already count and that the tail
uses again counts once; a pair new in the tail counts; a pair whose only counted use is
before the window, in the window's own first block, comes back in the tail and counts
(the window's columns of that block, not the whole block, decide).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from analytics.counters import counters_fold, folded_through
from analytics.feature_usage import FeatureUsageQuery, feature_usage, tail
from analytics.models import BLOCK_DAYS
from events.models import License
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["small tail", "large tail"])
def tail_form(request, monkeypatch):
    """Each test in both forms of the statement: the tail's own licenses' and domains' blocks, or all of them."""
    monkeypatch.setattr(tail, "TAIL_SMALL_BELOW", 10**9 if request.param == "small tail" else 1)
    return request.param


BLOCK_START = date.fromordinal((date(2026, 3, 1).toordinal() // BLOCK_DAYS + 1) * BLOCK_DAYS)
# 30 days from day 20 of a block to day 17 of the next; the prior window holds day 10 of the first.
DATE_FROM = BLOCK_START + timedelta(days=20)
DATE_TO = DATE_FROM + timedelta(days=29)
BEFORE_THE_WINDOW = BLOCK_START + timedelta(days=10)


@pytest.fixture
def product(org):
    product = ProductFactory(organization=org, timezone="UTC")
    licenses = {
        name: LicenseFactory(product=product, public_id=f"lic_{name}", status=status)
        for name, status in (("1", License.Status.ACTIVE), ("2", License.Status.ACTIVE), ("3", License.Status.EXPIRED))
    }

    def use(feature: str, day: date, license: str | None, domain: str) -> None:
        EventFactory(
            product=product,
            event=feature,
            feature=feature,
            license=licenses.get(license),
            domain=domain,
            occurred_at=datetime.combine(day, time(12), tzinfo=UTC),
        )

    # Folded.
    use("search", DATE_FROM + timedelta(days=1), "1", "a.example")
    use("export", DATE_FROM + timedelta(days=2), "2", "b.example")
    use("search", BEFORE_THE_WINDOW, "2", "b.example")  # prior window, the window's first block
    use("search", DATE_FROM + timedelta(days=3), None, "c.example")
    counters_fold(product=product)
    # The tail.
    use("search", DATE_FROM + timedelta(days=15), "1", "a.example")  # counted pair again: once
    use("export", DATE_FROM + timedelta(days=16), "1", "a.example")  # a new pair for both
    use("search", DATE_FROM + timedelta(days=17), "2", "b.example")  # comes back: new in the window
    use("search", DATE_FROM + timedelta(days=18), "3", "d.example")  # new, not active
    use("search", DATE_FROM + timedelta(days=19), None, "c.example")  # counted domain pair again: once
    return product


def answer(product, **filters) -> dict:
    return feature_usage(FeatureUsageQuery(product=product, date_from=DATE_FROM, date_to=DATE_TO, **filters))


def test_a_tail_merged_with_a_folded_window_counts_each_pair_once(product):
    assert folded_through(product=product) > 0  # five events in the tail, four folded
    data = answer(product)
    assert data["totals"] == {
        "events": 8,
        "uniqueFeatures": 2,
        "uniqueLicenses": 3,
        "uniqueDomains": 4,
        "activeLicenses": 2,
    }
    search, export = data["topFeatures"]
    assert (search["name"], search["events"], search["priorEvents"]) == ("search", 6, 1)
    # L1 (counted, seen again), L2 (back from before the window), L3 (new, expired); a, b, c, d.
    assert (search["licenses"], search["domains"], search["adoptionPct"], search["notUsedBy"]) == (3, 4, 100.0, 0)
    assert (export["name"], export["events"], export["licenses"], export["domains"]) == ("export", 2, 2, 2)
    assert export["adoptionPct"] == 100.0
    assert sum(search["sparkline"]) == 6 and search["sparkline"][15] == 1 and search["sparkline"][1] == 1
    assert [(row["licenseId"], row["events"], row["features"]) for row in data["topLicenses"]] == [
        ("lic_1", 3, 2),
        ("lic_2", 2, 2),
        ("lic_3", 1, 1),
    ]
    assert [(row["domain"], row["events"]) for row in data["topDomains"]] == [
        ("a.example", 3),
        ("b.example", 2),
        ("c.example", 2),
        ("d.example", 1),
    ]
    noon = DATE_FROM + timedelta(days=15)
    assert data["usagePattern"][noon.isoweekday() % 7][12] >= 1
    assert sum(map(sum, data["usagePattern"])) == 8


def test_the_merged_answer_equals_the_naive_one_before_and_after_the_fold(product):
    for filters in ({}, {"event": "sea"}, {"event": "EXP"}, {"event": "nothing"}):
        naive = naive_feature_usage(product=product, date_from=DATE_FROM, date_to=DATE_TO, **filters)
        assert answer(product, **filters) == naive
    before = answer(product)
    counters_fold(product=product)
    assert answer(product) == before


def test_an_event_filter_merges_only_the_names_it_selects(product):
    (search,) = answer(product, event="sea")["topFeatures"]
    assert (search["events"], search["licenses"], search["domains"]) == (6, 3, 4)
    (export,) = answer(product, event="exp")["topFeatures"]
    assert (export["events"], export["licenses"], export["domains"]) == (2, 2, 2)
    assert answer(product, event="nothing")["totals"]["events"] == 0
