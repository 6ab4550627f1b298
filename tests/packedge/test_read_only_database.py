"""A read-only database (a standby, a failover in progress) answers writes 503 with Retry-After, not 500."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from events.models import Event
from tests.events.factories import ProductFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="read-only transactions are PostgreSQL's"),
]


def test_ingestion_into_a_read_only_database_answers_503_with_retry_after(client, org, settings):
    product = ProductFactory(organization=org)
    body = {"public_key": product.public_key, "event": "export_pdf", "uuid": "0b6c1c56-1a51-4c4e-9a7e-1f7d2b1e0001"}
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ingest": None}
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION default_transaction_read_only = on")
    try:
        response = client.post("/public/v1/event", data=json.dumps(body), content_type="application/json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION default_transaction_read_only = off")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "database_unavailable"
    assert Event.objects.count() == 0
    # Once writable again, the retry is stored once.
    assert client.post("/public/v1/event", data=json.dumps(body), content_type="application/json").status_code == 200
    assert Event.objects.count() == 1
