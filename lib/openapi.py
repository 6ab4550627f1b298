"""What drf-spectacular cannot infer from the /v1 views: the key scheme, the envelope and the error responses.

Every /v1 view answers ``{"data": …}`` (a list: ``{"data": […], "nextCursor"}``)
and errors as ``{"error": {"code", "message"}}``; the serializers describe only
what is inside. This post-processing hook wraps each documented success body
once, here, so that the schema cannot drift from ``lib.pagination`` and
``lib.errors``, and documents the error statuses every operation can answer.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter

from lib import freshness
from lib.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lib.text import END, NO_CONTROL_PATTERN

# The query parameters' rules, stated once for every operation that reads them (docs/api/schema-rules.md).
# An empty `limit` counts as absent, as an empty `cursor` does (DRF reads an empty optional value so).
LIMIT_SCHEMA = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, {"type": "string", "maxLength": 0}],
    "default": DEFAULT_LIMIT,
}
# An empty cursor counts as absent: the first page.
CURSOR_SCHEMA = {"type": "string"}
# A real day (format) of the years the API counts (1970–8999: analytics.feature_usage.query); an empty
# value counts as absent (a cleared form field), so "" is allowed too.
OPTIONAL_DATE_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": "^(19[7-9][0-9]|[2-8][0-9]{3})-"},
        {"type": "string", "maxLength": 0},
    ]
}
ENVIRONMENT_ID_SCHEMA = {"type": "string", "pattern": "^env_[A-Za-z0-9]{1,34}" + END}
# The heading of an operation's rules that OpenAPI cannot state (a rule across fields, or against
# stored data); tests/schema/schemathesis.toml lists the same operations as answering 400 for them.
RULES_HEADING = "Rules the schema cannot state (each refused with a 400 naming the field):"


def cross_field_rules(*rules: str, description: str = "") -> str:
    """An operation's description ending with the rules OpenAPI cannot say, one a line."""
    listed = "\n".join(f"- {rule}" for rule in rules)
    return f"{description}\n\n{RULES_HEADING}\n{listed}".lstrip()


def window_rules(*, max_days: int) -> tuple[str, str]:
    """The date window's two rules: ``from`` not after ``to``, and its span."""
    return (
        "`from` is not after `to`.",
        f"The window spans at most {max_days} days, both ends counted (a lone `from` runs to today).",
    )


CURSOR_RULE = "`cursor` is a `nextCursor` this API returned (else `invalid_cursor`)."
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", CURSOR_SCHEMA, description="nextCursor of the previous page"),
    OpenApiParameter("limit", LIMIT_SCHEMA, description=f"1–{MAX_LIMIT}, default {DEFAULT_LIMIT}"),
]
LIST_DESCRIPTION = cross_field_rules(CURSOR_RULE, description="Oldest first, a page at a time.")

# A search text of the query string: at most 200 characters, no control character.
SEARCH_TEXT_SCHEMA = {"type": "string", "maxLength": 200, "pattern": NO_CONTROL_PATTERN}

# Seed 002 keeps the flag usage body unwrapped, and the contract gives exposure (and effect) the same shape
# (docs/api/contract.md: "same parameters, defaults, 400/404 and plan clamp as usage" → {"flagKey", …});
# the CSV exports are not JSON.
UNWRAPPED_OPERATIONS = {
    "flags_usage",
    "flags_exposure",
    "flags_effect",
    "feature_usage_csv",
    "feature_licenses_csv",
    "installs_csv",
}
PAID_OPERATIONS = {
    "feature_usage",
    "feature_usage_csv",
    "license_usage",
    "feature_licenses",
    "feature_licenses_csv",
    "license_sharing",
    "installs",
    "installs_feedback",
    "installs_csv",
}
# The analytics and flag answers carry countedThrough beside data (a CSV: in a header), docs/freshness.md;
# the unwrapped flag usage, exposure and effect bodies document it in their components (flags/apis.py).
FRESH_OPERATIONS = {
    "feature_usage",
    "license_usage",
    "feature_licenses",
    "feature_time_to_first_use",
    "license_sharing",
    "installs",
    "installs_feedback",
    "license_flags",
    "unknown_flags_list",
}
FRESH_CSV_OPERATIONS = {"feature_usage_csv", "feature_licenses_csv", "installs_csv"}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
# The public endpoints (ingestion, SDK count buckets) answer the same error with "success": false beside it.
PUBLIC_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"success": {"type": "boolean", "enum": [False]}, "error": ERROR_SCHEMA["properties"]["error"]},
}
# Operations that answer 409 when the stored state rules the request out: a flag's effect needs the
# project linked to a product (its licenses are the ones followed).
CONFLICT_OPERATIONS = {"flags_effect"}
ERROR_DESCRIPTIONS = {
    "400": "Bad input; the message names the field",
    "401": "No API key, or an unknown or revoked one",
    "402": "The organization's plan does not include this",
    "404": "Not found, or another organization's",
    "405": "Method not allowed",
    "409": "Conflicts with the stored state (the message says which)",
    "413": "Body over the limit",
    "415": "Body not JSON",
    "429": "Rate limited (Retry-After)",
    "503": "Database unavailable (Retry-After)",
}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An organization API key: `Bearer sk_…`."}


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """A StrictCharField's schema states what it refuses: control and format characters, or its own pattern."""

    target_class = "lib.fields.StrictCharField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["pattern"] = self.target.schema_pattern
        return schema


def _error_response(code: str) -> dict:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _wrapped(schema: dict) -> dict:
    if schema.get("type") == "array":
        return {
            "type": "object",
            "properties": {"data": schema, "nextCursor": {"type": "string", "nullable": True}},
            "required": ["data", "nextCursor"],
        }
    return {"type": "object", "properties": {"data": schema}, "required": ["data"]}


def envelope_and_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook for the /v1 operations."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        # Every /v1 body refuses fields it does not name (tenancy.apis.refuse_unknown_fields).
        if name.endswith("Request") and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    schemas["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            if operation.get("operationId") not in UNWRAPPED_OPERATIONS:
                for status, response in responses.items():
                    media = response.get("content", {}).get("application/json")
                    if status.startswith("2") and media and "schema" in media:
                        media["schema"] = _wrapped(media["schema"])
            _add_freshness(operation.get("operationId"), responses)
            codes = ["400", "401", "405", "429", "503"]
            if "{" in path:
                codes.append("404")
            if operation.get("operationId") in PAID_OPERATIONS:
                codes.append("402")
            if operation.get("operationId") in CONFLICT_OPERATIONS:
                codes.append("409")
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
                codes += ["413", "415"]
            for code in codes:
                responses.setdefault(code, _error_response(code))
    return result


def _add_freshness(operation_id: str | None, responses: dict) -> None:
    for status, response in responses.items():
        if not status.startswith("2"):
            continue
        if operation_id in FRESH_CSV_OPERATIONS:
            response.setdefault("headers", {})[freshness.COUNTED_THROUGH_HEADER] = {
                "schema": freshness.SCHEMA,
                "description": freshness.SCHEMA["description"],
            }
        media = response.get("content", {}).get("application/json")
        if operation_id not in FRESH_OPERATIONS or not media or "schema" not in media:
            continue
        schema = media["schema"]
        schema["properties"][freshness.COUNTED_THROUGH] = freshness.SCHEMA
        schema.setdefault("required", []).append(freshness.COUNTED_THROUGH)
