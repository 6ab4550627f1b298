"""The entitlement gap on the hand-computed shop (tests/analytics/conftest.py), window 03-01 … 03-09.

Active licenses: lic_1, lic_2 and lic_6 (lic_3 expired, lic_0 expired on 02-27, lic_5 revoked),
in creation order lic_1, lic_2, lic_6. export_pdf in the window: lic_1 only (lic_2's is 02-28
local, the prior window). bulk_edit: lic_1 and lic_0, which is not active. dark_mode: lic_3
only, expired. Every answer must be the same folded or not.
"""

from __future__ import annotations

import pytest

from analytics.counters import counters_fold
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def url(product, feature, query="", suffix=""):
    return f"/v1/products/{product.public_id}/analytics/features/{feature}/licenses{suffix}?{WINDOW}&{query}"


def ids(response):
    assert response.status_code == 200, response.content
    return [(row["id"], row["events"]) for row in response.json()["data"]]


@pytest.fixture(params=["tail", "folded"])
def shop_as(request, shop):
    if request.param == "folded":
        counters_fold(product=shop)
    return shop


def test_it_lists_the_active_licenses_that_used_a_feature_or_not(api, shop_as):
    assert ids(api.get(url(shop_as, "export_pdf", "used=true"))) == [("lic_1", 1)]
    assert ids(api.get(url(shop_as, "export_pdf", "used=false"))) == [("lic_2", 0), ("lic_6", 0)]
    assert ids(api.get(url(shop_as, "export_pdf"))) == [("lic_2", 0), ("lic_6", 0)]  # false by default


def test_expired_and_revoked_licenses_are_in_neither_list(api, shop_as):
    assert ids(api.get(url(shop_as, "bulk_edit", "used=true"))) == [("lic_1", 1)]  # lic_0 used it, expired
    assert ids(api.get(url(shop_as, "dark_mode", "used=true"))) == []  # lic_3 used it, expired
    assert ids(api.get(url(shop_as, "dark_mode", "used=false"))) == [("lic_1", 0), ("lic_2", 0), ("lic_6", 0)]


def test_a_feature_nobody_used_is_unused_by_every_active_license(api, shop_as):
    assert ids(api.get(url(shop_as, "never_used", "used=true"))) == []
    assert ids(api.get(url(shop_as, "never_used", "used=false"))) == [("lic_1", 0), ("lic_2", 0), ("lic_6", 0)]


def test_the_feature_usage_cards_say_how_many_active_licenses_did_not_use_it(api, shop_as):
    data = api.get(f"/v1/products/{shop_as.public_id}/analytics/feature-usage?{WINDOW}").json()["data"]
    gap = {card["name"]: card["notUsedBy"] for card in data["topFeatures"]}
    assert gap == {"bulk_edit": 2, "dashboard_view": 1, "export_pdf": 2, "dark_mode": 3}
    # ... and they agree with the lists.
    for name, n in gap.items():
        assert len(api.get(url(shop_as, name, "used=false")).json()["data"]) == n


def test_it_pages_by_cursor(api, shop_as):
    first = api.get(url(shop_as, "never_used", "used=false&limit=2")).json()
    assert [row["id"] for row in first["data"]] == ["lic_1", "lic_2"]
    second = api.get(url(shop_as, "never_used", f"used=false&limit=2&cursor={first['nextCursor']}")).json()
    assert [row["id"] for row in second["data"]] == ["lic_6"]
    assert second["nextCursor"] is None


def test_events_not_folded_yet_count(api, shop):
    counters_fold(product=shop)
    # lic_6 uses export_pdf on 03-09 12:00 local, after the fold.
    EventFactory(
        product=shop, event="export_pdf", license=shop.lic["L6"], domain="", occurred_at=utc("2026-03-09T16:00:00")
    )
    assert ids(api.get(url(shop, "export_pdf", "used=true"))) == [("lic_1", 1), ("lic_6", 1)]
    assert ids(api.get(url(shop, "export_pdf", "used=false"))) == [("lic_2", 0)]


def test_it_exports_every_row_as_csv(api, shop_as):
    response = api.get(url(shop_as, "dark_mode", "used=false", suffix=".csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"{shop_as.public_id}-dark_mode-not-used-2026-03-01-2026-03-09.csv" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    keys = {lic.public_id: lic.key for lic in shop_as.lic.values()}
    assert lines == [
        "licenseId,key,customerEmail,events",
        f"lic_1,{keys['lic_1']},one@example.com,0",
        f"lic_2,{keys['lic_2']},two@example.com,0",
        f"lic_6,{keys['lic_6']},six@example.com,0",
    ]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("used=maybe", "used"),
        ("from=2026-03-10", "from"),
        ("limit=0", "limit"),
        ("cursor=zzz", "cursor"),
    ],
)
def test_bad_parameters_are_400(api, shop, query, parameter):
    response = api.get(f"/v1/products/{shop.public_id}/analytics/features/export_pdf/licenses?to=2026-03-09&{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_another_organizations_product_is_404_and_a_free_plan_402(api, outsider_api, org, free_plan, shop, other_org):
    assert outsider_api.get(url(shop, "export_pdf")).status_code == 404
    assert outsider_api.get(url(shop, "export_pdf", suffix=".csv")).status_code == 404
    assert api.get(url(ProductFactory(organization=other_org), "export_pdf")).status_code == 404
    org.plan = free_plan
    org.save()
    assert api.get(url(shop, "export_pdf")).status_code == 402
    assert api.get(url(shop, "export_pdf", suffix=".csv")).status_code == 402
