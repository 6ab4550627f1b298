"""At most one fold message waits in the queue: the beat's ticks and ingestion's requests do not pile up.

The claim lives in the broker's Redis (here TEST_REDIS_URL, under a key of this test).
Tasks run eagerly in the tests, so "sent" is seen as "the task body ran".
"""

from __future__ import annotations

import uuid

import pytest
import redis
from celery.beat import ScheduleEntry, Scheduler

from analytics import tasks
from packedge.celery import app as celery_app
from tests.lib.test_ratelimit_redis import REDIS_URL
from tests.live.servers import redis_available

pytestmark = pytest.mark.skipif(not redis_available(REDIS_URL), reason=f"no Redis at {REDIS_URL}")


@pytest.fixture
def claim(settings, monkeypatch):
    settings.CELERY_BROKER_URL = REDIS_URL
    key = f"test-fold-queued-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(tasks, "FOLD_CLAIM_KEY", key)
    client = redis.Redis.from_url(REDIS_URL)
    yield client, key
    client.delete(key)


@pytest.fixture
def folds(monkeypatch):
    """The task bodies that ran; each checks what a tick sent during it would do."""
    ran = []

    def fold_all(*, on_step=None):
        ran.append({"first_tick_sends": tasks.fold_claim(), "second_tick_sends": tasks.fold_claim()})
        return 0, 0

    monkeypatch.setattr(tasks, "counters_fold_all", fold_all)
    return ran


def test_a_claim_is_given_once_until_the_fold_starts(claim):
    client, key = claim
    assert tasks.fold_claim() is True
    assert tasks.fold_claim() is False
    assert tasks.fold_claim() is False
    assert 0 < client.ttl(key) <= tasks.FOLD_CLAIM_SECONDS  # a lost message frees the queue in time
    tasks.fold_claim_release()
    assert tasks.fold_claim() is True


def test_while_a_fold_runs_one_more_may_wait_and_no_second(claim, folds):
    client, key = claim
    tasks.fold_events.delay()
    # The body gave the claim back first: the first tick during it was sent, the second not.
    assert folds == [{"first_tick_sends": True, "second_tick_sends": False}]
    assert client.exists(key)  # held for the message waiting behind the fold


def test_a_tick_while_a_message_waits_sends_nothing(claim, folds):
    assert tasks.fold_claim() is True  # a message is waiting
    assert tasks.fold_events.delay() is None
    assert tasks.fold_events.apply_async() is None
    assert folds == []


def test_the_beat_goes_through_the_claim(claim, folds):
    entry = ScheduleEntry(name="fold-events", task="analytics.tasks.fold_events", schedule=1.0, app=celery_app)
    beat = Scheduler(celery_app, lazy=True)
    assert tasks.fold_claim() is True
    assert beat.apply_async(entry, advance=False) is None
    assert folds == []
    tasks.fold_claim_release()
    beat.apply_async(entry, advance=False)
    assert len(folds) == 1


def test_the_running_fold_keeps_the_waiting_claim_alive_and_makes_none(claim):
    client, key = claim
    tasks.fold_claim_keep()
    assert not client.exists(key)  # nothing waits: nothing is claimed
    client.set(key, 1, ex=5)
    tasks.fold_claim_keep()
    assert client.ttl(key) > 5
