"""Real answers of the main GET endpoints validate against the served /v1/openapi.json (jsonschema).

The data is made the way a customer makes it — the /v1 API, ingestion over HTTP,
OFREP evaluations with an SDK key, the nightly rollup — so every list answered
holds rows and every nested schema is exercised. A field the code adds, renames
or retypes without its schema fails here (tests/packedge/openapi_validation.py).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from flags import recording
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.packedge.openapi_validation import AnswerValidator

pytestmark = pytest.mark.django_db

TODAY = utc_today()
DAY = (TODAY - timedelta(days=2)).isoformat()


@pytest.fixture
def validator(client) -> AnswerValidator:
    return AnswerValidator(client.get("/v1/openapi.json").json())


@pytest.fixture
def world(api, client) -> dict:
    """A product with two licenses and events, a linked project with a flag evaluated by both, rolled up."""
    product = api.post("/v1/products", {"name": "Shop plugin"}, format="json").json()["data"]
    licenses = [
        api.post(
            f"/v1/products/{product['id']}/licenses",
            {"key": key, "customerEmail": f"{key.lower()}@example.com", "maxSites": 1},
            format="json",
        ).json()["data"]
        for key in ("LIC-A", "LIC-B")
    ]
    events = [
        {"event": "export_pdf", "license_key": "LIC-A", "site": "a.example", "timestamp": f"{DAY}T09:00:00Z"},
        {"event": "export_pdf", "license_key": "LIC-A", "site": "b.example", "timestamp": f"{DAY}T10:00:00Z"},
        {"event": "feature_used", "properties": {"feature": "reports"}, "license_key": "LIC-B"},
        {
            "event": "product.installed",
            "site": "a.example",
            "license_key": "LIC-A",
            "properties": {"env": {"php": "8.2"}},
        },
        {
            "event": "product.uninstalled",
            "site": "c.example",
            "timestamp": f"{DAY}T11:00:00Z",
            "properties": {"reason": "too_expensive", "feedback": "Costs too much"},
        },
    ]
    body = json.dumps({"public_key": product["publicKey"], "events": events})
    assert client.post("/public/v1/events", data=body, content_type="application/json").status_code == 200

    project = api.post("/v1/projects", {"name": "Web"}, format="json").json()["data"]
    api.patch(f"/v1/projects/{project['id']}", {"productId": product["id"]}, format="json")
    environment = api.post(f"/v1/projects/{project['id']}/environments", {"name": "production"}, format="json")
    environment = environment.json()["data"]
    flag = {
        "key": "new-checkout",
        "type": "boolean",
        "variants": {"on": True, "off": False},
        "environments": {environment["id"]: {"enabled": True, "defaultVariant": "on"}},
    }
    assert api.post(f"/v1/projects/{project['id']}/flags", flag, format="json").status_code == 201
    sdk = {"HTTP_AUTHORIZATION": f"Bearer {environment['sdkKey']}"}
    for key, context in [("new-checkout", {"targetingKey": "LIC-A"}), ("new-checkout", {"targetingKey": "u2"})]:
        answer = client.post(
            f"/ofrep/v1/evaluate/flags/{key}", data={"context": context}, content_type="application/json", **sdk
        )
        assert answer.status_code == 200
    client.post(
        "/ofrep/v1/evaluate/flags/not-defined",
        data={"context": {"targetingKey": "u3"}},
        content_type="application/json",
        **sdk,
    )
    recording.flush()
    rollup_run(today=TODAY + timedelta(days=1))
    return {"product": product, "licenses": licenses, "project": project, "environment": environment}


def _main_gets(world) -> list[tuple[str, str]]:
    """(documented path, concrete URL) for the main GET endpoints."""
    product, project, environment = world["product"]["id"], world["project"]["id"], world["environment"]["id"]
    license = world["licenses"][0]["id"]
    window = f"from={(TODAY - timedelta(days=6)).isoformat()}&to={TODAY.isoformat()}"
    flag_window = f"environmentId={environment}&{window}"
    return [
        ("/v1/products", "/v1/products"),
        ("/v1/products/{product_id}", f"/v1/products/{product}"),
        ("/v1/products/{product_id}/licenses", f"/v1/products/{product}/licenses"),
        ("/v1/products/{product_id}/licenses/{license_id}", f"/v1/products/{product}/licenses/{license}"),
        ("/v1/products/{product_id}/analytics/feature-usage", f"/v1/products/{product}/analytics/feature-usage"),
        (
            "/v1/products/{product_id}/licenses/{license_id}/usage",
            f"/v1/products/{product}/licenses/{license}/usage?{window}",
        ),
        (
            "/v1/products/{product_id}/licenses/{license_id}/flags",
            f"/v1/products/{product}/licenses/{license}/flags?{window}",
        ),
        (
            "/v1/products/{product_id}/analytics/features/{name}/licenses",
            f"/v1/products/{product}/analytics/features/export_pdf/licenses?used=true",
        ),
        ("/v1/products/{product_id}/analytics/license-sharing", f"/v1/products/{product}/analytics/license-sharing"),
        ("/v1/products/{product_id}/analytics/installs", f"/v1/products/{product}/analytics/installs?{window}"),
        (
            "/v1/products/{product_id}/analytics/installs/feedback",
            f"/v1/products/{product}/analytics/installs/feedback?{window}",
        ),
        ("/v1/projects", "/v1/projects"),
        ("/v1/projects/{project_id}", f"/v1/projects/{project}"),
        ("/v1/projects/{project_id}/environments", f"/v1/projects/{project}/environments"),
        (
            "/v1/projects/{project_id}/environments/{environment_id}",
            f"/v1/projects/{project}/environments/{environment}",
        ),
        ("/v1/projects/{project_id}/flags", f"/v1/projects/{project}/flags"),
        ("/v1/projects/{project_id}/flags/{flag_key}", f"/v1/projects/{project}/flags/new-checkout"),
        (
            "/v1/projects/{project_id}/flags/{flag_key}/usage",
            f"/v1/projects/{project}/flags/new-checkout/usage?{flag_window}",
        ),
        (
            "/v1/projects/{project_id}/flags/{flag_key}/exposure",
            f"/v1/projects/{project}/flags/new-checkout/exposure?{flag_window}",
        ),
        (
            "/v1/projects/{project_id}/flags/{flag_key}/effect",
            f"/v1/projects/{project}/flags/new-checkout/effect?{flag_window}&feature=export_pdf",
        ),
        (
            "/v1/products/{product_id}/analytics/features/{name}/time-to-first-use",
            f"/v1/products/{product}/analytics/features/export_pdf/time-to-first-use?{window}",
        ),
        (
            "/v1/projects/{project_id}/unknown-flags",
            f"/v1/projects/{project}/unknown-flags?environmentId={environment}",
        ),
        ("/v1/audit-log", "/v1/audit-log"),
    ]


def test_the_main_get_answers_validate_against_the_served_schema(api, world, validator):
    failures = []
    for path, url in _main_gets(world):
        response = api.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        failures += validator.errors(path, "get", response)
    assert failures == []


def test_every_documented_get_of_v1_is_checked_here(world, validator):
    """A new /v1 GET joins the list above (CSV exports excepted: their body is text)."""
    documented = {
        path
        for path, operations in validator.schema["paths"].items()
        if path.startswith("/v1/") and "get" in operations and "application/json" in _success(operations["get"])
    }
    checked = {path for path, _ in _main_gets(world)}
    assert documented - checked == set()


def _success(operation: dict) -> dict:
    return next(
        (response.get("content", {}) for status, response in operation["responses"].items() if status.startswith("2")),
        {},
    )


def test_the_exposure_answer_is_documented_unwrapped_as_it_answers(api, world, validator):
    environment = world["environment"]["id"]
    response = api.get(f"/v1/projects/{world['project']['id']}/flags/new-checkout/exposure?environmentId={environment}")
    body = response.json()
    assert "data" not in body and body["totals"]["evaluations"] == 2
    assert validator.errors("/v1/projects/{project_id}/flags/{flag_key}/exposure", "get", response) == []


def test_an_error_answer_validates_against_the_error_shape(api, world, validator):
    response = api.get(f"/v1/products/{world['product']['id']}/licenses?limit=0")
    assert response.status_code == 400
    assert validator.errors("/v1/products/{product_id}/licenses", "get", response) == []


def test_the_validator_catches_drift(api, world, validator):
    """It can fail: a field the schema does not name, a wrong type, a missing envelope."""
    response = api.get(f"/v1/products/{world['product']['id']}")
    body = response.json()
    body["data"]["undocumented"] = 1
    body["data"]["createdAt"] = 5
    response.content = json.dumps(body).encode()
    errors = validator.errors("/v1/products/{product_id}", "get", response)
    assert any("undocumented" in error for error in errors) and any("createdAt" in error for error in errors)
    response.content = json.dumps(body["data"]).encode()
    assert any(
        "'data' is a required property" in e for e in validator.errors("/v1/products/{product_id}", "get", response)
    )
