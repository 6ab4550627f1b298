"""Key sharing on the hand-computed shop (tests/analytics/conftest.py), window 03-01 … 03-09.

lic_1's sites in the window: a.com (03-01; first seen 02-19) and c.com (03-08). lic_2's:
a.com only (03-09); its b.com event is 02-28 local, the prior window.
"""

from __future__ import annotations

import pytest

from analytics.counters import counters_fold
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def url(product, query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/license-sharing?{query}"


@pytest.fixture(params=["tail", "folded"])
def shop_as(request, shop):
    if request.param == "folded":
        counters_fold(product=shop)
    return shop


def limit(license, max_sites):
    license.max_sites = max_sites
    license.save()


def test_a_license_on_two_sites_with_max_sites_one_is_listed_with_evidence(api, shop_as):
    limit(shop_as.lic["L1"], 1)
    limit(shop_as.lic["L2"], 1)  # one site in the window: not shared
    response = api.get(url(shop_as))
    assert response.status_code == 200
    body = response.json()
    assert body["nextCursor"] is None
    assert len(body["data"]) == 1
    flagged = body["data"][0]
    assert flagged["license"]["id"] == "lic_1"
    assert flagged["maxSites"] == 1
    assert flagged["sites"] == [
        {"domain": "a.com", "events": 1, "firstSeen": "2026-02-19", "lastSeen": "2026-03-01"},
        {"domain": "c.com", "events": 1, "firstSeen": "2026-03-08", "lastSeen": "2026-03-08"},
    ]


def test_within_the_limit_or_unlimited_is_not_listed(api, shop_as):
    assert api.get(url(shop_as)).json()["data"] == []  # nobody has a maxSites
    limit(shop_as.lic["L1"], 2)
    assert api.get(url(shop_as)).json()["data"] == []


def test_the_window_decides(api, shop_as):
    limit(shop_as.lic["L1"], 1)
    # 03-02 … 03-09: only c.com.
    assert api.get(url(shop_as, "from=2026-03-02&to=2026-03-09")).json()["data"] == []


def test_a_site_not_folded_yet_counts(api, shop):
    counters_fold(product=shop)
    limit(shop.lic["L2"], 1)
    EventFactory(product=shop, license=shop.lic["L2"], domain="e.com", occurred_at=utc("2026-03-04T15:00:00"))
    data = api.get(url(shop)).json()["data"]
    assert [row["license"]["id"] for row in data] == ["lic_2"]
    assert [(site["domain"], site["firstSeen"]) for site in data[0]["sites"]] == [
        ("e.com", "2026-03-04"),
        ("a.com", "2026-03-09"),
    ]


def test_errors_are_those_of_feature_usage(api, outsider_api, org, free_plan, shop, other_org):
    assert outsider_api.get(url(shop)).status_code == 404
    assert api.get(url(ProductFactory(organization=other_org))).status_code == 404
    response = api.get(url(shop, "from=2026-03-10&to=2026-03-09"))
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("from:")
    org.plan = free_plan
    org.save()
    assert api.get(url(shop)).status_code == 402


def test_a_site_counted_only_before_the_window_and_back_in_the_tail_keeps_its_first_day(api, shop):
    # lic_2's b.com event (02-28 local) is folded: before the window. A new b.com event
    # on 03-06, not folded yet, brings it back: b.com is in the window, first seen 02-28.
    counters_fold(product=shop)
    limit(shop.lic["L2"], 1)
    EventFactory(product=shop, license=shop.lic["L2"], domain="b.com", occurred_at=utc("2026-03-06T15:00:00"))
    data = api.get(url(shop)).json()["data"]
    assert [row["license"]["id"] for row in data] == ["lic_2"]
    assert data[0]["sites"] == [
        {"domain": "b.com", "events": 1, "firstSeen": "2026-02-28", "lastSeen": "2026-03-06"},
        {"domain": "a.com", "events": 1, "firstSeen": "2026-03-09", "lastSeen": "2026-03-09"},
    ]


def test_a_window_inside_one_block_counts_only_its_days(api, shop_as):
    # 03-08 … 03-09 lies in one block (03-05 … 04-05) that also holds lic_1's a.com day 03-10,
    # after the window: only c.com is in it.
    limit(shop_as.lic["L1"], 1)
    assert api.get(url(shop_as, "from=2026-03-08&to=2026-03-09")).json()["data"] == []
    limit(shop_as.lic["L1"], 0)  # a limit of no site: its one site is over it
    data = api.get(url(shop_as, "from=2026-03-08&to=2026-03-09")).json()["data"]
    assert [row["license"]["id"] for row in data] == ["lic_1"]
    assert data[0]["sites"] == [
        {"domain": "c.com", "events": 1, "firstSeen": "2026-03-08", "lastSeen": "2026-03-08"},
    ]
