"""The console's flag forms: posted fields in, the API's body shape out, and the API's errors back onto fields.

Nothing here validates a flag: the form text is turned into the same JSON the
API receives (variants, per-environment settings) and handed to the same
services, whose one validation module (``flags.definitions``) names the field
at fault, e.g. ``body.rules[1].rollout: weights must sum to 100``. That path
is what puts the message next to the right input. Text that cannot even be
parsed (a number flag's "abc") is passed on as text, so the definitions module
rejects it with its own message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flags.evaluation import LIST_OPERATORS, NUMBER_OPERATORS, OPERATORS, STRING_OPERATORS
from flags.models import Flag

# Blank rows offered for new variants without any JavaScript.
BLANK_VARIANT_ROWS = 2
# How many rows a posted form may carry: a bound on work, far above any real flag.
MAX_ROWS = 200
OPERATOR_CHOICES = sorted(OPERATORS)
SETTINGS_FIELD = "body"


def split_error(message: str) -> tuple[str, str]:
    """``"variants.on: must be …"`` → (``"variants.on"``, ``"must be …"``)."""
    path, sep, text = message.partition(": ")
    return (path, text) if sep else ("", message)


def _count(post, name: str) -> int:
    value = post.get(name, "0")
    return min(int(value), MAX_ROWS) if value.isdigit() else 0


# ---- variants ---------------------------------------------------------------------------------


@dataclass
class VariantRow:
    name: str
    value: str
    error: str = ""


def value_text(flag_type: str, value: Any) -> str:
    if flag_type == Flag.Type.STRING:
        return value
    return json.dumps(value)


def parse_value(flag_type: str, text: str) -> Any:
    """A variant's value typed in a text box, as the JSON value of the flag's type (else the text itself)."""
    if flag_type == Flag.Type.STRING:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if flag_type == Flag.Type.BOOLEAN and isinstance(value, bool):
        return value
    if flag_type == Flag.Type.NUMBER and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if flag_type == Flag.Type.OBJECT and isinstance(value, dict):
        return value
    return text


def variant_rows(flag_type: str, variants: dict[str, Any]) -> list[VariantRow]:
    rows = [VariantRow(name, value_text(flag_type, value)) for name, value in variants.items()]
    return rows + [VariantRow("", "") for _ in range(BLANK_VARIANT_ROWS)]


def default_variant_rows(flag_type: str) -> list[VariantRow]:
    if flag_type == Flag.Type.BOOLEAN:
        return variant_rows(flag_type, {"on": True, "off": False})
    return variant_rows(flag_type, {})


def posted_variant_rows(post) -> list[VariantRow]:
    rows = []
    for index in range(_count(post, "variants")):
        name = post.get(f"variant-{index}-name", "").strip()
        value = post.get(f"variant-{index}-value", "")
        rows.append(VariantRow(name, value))
    return rows


@dataclass
class VariantsForm:
    rows: list[VariantRow]
    error: str = ""  # about the variants as a whole (none given, one renamed while a rule uses it…)

    def to_body(self, flag_type: str) -> dict[str, Any]:
        """Rows with a name or a value, in their order; a second row of one name is flagged here (JSON cannot say it)."""
        variants: dict[str, Any] = {}
        for row in self.rows:
            if not row.name and not row.value.strip():
                continue
            if row.name in variants:
                row.error = "this name is used twice."
                raise RowError
            variants[row.name] = parse_value(flag_type, row.value)
        return variants

    def show_error(self, path: str, text: str) -> bool:
        if path.startswith("variants."):
            name = path.removeprefix("variants.")
            for row in self.rows:
                if row.name == name:
                    row.error = text
                    return True
        if path == "variants" or path.startswith("environments."):
            self.error = text if path == "variants" else f"{text} (a rule or default of an environment uses it)"
            return True
        return False

    def with_blank_rows(self) -> VariantsForm:
        filled = [row for row in self.rows if row.name or row.value.strip() or row.error]
        self.rows = filled + [VariantRow("", "") for _ in range(BLANK_VARIANT_ROWS)]
        return self


class RowError(Exception):
    """A mistake the form itself found and already put next to its row."""


# ---- per-environment settings -----------------------------------------------------------------


@dataclass
class ConditionRow:
    attribute: str = ""
    operator: str = "eq"
    value: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def blank(self) -> bool:
        return not self.attribute.strip() and not self.value.strip()


@dataclass
class WeightRow:
    variant: str
    weight: str = ""
    error: str = ""


@dataclass
class RuleRow:
    conditions: list[ConditionRow]
    serve: str = "variant"  # or "rollout"
    variant: str = ""
    weights: list[WeightRow] = field(default_factory=list)
    error: str = ""
    variant_error: str = ""
    rollout_error: str = ""


def _scalar_text(value: Any) -> str:
    """The text that parses back to ``value``: text that would read as a number or boolean is quoted."""
    if isinstance(value, str) and _scalar(value) == value and not value.startswith('"'):
        return value
    return json.dumps(value)


def condition_value_text(operator: str, value: Any) -> str:
    if operator in STRING_OPERATORS and isinstance(value, str):
        return value
    if operator in LIST_OPERATORS and isinstance(value, list):
        return ", ".join(_scalar_text(item) for item in value)
    return _scalar_text(value)


def _scalar(text: str) -> Any:
    """``42`` and ``true`` compare as a number and a boolean, ``"42"`` (quoted) and anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (str, bool, int, float)) else text


def parse_condition_value(operator: str, text: str) -> Any:
    text = text.strip()
    if operator in STRING_OPERATORS:
        return text
    if operator in LIST_OPERATORS:
        return [_scalar(item.strip()) for item in text.split(",") if item.strip()]
    if operator in NUMBER_OPERATORS:
        return _scalar(text)
    return _scalar(text)


