"""Redis down (issue 25): what does not need it succeeds, what does answers 503, a change made meanwhile is carried out.

A real redis-server on a private port (REDIS_FAULT_PORT, 8291), started and then
stopped: the cache and the Celery broker point at it, so every client call meets
a refused connection, as in production when Redis goes away. Skipped without
redis-server.
"""

from __future__ import annotations

import json
import os

import pytest
from django.test import RequestFactory, override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from analytics.tasks import sweep_abandoned_recounts
from events.models import Event, Product
from lib.middleware import DatabaseUnavailableMiddleware
from packedge.celery import app as celery_app
from tests.events.factories import ProductFactory
from tests.live.servers import celery_publishing_to, port_free, private_redis

PORT = int(os.environ.get("REDIS_FAULT_PORT", "8291"))
REDIS_URL = f"redis://127.0.0.1:{PORT}/0"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def redis_gone(tmp_path):
    """A Redis that answered once and is now stopped: the cache and the broker point at it."""
    import redis

    with private_redis(PORT, tmp_path):
        redis.Redis.from_url(REDIS_URL).ping()
    assert port_free(PORT)
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Bounded publishing: a refused broker fails the publish within a second or so.
    bounded = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
    with celery_publishing_to(REDIS_URL, broker_transport_options=bounded, task_publish_retry_policy=bounded):
        with override_settings(CACHES=caches):
            from django.core.cache import caches as django_caches

            django_caches._settings = None  # noqa: SLF001 (re-read CACHES in this thread)
            yield


def test_console_sign_in_works_with_redis_down(client, owner, redis_gone):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).status_code == 200


def test_a_wrong_password_with_redis_down_is_refused_not_500(client, owner, redis_gone):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200  # the form again, with its error


@pytest.mark.django_db(transaction=True)  # the enqueue runs on commit: a real commit
def test_a_time_zone_change_with_redis_down_answers_200_and_is_recounted_when_redis_returns(api, org, redis_gone):
    product = ProductFactory(organization=org, timezone="UTC")
    url = f"/v1/products/{product.public_id}"
    response = api.patch(url, {"timezone": "Europe/Paris"}, format="json")
    assert response.status_code == 200
    analytics = response.json()["data"]["analytics"]
    assert {key: analytics[key] for key in ("state", "progressPct", "recount")} == {
        "state": "recounting",
        "progressPct": 0,
        "recount": "pending",
    }
    # Redis returns (tasks run again); the beat's sweep finds the recount no worker took.
    celery_app.conf.task_always_eager = True
    with override_settings(RECOUNT_STALE_SECONDS=0):
        assert sweep_abandoned_recounts() == 1
    assert Product.objects.get(pk=product.pk).recounting is False
    assert api.get(url).json()["data"]["analytics"]["state"] == "ready"


@pytest.mark.django_db(transaction=True)
def test_ingestion_with_redis_down_answers_200_and_stores_each_event_once(client, org, redis_gone):
    product = ProductFactory(organization=org)
    for n in range(3):
        body = json.dumps({"public_key": product.public_key, "event": f"no-uuid-{n}"})
        response = client.post("/public/v1/event", body, content_type="application/json")
        assert response.status_code == 200, response.content
    body = json.dumps({"public_key": product.public_key, "event": "with-uuid", "uuid": "u-1"})
    assert client.post("/public/v1/event", body, content_type="application/json").status_code == 200
    assert sorted(Event.objects.filter(product=product).values_list("event", flat=True)) == [
        "no-uuid-0",
        "no-uuid-1",
        "no-uuid-2",
        "with-uuid",
    ]


def test_what_needs_redis_answers_503_with_retry_after():
    def needs_redis(request):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:8291. Connection refused.")

    middleware = DatabaseUnavailableMiddleware(needs_redis)
    request = RequestFactory().get("/v1/products")
    try:
        needs_redis(request)
    except RedisConnectionError as exception:
        response = middleware.process_exception(request, exception)
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert json.loads(response.content)["error"]["code"] == "service_unavailable"


def test_a_broker_that_is_down_answers_503_too():
    from kombu.exceptions import OperationalError

    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = RequestFactory().post("/public/v1/event")
    response = middleware.process_exception(request, OperationalError("Connection refused"))
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "error": {"code": "service_unavailable", "message": "A backing service (Redis) is unavailable; retry later."},
        "success": False,
    }
