"""Retries racing each other: the database constraint keeps one copy."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from events.models import Event
from tests.events.factories import ProductFactory
from tests.tenancy.factories import OrganizationFactory


def paying_organization():
    return OrganizationFactory()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {"status": response.status, "body": json.loads(response.read())}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/public/v1/event", "/public/v1/events"])
def test_the_same_uuid_sent_from_two_threads_at_once_is_stored_once(live_server, path):
    product = ProductFactory(organization=paying_organization())
    answers: list[dict] = []
    for round_number in range(10):
        uuid = f"race-{round_number}"
        event = {"event": "export_pdf", "uuid": uuid}
        body = (
            {"public_key": product.public_key, **event}
            if path.endswith("event")
            else {
                "public_key": product.public_key,
                "events": [event],
            }
        )
        start = threading.Barrier(2)

        def send(body=body, start=start):
            start.wait()
            answers.append(_post(live_server.url + path, body))

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(answers) == 20
    assert all(answer["status"] == 200 and answer["body"]["success"] is True for answer in answers)
    assert Event.objects.filter(product=product).count() == 10
    assert sorted(Event.objects.values_list("uuid", flat=True)) == sorted(f"race-{n}" for n in range(10))


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_died_between_requests_is_replaced_without_losing_the_event(client):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("closing SQLite's in-memory test database would drop it")
    product = ProductFactory(organization=paying_organization())
    body = json.dumps({"public_key": product.public_key, "event": "first"})
    assert client.post("/public/v1/event", body, content_type="application/json").status_code == 200
    connection.connection.close()  # what a database restart does to a pooled connection
    body = json.dumps({"public_key": product.public_key, "event": "after restart"})
    response = client.post("/public/v1/event", body, content_type="application/json")
    assert response.status_code == 200
    assert sorted(Event.objects.values_list("event", flat=True)) == ["after restart", "first"]


@pytest.mark.django_db(transaction=True)
def test_asynchronous_commit_stores_and_deduplicates_the_same(client, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is a PostgreSQL setting")
    settings.INGEST_SYNCHRONOUS_COMMIT = False
    product = ProductFactory(organization=paying_organization())
    body = json.dumps({"public_key": product.public_key, "events": [{"event": "a", "uuid": "u1"}, {"event": "b"}]})
    for _ in range(2):
        response = client.post("/public/v1/events", body, content_type="application/json")
        assert response.json() == {"success": True, "accepted": 2}
    assert sorted(Event.objects.values_list("event", flat=True)) == ["a", "b", "b"]
    assert connection.connection.info.transaction_status == 0  # idle: the COMMIT ran


@pytest.mark.django_db(transaction=True)
def test_a_product_deleted_while_its_key_is_cached_answers_401(client):
    product = ProductFactory(organization=paying_organization())
    body = json.dumps({"public_key": product.public_key, "event": "x"})
    assert client.post("/public/v1/event", body, content_type="application/json").status_code == 200
    product.delete()
    response = client.post("/public/v1/event", body, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert Event.objects.count() == 0
