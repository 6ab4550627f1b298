"""While the database is unreachable, OFREP answers from the configuration it last loaded.

The outage is the database driver refusing every connection (Django's
``ensure_connection`` raising ``OperationalError``), in this process; the
fault test (tests/flags/test_ofrep_fault.py) stops a real PostgreSQL under load.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from flags import ofrep_auth, recording
from flags.models import FlagEvaluation
from tests.flags.factories import boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    """Call it to cut the database off; the test's own transaction stays, untouched, for the checks after."""

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused (test outage)")

    def cut():
        monkeypatch.setattr(connection, "ensure_connection", refuse)

    yield cut
    monkeypatch.undo()
    ofrep_auth.database_marked_up()


@pytest.fixture
def configured(project, settings):
    settings.FLAG_CONFIG_CACHE_SECONDS = 0  # every lookup has expired at once: only stale serving can answer
    environment, key = environment_with_key(project, "production")
    other_environment, other_key = environment_with_key(project, "staging")
    flag = boolean_flag(
        project, "new-checkout", environments={environment.public_id: {"enabled": True, "defaultVariant": "on"}}
    )
    return environment, key, other_key, flag


def evaluate(client, key, flag_key="new-checkout"):
    return client.post(
        f"/ofrep/v1/evaluate/flags/{flag_key}",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def test_a_loaded_configuration_keeps_answering_and_recording_while_the_database_is_down(
    client, configured, database_down
):
    environment, key, _, flag = configured
    assert evaluate(client, key).json()["value"] is True  # loaded once
    database_down()
    for _ in range(3):
        response = evaluate(client, key)
        assert response.status_code == 200
        assert response.json() == {
            "key": "new-checkout",
            "value": True,
            "variant": "on",
            "reason": "STATIC",
            "metadata": {},
        }
    bulk = client.post(
        "/ofrep/v1/evaluate/flags", data="{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert bulk.status_code == 200
    assert recording.flush() == 0  # the write failed: the rows wait in memory
    assert recording.recorder.pending() == 5


def test_the_rows_kept_during_the_outage_are_written_after_it(client, configured, monkeypatch):
    environment, key, _, flag = configured
    assert evaluate(client, key).status_code == 200

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused (test outage)")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    assert evaluate(client, key).status_code == 200
    assert evaluate(client, key).status_code == 200
    assert recording.flush() == 0
    monkeypatch.undo()  # the database is back
    ofrep_auth.database_marked_up()
    # Written once, by this flush or by the recorder's own flush thread if it came first.
    assert recording.flush() in (0, 3)
    assert FlagEvaluation.objects.filter(environment=environment, flag=flag).count() == 3


def test_a_key_never_loaded_gets_a_503_in_ofreps_shape(client, configured, database_down):
    _, key, other_key, _ = configured
    assert evaluate(client, key).status_code == 200
    database_down()
    response = evaluate(client, other_key)
    assert response.status_code == 503
    assert set(response.json()) == {"errorCode", "errorDetails"}
    assert response.json()["errorCode"] == "GENERAL"
    assert int(response["Retry-After"]) > 0


def test_past_flag_stale_serve_seconds_it_stops_serving(client, configured, database_down, settings):
    _, key, _, _ = configured
    assert evaluate(client, key).status_code == 200
    settings.FLAG_STALE_SERVE_SECONDS = 0
    database_down()
    response = evaluate(client, key)
    assert response.status_code == 503
    assert response.json()["errorCode"] == "GENERAL"


def test_the_v1_api_keeps_its_own_503_shape(api, database_down):
    database_down()
    response = api.get("/v1/projects")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
