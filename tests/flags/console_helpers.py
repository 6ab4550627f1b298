"""What the console flag-editing tests share: signed-in clients by role and form bodies."""

from __future__ import annotations

import html
import re


def signed_in(client, user):
    client.force_login(user)
    return client


def field_errors(response) -> list[str]:
    """The error messages the page shows beside fields, in page order."""
    return [html.unescape(m) for m in re.findall(r'class="field-error"[^>]*>([^<]*)<', response.content.decode())]


def variant_fields(variants: list[tuple[str, str]]) -> dict[str, str]:
    fields = {"variants": str(len(variants))}
    for index, (name, value) in enumerate(variants):
        fields[f"variant-{index}-name"] = name
        fields[f"variant-{index}-value"] = value
    return fields


def settings_fields(*, enabled: bool, default: str, rules: list[dict], variants: list[str]) -> dict[str, str]:
    """A posted environment form; each rule: {"conditions": [(attr, op, value)], "variant"?: str, "weights"?: {name: str}}."""
    fields = {"defaultVariant": default, "rules": str(len(rules)), "op": "save"}
    if enabled:
        fields["enabled"] = "on"
    for i, rule in enumerate(rules):
        fields[f"rule-{i}-conditions"] = str(len(rule["conditions"]))
        for j, (attribute, operator, value) in enumerate(rule["conditions"]):
            fields.update(
                {
                    f"rule-{i}-cond-{j}-attribute": attribute,
                    f"rule-{i}-cond-{j}-operator": operator,
                    f"rule-{i}-cond-{j}-value": value,
                }
            )
        if "weights" in rule:
            fields[f"rule-{i}-serve"] = "rollout"
            for name in variants:
                fields[f"rule-{i}-weight-{name}"] = rule["weights"].get(name, "")
        else:
            fields[f"rule-{i}-serve"] = "variant"
            fields[f"rule-{i}-variant"] = rule["variant"]
    return fields
