"""POST /public/v1/flag-evaluations: evaluation counts aggregated by an SDK."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from flags import recording, services
from flags.models import EvaluationBucket, EvaluationBucketCount, FlagActivityDay, Reason, UnknownFlagDay
from flags.rollup import delete_expired, rollup_run
from flags.selectors import utc_today
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

URL = "/public/v1/flag-evaluations"
YESTERDAY = utc_today() - timedelta(days=1)


@pytest.fixture
def setup(org):
    project = ProjectFactory(organization=org)
    production, raw_key = environment_with_key(project, "production")
    flag = boolean_flag(project, "new-checkout")
    return project, production, raw_key, flag


def send(raw_key: str | None, body, content_type="application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(URL, data, content_type=content_type, **headers)


def bucket(start: datetime | None = None, minutes: int = 60, counts=None, bucket_id: str | None = None) -> dict:
    start = start or datetime.combine(YESTERDAY, time(10), tzinfo=UTC)
    return {
        "id": bucket_id or str(uuid.uuid4()),
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "counts": counts
        if counts is not None
        else [
            {"flagKey": "new-checkout", "variant": "on", "value": True, "reason": "TARGETING_MATCH", "count": 5},
            {"flagKey": "new-checkout", "variant": "off", "value": False, "reason": "DEFAULT", "count": 2},
            {"flagKey": "new-checkout", "reason": "ERROR", "count": 1},
            {"flagKey": "ghost-flag", "variant": "x", "value": "x", "reason": "DEFAULT", "count": 3},
        ],
    }


def usage_rows(api, project, environment):
    response = api.get(
        f"/v1/projects/{project.public_id}/flags/new-checkout/usage", {"environmentId": environment.public_id}
    )
    return response.json()["rows"]


def test_counts_join_recorded_evaluations_in_the_same_daily_rollup(api, setup):
    project, production, raw_key, flag = setup
    response = send(raw_key, bucket())
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 4}
    recording.record(
        environment_id=production.pk,
        flag_id=flag.pk,
        value="true",
        reason=Reason.SPLIT,
        at=datetime.combine(YESTERDAY, time(12), tzinfo=UTC),
        variant="on",
        targeting_key="u1",
    )
    recording.flush()
    rollup_run(today=utc_today())
    # 5 + 2 + 1 from the SDK, 1 recorded; the ghost flag's 3 are not this flag's
    assert usage_rows(api, project, production) == [
        {
            "date": YESTERDAY.isoformat(),
            "totalEvaluations": 9,
            "valueDistribution": {"true": 6, "false": 2},
            "ruleMatchCount": 6,
            "defaultCount": 2,
            "errorCount": 1,
        }
    ]
    assert list(UnknownFlagDay.objects.values_list("key", "evaluations")) == [("ghost-flag", 3)]
    health = api.get(f"/v1/projects/{project.public_id}/flags/new-checkout").json()["data"]["health"]
    assert health[production.public_id]["evaluations7d"] == 9


def test_a_retried_bucket_is_acknowledged_and_counted_once(api, setup):
    project, production, raw_key, flag = setup
    body = bucket()
    assert send(raw_key, body).json() == {"success": True, "accepted": 4}
    assert send(raw_key, body).json() == {"success": True, "accepted": 4}
    rollup_run(today=utc_today())
    assert usage_rows(api, project, production)[0]["totalEvaluations"] == 8
    assert EvaluationBucket.objects.count() == 1
    assert FlagActivityDay.objects.filter(variant="on").get().evaluations == 5


def test_counts_name_their_bucket_and_leave_with_it_at_retention(setup):
    project, production, raw_key, flag = setup
    body = bucket()
    send(raw_key, body)
    assert set(EvaluationBucketCount.objects.values_list("bucket_id", flat=True)) == {uuid.UUID(body["id"])}
    delete_expired(today=YESTERDAY + timedelta(days=365))
    assert not EvaluationBucket.objects.exists()
    assert not EvaluationBucketCount.objects.exists()


def test_text_plain_bodies_are_accepted_as_sendbeacon_sends_them(setup):
    project, production, raw_key, flag = setup
    assert send(raw_key, json.dumps(bucket()), content_type="text/plain").status_code == 200


@pytest.mark.parametrize(
    "change, field",
    [
        (
            lambda b: b.update(
                start=(timezone.now() - timedelta(days=8)).isoformat(),
                end=(timezone.now() - timedelta(days=8)).isoformat(),
            ),
            "start",
        ),
        (
            lambda b: b.update(
                start=(timezone.now() + timedelta(hours=1)).isoformat(),
                end=(timezone.now() + timedelta(hours=1)).isoformat(),
            ),
            "start",
        ),
        (lambda b: b.update(end=(datetime.fromisoformat(b["start"]) + timedelta(minutes=61)).isoformat()), "end"),
        (lambda b: b.update(end=(datetime.fromisoformat(b["start"]) - timedelta(minutes=1)).isoformat()), "end"),
        (lambda b: b.update(id="not-a-uuid"), "id"),
        (lambda b: b.update(counts=[]), "counts"),
        (lambda b: b.update(counts=b["counts"] * 251), "counts"),
        (lambda b: b["counts"][1].update(count=0), "counts[1].count"),
        (lambda b: b["counts"][1].update(count=10**6 + 1), "counts[1].count"),
        (lambda b: b["counts"][1].update(count=True), "counts[1].count"),
        (lambda b: b["counts"][0].update(reason="UNKNOWN"), "counts[0].reason"),
        (lambda b: b["counts"][0].pop("variant"), "counts[0].variant"),
        (lambda b: b["counts"][0].pop("value"), "counts[0].value"),
        (lambda b: b["counts"][2].update(flagKey=""), "counts[2].flagKey"),
        (lambda b: b["counts"][3].update(flagKey="ghost\x00flag"), "counts[3].flagKey"),
        (lambda b: b["counts"][0].update(variant="on\x00"), "counts[0].variant"),
        (lambda b: b["counts"][3].update(value="x\x00"), "counts[3].value"),
    ],
)
def test_a_bad_bucket_is_refused_with_400_and_nothing_is_stored(setup, change, field):
    project, production, raw_key, flag = setup
    body = bucket()
    change(body)
    response = send(raw_key, body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert not EvaluationBucket.objects.exists()
    assert not EvaluationBucketCount.objects.exists()
    assert not FlagActivityDay.objects.exists()
    assert not UnknownFlagDay.objects.exists()


def test_it_refuses_bodies_that_are_not_json_objects(setup):
    project, production, raw_key, flag = setup
    assert send(raw_key, "[1, 2]").status_code == 400
    assert send(raw_key, "{not json").status_code == 400
    assert send(raw_key, "{}", content_type="application/xml").status_code == 415


def test_keys_are_checked_as_for_ofrep(setup, org):
    project, production, raw_key, flag = setup
    assert send(None, bucket()).status_code == 401
    assert send("sdk_unknown", bucket()).status_code == 401
    services.sdk_key_revoke(environment=production, prefix=production.sdk_keys.get().prefix)
    assert send(raw_key, bucket()).status_code == 403
    assert not EvaluationBucket.objects.exists()


def test_a_body_over_the_limit_is_413(setup):
    project, production, raw_key, flag = setup
    body = bucket()
    body["padding"] = "x" * (256 * 1024)
    assert send(raw_key, body).status_code == 413


def test_it_is_rate_limited_per_key(setup, settings):
    project, production, raw_key, flag = setup
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "flag_evaluations": "1/min"}
    cache.clear()
    assert send(raw_key, bucket()).status_code == 200
    response = send(raw_key, bucket())
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
