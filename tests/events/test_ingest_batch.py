"""POST /public/v1/events: up to 1,000 events in one request, all or nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events import ingestion
from events.models import Event
from tests.events.factories import EventFactory, LicenseFactory

pytestmark = pytest.mark.django_db
URL = "/public/v1/events"


def post(client, product, events, **headers):
    body = json.dumps({"public_key": product.public_key, "events": events})
    return client.post(URL, data=body, content_type="application/json", **headers)


def test_it_stores_every_event_of_a_batch_with_the_same_rules(client, product):
    license = LicenseFactory(product=product, key="K-1")
    yesterday = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
    events = [
        {"event": "feature_used", "properties": {"feature": "export"}, "license_key": "K-1", "site": "A.example.com."},
        {"event": "product.installed", "properties": {"env": {"wp": "6.8"}}, "timestamp": yesterday.isoformat()},
        {"event": "bulk_edit", "license_key": "UNKNOWN"},
    ]
    response = post(client, product, events, HTTP_ORIGIN="https://fallback.example")
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 3}
    rows = list(
        Event.objects.order_by("event").values_list(
            "event", "feature", "is_system", "license_id", "license_key", "domain"
        )
    )
    assert rows == [
        ("bulk_edit", "bulk_edit", False, None, "UNKNOWN", "fallback.example"),
        ("feature_used", "export", False, license.id, "K-1", "a.example.com"),
        ("product.installed", "product.installed", True, None, "", "fallback.example"),
    ]
    assert Event.objects.get(event="product.installed").occurred_at == yesterday


def test_a_batch_of_1000_is_one_insert(client, product, django_assert_num_queries):
    LicenseFactory(product=product, key="K-1")
    events = [{"event": f"feature_{n % 12}", "license_key": "K-1" if n % 2 else ""} for n in range(1000)]
    ingestion.product_id_for_public_key(product.public_key)  # warm the cache
    with django_assert_num_queries(1):
        response = post(client, product, events)
    assert response.json() == {"success": True, "accepted": 1000}
    assert Event.objects.count() == 1000
    assert Event.objects.filter(license__isnull=False).count() == 500


def test_duplicates_in_a_batch_and_against_stored_events_are_stored_once(client, product):
    EventFactory(product=product, event="already", uuid="u-stored")
    events = [
        {"event": "first", "uuid": "u-1"},
        {"event": "copy of first", "uuid": "u-1"},
        {"event": "retry", "uuid": "u-stored"},
        {"event": "no uuid"},
        {"event": "no uuid"},
    ]
    response = post(client, product, events)
    # accepted counts the valid events of the request, duplicates included: a retry must look like a success.
    assert response.json() == {"success": True, "accepted": 5}
    assert sorted(Event.objects.values_list("event", flat=True)) == ["already", "first", "no uuid", "no uuid"]


def test_a_retried_batch_stores_nothing_new(client, product):
    events = [{"event": "x", "uuid": f"u-{n}"} for n in range(10)]
    assert post(client, product, events).json() == {"success": True, "accepted": 10}
    assert post(client, product, events).json() == {"success": True, "accepted": 10}
    assert Event.objects.count() == 10


def test_one_bad_event_refuses_the_whole_batch_naming_its_index(client, product):
    events = [{"event": "ok"}] * 7 + [{"event": "ok", "site": 3}] + [{"event": "ok"}]
    response = post(client, product, events)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "events[7].site: must be a string."
    assert Event.objects.count() == 0


def test_a_batch_under_one_mebibyte_is_accepted(client, product):
    events = [{"event": "x", "properties": {"pad": "p" * 900}} for _ in range(1000)]
    body = json.dumps({"public_key": product.public_key, "events": events})
    assert 900_000 < len(body) < 1024 * 1024
    assert client.post(URL, data=body, content_type="text/plain").json() == {"success": True, "accepted": 1000}


def test_preflight_is_204_for_the_batch_too(client):
    response = client.options(URL, HTTP_ORIGIN="https://a.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
