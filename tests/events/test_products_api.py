from __future__ import annotations

import pytest

from events.models import Product
from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_product_with_a_public_key(api):
    response = api.post("/v1/products", {"name": "SEO Booster", "timezone": "Europe/Paris"}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"].startswith("prd_")
    assert data["publicKey"].startswith("pk_")
    assert data["name"] == "SEO Booster"
    assert data["timezone"] == "Europe/Paris"
    assert data["createdAt"].endswith("Z")
    assert set(data) == {"id", "name", "publicKey", "timezone", "createdAt", "analytics", "rawEventsFrom"}
    assert data["analytics"] == {"state": "ready", "lagEvents": 0, "lagSeconds": 0.0}


def test_it_defaults_the_time_zone_to_utc(api):
    assert api.post("/v1/products", {"name": "X"}, format="json").json()["data"]["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": ["a"]}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "timezone": 3}, "timezone"),
    ],
)
def test_it_rejects_bad_products_and_stores_nothing(api, body, field):
    response = api.post("/v1/products", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert Product.objects.count() == 0


def test_it_rejects_a_body_that_is_not_json(api):
    response = api.post("/v1/products", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    response = api.post("/v1/products", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert Product.objects.count() == 0


def test_it_lists_only_the_organizations_products_page_by_page(api, org, other_org):
    mine = [ProductFactory(organization=org, name=f"P{i}") for i in range(5)]
    ProductFactory(organization=other_org)
    first = api.get("/v1/products?limit=2").json()
    assert [p["id"] for p in first["data"]] == [p.public_id for p in mine[:2]]
    second = api.get(f"/v1/products?limit=2&cursor={first['nextCursor']}").json()
    third = api.get(f"/v1/products?limit=2&cursor={second['nextCursor']}").json()
    assert [p["id"] for p in second["data"] + third["data"]] == [p.public_id for p in mine[2:]]
    assert third["nextCursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "cursor=%%%", "cursor=bm90LWEtY3Vyc29y"])
def test_it_rejects_bad_paging_parameters(api, query):
    response = api.get(f"/v1/products?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"].split(":")[0] in {"limit", "cursor"}


def test_it_reads_and_patches_a_product(api, org):
    product = ProductFactory(organization=org, name="Old")
    assert api.get(f"/v1/products/{product.public_id}").json()["data"]["name"] == "Old"
    response = api.patch(f"/v1/products/{product.public_id}", {"name": "New", "timezone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.name, product.timezone) == ("New", "Asia/Tokyo")


def test_a_bad_patch_changes_nothing(api, org):
    product = ProductFactory(organization=org, name="Old", timezone="UTC")
    response = api.patch(f"/v1/products/{product.public_id}", {"name": "New", "timezone": "Nowhere"}, format="json")
    assert response.status_code == 400
    product.refresh_from_db()
    assert (product.name, product.timezone) == ("Old", "UTC")


def test_another_organizations_product_is_not_found(outsider_api, org):
    product = ProductFactory(organization=org, name="Secret")
    assert outsider_api.get(f"/v1/products/{product.public_id}").status_code == 404
    response = outsider_api.patch(f"/v1/products/{product.public_id}", {"name": "Pwned"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    product.refresh_from_db()
    assert product.name == "Secret"


def test_it_answers_405_in_the_error_shape(api):
    response = api.delete("/v1/products")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
