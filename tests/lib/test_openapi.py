from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_serves_an_openapi_schema_of_the_api(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/v1/products" in schema["paths"]
    assert "/v1/products/{product_id}/licenses/{license_id}" in schema["paths"]


def test_it_serves_browsable_docs(client):
    response = client.get("/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
