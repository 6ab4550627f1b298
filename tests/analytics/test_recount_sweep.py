"""The beat's sweep of recounts with no worker (issue 25, item 3): which it enqueues again, and what the API says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from analytics.tasks import sweep_abandoned_recounts
from events.models import Product
from events.services import product_recount_status
from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _recounting(org, *, heartbeat_age: float | None, started: bool) -> Product:
    product = ProductFactory(organization=org)
    Product.objects.filter(pk=product.pk).update(
        recount_progress=0,
        recount_started_at=now() - timedelta(seconds=60) if started else None,
        recount_heartbeat_at=None if heartbeat_age is None else now() - timedelta(seconds=heartbeat_age),
    )
    return Product.objects.get(pk=product.pk)


def test_it_enqueues_only_recounts_quiet_for_longer_than_the_window(org, settings, monkeypatch):
    settings.RECOUNT_STALE_SECONDS = 30
    enqueued = []
    monkeypatch.setattr("analytics.tasks.recount_product.delay", enqueued.append)
    dead = _recounting(org, heartbeat_age=40, started=True)  # its worker died 40 s ago
    lost = _recounting(org, heartbeat_age=None, started=False)  # its message never reached a broker
    alive = _recounting(org, heartbeat_age=10, started=True)
    ProductFactory(organization=org)  # ready: nothing to do
    assert sweep_abandoned_recounts() == 2
    assert sorted(enqueued) == sorted([dead.pk, lost.pk])
    # Marked pending with a fresh heartbeat: the next sweep leaves them to the enqueued task.
    dead.refresh_from_db()
    assert dead.recount_started_at is None
    assert sweep_abandoned_recounts() == 0
    alive.refresh_from_db()
    assert alive.recount_started_at is not None


def test_the_api_says_running_only_while_a_worker_shows_signs_of_life(org):
    assert product_recount_status(_recounting(org, heartbeat_age=5, started=True), stale_seconds=30) == "running"
    assert product_recount_status(_recounting(org, heartbeat_age=45, started=True), stale_seconds=30) == "pending"
    assert product_recount_status(_recounting(org, heartbeat_age=5, started=False), stale_seconds=30) == "pending"
