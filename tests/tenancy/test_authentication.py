from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenancy import services
from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db


def test_it_rejects_a_request_without_a_key():
    response = APIClient().get("/v1/products")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["message"]


def test_it_rejects_an_unknown_key():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer sk_not-a-real-key")
    response = client.get("/v1/products")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("header", ["Bearer pk_abc", "Bearer sdk_abc", "Basic c2s6eA==", "Bearer"])
def test_it_rejects_other_kinds_of_credentials(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/v1/products").status_code == 401


def test_it_rejects_a_revoked_key(api, org):
    services.api_key_revoke(api_key=ApiKey.objects.get(organization=org))
    assert api.get("/v1/products").status_code == 401


def test_it_accepts_a_valid_key_and_records_its_use(api, org):
    response = api.get("/v1/products")
    assert response.status_code == 200
    assert response.json() == {"data": [], "nextCursor": None}
    assert ApiKey.objects.get(organization=org).last_used_at is not None


def test_it_stores_only_the_hash_of_a_secret(org):
    api_key, raw = services.api_key_create(organization=org)
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert raw.startswith("sk_")
    assert all(raw not in str(value) for value in stored.values())
    assert stored["prefix"] == raw[: len(stored["prefix"])]
    assert len(stored["prefix"]) < len(raw) // 2
