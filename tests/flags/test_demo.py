from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from flags.models import FlagEvaluation, FlagUsageDay

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_flags_project_with_rolled_up_evaluations_and_a_working_sdk_key():
    out = StringIO()
    call_command("demo", "--no-progress", stdout=out)
    lines = out.getvalue().splitlines()
    api_key = next(line for line in lines if line.startswith("API key")).split(": ")[1]
    sdk_line = next(line for line in lines if line.startswith("Flags SDK key (Demo Shop, production"))
    sdk_key = sdk_line.split(": ")[1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    project = api.get("/v1/projects").json()["data"][0]
    environments = api.get(f"/v1/projects/{project['id']}/environments").json()["data"]
    assert [e["name"] for e in environments] == ["production", "staging"]
    flags = api.get(f"/v1/projects/{project['id']}/flags").json()["data"]
    assert {f["type"] for f in flags} == {"boolean", "string", "number", "object"}
    production = environments[0]["id"]
    usage = api.get(f"/v1/projects/{project['id']}/flags/new-checkout/usage?environmentId={production}").json()
    assert len(usage["rows"]) >= 25  # the default 30-day window, today not rolled up yet
    assert all(
        r["ruleMatchCount"] + r["defaultCount"] + r["errorCount"] == r["totalEvaluations"] for r in usage["rows"]
    )
    assert sum(FlagUsageDay.objects.values_list("total_evaluations", flat=True)) == FlagEvaluation.objects.count()
    # Linked to a product: exposure names licenses, and health is there for every flag
    assert project["productId"].startswith("prd_")
    exposure = api.get(f"/v1/projects/{project['id']}/flags/new-checkout/exposure?environmentId={production}").json()
    assert exposure["totals"]["licenses"] > 0 and exposure["licenses"]["data"]
    assert all(f["health"][production]["status"] in {"active", "stale"} for f in flags)
    sdk = APIClient()
    sdk.credentials(HTTP_AUTHORIZATION=f"Bearer {sdk_key}")
    response = sdk.post(
        "/ofrep/v1/evaluate/flags/new-checkout", {"context": {"targetingKey": "u", "plan": "pro"}}, format="json"
    )
    assert response.json()["reason"] == "TARGETING_MATCH"
