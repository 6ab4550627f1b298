"""GET /ofrep/v1/configuration (OFREP's optional endpoint)."""

from __future__ import annotations

import pytest
from django.test import Client

from flags import services

pytestmark = pytest.mark.django_db


def get(raw_key: str | None = None, **headers):
    if raw_key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw_key}"
    return Client().get("/ofrep/v1/configuration", **headers)


def test_it_answers_the_capabilities_with_an_etag_and_304_when_unchanged(project):
    environment, raw_key = services.environment_create(project=project, name="production")
    response = get(raw_key)
    assert response.status_code == 200
    assert response.json()["capabilities"]["cacheInvalidation"]["polling"] == {
        "enabled": True,
        "minPollingIntervalMs": 30000,
    }
    assert get(raw_key, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert get(raw_key, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_keys_are_checked_as_for_evaluation(project):
    environment, raw_key = services.environment_create(project=project, name="production")
    assert get().status_code == 401
    assert get().json()["errorCode"] == "GENERAL"
    assert get("sk_not_an_sdk_key").status_code == 401
    services.sdk_key_revoke(environment=environment, prefix=environment.sdk_keys.get().prefix)
    assert get(raw_key).status_code == 403
