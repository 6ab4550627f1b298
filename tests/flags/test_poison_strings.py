"""Strings the database cannot store (lone UTF-16 surrogates): refused at the door, never a lost batch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from flags import recording
from flags.models import EvaluationBucket, FlagActivityDay, FlagEvaluation, Reason
from flags.recording import Recorder
from flags.selectors import utc_today
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

LONE = "\ud800"


@pytest.fixture
def keyed(org):
    project = ProjectFactory(organization=org)
    environment, raw_key = environment_with_key(project, "production")
    flag = boolean_flag(project, "new-checkout", {environment.public_id: {"enabled": True, "defaultVariant": "on"}})
    return environment, raw_key, flag


def sdk(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def evaluate(client, context):
    # json.dumps escapes the lone surrogate as \ud800: valid JSON that Python decodes to an unencodable str
    return client.post(
        "/ofrep/v1/evaluate/flags/new-checkout", json.dumps({"context": context}), content_type="application/json"
    )


@pytest.mark.parametrize(
    "context, field",
    [
        ({"targetingKey": f"user-{LONE}"}, "context.targetingKey"),
        ({"targetingKey": "u1", "licenseKey": LONE}, "context.licenseKey"),
        ({"targetingKey": "u1", "team": {"name": f"x{LONE}"}}, "context.team.name"),
        ({"targetingKey": "u1", f"k{LONE}": 1}, "context"),
    ],
)
def test_a_lone_surrogate_in_the_context_is_a_400_naming_the_field(keyed, context, field):
    environment, raw_key, flag = keyed
    response = evaluate(sdk(raw_key), context)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_CONTEXT"
    assert response.json()["errorDetails"].startswith(f"{field}:")


def test_poison_between_good_evaluations_never_costs_a_good_one_its_record(keyed):
    environment, raw_key, flag = keyed
    client = sdk(raw_key)
    answered = {200: 0, 400: 0}
    for i in range(30):
        poison = i % 3 == 1
        response = evaluate(client, {"targetingKey": f"user-{i}{LONE if poison else ''}"})
        answered[response.status_code] += 1
    bulk = client.post(
        "/ofrep/v1/evaluate/flags", json.dumps({"context": {"targetingKey": LONE}}), content_type="application/json"
    )
    assert bulk.status_code == 400
    assert answered == {200: 20, 400: 10}
    recording.flush()
    # every 200 is recorded with its key; a refused request is recorded as an error, without the poison
    served = FlagEvaluation.objects.exclude(reason=Reason.ERROR)
    assert served.count() == 20
    assert set(served.values_list("targeting_key", flat=True)) == {f"user-{i}" for i in range(30) if i % 3 != 1}
    assert FlagEvaluation.objects.filter(reason=Reason.ERROR, targeting_key="").count() == 10
    assert recording.recorder.pending() == 0


def test_one_row_that_cannot_be_written_never_fails_its_neighbours(keyed):
    """Whatever slips past the parsers: the batch is split until the bad row is alone, and only it is dropped."""
    environment, raw_key, flag = keyed
    recorder = Recorder()
    recorder.mode = "manual"
    at = datetime.now(UTC)
    for i in range(9):
        recorder.record(
            environment_id=environment.pk,
            flag_id=flag.pk,
            value="true",
            reason=Reason.DEFAULT,
            at=at,
            variant="on",
            targeting_key=f"u{i}{LONE if i == 4 else ''}",
        )
    assert recorder.flush() == 8
    assert (recorder.pending(), recorder.rejected, recorder.dropped) == (0, 1, 0)
    assert sorted(FlagEvaluation.objects.values_list("targeting_key", flat=True)) == [
        f"u{i}" for i in range(9) if i != 4
    ]
    # the live counters count the written rows only: 8, not 9
    assert FlagActivityDay.objects.get().evaluations == 8


def test_a_database_outage_still_keeps_the_whole_batch(keyed, monkeypatch):
    from django.db import OperationalError

    environment, raw_key, flag = keyed
    recorder = Recorder()
    recorder.mode = "manual"
    calls = []

    def down(rows, unknown):
        calls.append(len(rows))
        raise OperationalError("connection refused")

    monkeypatch.setattr(recorder, "_write", down)
    for _ in range(4):
        recorder.record(
            environment_id=environment.pk, flag_id=flag.pk, value="x", reason=Reason.DEFAULT, at=datetime.now(UTC)
        )
    assert recorder.flush() == 0
    # one attempt, not one per row: an outage is not a bad row
    assert calls == [4]
    assert (recorder.pending(), recorder.rejected) == (4, 0)


def bucket_body(value) -> str:
    start = datetime.combine(utc_today() - timedelta(days=1), time(10), tzinfo=UTC)
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=5)).isoformat(),
            "counts": [
                {"flagKey": "new-checkout", "variant": "on", "value": True, "reason": "DEFAULT", "count": 1},
                {"flagKey": "new-checkout", "variant": "on", "value": value, "reason": "DEFAULT", "count": 1},
            ],
        }
    )


@pytest.mark.parametrize("value", [f"x{LONE}", {"k": LONE}, {LONE: 1}, [LONE]])
def test_a_bucket_value_with_a_lone_surrogate_is_a_400_not_a_500(keyed, value):
    environment, raw_key, flag = keyed
    response = Client().post(
        "/public/v1/flag-evaluations",
        bucket_body(value),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("counts[1].value:")
    assert not EvaluationBucket.objects.exists()
    assert not FlagActivityDay.objects.exists()
