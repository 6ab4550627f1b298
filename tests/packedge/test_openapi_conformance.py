"""The OpenAPI schema describes the API as it answers (Schemathesis checks it live: tests/schema/run_schemathesis.sh)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    return client.get("/v1/openapi.json").json()


def _json_schema(operation: dict, status: str) -> dict:
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_lists_are_documented_in_the_paginated_envelope(schema):
    body = _json_schema(schema["paths"]["/v1/products"]["get"], "200")
    assert body["required"] == ["data", "nextCursor"]
    assert body["properties"]["data"]["type"] == "array"
    assert body["properties"]["nextCursor"] == {"type": "string", "nullable": True}


def test_single_objects_are_documented_inside_data_and_flag_usage_stays_unwrapped(schema):
    body = _json_schema(schema["paths"]["/v1/products/{product_id}"]["get"], "200")
    assert body["required"] == ["data"]
    assert body["properties"]["data"]["$ref"].endswith("/ProductOutput")
    created = _json_schema(schema["paths"]["/v1/products/{product_id}/licenses"]["post"], "201")
    assert created["properties"]["data"]["$ref"].endswith("/LicenseOutput")
    usage = _json_schema(schema["paths"]["/v1/projects/{project_id}/flags/{flag_key}/usage"]["get"], "200")
    assert usage["$ref"].endswith("/FlagUsage")
    # the flag reports beside it answer unwrapped too (tests/flags/test_exposure_api.py, test_flag_effect_api.py)
    for report, component in [("exposure", "/FlagExposure"), ("effect", "/FlagEffect")]:
        body = _json_schema(schema["paths"][f"/v1/projects/{{project_id}}/flags/{{flag_key}}/{report}"]["get"], "200")
        assert body["$ref"].endswith(component)


def test_error_responses_are_documented_in_the_error_shape(schema):
    operation = schema["paths"]["/v1/products/{product_id}/analytics/feature-usage"]["get"]
    assert {"400", "401", "402", "404", "429"} <= set(operation["responses"])
    assert _json_schema(operation, "404")["$ref"] == "#/components/schemas/Error"
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]["required"] == ["code", "message"]
    assert "402" not in schema["paths"]["/v1/products"]["get"]["responses"]


def test_create_and_update_bodies_have_distinct_component_names(schema):
    components = schema["components"]["schemas"]
    assert set(components["LicenseCreateRequest"]["properties"]) == {
        "key",
        "customerEmail",
        "status",
        "expiresAt",
        "maxSites",
    }
    assert set(components["PatchedLicenseUpdateRequest"]["properties"]) == {
        "customerEmail",
        "status",
        "expiresAt",
        "maxSites",
    }
    assert set(components["ProductCreateRequest"]["properties"]) == {"name", "timezone"}
    assert not any(name.startswith(("InputRequest", "PatchedInputRequest")) for name in components)


def test_flag_fields_are_typed(schema):
    flag = schema["components"]["schemas"]["FlagCreateRequest"]["properties"]
    assert flag["key"]["type"] == "string"
    assert flag["variants"]["type"] == "object"
    assert flag["environments"]["additionalProperties"]["$ref"].endswith("/FlagEnvironmentSettingsRequest")
    output = schema["components"]["schemas"]["FlagOutput"]["properties"]
    assert output["variants"]["type"] == "object" and output["environments"]["type"] == "object"


def test_the_ofrep_and_ingestion_endpoints_are_described(schema):
    single = schema["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]
    assert single["security"] == [{"SdkKey": []}]
    assert _json_schema(single, "404")["$ref"].endswith("/OfrepError")
    assert "304" in schema["paths"]["/ofrep/v1/evaluate/flags"]["post"]["responses"]
    assert "/public/v1/event" in schema["paths"] and "/public/v1/events" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An organization API key: `Bearer sk_…`.",
    }


def test_a_license_post_without_a_body_is_refused(api, org):
    product = api.post("/v1/products", {"name": "Desktop"}, format="json").json()["data"]
    response = api.post(f"/v1/products/{product['id']}/licenses")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body:")
    assert api.get(f"/v1/products/{product['id']}/licenses").json()["data"] == []
    assert api.post(f"/v1/products/{product['id']}/licenses", {}, format="json").status_code == 201


def test_an_undeclared_method_is_a_405_even_without_a_body(api):
    response = api.put("/v1/products/prd_nothing")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
