"""Fault test: PostgreSQL stops under OFREP load, and flag evaluation carries on.

A private cluster (tests/live/servers.py) and a real gunicorn; client threads
evaluate a flag for a few seconds, the cluster stops, they keep evaluating,
it starts again. Expected: only 200s for the flag that was loaded, a 503 in
OFREP's shape for an SDK key no worker ever loaded, and after recovery every
answered evaluation recorded exactly once. Run by `.ci/run` (``FAULT_TESTS=1
pytest -m fault``); it needs the PostgreSQL server binaries.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests

from tests.live.servers import django_script, gunicorn, manage, private_postgres, server_env

pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(not os.environ.get("FAULT_TESTS"), reason="a fault test: FAULT_TESTS=1 pytest -m fault"),
]

PG_PORT = 8451
HTTP_PORT = 8452
CLIENTS = 4
SEED = """
from tenancy import services
from tenancy.models import Plan
from flags import services as flags
from tests.tenancy.factories import ensure_plans
ensure_plans()
org = services.organization_create(name="Fault", plan=Plan.objects.get(slug="pro"))
project = flags.project_create(organization=org, name="Fault")
production, key = flags.environment_create(project=project, name="production")
staging, other_key = flags.environment_create(project=project, name="staging")
flags.flag_create(project=project, key="checkout", type="boolean", variants={"on": True, "off": False},
                  environments={production.public_id: {"enabled": True, "defaultVariant": "on"}})
print(key)
print(other_key)
"""


def _evaluate(session: requests.Session, key: str) -> requests.Response:
    return session.post(
        f"http://127.0.0.1:{HTTP_PORT}/ofrep/v1/evaluate/flags/checkout",
        json={"context": {"targetingKey": "user-1"}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


class Load:
    """Client threads evaluating as fast as they can; statuses counted per phase."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.phase = "up"
        self.statuses: dict[str, Counter] = {"up": Counter(), "down": Counter(), "back": Counter()}
        self.bodies: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(CLIENTS)]

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                phase = self.phase
                try:
                    response = _evaluate(session, self.key)
                    status, body = response.status_code, response.text
                except requests.RequestException as error:
                    status, body = 0, repr(error)
                with self._lock:
                    self.statuses[phase][status] += 1
                    if status != 200 and len(self.bodies) < 5:
                        self.bodies.append(f"{phase} {status} {body[:200]}")

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def _recorded(url: str) -> int:
    with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM flags_flagevaluation").fetchone()[0]


def test_postgresql_stops_under_ofrep_load_and_nothing_answered_is_lost(tmp_path):
    with private_postgres(PG_PORT) as cluster:
        env = server_env(
            DATABASE_URL=cluster.url,
            FLAG_CONFIG_CACHE_SECONDS="1",
            FLAG_STALE_SERVE_SECONDS="300",
            FLAG_RECORDING_FLUSH_MS="100",
            OFREP_RATE_LIMIT="100000/s",
            CONN_MAX_AGE="60",
            GUNICORN_LOG=str(tmp_path / "gunicorn.log"),
        )
        manage(env, "migrate", "--no-input", "-v0")
        key, never_loaded_key = django_script(env, SEED).split()
        with gunicorn(env, HTTP_PORT, workers=2, threads=4):
            with Load(key) as load:
                # Long enough for every worker to have loaded the configuration.
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and load.statuses["up"][200] < 400:
                    time.sleep(0.2)
                cluster.stop()
                load.phase = "down"
                time.sleep(5)
                # An SDK key no worker ever looked up: nothing to serve.
                unknown = _evaluate(requests.Session(), never_loaded_key)
                cluster.start()
                load.phase = "back"
                time.sleep(3)
            answered = sum(counter[200] for counter in load.statuses.values())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _recorded(cluster.url) < answered:
                time.sleep(0.5)
            recorded = _recorded(cluster.url)

    print({phase: dict(counter) for phase, counter in load.statuses.items()}, "recorded", recorded, load.bodies)
    assert load.statuses["up"][200] >= 400
    assert load.statuses["down"][200] > 100, load.statuses
    for phase, counter in load.statuses.items():
        assert set(counter) == {200}, (phase, counter, load.bodies)
    assert unknown.status_code == 503
    assert set(unknown.json()) == {"errorCode", "errorDetails"}
    assert unknown.headers["Retry-After"]
    assert recorded == answered
