"""The rate limiter on a real Redis (database 10): shared by processes, without a round trip per request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from lib.ratelimit import _shared_counts, rate_limit_flush, rate_limit_hit
from tests.live.servers import redis_available

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/10")
ROOT = Path(__file__).resolve().parents[2]

# Two processes, each sending HITS requests at once against one limit of ALLOWED per hour.
HITS_PER_PROCESS = 400
ALLOWED = 500
WORKER = """
import json, os, sys, time
import django
django.setup()
from lib.ratelimit import rate_limit_hit, rate_limit_flush
identity, hits, allowed, start_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
while time.time() < start_at:
    time.sleep(0.001)
admitted = sum(rate_limit_hit(scope="cluster", identity=identity, rate=allowed + "/h") is None for _ in range(hits))
rate_limit_flush()
print(json.dumps({"admitted": admitted}))
"""


pytestmark = pytest.mark.skipif(not redis_available(REDIS_URL), reason=f"no Redis at {REDIS_URL}")


@pytest.fixture
def redis_cache(settings):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    _shared_counts.clear()
    yield prefix
    _shared_counts.clear()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def stored_count(prefix: str, scope: str, identity: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*:rl:{scope}:{identity}:*"))
    return sum(int(client.get(key)) for key in keys)


def test_two_processes_share_one_limit_within_the_documented_overshoot(redis_cache):
    identity = uuid.uuid4().hex
    env = {
        **os.environ,
        "CACHE_URL": REDIS_URL,
        "SECRET_KEY": "test-only-secret",
        "DJANGO_SETTINGS_MODULE": "packedge.settings",
    }
    env.pop("DATABASE_URL", None)
    start_at = f"{time.time() + 2.0:.3f}"  # both start together, after Django has loaded
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, identity, str(HITS_PER_PROCESS), str(ALLOWED), start_at],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1])["admitted"])

    # 800 requests against 500 allowed: alone, each process would have admitted all of its 400.
    # Together at most 500 + 2 processes × 1 % of 500 (RATE_LIMIT_LOCAL_SHARE): 510.
    assert ALLOWED <= sum(results) <= ALLOWED + 2 * 5
    # Every request reached the shared count, refused ones included.
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"*:rl:cluster:{identity}:*"))
    assert sum(int(client.get(key)) for key in keys) == 2 * HITS_PER_PROCESS
    for key in keys:
        client.delete(key)


def test_a_process_counts_locally_until_its_share_is_used(redis_cache, settings):
    settings.RATE_LIMIT_SYNC_SECONDS = 60  # only the count may trigger an exchange here
    identity = uuid.uuid4().hex
    for _ in range(9):
        assert rate_limit_hit(scope="ingest", identity=identity, rate="1000/h") is None
    # 1 % of 1000 is 10: nine requests have not cost a single round trip yet.
    assert stored_count(redis_cache, "ingest", identity) == 0

    assert rate_limit_hit(scope="ingest", identity=identity, rate="1000/h") is None
    assert stored_count(redis_cache, "ingest", identity) == 10  # the tenth sent all ten at once


def test_a_small_limit_is_exact(redis_cache):
    identity = uuid.uuid4().hex
    # 1 % of 5 rounds down to nothing: every request is sent, as sign-in throttling needs.
    answers = [rate_limit_hit(scope="login", identity=identity, rate="5/15min") for _ in range(7)]
    assert answers[:5] == [None] * 5
    assert all(wait is not None and wait > 0 for wait in answers[5:])
    assert stored_count(redis_cache, "login", identity) == 7


def test_it_counts_what_another_process_already_sent(redis_cache):
    identity = uuid.uuid4().hex
    client = redis.Redis.from_url(REDIS_URL)
    window = 3600
    key = f"{redis_cache}:1:rl:login:{identity}:{window}:{int(time.time() // window)}"
    client.set(key, 5, ex=window)  # another process used the whole allowance

    assert rate_limit_hit(scope="login", identity=identity, rate="5/h") is not None


def test_an_unreachable_redis_never_fails_a_request(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/10"}
    }
    _shared_counts.clear()
    try:
        identity = uuid.uuid4().hex
        # Counted in this process alone: the limit still holds per process.
        answers = [rate_limit_hit(scope="login", identity=identity, rate="3/h") for _ in range(5)]
        assert answers[:3] == [None] * 3
        assert answers[3] is not None
        rate_limit_flush()
    finally:
        _shared_counts.clear()


def test_past_the_limit_refusals_cost_no_round_trip_each(redis_cache, settings):
    settings.RATE_LIMIT_SYNC_SECONDS = 60
    identity = uuid.uuid4().hex
    client = redis.Redis.from_url(REDIS_URL)
    window = 3600
    key = f"{redis_cache}:1:rl:ingest:{identity}:{window}:{int(time.time() // window)}"
    client.set(key, 1000, ex=window)  # other processes used the whole allowance

    # This process learns it at its first exchange, after 1 % of 1000 = 10 requests (the bounded overshoot).
    answers = [rate_limit_hit(scope="ingest", identity=identity, rate="1000/h") for _ in range(10)]
    assert answers[:9] == [None] * 9 and answers[9] is not None
    assert int(client.get(key)) == 1010

    # Now over: nine more refusals stay local; the tenth sends all ten at once.
    for _ in range(9):
        assert rate_limit_hit(scope="ingest", identity=identity, rate="1000/h") is not None
    assert int(client.get(key)) == 1010
    assert rate_limit_hit(scope="ingest", identity=identity, rate="1000/h") is not None
    assert int(client.get(key)) == 1020
