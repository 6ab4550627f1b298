"""deploy/nginx.conf sends POST /public/v1/event to the capture server, and everything else to gunicorn.

Real processes: the capture server (``manage.py capture``, one worker) on the test
database, and nginx with the shipped site file. No gunicorn runs: what nginx sends
there fails with its 502, which is how the test sees where each request went.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from events.models import Event
from tests.events.factories import ProductFactory
from tests.live.servers import NGINX, capture, gunicorn, nginx, server_env, unused_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the capture server runs on PostgreSQL"),
    pytest.mark.skipif(not Path(NGINX).exists() and shutil.which("nginx") is None, reason="nginx is not installed"),
]


def _database_url() -> str:
    database = settings.DATABASES["default"]
    user = database["USER"] or "postgres"
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    )


def _status(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_post_event_goes_to_the_capture_server_and_the_rest_to_gunicorn(org):
    product = ProductFactory(organization=org)
    capture_port, gunicorn_port, nginx_port = unused_port(), unused_port(), unused_port()
    env = server_env(DATABASE_URL=_database_url(), BEHIND_PROXY="1", LOG_LEVEL="ERROR")
    with tempfile.TemporaryDirectory(prefix="packedge-capture-nginx-") as name:
        directory = Path(name)
        with (
            capture(env, capture_port, workers=1),
            nginx(directory, nginx_port, upstream_port=gunicorn_port, capture_port=capture_port),
        ):
            url = f"http://127.0.0.1:{nginx_port}/public/v1/event"
            body = json.dumps({"public_key": product.public_key, "event": "export_pdf", "uuid": "via-nginx"}).encode()
            post = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            # The capture server's workers load Django after its port opens: the first answers may be 502.
            for _ in range(120):
                status, content = _status(post)
                if status != 502:
                    break
                time.sleep(0.5)
            preflight = urllib.request.Request(
                url,
                method="OPTIONS",
                headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
            )
            preflight_status, _ = _status(preflight)
            other_status, _ = _status(urllib.request.Request(f"http://127.0.0.1:{nginx_port}/v1/products"))

    assert (status, json.loads(content)) == (200, {"success": True})
    assert list(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["via-nginx"]
    assert preflight_status == other_status == 502  # gunicorn's upstream, where nothing listens here


def test_without_the_capture_server_gunicorn_stores_single_events(org):
    """The shipped file in a deployment that runs gunicorn alone (SQLite, or capture not started):
    the capture upstream refuses the connection and nginx passes the event to its backup, gunicorn."""
    product = ProductFactory(organization=org)
    capture_port, gunicorn_port, nginx_port = unused_port(), unused_port(), unused_port()
    env = server_env(DATABASE_URL=_database_url(), BEHIND_PROXY="1", LOG_LEVEL="ERROR")
    with tempfile.TemporaryDirectory(prefix="packedge-capture-nginx-") as name:
        directory = Path(name)
        with (
            gunicorn(env, gunicorn_port, workers=1, threads=2),
            nginx(directory, nginx_port, upstream_port=gunicorn_port, capture_port=capture_port),
        ):
            body = json.dumps({"public_key": product.public_key, "event": "export_pdf", "uuid": "via-backup"}).encode()
            post = urllib.request.Request(
                f"http://127.0.0.1:{nginx_port}/public/v1/event",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            status, content = _status(post)
            again, _ = _status(post)  # nginx has marked the capture server down: straight to gunicorn

    assert (status, json.loads(content)) == (200, {"success": True})
    assert again == 200
    # Stored once: the same uuid twice is one event (the batch endpoint's dedupe), and no request
    # reached a capture server, so none could have been stored by two servers.
    assert list(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["via-backup"]
