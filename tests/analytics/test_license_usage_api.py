"""GET /v1/products/{id}/licenses/{licenseId}/usage on the hand-computed shop (tests/analytics/conftest.py).

lic_1's counted events: export_pdf 02-19 (before the prior window) and 03-01 on a.com,
legacy_import 02-21 and 02-22 (no site), bulk_edit 03-08 (no site), dashboard_view
03-08 23:30 EDT on c.com, export_pdf 03-10 on a.com (after the window); its system
event never counts. Every answer must be the same folded or not.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.counters import counters_fold
from analytics.feature_usage.query import parse_feature_usage_query
from analytics.license_usage import license_usage
from analytics.models import CounterState
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"
DAYS = [f"2026-03-0{day}" for day in range(1, 10)]


def url(product, license_id, query=WINDOW):
    return f"/v1/products/{product.public_id}/licenses/{license_id}/usage?{query}"


@pytest.fixture(params=["tail", "folded"])
def shop_as(request, shop):
    if request.param == "folded":
        counters_fold(product=shop)
    return shop


def test_it_answers_every_figure_by_hand(api, shop_as):
    response = api.get(url(shop_as, "lic_1"))
    assert response.status_code == 200
    data = response.json()["data"]
    license = shop_as.lic["L1"]
    assert data["license"] == {
        "id": "lic_1",
        "key": license.key,
        "customerEmail": "one@example.com",
        "status": "active",
        "storedStatus": "active",
        "createdAt": license.created_at.isoformat().replace("+00:00", "Z"),
        "expiresAt": None,
        "maxSites": None,
    }
    assert (data["from"], data["to"]) == ("2026-03-01", "2026-03-09")
    # First and last counted events ever, as local days: 02-19 and 03-10.
    assert (data["firstSeen"], data["lastSeen"]) == ("2026-02-19", "2026-03-10")
    assert data["totals"] == {"events": 3, "features": 3, "sites": 2}
    assert data["sparklineDays"] == DAYS
    assert data["features"] == [
        {
            "name": "bulk_edit",
            "events": 1,
            "priorEvents": 0,
            "lastUsed": "2026-03-08",
            "sparkline": [0, 0, 0, 0, 0, 0, 0, 1, 0],
        },
        {
            "name": "dashboard_view",
            "events": 1,
            "priorEvents": 0,
            "lastUsed": "2026-03-08",
            "sparkline": [0, 0, 0, 0, 0, 0, 0, 1, 0],
        },
        {
            "name": "export_pdf",
            "events": 1,
            "priorEvents": 0,
            "lastUsed": "2026-03-01",
            "sparkline": [1, 0, 0, 0, 0, 0, 0, 0, 0],
        },
    ]
    # The product's other features (its system event is none): never used by lic_1 in the window.
    assert data["unusedFeatures"] == ["dark_mode", "legacy_import", "old_wizard"]
    # a.com was first seen on 02-19, before the window; 03-10 is after it.
    assert data["sites"] == [
        {"domain": "a.com", "events": 1, "firstSeen": "2026-02-19", "lastSeen": "2026-03-01"},
        {"domain": "c.com", "events": 1, "firstSeen": "2026-03-08", "lastSeen": "2026-03-08"},
    ]
    assert data["sharing"] == {"maxSites": None, "sites": 2, "exceeded": False}


def test_a_license_on_two_sites_with_max_sites_one_is_flagged(api, shop_as):
    shop_as.lic["L1"].max_sites = 1
    shop_as.lic["L1"].save()
    data = api.get(url(shop_as, "lic_1")).json()["data"]
    assert data["sharing"] == {"maxSites": 1, "sites": 2, "exceeded": True}


def test_the_status_that_rules_is_shown_beside_the_stored_one(api, shop_as):
    # lic_0: stored active, expired on 2026-02-27; lic_3: stored expired; lic_5: revoked.
    statuses = {
        lic: api.get(url(shop_as, lic)).json()["data"]["license"] for lic in ("lic_0", "lic_3", "lic_5", "lic_6")
    }
    assert {lic: (s["status"], s["storedStatus"]) for lic, s in statuses.items()} == {
        "lic_0": ("expired", "active"),
        "lic_3": ("expired", "expired"),
        "lic_5": ("revoked", "revoked"),
        "lic_6": ("active", "active"),
    }
    assert statuses["lic_0"]["expiresAt"] == "2026-02-27T00:00:00Z"


def test_a_license_that_never_sent_anything_uses_nothing(api, shop_as):
    data = api.get(url(shop_as, "lic_6")).json()["data"]
    assert (data["firstSeen"], data["lastSeen"]) == (None, None)
    assert data["totals"] == {"events": 0, "features": 0, "sites": 0}
    assert data["features"] == [] and data["sites"] == []
    assert data["unusedFeatures"] == [
        "bulk_edit",
        "dark_mode",
        "dashboard_view",
        "export_pdf",
        "legacy_import",
        "old_wizard",
    ]


def test_events_not_folded_yet_add_to_the_counters(api, shop):
    counters_fold(product=shop)
    # 03-05 12:00 local (17:00 UTC): a new site and a new feature, above the watermark.
    EventFactory(
        product=shop,
        event="dark_mode",
        license=shop.lic["L1"],
        license_key=shop.lic["L1"].key,
        domain="d.com",
        occurred_at=utc("2026-03-05T17:00:00"),
    )
    data = api.get(url(shop, "lic_1")).json()["data"]
    assert data["totals"] == {"events": 4, "features": 4, "sites": 3}
    assert [f["name"] for f in data["features"]] == ["bulk_edit", "dark_mode", "dashboard_view", "export_pdf"]
    assert data["unusedFeatures"] == ["legacy_import", "old_wizard"]
    assert [s["domain"] for s in data["sites"]] == ["a.com", "c.com", "d.com"]
    assert data["sites"][2] == {"domain": "d.com", "events": 1, "firstSeen": "2026-03-05", "lastSeen": "2026-03-05"}


def test_a_get_writes_nothing(api, shop):
    api.get(url(shop, "lic_1"))
    assert not CounterState.objects.filter(product=shop, folded_through__gt=0).exists()


def test_another_organizations_product_or_license_is_404(api, outsider_api, shop, other_org):
    assert outsider_api.get(url(shop, "lic_1")).status_code == 404
    foreign_product = ProductFactory(organization=other_org)
    foreign = LicenseFactory(product=foreign_product, public_id="lic_foreign")
    assert api.get(url(shop, foreign.public_id)).status_code == 404
    assert api.get(url(foreign_product, foreign.public_id)).status_code == 404
    response = api.get(url(shop, "lic_nope"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=2026-03-10&to=2026-03-09", "from"),
        ("from=2025-03-08&to=2026-03-09", "from"),  # 367 days
        ("from=2026-02-30&to=2026-03-09", "from"),
        ("from=2026-03-01&to=soon", "to"),
    ],
)
def test_a_bad_window_is_400_naming_the_parameter(api, shop, query, parameter):
    response = api.get(url(shop, "lic_1", query))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_a_free_plan_gets_402(api, org, free_plan, shop):
    org.plan = free_plan
    org.save()
    response = api.get(url(shop, "lic_1"))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "plan_upgrade_required"


# The product with its watermark, the license's tail, its feature blocks, its site blocks,
# its first and last counted days, the product's features: one statement each. It was 16
# (the watermark alone read 4 times); a new figure should reuse these reads, not add one.
LICENSE_USAGE_STATEMENTS = 6


def test_license_usage_reads_in_a_fixed_number_of_statements(shop_as):
    shop_as.lic["L1"].max_sites = 1
    shop_as.lic["L1"].save()
    query = parse_feature_usage_query(product=shop_as, params={"from": "2026-03-01", "to": "2026-03-09"})
    for license in ("L1", "L3", "L4"):  # busy, expired, expired before the window
        with CaptureQueriesContext(connection) as captured:
            data = license_usage(replace(query, license=shop_as.lic[license]))
        assert len(captured.captured_queries) == LICENSE_USAGE_STATEMENTS, [q["sql"] for q in captured]
    assert data["license"]["id"] == "lic_0"
