from __future__ import annotations

import pytest

from events.models import License
from tests.events.factories import LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db


def url(product, license_id: str = "") -> str:
    base = f"/v1/products/{product.public_id}/licenses"
    return f"{base}/{license_id}" if license_id else base


def test_it_creates_a_license_with_a_generated_key(api, product):
    response = api.post(url(product), {"customerEmail": "jo@example.com"}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"].startswith("lic_")
    assert len(data["key"]) == 19 and data["key"].count("-") == 3
    assert data["status"] == "active"
    assert data["expiresAt"] is None
    assert set(data) == {"id", "key", "customerEmail", "status", "createdAt", "expiresAt", "maxSites"}


def test_it_keeps_a_given_key_and_refuses_a_duplicate(api, product):
    body = {"key": "MYPLUGIN-AAAA", "customerEmail": "a@example.com", "expiresAt": "2027-01-01T00:00:00+02:00"}
    created = api.post(url(product), body, format="json").json()["data"]
    assert created["key"] == "MYPLUGIN-AAAA"
    assert created["expiresAt"] == "2026-12-31T22:00:00Z"
    duplicate = api.post(url(product), {"key": "MYPLUGIN-AAAA"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["code"] == "duplicate_key"
    assert License.objects.count() == 1


def test_the_same_key_may_exist_in_two_products(api, org, product):
    other = ProductFactory(organization=org)
    assert api.post(url(product), {"key": "K-1"}, format="json").status_code == 201
    assert api.post(url(other), {"key": "K-1"}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerEmail": "not-an-email"}, "customerEmail"),
        ({"status": "paused"}, "status"),
        ({"expiresAt": "tomorrow"}, "expiresAt"),
        ({"key": 42}, "key"),
        ({"key": "k" * 201}, "key"),
        ({"maxSites": 0}, "maxSites"),
        ({"maxSites": "two"}, "maxSites"),
        ({"maxSites": 1_000_001}, "maxSites"),
    ],
)
def test_it_rejects_bad_licenses_and_stores_nothing(api, product, body, field):
    response = api.post(url(product), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert License.objects.count() == 0


def test_it_lists_and_reads_licenses(api, product):
    licenses = LicenseFactory.create_batch(3, product=product)
    listed = api.get(url(product)).json()
    assert [item["id"] for item in listed["data"]] == [lic.public_id for lic in licenses]
    one = api.get(url(product, licenses[1].public_id)).json()["data"]
    assert one["key"] == licenses[1].key


def test_it_changes_status_along_allowed_transitions(api, product):
    license = LicenseFactory(product=product)
    assert api.patch(url(product, license.public_id), {"status": "expired"}, format="json").status_code == 200
    assert api.patch(url(product, license.public_id), {"status": "active"}, format="json").status_code == 200
    assert api.patch(url(product, license.public_id), {"status": "revoked"}, format="json").status_code == 200
    response = api.patch(url(product, license.public_id), {"status": "active"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_status_change"
    license.refresh_from_db()
    assert license.status == "revoked"


def test_it_patches_email_and_expiry(api, product):
    license = LicenseFactory(product=product)
    body = {"customerEmail": "new@example.com", "expiresAt": "2027-06-01T00:00:00Z"}
    data = api.patch(url(product, license.public_id), body, format="json").json()["data"]
    assert data["customerEmail"] == "new@example.com"
    assert data["expiresAt"] == "2027-06-01T00:00:00Z"


def test_it_sets_and_clears_max_sites(api, product):
    created = api.post(url(product), {"maxSites": 2}, format="json").json()["data"]
    assert created["maxSites"] == 2
    data = api.patch(url(product, created["id"]), {"maxSites": None}, format="json").json()["data"]
    assert data["maxSites"] is None
    assert api.patch(url(product, created["id"]), {"maxSites": -1}, format="json").status_code == 400
    assert License.objects.get(public_id=created["id"]).max_sites is None


def test_another_organizations_licenses_are_not_found(outsider_api, api, org, other_org, product):
    license = LicenseFactory(product=product)
    assert outsider_api.get(url(product)).status_code == 404
    assert outsider_api.get(url(product, license.public_id)).status_code == 404
    assert outsider_api.patch(url(product, license.public_id), {"status": "revoked"}, format="json").status_code == 404
    assert outsider_api.post(url(product), {"key": "X"}, format="json").status_code == 404
    foreign = LicenseFactory(product=ProductFactory(organization=other_org))
    assert api.get(url(product, foreign.public_id)).status_code == 404
    license.refresh_from_db()
    assert license.status == "active"
    assert License.objects.count() == 2
