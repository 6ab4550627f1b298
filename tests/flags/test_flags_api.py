from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from flags.models import Flag, FlagEnvironment
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


def flags_url(project) -> str:
    return f"/v1/projects/{project.public_id}/flags"


@pytest.mark.parametrize(
    ("type", "variants"),
    [
        ("boolean", {"on": True, "off": False}),
        ("string", {"blue": "#00f", "red": "#f00"}),
        ("number", {"low": 1, "high": 2.5}),
        ("object", {"a": {"limit": 3, "tags": ["x"]}, "b": {}}),
    ],
)
def test_it_creates_a_flag_of_each_type_disabled_in_every_environment(
    api, project, production, staging, type, variants
):
    response = api.post(flags_url(project), {"key": "thing", "type": type, "variants": variants}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"].startswith("flag_")
    assert (data["key"], data["type"], data["variants"]) == ("thing", type, variants)
    first = next(iter(variants))
    # off means off: a boolean flag is off on its false variant even when true comes first
    off = "off" if type == "boolean" else first
    assert data["environments"] == {
        production.public_id: {"enabled": False, "defaultVariant": first, "offVariant": off, "rules": []},
        staging.public_id: {"enabled": False, "defaultVariant": first, "offVariant": off, "rules": []},
    }


def test_it_stores_rules_per_environment_and_patch_keeps_the_others(api, project, production, staging):
    rules = [
        {"conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}], "variant": "on"},
        {"conditions": [], "rollout": [{"variant": "on", "weight": 30}, {"variant": "off", "weight": 70}]},
    ]
    body = {
        "key": "new-checkout",
        "type": "boolean",
        "variants": {"off": False, "on": True},
        "environments": {production.public_id: {"enabled": True, "defaultVariant": "off", "rules": rules}},
    }
    assert api.post(flags_url(project), body, format="json").status_code == 201
    patch = {"environments": {staging.public_id: {"enabled": True, "defaultVariant": "on"}}}
    data = api.patch(f"{flags_url(project)}/new-checkout", patch, format="json").json()["data"]
    on_off = {"offVariant": "off"}
    assert data["environments"][production.public_id] == {
        "enabled": True,
        "defaultVariant": "off",
        "rules": rules,
        **on_off,
    }
    assert data["environments"][staging.public_id] == {"enabled": True, "defaultVariant": "on", "rules": [], **on_off}
    put = {"enabled": False, "defaultVariant": "on", "offVariant": "on", "rules": []}
    url = f"{flags_url(project)}/new-checkout/environments/{production.public_id}"
    data = api.put(url, put, format="json").json()["data"]
    assert data["environments"][production.public_id] == put
    assert api.get(flags_url(project)).json()["data"][0]["key"] == "new-checkout"


def test_a_new_environment_gets_existing_flags_disabled_on_their_first_variant(api, project):
    api.post(flags_url(project), {"key": "f", "type": "string", "variants": {"zeta": "z", "alpha": "a"}}, format="json")
    environment = environment_with_key(project, "qa")[0]
    row = FlagEnvironment.objects.get(environment=environment)
    assert (row.enabled, row.default_variant) == (False, "zeta")


def rule(**overrides):
    return {"conditions": [{"attribute": "plan", "operator": "eq", "value": "pro"}], "variant": "on", **overrides}


BAD_FLAGS = [
    ({"type": "boolean", "variants": {"on": True}}, "key"),
    ({"key": "has space", "type": "boolean", "variants": {"on": True}}, "key"),
    ({"key": "f", "type": "colour", "variants": {"on": True}}, "type"),
    ({"key": "f", "type": "boolean"}, "variants"),
    ({"key": "f", "type": "boolean", "variants": {}}, "variants"),
    ({"key": "f", "type": "boolean", "variants": ["on"]}, "variants"),
    ({"key": "f", "type": "boolean", "variants": {"on": "true"}}, "variants.on"),
    ({"key": "f", "type": "boolean", "variants": {"on": 1}}, "variants.on"),
    ({"key": "f", "type": "string", "variants": {"a": 3}}, "variants.a"),
    ({"key": "f", "type": "number", "variants": {"a": "3"}}, "variants.a"),
    ({"key": "f", "type": "number", "variants": {"a": True}}, "variants.a"),
    ({"key": "f", "type": "object", "variants": {"a": [1, 2]}}, "variants.a"),
    ({"key": "f", "type": "object", "variants": {"a": "{}"}}, "variants.a"),
]


@pytest.mark.parametrize(("body", "field"), BAD_FLAGS)
def test_it_rejects_bad_flags_and_stores_nothing(api, project, production, body, field):
    response = api.post(flags_url(project), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert Flag.objects.count() == 0


BAD_SETTINGS = [
    ({"defaultVariant": "maybe"}, "defaultVariant"),
    ({"enabled": "yes"}, "enabled"),
    ({"rules": {}}, "rules"),
    ({"rules": [rule(variant="maybe")]}, "rules[0].variant"),
    ({"rules": [{"conditions": []}]}, "rules[0]"),
    ({"rules": [rule(rollout=[{"variant": "on", "weight": 100}])]}, "rules[0]"),
    ({"rules": [{"rollout": [{"variant": "on", "weight": 60}, {"variant": "off", "weight": 30}]}]}, "rules[0].rollout"),
    (
        {"rules": [{"rollout": [{"variant": "on", "weight": 50}, {"variant": "on", "weight": 50}]}]},
        "rules[0].rollout[1].variant",
    ),
    (
        {"rules": [{"rollout": [{"variant": "on", "weight": 50.5}, {"variant": "off", "weight": 49.5}]}]},
        "rules[0].rollout[0].weight",
    ),
    ({"rules": [{"rollout": [{"variant": "nope", "weight": 100}]}]}, "rules[0].rollout[0].variant"),
    (
        {"rules": [rule(conditions=[{"attribute": "plan", "operator": "like", "value": "x"}])]},
        "rules[0].conditions[0].operator",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "plan", "operator": "in", "value": "pro"}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "plan", "operator": "not_in", "value": []}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "age", "operator": "gt", "value": "18"}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "age", "operator": "lte", "value": True}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "email", "operator": "ends_with", "value": 3}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "plan", "operator": "eq", "value": {"a": 1}}])]},
        "rules[0].conditions[0].value",
    ),
    (
        {"rules": [rule(conditions=[{"attribute": "", "operator": "eq", "value": "x"}])]},
        "rules[0].conditions[0].attribute",
    ),
    ({"rules": [rule(conditions=[{"attribute": "plan", "operator": "eq"}])]}, "rules[0].conditions[0]"),
]


