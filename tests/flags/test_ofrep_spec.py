"""OFREP answers as the specification describes them (decisions in docs/flags.md).

SPEC is the part of open-feature/protocol ``service/openapi.yaml`` that our
bodies must meet, transcribed as JSON Schema: ``bulkEvaluationSuccess``, its
``evaluationSuccess``/``evaluationFailure`` items and ``flagNotFound``.
"""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework.test import APIClient

from flags import recording, services
from flags.models import FlagEvaluation, Reason, UnknownFlagDay
from tests.flags.factories import environment_with_key

pytestmark = pytest.mark.django_db

KEY = {"type": "string"}
ERROR_DETAILS = {"type": "string"}


def typed(value_schema):
    return {"properties": {"value": value_schema}, "required": ["value"]}


SPEC = {
    "$defs": {
        "evaluationSuccess": {
            "allOf": [
                {
                    "properties": {
                        "key": KEY,
                        "reason": {"type": "string"},
                        "variant": {"type": "string"},
                        "metadata": {
                            "type": "object",
                            "additionalProperties": {
                                "oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "number"}]
                            },
                        },
                    }
                },
                {
                    # The spec's oneOf: an integer also matches floatFlag's number, so no integer flag below.
                    "oneOf": [
                        typed({"type": "boolean"}),
                        typed({"type": "string"}),
                        typed({"type": "integer"}),
                        typed({"type": "number"}),
                        typed({"type": "object"}),
                    ]
                },
            ]
        },
        "evaluationFailure": {
            "properties": {
                "key": KEY,
                "errorCode": {
                    "type": "string",
                    "enum": ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"],
                },
                "errorDetails": ERROR_DETAILS,
            },
            "required": ["key", "errorCode"],
        },
        "flagNotFound": {
            "properties": {
                "key": KEY,
                "errorCode": {"type": "string", "enum": ["FLAG_NOT_FOUND"]},
                "errorDetails": ERROR_DETAILS,
            },
            "required": ["key", "errorCode"],
        },
    },
    "type": "object",
    "required": ["flags"],
    "properties": {
        "flags": {
            "type": "array",
            "items": {"oneOf": [{"$ref": "#/$defs/evaluationSuccess"}, {"$ref": "#/$defs/evaluationFailure"}]},
        }
    },
}
FLAG_NOT_FOUND = {**SPEC, "$ref": "#/$defs/flagNotFound", "required": [], "properties": {}, "type": "object"}
# OpenFeature's reasons that a successful evaluation here can carry (specification/types, "Resolution reason").
SUCCESS_REASONS = {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED"}


@pytest.fixture
def keyed(project):
    return environment_with_key(project, "production")


@pytest.fixture
def sdk(keyed) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keyed[1]}")
    return client


@pytest.fixture
def flags(project, keyed):
    """One flag per reason: none has rules, one has a rule and a 40/60 rollout, one is off."""
    env = keyed[0].public_id

    def create(key, type, variants, settings):
        return services.flag_create(
            project=project, key=key, type=type, variants=variants, environments={env: settings}
        )

    create("banner", "string", {"a": "Hello", "b": "Hi"}, {"enabled": True, "defaultVariant": "b"})
    create(
        "checkout",
        "boolean",
        {"on": True, "off": False},
        {
            "enabled": True,
            "defaultVariant": "off",
            "rules": [
                {
                    "conditions": [{"attribute": "email", "operator": "ends_with", "value": "@acme.test"}],
                    "variant": "on",
                },
                {
                    "conditions": [{"attribute": "plan", "operator": "eq", "value": "beta"}],
                    "rollout": [{"variant": "on", "weight": 40}, {"variant": "off", "weight": 60}],
                },
            ],
        },
    )
    create(
        "limits",
        "object",
        {"basic": {"projects": 3}, "big": {"projects": 100}},
        {"enabled": False, "defaultVariant": "big", "offVariant": "basic"},
    )


def bulk(sdk, context):
    return sdk.post("/ofrep/v1/evaluate/flags", {"context": context}, format="json")


def single(sdk, key, context):
    return sdk.post(f"/ofrep/v1/evaluate/flags/{key}", {"context": context}, format="json")


