"""Ingestion's fold request costs the shared cache at most one round trip per second per process."""

from __future__ import annotations

import uuid

import pytest
import redis

from analytics import tasks
from tests.core.test_ratelimit_redis import REDIS_URL, redis_available

pytestmark = pytest.mark.skipif(not redis_available(), reason=f"no Redis at {REDIS_URL}")


def test_a_burst_of_ingestions_asks_redis_once(db, settings, monkeypatch):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    monkeypatch.setattr(tasks, "_asked_at", -tasks.FOLD_DEBOUNCE_SECONDS)  # as in a fresh process
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{prefix}:1:{tasks.FOLD_DEBOUNCE_KEY}"

    tasks.fold_soon()
    assert client.exists(key)
    client.delete(key)  # were the next calls to reach Redis, the first of them would set it again

    for _ in range(50):
        tasks.fold_soon()
    assert not client.exists(key)