@pytest.mark.parametrize(("settings", "field"), BAD_SETTINGS)
def test_it_rejects_bad_environment_settings_and_stores_nothing(api, project, production, settings, field):
    body = {
        "key": "f",
        "type": "boolean",
        "variants": {"on": True, "off": False},
        "environments": {production.public_id: settings},
    }
    response = api.post(flags_url(project), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["message"].startswith(f"environments.{production.public_id}.{field}:")
    assert Flag.objects.count() == 0
    flag = boolean_flag(project, "g")
    url = f"{flags_url(project)}/g/environments/{production.public_id}"
    response = api.put(url, settings, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"body.{field}:")
    row = FlagEnvironment.objects.get(flag=flag, environment=production)
    assert (row.enabled, row.default_variant, row.rules) == (False, "on", [])


def test_patching_variants_away_from_a_used_variant_is_refused(api, project, production):
    boolean_flag(project, "f", {production.public_id: {"enabled": True, "defaultVariant": "off"}})
    response = api.patch(f"{flags_url(project)}/f", {"variants": {"on": True}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"environments.{production.public_id}.defaultVariant:")
    assert Flag.objects.get().variants == {"on": True, "off": False}


def test_it_refuses_a_duplicate_key_and_a_type_change(api, project):
    boolean_flag(project, "f")
    response = api.post(flags_url(project), {"key": "f", "type": "boolean", "variants": {"on": True}}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "duplicate_key"
    response = api.patch(f"{flags_url(project)}/f", {"type": "string"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("type:")
    assert Flag.objects.get().type == "boolean"


def test_an_environment_of_another_project_is_not_found_in_a_flag_body(api, org, project):
    elsewhere = environment_with_key(ProjectFactory(organization=org), "production")[0]
    body = {"key": "f", "type": "boolean", "variants": {"on": True}, "environments": {elsewhere.public_id: {}}}
    assert api.post(flags_url(project), body, format="json").status_code == 404
    assert Flag.objects.count() == 0


def test_it_deletes_a_flag(api, project):
    boolean_flag(project, "f")
    assert api.delete(f"{flags_url(project)}/f").status_code == 204
    assert api.get(f"{flags_url(project)}/f").status_code == 404
    assert Flag.objects.count() == 0


def test_another_organizations_flags_are_not_found(outsider_api, project, production):
    boolean_flag(project, "f")
    base = flags_url(project)
    assert outsider_api.get(f"{base}/f").status_code == 404
    assert outsider_api.patch(f"{base}/f", {"description": "pwned"}, format="json").status_code == 404
    assert (
        outsider_api.put(f"{base}/f/environments/{production.public_id}", {"enabled": True}, format="json").status_code
        == 404
    )
    assert outsider_api.delete(f"{base}/f").status_code == 404
    flag = Flag.objects.get()
    assert flag.description == ""
    assert not FlagEnvironment.objects.get(flag=flag).enabled


def test_off_means_off_a_new_boolean_flag_serves_false_over_ofrep_until_turned_on(api, project):
    environment, raw_key = environment_with_key(project, "qa")
    body = {"key": "beta", "type": "boolean", "variants": {"on": True, "off": False}}
    assert api.post(flags_url(project), body, format="json").status_code == 201
    answer = (
        APIClient()
        .post(
            "/ofrep/v1/evaluate/flags/beta",
            {"context": {"targetingKey": "u1"}},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {raw_key}",
        )
        .json()
    )
    assert (answer["value"], answer["variant"], answer["reason"]) == (False, "off", "DISABLED")


def test_it_takes_an_off_variant_at_creation_and_refuses_an_unknown_one_storing_nothing(api, project, production):
    body = {"key": "tier", "type": "string", "variants": {"a": "A", "b": "B"}, "offVariant": "c"}
    response = api.post(flags_url(project), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("offVariant:")
    assert not FlagEnvironment.objects.filter(flag__key="tier").exists()
    body["offVariant"] = "b"
    data = api.post(flags_url(project), body, format="json").json()["data"]
    assert data["environments"][production.public_id]["offVariant"] == "b"
    # a PUT that leaves offVariant out keeps it
    url = f"{flags_url(project)}/tier/environments/{production.public_id}"
    data = api.put(url, {"enabled": True, "defaultVariant": "a"}, format="json").json()["data"]
    assert data["environments"][production.public_id]["offVariant"] == "b"
    bad = api.put(url, {"enabled": False, "offVariant": "zzz"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("body.offVariant:")
    assert FlagEnvironment.objects.get(flag__key="tier", environment=production).enabled is True
