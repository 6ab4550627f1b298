"""``GET /ofrep/v1/configuration`` and ``POST /public/v1/flag-evaluations`` in ``/v1/openapi.json``.

Plain Django views like the evaluation endpoints, described by hand after
``flags.ofrep_openapi`` (whose ``OfrepError`` body and ``SdkKey`` scheme they reuse).
"""

from __future__ import annotations

from flags import buckets
from flags.definitions import NAME_PATTERN
from lib.openapi import PUBLIC_ERROR_SCHEMA, cross_field_rules
from lib.text import END

SDK_KEY_SECURITY = [{"SdkKey": []}]  # the scheme flags.ofrep_openapi declares
NAME_SCHEMA = {"type": "string", "pattern": "^" + NAME_PATTERN.pattern + END}
BUCKET_RULES = (
    f"`start` is not in the future and at most {buckets.MAX_AGE.days} days old; `end` is not before `start`, "
    "and at most 1 hour after it.",
    "An entry whose `reason` is not ERROR has a `variant` and a non-null `value` "
    f"(at most {buckets.MAX_VALUE_LENGTH} characters of JSON).",
)


def openapi_paths(result: dict, generator, request, public) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(
        {
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
                                "flagKey": NAME_SCHEMA,
                                "variant": NAME_SCHEMA,
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

    def ref(name: str) -> dict:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}

    failure = ref("OfrepError")  # defined by flags.ofrep_openapi, which runs first
    key_errors = {
        "401": {"description": "No or unknown SDK key", "content": failure},
        "403": {"description": "Revoked SDK key", "content": failure},
        "429": {"description": "Rate limited (Retry-After)", "content": failure},
    }
    result.setdefault("paths", {}).update(
        {
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
                    "description": cross_field_rules(*BUCKET_RULES),
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
                                "content": {"application/json": {"schema": PUBLIC_ERROR_SCHEMA}},
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