def reasons(body):
    return {entry["key"]: entry.get("reason", entry.get("errorCode")) for entry in body["flags"]}


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"targetingKey": "u1"}, {"banner": "STATIC", "checkout": "DEFAULT", "limits": "DISABLED"}),
        (
            {"targetingKey": "u1", "email": "a@acme.test"},
            {"banner": "STATIC", "checkout": "TARGETING_MATCH", "limits": "DISABLED"},
        ),
        ({"targetingKey": "u1", "plan": "beta"}, {"banner": "STATIC", "checkout": "SPLIT", "limits": "DISABLED"}),
        ({"plan": "beta"}, {"banner": "STATIC", "checkout": "TARGETING_KEY_MISSING", "limits": "DISABLED"}),
        ({"email": 42}, {"banner": "STATIC", "checkout": "INVALID_CONTEXT", "limits": "DISABLED"}),
    ],
)
def test_every_bulk_answer_meets_the_specs_schema_with_openfeature_reasons(sdk, flags, context, expected):
    response = bulk(sdk, context)
    assert response.status_code == 200
    jsonschema.validate(response.json(), SPEC)
    assert reasons(response.json()) == expected
    assert {entry["reason"] for entry in response.json()["flags"] if "reason" in entry} <= SUCCESS_REASONS


def test_a_flag_without_rules_is_static_and_one_whose_rules_miss_is_default(sdk, flags):
    assert single(sdk, "banner", {"targetingKey": "u1"}).json() == {
        "key": "banner",
        "value": "Hi",
        "variant": "b",
        "reason": "STATIC",
        "metadata": {},
    }
    assert single(sdk, "checkout", {"targetingKey": "u1"}).json()["reason"] == "DEFAULT"
    recording.flush()
    assert sorted(FlagEvaluation.objects.values_list("reason", flat=True)) == [Reason.DEFAULT, Reason.STATIC]


def test_a_context_attribute_of_the_wrong_type_is_invalid_context_not_type_mismatch(sdk, flags):
    response = single(sdk, "checkout", {"targetingKey": "u1", "email": 42})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_CONTEXT"
    assert "'email'" in response.json()["errorDetails"]


@pytest.mark.parametrize("path", ["a/b", "checkout/extra", "a/b/c/"])
def test_a_key_with_a_slash_is_a_json_flag_not_found(sdk, flags, path):
    response = sdk.post(f"/ofrep/v1/evaluate/flags/{path}", {}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "key": path,
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": f"No flag '{path}' in this environment.",
    }
    jsonschema.validate(response.json(), FLAG_NOT_FOUND)
    recording.flush()
    # Not a key a flag could have: nothing stored for the unknown-flags list.
    assert not UnknownFlagDay.objects.exists() and not FlagEvaluation.objects.exists()


def test_a_key_with_a_slash_still_needs_an_sdk_key():
    response = APIClient().post("/ofrep/v1/evaluate/flags/a/b", {}, format="json")
    assert (response.status_code, response.json()["errorCode"]) == (401, "GENERAL")


def test_an_empty_targeting_key_is_a_key_and_buckets_like_any_other(sdk, flags):
    # sha256("checkout/")[:8] % 10000 → 34.09 %, under the 40 % of "on"; "u2" falls at 50.03 %: "off".
    empty = single(sdk, "checkout", {"targetingKey": "", "plan": "beta"})
    assert empty.status_code == 200
    assert (empty.json()["variant"], empty.json()["reason"]) == ("on", "SPLIT")
    assert single(sdk, "checkout", {"targetingKey": "u2", "plan": "beta"}).json()["variant"] == "off"
    missing = single(sdk, "checkout", {"plan": "beta"})
    assert (missing.status_code, missing.json()["errorCode"]) == (400, "TARGETING_KEY_MISSING")


def test_a_disabled_flag_serves_its_off_variant_not_the_callers_default(sdk, flags):
    response = single(sdk, "limits", {"targetingKey": "u1"})
    assert response.status_code == 200
    assert response.json() == {
        "key": "limits",
        "value": {"projects": 3},
        "variant": "basic",
        "reason": "DISABLED",
        "metadata": {},
    }
