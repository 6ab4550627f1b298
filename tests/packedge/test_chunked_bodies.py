"""Chunked request bodies, through a real gunicorn: read whole, not as empty."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import requests

from tests.live.servers import django_script, gunicorn, migrate, server_env, unused_port

SEED = """
from tenancy import services
from tenancy.models import Plan
from events.models import Product
from tests.tenancy.factories import ensure_plans
ensure_plans()
org = services.organization_create(name="Chunked", plan=Plan.objects.get(slug="pro"))
print(Product.objects.create(organization=org, name="Desktop").public_key)
"""
COUNT = "from events.models import Event; print(Event.objects.count())"


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="packedge-chunked-") as directory:
        env = server_env(DATABASE_URL=f"sqlite:///{Path(directory) / 'db.sqlite3'}")
        migrate(env)
        public_key = django_script(env, SEED).strip()
        port = unused_port()
        with gunicorn(env, port, workers=1, threads=2):
            yield env, public_key, f"http://127.0.0.1:{port}"


def _chunks(body: bytes, size: int = 7):
    # A generator: requests sends it with Transfer-Encoding: chunked and no Content-Length.
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_event_is_stored(server):
    env, public_key, base = server
    body = json.dumps({"public_key": public_key, "event": "export_pdf"}).encode()
    response = requests.post(
        f"{base}/public/v1/event",
        data=_chunks(body),
        headers={"Content-Type": "application/json"},
        timeout=60,  # a first request on a loaded machine; the test is about the body, not speed
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert django_script(env, COUNT).strip() == "1"


def test_a_chunked_body_over_the_limit_is_still_refused_as_too_large(server):
    env, public_key, base = server
    body = json.dumps({"public_key": public_key, "events": [{"event": "x", "pad": "p" * 1100}] * 1000}).encode()
    response = requests.post(
        f"{base}/public/v1/events",
        data=_chunks(body, 65536),
        headers={"Content-Type": "application/json"},
        timeout=60,  # a first request on a loaded machine; the test is about the body, not speed
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
