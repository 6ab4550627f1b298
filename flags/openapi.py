"""The OFREP endpoints and the SDK's count buckets in ``/v1/openapi.json``.

They are plain Django views (the hot path), so drf-spectacular cannot see
them; this post-processing hook describes them by hand, with OFREP's own error
body ``{key?, errorCode, errorDetails}`` as open-feature/protocol defines it.
"""

from __future__ import annotations

from flags import buckets
from flags.models import Reason

SDK_KEY_SECURITY = [{"SdkKeyBearer": []}, {"SdkKeyHeader": []}]


def openapi_paths(result: dict, generator, request, public) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(
        {
            "OfrepEvaluationRequest": {
                "type": "object",
                "properties": {
                    "context": {
                        "type": "object",
                        "description": "targetingKey (string) and any attributes; licenseKey names the customer's license.",
                        "additionalProperties": True,
                    }
                },
            },
            "OfrepEvaluationSuccess": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "value": {},
                    "variant": {"type": "string"},
                    "reason": {"type": "string", "enum": [reason.label for reason in Reason]},
                    "metadata": {"type": "object"},
                },
                "required": ["key", "value", "variant", "reason", "metadata"],
            },
            "OfrepEvaluationFailure": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "errorCode": {
                        "type": "string",
                        "enum": [
                            "PARSE_ERROR",
                            "TARGETING_KEY_MISSING",
                            "INVALID_CONTEXT",
                            "TYPE_MISMATCH",
                            "FLAG_NOT_FOUND",
                            "GENERAL",
                        ],
                    },
                    "errorDetails": {"type": "string"},
                },
                "required": ["errorCode", "errorDetails"],
            },
            "OfrepBulkEvaluation": {
                "type": "object",
                "properties": {
                    "flags": {
                        "type": "array",
                        "items": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/OfrepEvaluationSuccess"},
                                {"$ref": "#/components/schemas/OfrepEvaluationFailure"},
                            ]
                        },
                    }
                },
            },
            "OfrepConfiguration": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "capabilities": {
                        "type": "object",
                        "properties": {
                            "cacheInvalidation": {
                                "type": "object",
                                "properties": {
                                    "polling": {
                                        "type": "object",
                                        "properties": {
                                            "enabled": {"type": "boolean"},
                                            "minPollingIntervalMs": {"type": "integer"},
                                        },
                                    }
                                },
                            },
                            "flagEvaluation": {
                                "type": "object",
                                "properties": {"supportedTypes": {"type": "array", "items": {"type": "string"}}},
                            },
                        },
                    },
                },
            },
            "FlagEvaluationBucket": {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "format": "uuid",
                        "description": "Sent again: acknowledged, not counted twice.",
                    },
                    "start": {"type": "string", "format": "date-time", "description": "Within the last 7 days."},
                    "end": {"type": "string", "format": "date-time", "description": "At most 1 hour after start."},
                    "counts": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": buckets.MAX_ENTRIES,
                        "items": {
                            "type": "object",
                            "properties": {
                                "flagKey": {"type": "string"},
                                "variant": {"type": "string"},
                                "value": {},
                                "reason": {"type": "string", "enum": list(buckets.REASONS)},
                                "count": {"type": "integer", "minimum": 1, "maximum": buckets.MAX_COUNT},
                            },
                            "required": ["flagKey", "reason", "count"],
                        },
                    },
                },
                "required": ["id", "start", "end", "counts"],
            },
        }
    )
    result["components"].setdefault("securitySchemes", {}).update(
        {
            "SdkKeyBearer": {"type": "http", "scheme": "bearer", "description": "An environment SDK key, sdk_…"},
            "SdkKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    )

    def ref(name: str) -> dict:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}

    failure = ref("OfrepEvaluationFailure")
    key_errors = {
        "401": {"description": "No or unknown SDK key", "content": failure},
        "403": {"description": "Revoked SDK key", "content": failure},
        "429": {"description": "Rate limited (Retry-After)", "content": failure},
    }
    ingestion_error = {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            },
        },
    }
    result.setdefault("paths", {}).update(
        {
            "/ofrep/v1/evaluate/flags/{key}": {
                "post": {
                    "operationId": "ofrep_evaluate_flag",
                    "summary": "Evaluate one flag (OFREP)",
                    "tags": ["ofrep"],
                    "security": SDK_KEY_SECURITY,
                    "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"content": ref("OfrepEvaluationRequest")},
                    "responses": {
                        "200": {"description": "Evaluated", "content": ref("OfrepEvaluationSuccess")},
                        "400": {"description": "Bad context or type mismatch", "content": failure},
                        "404": {"description": "FLAG_NOT_FOUND", "content": failure},
                        **key_errors,
                    },
                }
            },
            "/ofrep/v1/evaluate/flags": {
                "post": {
                    "operationId": "ofrep_evaluate_flags",
                    "summary": "Evaluate every flag of the environment (OFREP bulk)",
                    "tags": ["ofrep"],
                    "security": SDK_KEY_SECURITY,
                    "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                    "requestBody": {"content": ref("OfrepEvaluationRequest")},
                    "responses": {
                        "200": {"description": "Every flag, with an ETag", "content": ref("OfrepBulkEvaluation")},
                        "304": {"description": "Unchanged since the ETag sent"},
                        "400": {"description": "Bad context", "content": failure},
                        **key_errors,
                    },
                }
            },
            "/ofrep/v1/configuration": {
                "get": {
                    "operationId": "ofrep_configuration",
                    "summary": "What a provider may rely on (OFREP)",
                    "tags": ["ofrep"],
                    "security": SDK_KEY_SECURITY,
                    "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The configuration, with an ETag", "content": ref("OfrepConfiguration")},
                        "304": {"description": "Unchanged since the ETag sent"},
                        **key_errors,
                    },
                }
            },
            "/public/v1/flag-evaluations": {
                "post": {
                    "operationId": "flag_evaluations_track",
                    "summary": "Evaluation counts aggregated by an SDK",
                    "tags": ["ofrep"],
                    "security": SDK_KEY_SECURITY,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/FlagEvaluationBucket"}},
                            "text/plain": {"schema": {"$ref": "#/components/schemas/FlagEvaluationBucket"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Stored, or acknowledged again for an id already stored",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"success": {"type": "boolean"}, "accepted": {"type": "integer"}},
                                    }
                                }
                            },
                        },
                        **{
                            str(code): {
                                "description": text,
                                "content": {"application/json": {"schema": ingestion_error}},
                            }
                            for code, text in [
                                (400, "Bad input, naming the field; nothing stored"),
                                (401, "No or unknown SDK key"),
                                (403, "Revoked SDK key"),
                                (413, "Body too large"),
                                (429, "Rate limited (Retry-After)"),
                            ]
                        },
                    },
                }
            },
        }
    )
    return result
