"""Unknown SDK keys are throttled per client address, on OFREP and the bucket endpoint alike."""

from __future__ import annotations

import pytest
from django.test import Client

from tenancy import keys
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_a_minute(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "invalid_key": "3/min"}


@pytest.fixture
def raw_key(org):
    project = ProjectFactory(organization=org)
    environment, raw = environment_with_key(project)
    boolean_flag(project, "new-checkout", {environment.public_id: {"enabled": True, "defaultVariant": "on"}})
    return raw


def evaluate(key: str, address: str = "203.0.113.7"):
    return Client().post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        REMOTE_ADDR=address,
    )


def test_made_up_sdk_keys_from_one_address_get_429_after_the_bound_and_known_keys_still_work(raw_key, settings):
    settings.FLAG_CONFIG_CACHE_SECONDS = 0  # every lookup is the database's: a known key is still never refused
    assert evaluate(raw_key).status_code == 200
    assert [evaluate(key).status_code for key in (keys.new_secret("sdk"), "sk_not_an_sdk_key", "sdk_x")] == [401] * 3
    response = evaluate(keys.new_secret("sdk"))
    assert response.status_code == 429
    assert response.json()["errorCode"] == "GENERAL"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert evaluate(raw_key).status_code == 200
    assert evaluate(keys.new_secret("sdk"), address="198.51.100.9").status_code == 401


def test_the_bucket_endpoint_shares_the_bound(raw_key):
    for _ in range(3):
        evaluate(keys.new_secret("sdk"))
    response = Client().post(
        "/public/v1/flag-evaluations",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {keys.new_secret('sdk')}",
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response["Retry-After"]
