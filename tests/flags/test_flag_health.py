"""Flag health on the flag objects of GET /v1/projects/{id}/flags and …/flags/{key}."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from flags import recording
from flags.models import Flag, FlagActivityDay, Reason
from tests.flags.factories import boolean_flag

pytestmark = pytest.mark.django_db


def served(environment, flag, variant: str | None, when: datetime, n: int = 1):
    for _ in range(n):
        recording.record(
            environment_id=environment.pk,
            flag_id=flag.pk,
            value=None if variant is None else variant,
            reason=Reason.ERROR if variant is None else Reason.DEFAULT,
            at=when,
            variant=variant,
        )


def created_days_ago(flag, days: int):
    Flag.objects.filter(pk=flag.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_each_flag_shows_its_status_per_environment_with_the_reason(api, project, production, staging):
    now = timezone.now()
    boolean_flag(project, "fresh")  # created now, never evaluated
    forgotten = boolean_flag(project, "forgotten")
    created_days_ago(forgotten, 10)  # never evaluated, 10 days old
    retired = boolean_flag(project, "retired")
    created_days_ago(retired, 60)
    served(production, retired, "on", now - timedelta(days=40))  # last evaluated 40 days ago
    settled = boolean_flag(project, "settled")
    created_days_ago(settled, 60)
    served(production, settled, "on", now - timedelta(days=3), n=2)  # only "on" for 30 days
    served(production, settled, "off", now - timedelta(days=35))  # "off" is older than 30 days
    busy = boolean_flag(project, "busy")
    created_days_ago(busy, 60)
    served(production, busy, "on", now)
    served(production, busy, "off", now - timedelta(days=10), n=2)  # outside the 7 days, inside the 30
    recording.flush()

    flags = {f["key"]: f["health"] for f in api.get(f"/v1/projects/{project.public_id}/flags").json()["data"]}
    env = production.public_id
    assert flags["fresh"][env] == {
        "status": "new",
        "reason": "Created under 7 days ago and not evaluated yet.",
        "lastEvaluatedAt": None,
        "evaluations7d": 0,
    }
    assert flags["forgotten"][env]["status"] == "unused"
    assert flags["forgotten"][env]["reason"] == "Never evaluated."
    assert flags["retired"][env]["status"] == "unused"
    assert flags["retired"][env]["reason"].startswith("No evaluation in 30 days")
    assert flags["retired"][env]["lastEvaluatedAt"] is not None
    assert flags["settled"][env] == {
        "status": "stale",
        "reason": "Every evaluation of the last 30 days served 'on'.",
        "lastEvaluatedAt": flags["settled"][env]["lastEvaluatedAt"],
        "evaluations7d": 2,
    }
    assert flags["busy"][env]["status"] == "active"
    assert flags["busy"][env]["evaluations7d"] == 1
    assert datetime.fromisoformat(flags["busy"][env]["lastEvaluatedAt"]) == now
    # Staging saw nothing: the old flags are unused there, the fresh one new.
    assert flags["busy"][staging.public_id]["status"] == "unused"
    assert flags["fresh"][staging.public_id]["status"] == "new"


def test_a_single_flag_carries_its_health_too(api, project, production):
    flag = boolean_flag(project, "one")
    served(production, flag, "on", timezone.now())
    recording.flush()
    body = api.get(f"/v1/projects/{project.public_id}/flags/one").json()["data"]
    assert body["health"][production.public_id]["status"] == "stale"
    assert body["health"][production.public_id]["evaluations7d"] == 1


def test_errors_count_as_evaluations_but_serve_no_variant(api, project, production):
    flag = boolean_flag(project, "broken")
    served(production, flag, None, timezone.now(), n=3)
    recording.flush()
    health = api.get(f"/v1/projects/{project.public_id}/flags/broken").json()["data"]["health"][production.public_id]
    assert health["status"] == "active"
    assert health["evaluations7d"] == 3
    assert FlagActivityDay.objects.get().variant == ""
