from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from analytics.models import CounterState, FeatureHourCounter
from tests.events.factories import LicenseFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def url(product, suffix="", query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/feature-usage{suffix}?{query}"


def test_it_answers_the_seed_shape(api, shop):
    response = api.get(url(shop))
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {
        "from",
        "to",
        "totals",
        "topFeatures",
        "quietFeatures",
        "usagePattern",
        "topLicenses",
        "topDomains",
    }
    assert data["totals"] == {
        "events": 7,
        "uniqueFeatures": 4,
        "uniqueLicenses": 4,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
    assert data["topFeatures"][1]["adoptionPct"] == 66.7
    assert len(data["usagePattern"]) == 7 and all(len(row) == 24 for row in data["usagePattern"])


def test_it_filters_through_the_query_string(api, shop):
    data = api.get(url(shop, query=f"{WINDOW}&event=bulk&license_id=lic_1")).json()["data"]
    assert data["totals"]["events"] == 1
    assert data["topLicenses"] == [
        {"licenseId": "lic_1", "customerEmail": "one@example.com", "events": 1, "features": 1}
    ]


def test_it_refuses_a_free_plan_with_402(api, org, free_plan, shop):
    org.plan = free_plan
    org.save()
    response = api.get(url(shop))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "plan_upgrade_required"
    assert api.get(url(shop, ".csv", f"{WINDOW}&table=features")).status_code == 402


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=2026-3-1&to=2026-03-09", "from"),
        ("from=2026-03-01&to=yesterday", "to"),
        ("from=2026-02-30&to=2026-03-09", "from"),
        ("from=2026-03-10&to=2026-03-09", "from"),
        ("from=2025-03-08&to=2026-03-09", "from"),  # 367 days
        ("from=0001-01-01&to=0001-01-02", "from"),
        ("from=9999-12-30&to=9999-12-31", "from"),
        ("to=0001-01-05", "to"),
        ("from=2026-03-01%0A&to=2026-03-09", "from"),
        ("from=２０２６-03-01&to=2026-03-09", "from"),
        (f"{WINDOW}&event=" + "x" * 201, "event"),
    ],
)
def test_it_rejects_bad_parameters_naming_them(api, shop, query, parameter):
    response = api.get(url(shop, query=query))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_it_accepts_a_window_of_exactly_366_days(api, shop):
    response = api.get(url(shop, query="from=2025-03-09&to=2026-03-09"))
    assert response.status_code == 200
    assert len(response.json()["data"]["topFeatures"][0]["sparkline"]) == 366


def test_it_answers_404_for_another_organizations_product_or_license(api, outsider_api, shop, other_org):
    assert outsider_api.get(url(shop)).status_code == 404
    foreign_license = LicenseFactory(product=ProductFactory(organization=other_org))
    response = api.get(url(shop, query=f"{WINDOW}&license_id={foreign_license.public_id}"))
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("license_id:")
    assert api.get(url(shop, query=f"{WINDOW}&license_id=lic_nope")).status_code == 404
    # A NUL in any query parameter is a bad request (lib.middleware.NulCharacterMiddleware), not a lookup.
    assert api.get(url(shop, query=f"{WINDOW}&license_id=lic_%00")).status_code == 400
    assert api.get(url(shop, query=f"{WINDOW}&license_id=" + "x" * 500)).status_code == 404
    assert api.get("/v1/products/prd_nope/analytics/feature-usage").status_code == 404


def test_it_answers_401_without_a_key(shop):
    response = APIClient().get(url(shop))
    assert response.status_code == 401
    assert "error" in response.json()


def test_bad_requests_fold_nothing(api, shop):
    api.get(url(shop, query="from=nope"))
    api.get(url(shop, ".csv", f"{WINDOW}&table=nope"))
    # A rejected request neither folds the pending events nor writes any counter.
    assert not FeatureHourCounter.objects.filter(product=shop).exists()
    assert not CounterState.objects.filter(product=shop).exists()


def test_it_exports_csv(api, shop):
    response = api.get(url(shop, ".csv", f"{WINDOW}&table=domains"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "feature-usage-domains-2026-03-01-2026-03-09.csv" in response["Content-Disposition"]
    assert response.getvalue().decode().splitlines() == ["domain,events", "a.com,4", "c.com,2"]


@pytest.mark.parametrize("query", [WINDOW, f"{WINDOW}&table=", f"{WINDOW}&table=users"])
def test_it_rejects_an_unknown_csv_table(api, shop, query):
    response = api.get(url(shop, ".csv", query))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("table:")


def test_counts_are_integers_on_the_wire(api, shop):
    for query in (WINDOW, f"{WINDOW}&event=export", f"{WINDOW}&license_id=lic_1", f"{WINDOW}&event=e&license_id=lic_1"):
        data = api.get(url(shop, query=query)).json()["data"]
        numbers = [*data["totals"].values(), *(n for row in data["usagePattern"] for n in row)]
        numbers += [f[key] for f in data["topFeatures"] for key in ("events", "priorEvents", "licenses", "domains")]
        numbers += [n for f in data["topFeatures"] for n in f["sparkline"]]
        numbers += [row["events"] for row in data["topLicenses"] + data["topDomains"]]
        assert all(type(n) is int for n in numbers), query
