"""Checking a flag's definition — variants and per-environment rules — before anything is stored.

The body's shape is free-form JSON (variant names and environment ids are
keys), so it is checked here rather than by serializers; every error names the
field at fault, e.g. ``environments.env_x.rules[1].rollout: weights must sum to 100``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from flags.evaluation import (
    LIST_OPERATORS,
    NUMBER_OPERATORS,
    OPERATORS,
    SCALAR_OPERATORS,
    STRING_OPERATORS,
    is_number,
)
from flags.models import Flag, natural_off_variant
from lib.errors import ApiError

# fullmatch, not match: "$" also matches before a trailing newline.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_VARIANTS = 50
MAX_RULES = 100
MAX_CONDITIONS = 20
MAX_LIST_VALUES = 1000
MAX_OBJECT_BYTES = 32 * 1024
MAX_STRING_VALUE = 10_000
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class EnvironmentSettings:
    enabled: bool
    default_variant: str
    rules: list[dict]
    off_variant: str = ""


def invalid(field: str, message: str) -> ApiError:
    return ApiError(f"{field}: {message}", code="invalid_request")


def clean_key(raw: Any, field: str = "key") -> str:
    if not isinstance(raw, str) or not NAME_PATTERN.fullmatch(raw):
        raise invalid(field, "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return raw


def clean_type(raw: Any) -> str:
    if raw not in Flag.Type.values:
        raise invalid("type", f"must be one of {', '.join(Flag.Type.values)}.")
    return raw


def clean_description(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_DESCRIPTION:
        raise invalid("description", f"must be text of at most {MAX_DESCRIPTION} characters.")
    return raw


def clean_variants(flag_type: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise invalid("variants", "must be a non-empty object of variant name → value.")
    if len(raw) > MAX_VARIANTS:
        raise invalid("variants", f"at most {MAX_VARIANTS} variants.")
    for name, value in raw.items():
        clean_key(name, "variants")
        _check_value(flag_type, value, f"variants.{name}")
    return dict(raw)


def _check_value(flag_type: str, value: Any, field: str) -> None:
    if flag_type == Flag.Type.BOOLEAN and not isinstance(value, bool):
        raise invalid(field, "must be true or false for a boolean flag.")
    if flag_type == Flag.Type.STRING and not (isinstance(value, str) and len(value) <= MAX_STRING_VALUE):
        raise invalid(field, f"must be a string (at most {MAX_STRING_VALUE} characters) for a string flag.")
    if flag_type == Flag.Type.NUMBER and not (is_number(value) and math.isfinite(value)):
        raise invalid(field, "must be a number for a number flag.")
    if flag_type == Flag.Type.OBJECT:
        if not isinstance(value, dict):
            raise invalid(field, "must be a JSON object for an object flag.")
        if len(json.dumps(value)) > MAX_OBJECT_BYTES:
            raise invalid(field, "must be at most 32 KiB of JSON.")


def clean_off_variant(raw: Any, variants: dict[str, Any], field: str = "offVariant") -> str:
    _check_variant_name(raw, variants, field)
    return raw


def clean_environment_settings(
    raw: Any, variants: dict[str, Any], field: str, off_variant: str = ""
) -> EnvironmentSettings:
    """``off_variant`` is what an omitted ``offVariant`` keeps (the stored one, or the flag's at creation)."""
    if not isinstance(raw, dict):
        raise invalid(field, "must be an object with enabled, defaultVariant, offVariant and rules.")
    unknown = set(raw) - {"enabled", "defaultVariant", "offVariant", "rules"}
    if unknown:
        raise invalid(
            f"{field}.{sorted(unknown)[0]}", "unknown field; expected enabled, defaultVariant, offVariant, rules."
        )
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise invalid(f"{field}.enabled", "must be true or false.")
    default_variant = raw.get("defaultVariant", next(iter(variants)))
    _check_variant_name(default_variant, variants, f"{field}.defaultVariant")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise invalid(f"{field}.rules", "must be a list.")
    if len(rules) > MAX_RULES:
        raise invalid(f"{field}.rules", f"at most {MAX_RULES} rules.")
    cleaned = [_clean_rule(rule, variants, f"{field}.rules[{index}]") for index, rule in enumerate(rules)]
    off = raw.get(
        "offVariant", off_variant if off_variant in variants else natural_off_variant(flag_type_of(variants), variants)
    )
    _check_variant_name(off, variants, f"{field}.offVariant")
    return EnvironmentSettings(enabled=enabled, default_variant=default_variant, rules=cleaned, off_variant=off)


def flag_type_of(variants: dict[str, Any]) -> str:
    return Flag.Type.BOOLEAN if all(isinstance(v, bool) for v in variants.values()) else ""


def check_settings_against_variants(settings: EnvironmentSettings, variants: dict[str, Any], field: str) -> None:
    """Variants changed on PATCH: every environment must still name existing variants."""
    clean_environment_settings(
        {
            "enabled": settings.enabled,
            "defaultVariant": settings.default_variant,
            "offVariant": settings.off_variant,
            "rules": settings.rules,
        },
        variants,
        field,
    )


def _check_variant_name(name: Any, variants: dict[str, Any], field: str) -> None:
    if not isinstance(name, str) or name not in variants:
        raise invalid(field, f"must name one of the flag's variants ({', '.join(variants)}).")


def _clean_rule(raw: Any, variants: dict[str, Any], field: str) -> dict:
    if not isinstance(raw, dict):
        raise invalid(field, "must be an object with conditions and a variant or a rollout.")
    unknown = set(raw) - {"conditions", "variant", "rollout"}
    if unknown:
        raise invalid(f"{field}.{sorted(unknown)[0]}", "unknown field; expected conditions, variant or rollout.")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list):
        raise invalid(f"{field}.conditions", "must be a list.")
    if len(conditions) > MAX_CONDITIONS:
        raise invalid(f"{field}.conditions", f"at most {MAX_CONDITIONS} conditions.")
    rule: dict[str, Any] = {
        "conditions": [_clean_condition(c, f"{field}.conditions[{i}]") for i, c in enumerate(conditions)]
    }
    if ("variant" in raw) == ("rollout" in raw):
        raise invalid(field, "needs either a variant or a rollout, not both.")
    if "variant" in raw:
        _check_variant_name(raw["variant"], variants, f"{field}.variant")
        rule["variant"] = raw["variant"]
    else:
        rule["rollout"] = _clean_rollout(raw["rollout"], variants, f"{field}.rollout")
    return rule


