"""Group commit of single events (events.group_commit): many requests, one INSERT, each acknowledged after COMMIT.

The batches here close because they are full (``max_events`` threads joined),
never because a timer ran out: the wait is set far beyond what the test needs,
so nothing depends on the machine's speed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.test import override_settings

from events import group_commit, ingestion
from events.group_commit import GroupCommitter
from events.ingestion import IncomingEvent, IngestError
from events.models import Event
from tests.events.factories import ProductFactory
from tests.tenancy.factories import OrganizationFactory

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="group commit runs on PostgreSQL only")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _event(uuid: str | None, name: str = "export_pdf") -> IncomingEvent:
    return IncomingEvent(
        event=name,
        feature=name,
        is_system=False,
        properties_json="{}",
        license_key="",
        domain="shop.example.com",
        occurred_at=NOW,
        uuid=uuid,
    )


def _store_concurrently(committer: GroupCommitter, jobs: list[tuple[int, IncomingEvent]]) -> list[BaseException | None]:
    """Each job from its own thread (own connection), all released at once; what each call raised."""
    outcomes: list[BaseException | None] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(slot: int, product_id: int, event: IncomingEvent) -> None:
        try:
            start.wait()
            committer.store(product_id=product_id, event=event, received_at=NOW)
        except BaseException as error:  # noqa: BLE001 - recorded for the assertions
            outcomes[slot] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(slot, *job)) for slot, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _transactions_of(product) -> list[str]:
    """The xmin of each stored row: rows written by one transaction share it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text FROM {Event._meta.db_table} WHERE product_id = %s", [product.id])
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_events_are_stored_once_each_by_one_transaction():
    product = ProductFactory(organization=OrganizationFactory())
    committer = GroupCommitter(wait_seconds=60, max_events=8)

    outcomes = _store_concurrently(committer, [(product.id, _event(f"u-{n}")) for n in range(8)])

    assert outcomes == [None] * 8
    assert sorted(Event.objects.filter(product=product).values_list("uuid", flat=True)) == [f"u-{n}" for n in range(8)]
    assert len(set(_transactions_of(product))) == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_duplicate_uuids_in_a_batch_and_already_stored_ones_are_stored_once():
    product = ProductFactory(organization=OrganizationFactory())
    ingestion.events_store(product_id=product.id, events=[_event("old")], received_at=NOW)
    committer = GroupCommitter(wait_seconds=60, max_events=8)
    # 8 requests: "a" three times, "b" twice, "old" twice (stored before), one without uuid.
    uuids = ["a", "a", "a", "b", "b", "old", "old", None]

    outcomes = _store_concurrently(committer, [(product.id, _event(uuid)) for uuid in uuids])

    assert outcomes == [None] * 8  # a duplicate is acknowledged: it is stored, once
    stored = sorted(str(uuid) for uuid in Event.objects.filter(product=product).values_list("uuid", flat=True))
    assert stored == ["None", "a", "b", "old"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_products_in_one_batch_share_one_transaction():
    first, second = (ProductFactory(organization=OrganizationFactory()) for _ in range(2))
    committer = GroupCommitter(wait_seconds=60, max_events=4)
    jobs = [(first.id, _event("f1")), (second.id, _event("s1")), (first.id, _event("f2")), (second.id, _event("s2"))]

    outcomes = _store_concurrently(committer, jobs)

    assert outcomes == [None] * 4
    assert Event.objects.filter(product=first).count() == 2
    assert Event.objects.filter(product=second).count() == 2
    assert len(set(_transactions_of(first) + _transactions_of(second))) == 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_database_failure_is_every_waiters_answer_and_nothing_is_stored(monkeypatch):
    product = ProductFactory(organization=OrganizationFactory())
    calls = []

    def failing(groups, **options):
        calls.append(groups)
        raise OperationalError("the database went away")

    monkeypatch.setattr(ingestion, "events_store_received", failing)
    committer = GroupCommitter(wait_seconds=60, max_events=4)

    outcomes = _store_concurrently(committer, [(product.id, _event(f"u-{n}")) for n in range(4)])

    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert len(calls) == 1  # no retry one by one: the database, not an event, is the problem
    assert Event.objects.filter(product=product).count() == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_poison_event_fails_alone_its_neighbours_are_stored():
    product = ProductFactory(organization=OrganizationFactory())
    deleted = ProductFactory(organization=OrganizationFactory())
    deleted_id = deleted.id
    deleted.delete()  # as if its key still sat in a process's cache
    committer = GroupCommitter(wait_seconds=60, max_events=4)
    jobs = [
        (product.id, _event("u-0")),
        (deleted_id, _event("x")),
        (product.id, _event("u-1")),
        (product.id, _event("u-2")),
    ]

    outcomes = _store_concurrently(committer, jobs)

    assert outcomes[0] is None and outcomes[2] is None and outcomes[3] is None
    assert isinstance(outcomes[1], IngestError)
    assert (outcomes[1].status, outcomes[1].code) == (401, "invalid_public_key")
    assert sorted(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["u-0", "u-1", "u-2"]
    assert Event.objects.filter(product_id=deleted_id).count() == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_lone_event_goes_when_the_wait_is_over():
    product = ProductFactory(organization=OrganizationFactory())
    committer = GroupCommitter(wait_seconds=0.001, max_events=64)

    committer.store(product_id=product.id, event=_event("alone"), received_at=NOW)

    assert list(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["alone"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_lone_request_in_flight_does_not_wait_for_company():
    product = ProductFactory(organization=OrganizationFactory())
    committer = GroupCommitter(wait_seconds=3600, max_events=64)

    with committer.counted():  # the only single-event request of the process: its batch is full at one
        committer.store(product_id=product.id, event=_event("lone"), received_at=NOW)

    assert list(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["lone"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_batch_goes_once_every_request_in_flight_has_joined():
    product = ProductFactory(organization=OrganizationFactory())
    committer = GroupCommitter(wait_seconds=3600, max_events=64)
    outcomes: list[BaseException | None] = [None] * 3
    start = threading.Barrier(3)
    counted = threading.Barrier(3)

    def run(slot: int) -> None:
        try:
            start.wait()
            with committer.counted():
                counted.wait()  # all three in flight before any joins: the batch is full at three
                committer.store(product_id=product.id, event=_event(f"u-{slot}"), received_at=NOW)
        except BaseException as error:  # noqa: BLE001
            outcomes[slot] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == [None] * 3
    assert len(set(_transactions_of(product))) == 1
    assert Event.objects.filter(product=product).count() == 3


@pytest.mark.django_db
def test_without_a_wait_or_inside_a_transaction_single_events_take_the_plain_path():
    with override_settings(GROUP_COMMIT_WAIT_MS=0):
        assert group_commit.enabled() is False
    # pytest-django's django_db wraps the test in a transaction: another thread could not see it.
    assert group_commit.enabled() is False


@pytest.mark.django_db(transaction=True)
def test_group_commit_applies_on_postgresql_only():
    assert group_commit.enabled() is (connection.vendor == "postgresql")


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_read_only_database_is_every_waiters_answer_tried_once(monkeypatch):
    product = ProductFactory(organization=OrganizationFactory())
    calls = []

    class ReadOnly(Exception):
        sqlstate = "25006"

    def failing(groups, **options):
        calls.append(groups)
        raise DatabaseError("cannot execute INSERT in a read-only transaction") from ReadOnly()

    monkeypatch.setattr(ingestion, "events_store_received", failing)
    committer = GroupCommitter(wait_seconds=60, max_events=3)

    outcomes = _store_concurrently(committer, [(product.id, _event(f"u-{n}")) for n in range(3)])

    assert all(isinstance(outcome, DatabaseError) for outcome in outcomes)
    assert len(calls) == 1
    assert Event.objects.filter(product=product).count() == 0
