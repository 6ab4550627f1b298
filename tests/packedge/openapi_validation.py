"""Validate a real answer against the served OpenAPI schema with jsonschema: schema drift fails the suite.

OpenAPI 3.0 is JSON Schema with a few changes; the two that matter here are
``nullable`` (JSON Schema says ``"type": [..., "null"]``) and ``$ref`` into the
document's ``components``. The whole document is converted once and registered,
so each answer is checked against ``<doc>#/paths/…/responses/<status>/…/schema``
with every ``$ref`` resolved in place. An object that lists its ``properties``
and says nothing of others is treated as closed: an answer field the schema does
not name is drift, and fails.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = "urn:packedge:openapi"


def _converted(node: Any) -> Any:
    if isinstance(node, list):
        return [_converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _converted(value) for key, value in node.items()}
    if "$ref" in node and node["$ref"].startswith("#/"):
        node["$ref"] = DOCUMENT + node["$ref"]
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        node = (
            {**node, "type": [node["type"], "null"]}
            if isinstance(node.get("type"), str)
            else {"anyOf": [node, {"type": "null"}]}
        )
    return node


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class AnswerValidator:
    def __init__(self, schema: dict):
        self.schema = schema
        registry = Registry().with_resource(DOCUMENT, Resource(_converted(schema), specification=DRAFT202012))
        self.registry = registry

    def errors(self, path: str, method: str, response) -> list[str]:
        """What is wrong with ``response`` as an answer of the documented ``method path`` ([] when nothing)."""
        status = str(response.status_code)
        operation = self.schema["paths"][path][method]
        if status not in operation["responses"]:
            return [f"{method.upper()} {path}: status {status} is not documented"]
        content = operation["responses"][status].get("content", {})
        if "application/json" not in content:
            return [f"{method.upper()} {path} {status}: no JSON body documented"]
        reference = {"$ref": DOCUMENT + "#" + _pointer("paths", path, method, "responses", status, "content")}
        reference["$ref"] += _pointer("application/json", "schema")
        validator = Draft202012Validator(reference, registry=self.registry, format_checker=FormatChecker())
        body = json.loads(response.content)
        return [
            f"{method.upper()} {path} {status}: {'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]