def _weights_for(variants: list[str], rollout: list[dict] | None) -> list[WeightRow]:
    given = {share["variant"]: str(share["weight"]) for share in rollout or []}
    return [WeightRow(name, given.get(name, "")) for name in variants]


@dataclass
class SettingsForm:
    """One environment's settings of a flag: on/off, default variant, ordered rules."""

    variants: list[str]
    enabled: bool
    default_variant: str
    rules: list[RuleRow]
    errors: dict[str, str] = field(default_factory=dict)  # "enabled", "defaultVariant", "offVariant", "rules"
    off_variant: str = ""

    @classmethod
    def from_settings(cls, variants: list[str], settings: dict) -> SettingsForm:
        rules = []
        for rule in settings["rules"]:
            conditions = [
                ConditionRow(c["attribute"], c["operator"], condition_value_text(c["operator"], c["value"]))
                for c in rule["conditions"]
            ]
            rules.append(
                RuleRow(
                    conditions=conditions,
                    serve="rollout" if "rollout" in rule else "variant",
                    variant=rule.get("variant", ""),
                    weights=_weights_for(variants, rule.get("rollout")),
                )
            )
        return cls(variants, settings["enabled"], settings["defaultVariant"], rules, off_variant=settings["offVariant"])

    @classmethod
    def from_post(cls, variants: list[str], post) -> SettingsForm:
        rules = []
        for i in range(_count(post, "rules")):
            conditions = [
                ConditionRow(
                    post.get(f"rule-{i}-cond-{j}-attribute", ""),
                    post.get(f"rule-{i}-cond-{j}-operator", "eq"),
                    post.get(f"rule-{i}-cond-{j}-value", ""),
                )
                for j in range(_count(post, f"rule-{i}-conditions"))
            ]
            weights = [WeightRow(name, post.get(f"rule-{i}-weight-{name}", "").strip()) for name in variants]
            rules.append(
                RuleRow(
                    conditions=conditions,
                    serve="rollout" if post.get(f"rule-{i}-serve") == "rollout" else "variant",
                    variant=post.get(f"rule-{i}-variant", ""),
                    weights=weights,
                )
            )
        return cls(
            variants,
            post.get("enabled") == "on",
            post.get("defaultVariant", ""),
            rules,
            off_variant=post.get("offVariant", ""),
        )

    def apply(self, operation: str) -> None:
        """The buttons that shape the form before saving: add, remove and move rules, add conditions."""
        verb, _, arg = operation.partition(":")
        index = int(arg) if arg.isdigit() else -1
        if verb == "add_rule":
            default = self.variants[0] if self.variants else ""
            self.rules.append(RuleRow([ConditionRow()], variant=default, weights=_weights_for(self.variants, None)))
        elif not 0 <= index < len(self.rules):
            return
        elif verb == "remove_rule":
            del self.rules[index]
        elif verb == "up" and index > 0:
            self.rules[index - 1], self.rules[index] = self.rules[index], self.rules[index - 1]
        elif verb == "down" and index < len(self.rules) - 1:
            self.rules[index + 1], self.rules[index] = self.rules[index], self.rules[index + 1]
        elif verb == "add_condition":
            self.rules[index].conditions.append(ConditionRow())

    def to_body(self) -> dict[str, Any]:
        """The body of ``PUT …/environments/{id}``; blank condition rows are left out."""
        rules = []
        for rule in self.rules:
            body: dict[str, Any] = {
                "conditions": [
                    {
                        "attribute": c.attribute.strip(),
                        "operator": c.operator,
                        "value": parse_condition_value(c.operator, c.value),
                    }
                    for c in rule.conditions
                    if not c.blank
                ]
            }
            if rule.serve == "rollout":
                body["rollout"] = [
                    {"variant": w.variant, "weight": int(w.weight) if w.weight.isdigit() else w.weight}
                    for w in rule.weights
                    if w.weight != ""
                ]
            else:
                body["variant"] = rule.variant
            rules.append(body)
        body = {"enabled": self.enabled, "defaultVariant": self.default_variant, "rules": rules}
        if self.off_variant:
            body["offVariant"] = self.off_variant
        return body

    def show_error(self, message: str) -> None:
        """Put the definitions module's message next to the input its path names."""
        path, text = split_error(message)
        path = path.removeprefix(f"{SETTINGS_FIELD}.") if path != SETTINGS_FIELD else ""
        for i, rule in enumerate(self.rules):
            prefix = f"rules[{i}]"
            if path != prefix and not path.startswith(prefix + "."):
                continue
            rest = path.removeprefix(prefix)
            if rest.startswith(".conditions["):
                kept = [c for c in rule.conditions if not c.blank]
                j_text, _, part = rest.removeprefix(".conditions[").partition("]")
                j = int(j_text) if j_text.isdigit() else 0
                if j < len(kept):
                    kept[j].errors[part.removeprefix(".") or "row"] = text
                    return
            elif rest.startswith(".rollout["):
                # rollout[k] counts the shares sent: the weights that were filled in
                k_text = rest.removeprefix(".rollout[").partition("]")[0]
                filled = [w for w in rule.weights if w.weight != ""]
                if k_text.isdigit() and int(k_text) < len(filled):
                    filled[int(k_text)].error = text
                else:
                    rule.rollout_error = text
                return
            elif rest.startswith(".rollout"):
                rule.rollout_error = text
                return
            elif rest == ".variant":
                rule.variant_error = text
                return
            rule.error = text
            return
        key = path if path in ("enabled", "defaultVariant") else "rules"
        self.errors[key] = text
