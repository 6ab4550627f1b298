from __future__ import annotations

import pytest

from flags.evaluation import CompiledFlag, EvaluationError, bucket, evaluate, value_key
from flags.models import Reason


def flag(rules=(), *, enabled=True, key="f", variants=None, default="off") -> CompiledFlag:
    return CompiledFlag(
        id=1,
        key=key,
        type="boolean",
        variants=variants or {"on": True, "off": False},
        enabled=enabled,
        default_variant=default,
        rules=tuple(rules),
    )


def when(attribute, operator, value, variant="on"):
    return {"conditions": [{"attribute": attribute, "operator": operator, "value": value}], "variant": variant}


@pytest.mark.parametrize(
    ("rule", "context", "matches"),
    [
        (when("plan", "eq", "pro"), {"plan": "pro"}, True),
        (when("plan", "eq", "pro"), {"plan": "Pro"}, False),
        (when("beta", "eq", True), {"beta": 1}, False),  # no loose True == 1
        (when("seats", "eq", 3), {"seats": 3.0}, True),
        (when("plan", "neq", "pro"), {"plan": "free"}, True),
        (when("plan", "neq", "pro"), {}, False),  # a missing attribute matches nothing, negations included
        (when("plan", "in", ["pro", "team"]), {"plan": "team"}, True),
        (when("plan", "not_in", ["pro", "team"]), {"plan": "free"}, True),
        (when("plan", "not_in", ["pro", "team"]), {"plan": "pro"}, False),
        (when("email", "contains", "@acme"), {"email": "a@acme.test"}, True),
        (when("email", "starts_with", "a@"), {"email": "a@acme.test"}, True),
        (when("email", "ends_with", ".test"), {"email": "a@acme.com"}, False),
        (when("age", "gt", 18), {"age": 18}, False),
        (when("age", "gte", 18), {"age": 18}, True),
        (when("age", "lt", 18), {"age": 17.5}, True),
        (when("age", "lte", 18), {"age": 19}, False),
        (when("targetingKey", "eq", "u1"), {"targetingKey": "u1"}, True),
    ],
)
def test_each_operator(rule, context, matches):
    resolution = evaluate(flag([rule]), context)
    assert resolution.reason == (Reason.TARGETING_MATCH if matches else Reason.DEFAULT)
    assert resolution.variant == ("on" if matches else "off")


def test_the_first_matching_rule_wins_and_all_conditions_must_hold():
    rules = [
        {
            "conditions": [
                {"attribute": "plan", "operator": "eq", "value": "pro"},
                {"attribute": "age", "operator": "gte", "value": 18},
            ],
            "variant": "on",
        },
        {"conditions": [{"attribute": "plan", "operator": "eq", "value": "pro"}], "variant": "off"},
    ]
    assert evaluate(flag(rules, default="on"), {"plan": "pro", "age": 20}).variant == "on"
    assert evaluate(flag(rules, default="on"), {"plan": "pro", "age": 10}).variant == "off"


def test_a_disabled_flag_serves_its_default_variant():
    resolution = evaluate(flag([when("plan", "eq", "pro")], enabled=False, default="on"), {"plan": "pro"})
    assert (resolution.value, resolution.reason) == (True, Reason.DISABLED)


def test_comparing_an_attribute_of_the_wrong_type_is_an_invalid_context():
    with pytest.raises(EvaluationError) as error:
        evaluate(flag([when("age", "gt", 18)]), {"age": "20"})
    assert error.value.code == "INVALID_CONTEXT"
    assert "'age'" in error.value.details


def test_a_rollout_needs_a_targeting_key():
    rollout = [{"conditions": [], "rollout": [{"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}]}]
    with pytest.raises(EvaluationError) as error:
        evaluate(flag(rollout), {"plan": "pro"})
    assert error.value.code == "TARGETING_KEY_MISSING"


def test_bucketing_is_stable_and_a_50_50_split_of_10000_keys_lands_within_3_percent():
    rollout = [{"conditions": [], "rollout": [{"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}]}]
    served = [evaluate(flag(rollout), {"targetingKey": f"user-{n}"}) for n in range(10_000)]
    assert all(r.reason == Reason.SPLIT for r in served)
    on = sum(r.variant == "on" for r in served)
    assert 4700 <= on <= 5300
    again = [evaluate(flag(rollout), {"targetingKey": f"user-{n}"}).variant for n in range(10_000)]
    assert again == [r.variant for r in served]


def test_buckets_depend_on_the_flag_so_rollouts_are_independent():
    keys = [f"user-{n}" for n in range(2000)]
    a = [bucket("flag-a", k) < 50 for k in keys]
    b = [bucket("flag-b", k) < 50 for k in keys]
    agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(keys)
    assert 0.45 < agreement < 0.55
    assert all(0 <= bucket("flag-a", k) < 100 for k in keys)


def test_a_30_70_rollout_serves_by_weight():
    rollout = [{"conditions": [], "rollout": [{"variant": "on", "weight": 30}, {"variant": "off", "weight": 70}]}]
    on = sum(evaluate(flag(rollout), {"targetingKey": str(n)}).variant == "on" for n in range(10_000))
    assert 2700 <= on <= 3300


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (True, "true"),
        (False, "false"),
        ("blue", "blue"),
        ("", ""),
        (3, "3"),
        (2.5, "2.5"),
        ({"b": 1, "a": [1, "x"]}, '{"a":[1,"x"],"b":1}'),
        ({"é": "ü"}, '{"é":"ü"}'),
    ],
)
def test_value_keys(value, key):
    assert value_key(value) == key


def test_a_flag_naming_a_variant_it_lacks_is_a_general_error():
    with pytest.raises(EvaluationError) as error:
        evaluate(flag(default="gone"), {})
    assert error.value.code == "GENERAL"
