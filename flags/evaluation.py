"""Evaluating a flag for a context: pure functions, no database.

The rules are checked in order; the first whose conditions all hold serves its
variant (TARGETING_MATCH) or a variant picked by a stable bucket of the
targeting key (SPLIT). A flag without rules serves its default variant
(STATIC); one whose rules all miss serves it too (DEFAULT); a flag turned off
in the environment serves its off variant (DISABLED). The reasons and error
codes are OFREP's (docs/flags.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flags.models import Reason

TARGETING_KEY = "targetingKey"

SCALAR_OPERATORS = {"eq", "neq"}
LIST_OPERATORS = {"in", "not_in"}
STRING_OPERATORS = {"contains", "starts_with", "ends_with"}
NUMBER_OPERATORS = {"gt", "gte", "lt", "lte"}
OPERATORS = SCALAR_OPERATORS | LIST_OPERATORS | STRING_OPERATORS | NUMBER_OPERATORS

# How many buckets a rollout is cut into: weights are whole percentages, so
# 10,000 buckets keep rounding far below what a client could notice.
BUCKETS = 10_000


class EvaluationError(Exception):
    """An evaluation that cannot serve a value; ``code`` is the OFREP errorCode."""

    def __init__(self, code: str, details: str):
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class CompiledFlag:
    id: int
    key: str
    type: str
    variants: dict[str, Any]
    enabled: bool
    default_variant: str
    rules: tuple[dict, ...]
    off_variant: str = ""


@dataclass(frozen=True)
class Resolution:
    value: Any
    variant: str
    reason: Reason
    value_key: str


def evaluate(flag: CompiledFlag, context: dict[str, Any]) -> Resolution:
    if not flag.enabled:
        return _serve(flag, flag.off_variant or flag.default_variant, Reason.DISABLED)
    for index, rule in enumerate(flag.rules):
        if not all(_holds(condition, context, flag.key, index) for condition in rule.get("conditions", ())):
            continue
        if "variant" in rule:
            return _serve(flag, rule["variant"], Reason.TARGETING_MATCH)
        targeting_key = context.get(TARGETING_KEY)
        # "" is a key like any other (OpenFeature: an optional field of type string): only absent is missing.
        if not isinstance(targeting_key, str):
            raise EvaluationError(
                "TARGETING_KEY_MISSING",
                f"Flag '{flag.key}' rule {index + 1} is a percentage rollout: the context needs a targetingKey.",
            )
        return _serve(flag, rollout_variant(flag.key, targeting_key, rule["rollout"]), Reason.SPLIT)
    return _serve(flag, flag.default_variant, Reason.DEFAULT if flag.rules else Reason.STATIC)


def bucket(flag_key: str, targeting_key: str) -> float:
    """Where a targeting key falls in [0, 100) for this flag; the same every time, everywhere."""
    digest = hashlib.sha256(f"{flag_key}/{targeting_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS * 100 / BUCKETS


def rollout_variant(flag_key: str, targeting_key: str, rollout: list[dict]) -> str:
    point = bucket(flag_key, targeting_key)
    cumulative = 0
    for share in rollout:
        cumulative += share["weight"]
        if point < cumulative:
            return share["variant"]
    return rollout[-1]["variant"]  # unreachable when weights sum to 100


def value_key(value: Any) -> str:
    """The valueDistribution key of a served value (README, "Flag usage")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _serve(flag: CompiledFlag, variant: str, reason: Reason) -> Resolution:
    if variant not in flag.variants:
        # The API refuses such a flag; only a hand edit of the database can make one.
        raise EvaluationError("GENERAL", f"Flag '{flag.key}' serves variant '{variant}', which it does not define.")
    value = flag.variants[variant]
    return Resolution(value=value, variant=variant, reason=reason, value_key=value_key(value))


def _holds(condition: dict, context: dict[str, Any], flag_key: str, rule_index: int) -> bool:
    attribute, operator, expected = condition["attribute"], condition["operator"], condition["value"]
    if attribute not in context or context[attribute] is None:
        return False  # a missing attribute matches no condition, negated ones included
    actual = context[attribute]
    if operator in SCALAR_OPERATORS:
        return same_value(actual, expected) == (operator == "eq")
    if operator in LIST_OPERATORS:
        found = any(same_value(actual, item) for item in expected)
        return found == (operator == "in")
    if operator in STRING_OPERATORS:
        if not isinstance(actual, str):
            raise _type_mismatch(flag_key, rule_index, attribute, operator, "a string", actual)
        if operator == "contains":
            return expected in actual
        return actual.startswith(expected) if operator == "starts_with" else actual.endswith(expected)
    if not is_number(actual):
        raise _type_mismatch(flag_key, rule_index, attribute, operator, "a number", actual)
    if operator == "gt":
        return actual > expected
    if operator == "gte":
        return actual >= expected
    if operator == "lt":
        return actual < expected
    return actual <= expected


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same_value(a: Any, b: Any) -> bool:
    """Equality without Python's loose ``True == 1``: numbers equal numbers, strings strings."""
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _type_mismatch(flag_key: str, rule_index: int, attribute: str, operator: str, wanted: str, actual: Any):
    # INVALID_CONTEXT, not TYPE_MISMATCH: OpenFeature's TYPE_MISMATCH is about the flag's value
    # and is not among OFREP's error codes; here the context fails what the rule needs.
    return EvaluationError(
        "INVALID_CONTEXT",
        f"Flag '{flag_key}' rule {rule_index + 1} compares '{attribute}' with {operator}, which needs {wanted}; "
        f"the context has {type(actual).__name__ if actual is not None else 'null'}.",
    )
