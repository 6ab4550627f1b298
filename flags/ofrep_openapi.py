"""The OFREP endpoints in the OpenAPI schema: plain Django views (flags/ofrep_apis.py), described by hand.

The bodies follow the OpenFeature Remote Evaluation Protocol's own document
(open-feature/protocol): success ``{key, value, variant, reason, metadata}``,
failure ``{key?, errorCode, errorDetails}``.
"""

from __future__ import annotations

# OFREP's evaluationFailure codes plus flagNotFound's; the reasons a success can carry (docs/flags.md).
ERROR_CODES = ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL", "FLAG_NOT_FOUND"]
SUCCESS_REASONS = ["STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED"]
CONTEXT_BODY = {
    "type": "object",
    "properties": {
        "context": {
            "type": "object",
            "description": (
                "The evaluation context: targetingKey (a string) and the attributes the flag's rules use; "
                "absent: an empty context. null is refused (400 INVALID_CONTEXT): OFREP's context is an object."
            ),
        }
    },
}
SUCCESS = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "value": {"description": "boolean, string, number or object, per the flag's type"},
        "variant": {"type": "string", "nullable": True},
        "reason": {"type": "string", "enum": SUCCESS_REASONS},
        "metadata": {"type": "object"},
    },
    "required": ["key", "value", "reason"],
}
FAILURE = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "errorCode": {"type": "string", "enum": ERROR_CODES},
        "errorDetails": {"type": "string"},
    },
    "required": ["errorCode", "errorDetails"],
}


def _errors(*codes: tuple[int, str]) -> dict:
    return {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OfrepError"}}},
        }
        for code, text in codes
    }


COMMON_ERRORS = [
    (400, "PARSE_ERROR or INVALID_CONTEXT"),
    (401, "No SDK key, or an unknown one"),
    (403, "The SDK key was revoked"),
    (405, "Method not allowed"),
    (413, "Body too large"),
    (429, "Rate limited per SDK key (Retry-After)"),
    (503, "Database unavailable and nothing loaded to serve (Retry-After)"),
]


def openapi_paths(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"OfrepEvaluationRequest": CONTEXT_BODY, "OfrepEvaluation": SUCCESS, "OfrepError": FAILURE})
    result["components"].setdefault("securitySchemes", {})["SdkKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An environment SDK key: `Bearer sdk_…` (or `X-API-Key`).",
    }
    body = {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OfrepEvaluationRequest"}}},
    }
    single = {
        "post": {
            "operationId": "ofrep_evaluate_flag",
            "summary": "Evaluate one flag (OFREP)",
            "tags": ["ofrep"],
            "security": [{"SdkKey": []}],
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "The flag's value",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OfrepEvaluation"}}},
                },
                **_errors(*COMMON_ERRORS, (404, "FLAG_NOT_FOUND")),
            },
        }
    }
    bulk = {
        "post": {
            "operationId": "ofrep_evaluate_flags",
            "summary": "Evaluate every flag of the environment (OFREP bulk)",
            "tags": ["ofrep"],
            "security": [{"SdkKey": []}],
            "parameters": [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "Every flag, each a value or an error",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "flags": {
                                        "type": "array",
                                        "items": {
                                            "oneOf": [
                                                {"$ref": "#/components/schemas/OfrepEvaluation"},
                                                {"$ref": "#/components/schemas/OfrepError"},
                                            ]
                                        },
                                    }
                                },
                                "required": ["flags"],
                            }
                        }
                    },
                },
                "304": {"description": "Unchanged since the ETag sent in If-None-Match"},
                **_errors(*COMMON_ERRORS),
            },
        }
    }
    result.setdefault("paths", {}).update({"/ofrep/v1/evaluate/flags/{key}": single, "/ofrep/v1/evaluate/flags": bulk})
    return result
