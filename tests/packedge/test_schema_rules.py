"""The schema states its rules: constraints where OpenAPI can say them, the rest listed per operation.

Schemathesis (tests/schema/run_schemathesis.sh) checks the live API against the
schema; these tests keep its configuration honest: no status accepted across
every operation, and an operation may answer a schema-valid request with 400 only
when its description lists the rule the schema cannot state.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from flags import recording
from lib.openapi import RULES_HEADING

pytestmark = pytest.mark.django_db

CONFIG = Path(__file__).resolve().parents[1] / "schema" / "schemathesis.toml"


@pytest.fixture
def schema(client) -> dict:
    return client.get("/v1/openapi.json").json()


def _operations(schema: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for operations in schema["paths"].values()
        for method, operation in operations.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_no_status_is_accepted_for_every_operation_at_once():
    config = tomllib.loads(CONFIG.read_text())
    assert "positive_data_acceptance" not in config.get("checks", {})
    assert "negative_data_rejection" not in config.get("checks", {})
    # A block that accepts a status names one operation (and may set the SDK key header, as the tag's does).
    checked = [block for block in config["operations"] if "checks" in block]
    assert all(
        {"include-operation-id", "checks"} <= set(block) <= {"include-operation-id", "checks", "headers"}
        for block in checked
    )
    assert all(isinstance(block["include-operation-id"], str) for block in checked)


def test_the_operations_allowed_a_400_are_those_whose_description_lists_their_rules(schema):
    config = tomllib.loads(CONFIG.read_text())
    checked = [block for block in config["operations"] if "checks" in block]
    allowed = {
        block["include-operation-id"]
        for block in checked
        if "400" in block["checks"]["positive_data_acceptance"]["expected-statuses"]
    }
    listed = {
        name for name, operation in _operations(schema).items() if RULES_HEADING in operation.get("description", "")
    }
    assert allowed == listed
    # Each block says which rule, in a comment above its expected statuses.
    assert re.findall(r'include-operation-id = "(\w+)"\n# 400: \S', CONFIG.read_text()) == [
        block["include-operation-id"] for block in checked
    ]


def test_query_parameters_state_their_ranges_patterns_and_enums(schema):
    def parameter(path: str, name: str) -> dict:
        (found,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
        return found["schema"]

    assert parameter("/v1/audit-log", "limit") == {
        "anyOf": [{"type": "integer", "minimum": 1, "maximum": 100}, {"type": "string", "maxLength": 0}],
        "default": 50,
    }
    assert parameter("/v1/products", "cursor") == {"type": "string"}
    usage = "/v1/products/{product_id}/analytics/feature-usage"
    assert parameter(usage, "event")["maxLength"] == 200
    assert {"format": "date"}.items() <= parameter(usage, "to")["anyOf"][0].items()
    assert parameter("/v1/projects/{project_id}/unknown-flags", "environmentId")["pattern"].startswith("^env_")
    feature = "/v1/products/{product_id}/analytics/features/{name}/licenses"
    assert parameter(feature, "name")["maxLength"] == 200


def test_request_bodies_refuse_what_they_do_not_name_and_state_their_characters(schema):
    components = schema["components"]["schemas"]
    bodies = [name for name in components if name.endswith("Request") and "properties" in components[name]]
    assert {"ProductCreateRequest", "PatchedLicenseUpdateRequest", "FlagCreateRequest"} <= set(bodies)
    assert all(components[name]["additionalProperties"] is False for name in bodies if name != "OfrepEvaluationRequest")
    name = re.compile(components["ProductCreateRequest"]["properties"]["name"]["pattern"])
    assert name.search("Desktop app") and not name.search("Desk\u202etop") and not name.search("a\x07")
    assert not name.search("   ") and not name.search("Desktop\n")
    key = re.compile(components["FlagCreateRequest"]["properties"]["key"]["pattern"])
    assert key.search("new-checkout") and not key.search("-x") and not key.search("new checkout")
    assert not key.search("new-checkout\n")


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/v1/products", {"name": "Desktop", "maxSite": 3}),
        ("/v1/projects", {"name": "Web", "product": "prd_x"}),
    ],
)
def test_an_unknown_body_field_is_refused_and_nothing_is_stored(api, url, body):
    response = api.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{list(body)[1]}: unknown field; expected name")
    assert api.get(url).json()["data"] == []


def test_an_unknown_field_of_a_license_patch_changes_nothing(api):
    product = api.post("/v1/products", {"name": "Desktop"}, format="json").json()["data"]
    license = api.post(f"/v1/products/{product['id']}/licenses", {"maxSites": 2}, format="json").json()["data"]
    url = f"/v1/products/{product['id']}/licenses/{license['id']}"
    response = api.patch(url, {"maxSites": 5, "max_sites": 9}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "max_sites: unknown field; expected customerEmail, status, expiresAt, maxSites."
    )
    assert api.get(url).json()["data"]["maxSites"] == 2


def test_a_flag_key_outside_its_pattern_is_refused_by_the_serializer(api):
    project = api.post("/v1/projects", {"name": "Web"}, format="json").json()["data"]
    body = {"key": "new checkout", "type": "boolean", "variants": {"on": True, "off": False}}
    response = api.post(f"/v1/projects/{project['id']}/flags", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("key: 1–100 letters, digits")
    assert api.get(f"/v1/projects/{project['id']}/flags").json()["data"] == []


def test_an_empty_cursor_or_limit_is_the_first_page_of_the_default_size_as_the_schema_allows(api):
    api.post("/v1/products", {"name": "Desktop"}, format="json")
    response = api.get("/v1/products?cursor=&limit=")
    assert response.status_code == 200 and [p["name"] for p in response.json()["data"]] == ["Desktop"]


def test_a_null_ofrep_context_is_refused_as_the_schema_says(api, client, schema):
    assert "nullable" not in schema["components"]["schemas"]["OfrepEvaluationRequest"]["properties"]["context"]
    project = api.post("/v1/projects", {"name": "Web"}, format="json").json()["data"]
    environment = api.post(f"/v1/projects/{project['id']}/environments", {"name": "production"}, format="json")
    environment = environment.json()["data"]
    flag = {"key": "checkout", "type": "boolean", "variants": {"on": True, "off": False}}
    api.post(f"/v1/projects/{project['id']}/flags", flag, format="json")
    response = client.post(
        "/ofrep/v1/evaluate/flags/checkout",
        data={"context": None},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {environment['sdkKey']}",
    )
    assert response.status_code == 400 and response.json()["errorCode"] == "INVALID_CONTEXT"
    recording.flush()  # the error is counted (usage's errorCount) while the test database exists
