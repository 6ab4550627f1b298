"""The real worker: `python manage.py worker` against Redis and this test's PostgreSQL database.

Two workers at once (one with the beat, one without) fold what ingestion sends;
nothing is lost and nothing is counted twice. Skipped on SQLite (a subprocess
cannot see the test database) and without Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from analytics.counters import unfolded_events
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from analytics.models import FeatureDayCounter
from events.models import Event
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import LicenseFactory, ProductFactory
from tests.live import servers

REDIS_URL = os.environ.get("WORKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
ROOT = Path(__file__).resolve().parents[2]
BASE = datetime(2026, 3, 2, tzinfo=UTC)
FOLD_DEADLINE_SECONDS = 60

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers():
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess needs a database it can share: PostgreSQL")
    if not servers.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # our database number only: stale test messages
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
            f"/{settings_dict['NAME']}"
        ),
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": "test-only-secret",
        "CONN_MAX_AGE": "0",
    }
    started = []

    def start(*options: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", "1", "--loglevel", "INFO", *options],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    redis.Redis.from_url(REDIS_URL).flushdb()


def wait_until_folded(product) -> None:
    deadline = time.monotonic() + FOLD_DEADLINE_SECONDS
    while unfolded_events(product=product).exists():
        assert time.monotonic() < deadline, "the workers did not fold within the deadline"
        time.sleep(0.2)


def test_two_workers_fold_everything_ingested_exactly_once(org, workers):
    product = ProductFactory(organization=org, timezone="Europe/Berlin")
    licenses = [LicenseFactory(product=product) for _ in range(4)]
    workers("--hostname", "beat@%h")
    workers("--hostname", "plain@%h", "--no-beat")
    sent = 0
    for round_number in range(12):  # ingestion continues while both workers fold
        Event.objects.bulk_create(
            Event(
                product=product,
                event="export_pdf" if n % 3 else "dashboard_view",
                license=licenses[n % 4] if n % 5 else None,
                domain=f"d{n % 7}.com",
                occurred_at=BASE + timedelta(hours=round_number * 5 + n % 5),
            )
            for n in range(250)
        )
        sent += 250
        time.sleep(0.25)
    wait_until_folded(product)
    assert FeatureDayCounter.objects.filter(product=product).aggregate(n=Sum("count"))["n"] == sent
    query = FeatureUsageQuery(product=product, date_from=BASE.date(), date_to=BASE.date() + timedelta(days=3))
    assert feature_usage(query) == naive_feature_usage(
        product=product, date_from=query.date_from, date_to=query.date_to
    )


def test_a_time_zone_change_is_recounted_by_the_worker(org, api, workers):
    product = ProductFactory(organization=org, timezone="UTC")
    Event.objects.bulk_create(
        Event(product=product, event="export_pdf", occurred_at=BASE + timedelta(hours=n)) for n in range(48)
    )
    workers()
    wait_until_folded(product)
    response = api.patch(f"/v1/products/{product.public_id}", {"timezone": "Asia/Tokyo"}, format="json")
    assert response.status_code == 200
    deadline = time.monotonic() + FOLD_DEADLINE_SECONDS
    while api.get(f"/v1/products/{product.public_id}").json()["data"]["analytics"]["state"] != "ready":
        assert time.monotonic() < deadline, "the worker did not recount within the deadline"
        time.sleep(0.2)
    product.refresh_from_db()
    usage = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage?from=2026-03-02&to=2026-03-04").json()[
        "data"
    ]
    # 48 hourly events from 03-02 00:00 UTC are 09:00 03-02 … 08:00 03-04 in Tokyo: 15, 24, 9.
    assert usage["topFeatures"][0]["sparkline"] == [15, 24, 9]
