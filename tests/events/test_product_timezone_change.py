"""A time zone change answers at once; Feature Usage says it is recounting until it is done, never the old days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.counters import counters_fold
from tests.events.factories import EventFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_the_product_shows_the_recount_and_feature_usage_answers_503_until_it_is_done(
    api, org, django_capture_on_commit_callbacks
):
    product = ProductFactory(organization=org, timezone="UTC")
    EventFactory(product=product, event="export_pdf", occurred_at=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    counters_fold(product=product)
    usage = f"/v1/products/{product.public_id}/analytics/feature-usage?from=2026-03-01&to=2026-03-09"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # the recount task is not run yet
        response = api.patch(f"/v1/products/{product.public_id}", {"timezone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 200
    # Not taken by a worker yet: pending (a worker that starts it makes it "running").
    assert response.json()["data"]["analytics"] == {
        "state": "recounting",
        "progressPct": 0,
        "recount": "pending",
        "lagEvents": 0,
        "lagSeconds": 0.0,
    }
    assert api.get(f"/v1/products/{product.public_id}").json()["data"]["analytics"]["state"] == "recounting"

    waiting = api.get(usage)
    assert waiting.status_code == 503
    assert waiting["Retry-After"] == "5"
    assert waiting.json()["error"]["code"] == "analytics_recounting"
    assert api.get(usage.replace("feature-usage?", "feature-usage.csv?table=features&")).status_code == 503

    for callback in callbacks:  # what the worker does
        callback()
    assert api.get(f"/v1/products/{product.public_id}").json()["data"]["analytics"] == {
        "state": "ready",
        "lagEvents": 0,
        "lagSeconds": 0.0,
    }
    data = api.get(usage).json()["data"]
    assert data["topFeatures"][0]["sparkline"][:3] == [0, 0, 1]  # 20:00 UTC on 03-02 is 05:00 on 03-03 in Tokyo


def test_the_console_shows_the_recount_progress(client, owner, org, django_capture_on_commit_callbacks):
    client.force_login(owner)
    product = ProductFactory(organization=org, timezone="UTC")
    with django_capture_on_commit_callbacks(execute=False):
        from events import services

        services.product_update(product=product, timezone="Asia/Tokyo")
    page = client.get(f"/o/{org.slug}/products/{product.public_id}/analytics/feature-usage/")
    assert page.status_code == 200
    assert 'id="analytics-recounting"' in page.content.decode()
    assert "0%" in page.content.decode()


def test_a_bad_time_zone_changes_nothing_and_starts_no_recount(api, org):
    product = ProductFactory(organization=org, timezone="UTC")
    response = api.patch(f"/v1/products/{product.public_id}", {"timezone": "Nowhere/Else"}, format="json")
    assert response.status_code == 400
    product.refresh_from_db()
    assert (product.timezone, product.recount_progress) == ("UTC", None)