def _clean_condition(raw: Any, field: str) -> dict:
    if not isinstance(raw, dict) or set(raw) != {"attribute", "operator", "value"}:
        raise invalid(field, "must be an object with exactly attribute, operator and value.")
    attribute, operator, value = raw["attribute"], raw["operator"], raw["value"]
    if not isinstance(attribute, str) or not attribute or len(attribute) > 200:
        raise invalid(f"{field}.attribute", "must be a non-empty string of at most 200 characters.")
    if operator not in OPERATORS:
        raise invalid(f"{field}.operator", f"must be one of {', '.join(sorted(OPERATORS))}.")
    if operator in SCALAR_OPERATORS and not _is_scalar(value):
        raise invalid(f"{field}.value", f"{operator} compares with a string, number or boolean.")
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
            raise invalid(f"{field}.value", f"{operator} needs a non-empty list (at most {MAX_LIST_VALUES} items).")
        if not all(_is_scalar(item) for item in value):
            raise invalid(f"{field}.value", f"{operator} lists hold strings, numbers or booleans.")
    if operator in STRING_OPERATORS and not isinstance(value, str):
        raise invalid(f"{field}.value", f"{operator} needs a string.")
    if operator in NUMBER_OPERATORS and not (is_number(value) and math.isfinite(value)):
        raise invalid(f"{field}.value", f"{operator} needs a number.")
    return {"attribute": attribute, "operator": operator, "value": value}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or (is_number(value) and math.isfinite(value))


def _clean_rollout(raw: Any, variants: dict[str, Any], field: str) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise invalid(field, "must be a non-empty list of {variant, weight}.")
    seen: set[str] = set()
    shares = []
    for index, share in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(share, dict) or set(share) != {"variant", "weight"}:
            raise invalid(where, "must be an object with exactly variant and weight.")
        _check_variant_name(share["variant"], variants, f"{where}.variant")
        if share["variant"] in seen:
            raise invalid(f"{where}.variant", "appears twice in the rollout.")
        seen.add(share["variant"])
        weight = share["weight"]
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise invalid(f"{where}.weight", "must be a whole number from 0 to 100.")
        shares.append({"variant": share["variant"], "weight": weight})
    if sum(share["weight"] for share in shares) != 100:
        raise invalid(field, "weights must sum to 100.")
    return shares
