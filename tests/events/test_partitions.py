"""The event table's monthly partitions (PostgreSQL) and the uuid rule across them (both databases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events.models import Event, EventUuid
from events.partitions import (
    DEFAULT_PARTITION,
    event_partitions,
    event_partitions_ensure,
    month_start,
    next_month,
    partition_name,
)

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")


def send(client, product, **fields):
    body = {"public_key": product.public_key, "event": "export_pdf", **fields}
    response = client.post("/public/v1/event", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def rows_in(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{name}"')
        return cursor.fetchone()[0]


@postgresql_only
def test_migrate_leaves_a_table_partitioned_by_month_with_this_and_the_next_months(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'events_event'::regclass")
        assert cursor.fetchone() == ("r",)
    names = [partition.name for partition in event_partitions()]
    this_month = month_start(timezone.now())
    assert partition_name(this_month) in names
    assert partition_name(next_month(this_month)) in names
    assert names[-1] == DEFAULT_PARTITION


@postgresql_only
def test_the_primary_key_holds_the_product_and_the_partition_key(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'events_event'::regclass AND i.indisprimary"
        )
        assert {row[0] for row in cursor.fetchall()} == {"product_id", "id", "occurred_at"}


def test_a_duplicate_sent_months_apart_is_stored_once(client, product):
    months_ago = timezone.now() - timedelta(days=95)
    send(client, product, uuid="u-retried", timestamp=iso(months_ago))
    send(client, product, uuid="u-retried")  # the same event again, today: another partition
    send(client, product, uuid="u-other")

    assert Event.objects.filter(product=product).count() == 2
    stored = Event.objects.get(product=product, uuid="u-retried")
    assert abs(stored.occurred_at - months_ago) < timedelta(seconds=1)
    assert EventUuid.objects.filter(product=product).count() == 2


def test_the_same_uuid_in_another_product_is_another_event(client, product, org):
    from tests.events.factories import ProductFactory

    other = ProductFactory(organization=org)
    send(client, product, uuid="u-shared")
    send(client, other, uuid="u-shared")
    assert Event.objects.filter(uuid="u-shared").count() == 2


@postgresql_only
def test_an_event_of_a_month_without_partition_waits_in_the_default_one_until_ensure_moves_it(client, product):
    long_ago = timezone.now() - timedelta(days=300)
    month = month_start(long_ago)
    assert partition_name(month) not in [partition.name for partition in event_partitions()]

    send(client, product, uuid="u-late", timestamp=iso(long_ago))
    assert rows_in(DEFAULT_PARTITION) == 1

    created = event_partitions_ensure()

    assert partition_name(month) in created
    assert rows_in(DEFAULT_PARTITION) == 0
    assert rows_in(partition_name(month)) == 1
    assert Event.objects.filter(product=product, uuid="u-late").count() == 1
    assert event_partitions_ensure() == []  # idempotent


@postgresql_only
def test_ensure_creates_the_months_ahead_it_is_asked_for(db):
    in_two_years = timezone.now() + timedelta(days=730)
    created = event_partitions_ensure(now=in_two_years, months_ahead=1)
    start = month_start(in_two_years)
    assert created == [partition_name(start), partition_name(next_month(start))]


@postgresql_only
def test_new_events_get_ids_above_the_existing_ones(client, product):
    send(client, product)
    send(client, product)
    first, second = Event.objects.filter(product=product).order_by("id").values_list("id", flat=True)
    assert second > first


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_migrating_a_table_that_already_holds_events_keeps_every_event_once(org):
    from django.db.migrations.executor import MigrationExecutor

    from tests.events.factories import ProductFactory

    product = ProductFactory(organization=org)
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("events", "0008_product_recount_state")])
    try:
        now = timezone.now()
        with connection.cursor() as cursor:
            # Three events in three months (two with a uuid), as the plain table held them.
            for days_ago, uuid in ((70, "u-old"), (35, None), (0, "u-new")):
                cursor.execute(
                    "INSERT INTO events_event (product_id, event, feature, is_system, properties, license_key, domain, "
                    "occurred_at, received_at, uuid) VALUES (%s, 'export_pdf', 'export_pdf', false, '{}', '', '', %s, %s, %s)",
                    [product.pk, now - timedelta(days=days_ago), now, uuid],
                )
            cursor.execute("SELECT max(id) FROM events_event")
            (last_id,) = cursor.fetchone()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)

    assert Event.objects.filter(product=product).count() == 3
    assert sorted(EventUuid.objects.filter(product=product).values_list("uuid", flat=True)) == ["u-new", "u-old"]
    names = [partition.name for partition in event_partitions()]
    assert partition_name(month_start(now - timedelta(days=70))) in names
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'events_event'::regclass")
        assert cursor.fetchone() == (1,)
    # The sequence carries on after the copied ids, and the dedup key knows the old uuid.
    from events import ingestion

    stored = ingestion.events_store(
        product_id=product.pk,
        received_at=now,
        events=[
            ingestion.event_parse({"event": "again", "uuid": "u-old"}, now=now, fallback_domain=""),
            ingestion.event_parse({"event": "fresh"}, now=now, fallback_domain=""),
        ],
    )
    assert stored == 1
    assert Event.objects.get(product=product, event="fresh").id > last_id
