"""A worker killed (SIGKILL) mid-recount: the next worker takes the recount within seconds (issue 25, item 3).

A private redis-server (REDIS_CRASH_PORT, 8289) is the broker, this test's PostgreSQL
database the data. The recount's heartbeat goes quiet when its worker dies; the
beat's sweep (every RECOUNT_SWEEP_EVERY seconds) enqueues it again once it has been
quiet RECOUNT_STALE_SECONDS, here shortened so that the test stays short. Skipped
on SQLite and without redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from analytics.counters import unfolded_events
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from events.models import Event, Product
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import LicenseFactory, ProductFactory
from tests.live.servers import celery_publishing_to
from tests.live.servers import private_redis as private_redis_server

PORT = int(os.environ.get("REDIS_CRASH_PORT", "8289"))
REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
ROOT = Path(__file__).resolve().parents[2]
BASE = datetime(2026, 3, 2, tzinfo=UTC)
EVENTS = 100_000
STALE_SECONDS = 3
# Bound on the whole recovery: a dead worker's heartbeat goes stale, the sweep's period, the recount itself.
RECOVERY_DEADLINE_SECONDS = 90

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_redis(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess needs a database it can share: PostgreSQL")
    with private_redis_server(PORT, tmp_path):
        yield


@pytest.fixture
def workers(private_redis, settings, tmp_path):
    settings.RECOUNT_STALE_SECONDS = STALE_SECONDS  # the product resource here judges staleness like the workers
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
            f"/{settings_dict['NAME']}"
        ),
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_URL": REDIS_URL,
        "SECRET_KEY": "test-only-secret",
        "CONN_MAX_AGE": "0",
        "RECOUNT_STALE_SECONDS": str(STALE_SECONDS),
        "RECOUNT_SWEEP_EVERY": "1",
        "TMPDIR": str(tmp_path),  # the beat's schedule file: not shared with another test's worker
    }
    started = []

    def start() -> subprocess.Popen:
        # Its own process group: SIGKILL to the group kills the main process and its pool child at once.
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", "1", "--loglevel", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait(condition, *, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} did not happen within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_recount_whose_worker_was_killed_is_finished_by_the_next_worker(org, api, workers):
    product = ProductFactory(organization=org, timezone="UTC")
    licenses = [LicenseFactory(product=product) for _ in range(5)]
    for start in range(0, EVENTS, 10_000):
        Event.objects.bulk_create(
            Event(
                product=product,
                event=f"feature_{n % 9}",
                license=licenses[n % 5] if n % 4 else None,
                domain=f"d{n % 11}.com",
                occurred_at=BASE + timedelta(minutes=n % (3 * 24 * 60)),
            )
            for n in range(start, start + 10_000)
        )
    first = workers()
    _wait(lambda: not unfolded_events(product=product).exists(), seconds=120, what="the first fold")

    url = f"/v1/products/{product.public_id}"
    # This process publishes to the private broker (the tests run tasks in-process otherwise).
    with celery_publishing_to(REDIS_URL):
        assert api.patch(url, {"timezone": "Asia/Tokyo"}, format="json").status_code == 200
    _wait(
        lambda: Product.objects.get(pk=product.pk).recount_started_at is not None,
        seconds=60,
        what="the recount's start",
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    product.refresh_from_db()
    assert product.recounting, "the recount finished before the kill: more events are needed"

    # No worker: the product says so once the heartbeat is stale.
    _wait(
        lambda: api.get(url).json()["data"]["analytics"].get("recount") == "pending",
        seconds=STALE_SECONDS + 5,
        what="the pending state",
    )
    workers()
    waited = _wait(
        lambda: api.get(url).json()["data"]["analytics"]["state"] == "ready",
        seconds=RECOVERY_DEADLINE_SECONDS,
        what="the recount by the next worker",
    )
    print(f"recount finished {waited:.1f} s after the new worker started")
    _wait(lambda: not unfolded_events(product=product).exists(), seconds=60, what="the last fold")
    product.refresh_from_db()
    query = FeatureUsageQuery(product=product, date_from=BASE.date(), date_to=BASE.date() + timedelta(days=3))
    assert feature_usage(query) == naive_feature_usage(
        product=product, date_from=query.date_from, date_to=query.date_to
    )
