"""GET /v1/projects/{id}/unknown-flags: keys evaluated but not defined (FLAG_NOT_FOUND)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from flags import recording
from flags.models import UnknownFlagDay
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


def sdk_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def evaluate(client, key):
    return client.post(f"/ofrep/v1/evaluate/flags/{key}", {"context": {"targetingKey": "u1"}}, format="json")


def test_it_lists_undefined_keys_most_evaluated_first_per_environment(api, org):
    project = ProjectFactory(organization=org)
    production, production_key = environment_with_key(project, "production")
    staging, staging_key = environment_with_key(project, "staging")
    boolean_flag(project, "defined")
    prod, stage = sdk_client(production_key), sdk_client(staging_key)
    for key in ["typo", "nope", "nope", "later", "defined"]:
        evaluate(prod, key)
    evaluate(stage, "staging-only")
    recording.flush()
    boolean_flag(project, "later")  # defined since: no longer unknown
    UnknownFlagDay.objects.create(  # 31 days ago: outside the window
        environment=production,
        key="ancient",
        day=timezone.now().date() - timedelta(days=31),
        evaluations=50,
        last_seen_at=timezone.now() - timedelta(days=31),
    )
    response = api.get(f"/v1/projects/{project.public_id}/unknown-flags", {"environmentId": production.public_id})
    assert response.status_code == 200
    assert response.json()["nextCursor"] is None
    data = response.json()["data"]
    assert [(row["key"], row["evaluations"]) for row in data] == [("nope", 2), ("typo", 1)]
    assert data[0]["lastSeenAt"].endswith("Z")


def test_it_needs_an_environment_of_the_project(api, outsider_api, org):
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    url = f"/v1/projects/{project.public_id}/unknown-flags"
    assert api.get(url).status_code == 400
    other = environment_with_key(ProjectFactory(organization=org), "production")[0]
    assert api.get(url, {"environmentId": other.public_id}).status_code == 404
    assert outsider_api.get(url, {"environmentId": production.public_id}).status_code == 404


def test_a_key_that_could_never_be_defined_is_not_stored_and_nul_in_context_keys_is_dropped(org):
    from flags.models import FlagEvaluation

    project = ProjectFactory(organization=org)
    production, raw_key = environment_with_key(project, "production")
    boolean_flag(project, "defined")
    client = sdk_client(raw_key)
    assert evaluate(client, "bad%00key").status_code == 404
    client.post(
        "/ofrep/v1/evaluate/flags/defined",
        {"context": {"targetingKey": "u\x001", "licenseKey": "LIC\x00"}},
        format="json",
    )
    recording.flush()
    assert not UnknownFlagDay.objects.exists()
    assert list(FlagEvaluation.objects.values_list("targeting_key", "license_key")) == [("u1", "LIC")]
