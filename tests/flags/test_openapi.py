from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_documents_the_flags_api_and_seed_002s_body(client):
    schema = client.get("/v1/openapi.json").json()
    for path in [
        "/v1/projects",
        "/v1/projects/{project_id}/environments",
        "/v1/projects/{project_id}/flags/{flag_key}",
        "/v1/projects/{project_id}/flags/{flag_key}/environments/{environment_id}",
        "/v1/projects/{project_id}/environments/{environment_id}/sdk-keys/{prefix}",
    ]:
        assert path in schema["paths"], path
    usage = schema["paths"]["/v1/projects/{project_id}/flags/{flag_key}/usage"]["get"]
    assert {p["name"] for p in usage["parameters"]} >= {"environmentId", "from", "to"}
    assert set(schema["components"]["schemas"]["FlagUsage"]["properties"]) == {
        "flagKey",
        "environmentId",
        "from",
        "to",
        "clampedFrom",
        "rows",
        "countedThrough",  # beside seed 002's fields: docs/freshness.md
    }


def test_the_schema_documents_ofrep_exposure_and_the_sdk_count_buckets(client):
    schema = client.get("/v1/openapi.json").json()
    for path, method in [
        ("/ofrep/v1/evaluate/flags/{key}", "post"),
        ("/ofrep/v1/evaluate/flags", "post"),
        ("/ofrep/v1/configuration", "get"),
        ("/public/v1/flag-evaluations", "post"),
        ("/v1/projects/{project_id}/flags/{flag_key}/exposure", "get"),
        ("/v1/projects/{project_id}/unknown-flags", "get"),
        ("/ofrep/v1/track", "post"),
        ("/v1/projects/{project_id}/flags/{flag_key}/effect", "get"),
    ]:
        assert method in schema["paths"][path], path
    failure = schema["components"]["schemas"]["OfrepError"]
    assert set(failure["properties"]) == {"key", "errorCode", "errorDetails"}
    assert "FlagEvaluationBucket" in schema["components"]["schemas"]
    assert "health" in schema["components"]["schemas"]["FlagOutput"]["properties"]
