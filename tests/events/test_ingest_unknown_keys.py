"""Unknown public keys are throttled per client address (lib.ratelimit, scope ``invalid_key``)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from events.models import Event
from tenancy import keys

pytestmark = pytest.mark.django_db
URL = "/public/v1/event"


@pytest.fixture(autouse=True)
def three_a_minute(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "invalid_key": "3/min"}


def send(public_key: str, address: str = "203.0.113.7"):
    body = json.dumps({"public_key": public_key, "event": "export"})
    return Client().post(URL, body, content_type="application/json", REMOTE_ADDR=address)


def test_made_up_keys_from_one_address_get_429_after_the_bound(product):
    # two made-up keys of the right shape and one that cannot be a key: 401 each
    assert [send(key).status_code for key in (keys.new_public_key(), keys.new_public_key(), "pk_")] == [401] * 3
    response = send(keys.new_public_key())
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "unknown public keys" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 60
    # a repeated bogus key, answered from the process cache, is refused as well
    assert send("pk_").status_code == 429


def test_once_over_the_bound_a_new_made_up_key_costs_no_query(product):
    for _ in range(3):
        send(keys.new_public_key())
    with CaptureQueriesContext(connection) as queries:
        assert send(keys.new_public_key()).status_code == 429
    assert not [q for q in queries.captured_queries if "events_product" in q["sql"]]


def test_a_known_key_from_the_same_address_and_other_addresses_are_never_refused(product, settings):
    settings.PRODUCT_CACHE_SECONDS = 0  # every lookup is the database's: a known key is still never refused
    assert send(product.public_key).status_code == 200  # this process now knows the key
    for _ in range(5):
        send(keys.new_public_key())
    assert send(product.public_key).status_code == 200
    assert send(keys.new_public_key(), address="198.51.100.9").status_code == 401
    assert Event.objects.count() == 2
