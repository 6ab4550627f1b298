"""`prune_events`: whole expired months of raw events go; Feature Usage keeps answering from its counters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from events.models import Event, EventUuid
from events.partitions import event_partitions, event_partitions_ensure, month_start, partition_name

RETENTION_DAYS = 60


def send(client, product, *, event: str, at: datetime, uuid: str, site: str = "a.example.com"):
    body = {
        "public_key": product.public_key,
        "event": event,
        "uuid": uuid,
        "site": site,
        "timestamp": at.astimezone(UTC).isoformat(),
    }
    response = client.post("/public/v1/event", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_events", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def history(client, product, settings):
    """Three events 100 days ago (a month wholly past a 60-day retention) and two today."""
    settings.EVENT_RETENTION_DAYS = RETENTION_DAYS
    now = timezone.now()
    old = now - timedelta(days=100)
    send(client, product, event="export_pdf", at=old, uuid="old-1")
    send(client, product, event="export_pdf", at=old + timedelta(hours=1), uuid="old-2", site="b.example.com")
    send(client, product, event="bulk_edit", at=old + timedelta(hours=2), uuid="old-3")
    send(client, product, event="export_pdf", at=now - timedelta(minutes=5), uuid="new-1")
    send(client, product, event="bulk_edit", at=now - timedelta(minutes=4), uuid="new-2")
    event_partitions_ensure()  # PostgreSQL: the old month gets its partition (it waited in the default one)
    call_command("fold_events", stdout=StringIO())
    return {"old": old, "now": now}


def feature_usage(api, product, day: datetime) -> dict:
    query = f"from={(day - timedelta(days=2)).date()}&to={(day + timedelta(days=2)).date()}"
    response = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage?{query}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_prune_events_drops_the_expired_month_and_feature_usage_answers_the_same(api, product, history):
    old_answer = feature_usage(api, product, history["old"])
    assert old_answer["totals"]["events"] == 3  # by hand: old-1, old-2, old-3
    assert old_answer["totals"]["uniqueDomains"] == 2
    recent_answer = feature_usage(api, product, history["now"])

    output = prune()

    assert Event.objects.filter(product=product).count() == 2
    assert sorted(EventUuid.objects.filter(product=product).values_list("uuid", flat=True)) == ["new-1", "new-2"]
    if connection.vendor == "postgresql":
        expired = partition_name(month_start(history["old"]))
        assert expired not in [partition.name for partition in event_partitions()]
        assert f"dropped {expired}" in output
    assert feature_usage(api, product, history["old"]) == old_answer
    assert feature_usage(api, product, history["now"]) == recent_answer


def test_dry_run_lists_what_would_go_and_drops_nothing(product, history):
    output = prune("--dry-run")

    assert Event.objects.filter(product=product).count() == 5
    if connection.vendor == "postgresql":
        assert f"would drop {partition_name(month_start(history['old']))}" in output
    else:
        assert "3 rows to delete" in output


def test_the_month_holding_the_cutoff_is_kept_whole(client, product, settings):
    settings.EVENT_RETENTION_DAYS = RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=RETENTION_DAYS)
    # Older than the retention, but its month is not wholly expired: kept until the month is.
    send(client, product, event="export_pdf", at=max(cutoff - timedelta(hours=1), month_start(cutoff)), uuid="edge")
    event_partitions_ensure()

    prune()

    assert Event.objects.filter(product=product, uuid="edge").count() == 1


def test_the_product_says_from_which_day_raw_events_are_kept(api, product, settings):
    settings.EVENT_RETENTION_DAYS = 400
    data = api.get(f"/v1/products/{product.public_id}").json()["data"]
    # 400 days before now falls in some month; that month is the oldest one kept, whole.
    cutoff = timezone.now() - timedelta(days=400)
    assert data["rawEventsFrom"] == f"{cutoff:%Y-%m}-01"
