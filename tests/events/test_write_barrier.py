"""The write barrier: a consumer's highest committed id never passes an insert still in flight."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import close_old_connections, connection, transaction

from events.ingestion import IncomingEvent, events_store
from events.models import Event
from events.selectors import events_committed_through
from tests.events.factories import EventFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WAIT_SECONDS = 0.5


def incoming(name: str) -> IncomingEvent:
    return IncomingEvent(
        event=name,
        feature=name,
        is_system=False,
        properties_json="{}",
        license_key="",
        domain="a.com",
        occurred_at=NOON,
        uuid=None,
    )


def test_the_highest_committed_id_waits_for_an_insert_in_flight_and_then_includes_it(org):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: there is never an insert in flight beside a reader's max")
    product = ProductFactory(organization=org)
    earlier = EventFactory(product=product, occurred_at=NOON)
    inserted, release = threading.Event(), threading.Event()
    through: list[int] = []

    def slow_ingestion() -> None:
        try:
            with transaction.atomic():
                events_store(product_id=product.pk, events=[incoming("late_commit")], received_at=NOON)
                inserted.set()
                release.wait(10)
        finally:
            close_old_connections()
            connection.close()

    def consumer() -> None:
        try:
            through.append(events_committed_through(product_id=product.pk))
        finally:
            connection.close()

    writer = threading.Thread(target=slow_ingestion)
    writer.start()
    assert inserted.wait(10)
    reader = threading.Thread(target=consumer)
    reader.start()
    reader.join(WAIT_SECONDS)
    assert reader.is_alive(), "the consumer read past an insert that had not committed"
    release.set()
    writer.join()
    reader.join(10)
    late = Event.objects.get(product=product, event="late_commit")
    assert late.pk > earlier.pk
    assert through == [late.pk]


def test_the_highest_committed_id_of_a_product_without_events_is_zero(org):
    assert events_committed_through(product_id=ProductFactory(organization=org).pk) == 0


def test_an_other_products_insert_in_flight_does_not_hold_a_consumer_back(org):
    mine, theirs = ProductFactory(organization=org), ProductFactory(organization=org)
    EventFactory(product=mine, occurred_at=NOON)
    with transaction.atomic():
        events_store(product_id=theirs.pk, events=[incoming("export_pdf")], received_at=NOON)
        done: list[int] = []
        reader = threading.Thread(
            target=lambda: (done.append(events_committed_through(product_id=mine.pk)), connection.close())
        )
        reader.start()
        reader.join(10)
        assert done == [Event.objects.get(product=mine).pk]
