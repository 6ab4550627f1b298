from __future__ import annotations

import pytest

from flags.models import FlagEnvironment
from tenancy.models import AuditEntry
from tests.flags.console_helpers import field_errors, settings_fields, signed_in
from tests.flags.factories import boolean_flag

pytestmark = pytest.mark.django_db

VARIANTS = ["on", "off"]


@pytest.fixture
def flag(project, production, staging):
    return boolean_flag(project, "new-checkout")


def url(org, project, flag, environment) -> str:
    return f"/o/{org.slug}/projects/{project.public_id}/flags/{flag.key}/environments/{environment.public_id}/"


def stored(flag, environment) -> FlagEnvironment:
    return FlagEnvironment.objects.get(flag=flag, environment=environment)


RULE_AND_ROLLOUT = [
    {"conditions": [("plan", "in", "pro, team"), ("seats", "gte", "10")], "variant": "on"},
    {"conditions": [("", "eq", "")], "weights": {"on": "25", "off": "75"}},
]


def test_an_owner_turns_a_flag_on_with_a_rule_and_a_rollout_in_one_environment(
    client, org, owner, project, flag, production, staging
):
    body = settings_fields(enabled=True, default="off", rules=RULE_AND_ROLLOUT, variants=VARIANTS)

    response = signed_in(client, owner).post(url(org, project, flag, staging), body)

    assert response.status_code == 302
    assert response["Location"].endswith("?saved=1")
    row = stored(flag, staging)
    assert (row.enabled, row.default_variant) == (True, "off")
    assert row.rules == [
        {
            "conditions": [
                {"attribute": "plan", "operator": "in", "value": ["pro", "team"]},
                {"attribute": "seats", "operator": "gte", "value": 10},
            ],
            "variant": "on",
        },
        {"conditions": [], "rollout": [{"variant": "on", "weight": 25}, {"variant": "off", "weight": 75}]},
    ]
    assert stored(flag, production).enabled is False
    entry = AuditEntry.objects.get(action="flag.environment_updated")
    assert (entry.actor_name, entry.before["enabled"], entry.after["enabled"]) == ("alice", False, True)
    assert entry.after["environmentId"] == staging.public_id


def test_the_saved_rules_are_shown_back_as_typed(client, org, owner, project, flag, staging):
    signed_in(client, owner).post(
        url(org, project, flag, staging),
        settings_fields(enabled=True, default="off", rules=RULE_AND_ROLLOUT, variants=VARIANTS),
    )
    page = client.get(url(org, project, flag, staging)).content.decode()
    assert 'value="pro, team"' in page and 'value="10"' in page
    assert 'name="rule-1-weight-on" value="25"' in page
    assert 'id="enabled" checked' in page


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"conditions": [("plan", "gt", "pro")], "variant": "on"}], "gt needs a number."),
        (
            [{"conditions": [("", "eq", "pro")], "variant": "on"}],
            "must be a non-empty string of at most 200 characters.",
        ),
        ([{"conditions": [("plan", "in", " , ")], "variant": "on"}], "in needs a non-empty list"),
        ([{"conditions": [], "weights": {"on": "25", "off": "70"}}], "weights must sum to 100."),
        ([{"conditions": [], "weights": {"on": "a lot", "off": "0"}}], "on: must be a whole number from 0 to 100."),
        ([{"conditions": [], "weights": {"on": "", "off": "101"}}], "off: must be a whole number from 0 to 100."),
        ([{"conditions": [], "weights": {}}], "must be a non-empty list of {variant, weight}."),
        ([{"conditions": [], "variant": "maybe"}], "must name one of the flag's variants (on, off)."),
    ],
)
def test_each_rule_mistake_is_shown_next_to_its_input_and_nothing_is_saved(
    client, org, owner, project, flag, staging, rules, message
):
    body = settings_fields(enabled=True, default="off", rules=rules, variants=VARIANTS)

    response = signed_in(client, owner).post(url(org, project, flag, staging), body)

    assert response.status_code == 400
    errors = field_errors(response)
    assert len(errors) == 1 and message in errors[0]
    row = stored(flag, staging)
    assert (row.enabled, row.default_variant, row.rules) == (False, "on", [])
    assert not AuditEntry.objects.filter(action="flag.environment_updated").exists()


def test_an_unknown_default_variant_is_shown_next_to_the_default(client, org, owner, project, flag, staging):
    body = settings_fields(enabled=True, default="maybe", rules=[], variants=VARIANTS)
    response = signed_in(client, owner).post(url(org, project, flag, staging), body)
    assert response.status_code == 400
    assert 'id="default-error"' in response.content.decode()
    assert stored(flag, staging).enabled is False


def test_adding_moving_and_removing_rules_reshapes_the_form_without_saving(client, org, owner, project, flag, staging):
    two_rules = [
        {"conditions": [("plan", "eq", "pro")], "variant": "on"},
        {"conditions": [("plan", "eq", "free")], "variant": "off"},
    ]
    body = settings_fields(enabled=True, default="off", rules=two_rules, variants=VARIANTS)
    signed_in(client, owner)

    moved = client.post(url(org, project, flag, staging), {**body, "op": "up:1"}).content.decode()
    added = client.post(url(org, project, flag, staging), {**body, "op": "add_rule"}).content.decode()
    removed = client.post(url(org, project, flag, staging), {**body, "op": "remove_rule:0"}).content.decode()
    condition = client.post(url(org, project, flag, staging), {**body, "op": "add_condition:0"}).content.decode()

    assert moved.index('value="free"') < moved.index('value="pro"')
    assert 'id="rule-2"' in added
    assert 'value="pro"' not in removed and 'value="free"' in removed
    assert 'name="rule-0-cond-1-attribute"' in condition
    assert stored(flag, staging).rules == []
    assert not AuditEntry.objects.filter(action="flag.environment_updated").exists()


def test_the_saved_order_is_the_order_on_the_page(client, org, owner, project, flag, staging):
    rules = [
        {"conditions": [("plan", "eq", "free")], "variant": "off"},
        {"conditions": [("plan", "eq", "pro")], "variant": "on"},
    ]
    signed_in(client, owner).post(
        url(org, project, flag, staging), settings_fields(enabled=True, default="off", rules=rules, variants=VARIANTS)
    )
    assert [r["conditions"][0]["value"] for r in stored(flag, staging).rules] == ["free", "pro"]


def test_a_viewer_reads_the_rules_but_cannot_save_them(client, org, viewer, project, flag, staging):
    signed_in(client, viewer)
    page = client.get(url(org, project, flag, staging)).content.decode()
    assert 'id="read-only"' in page and 'id="save-environment"' not in page
    body = settings_fields(enabled=True, default="off", rules=[], variants=VARIANTS)
    assert client.post(url(org, project, flag, staging), body).status_code == 403
    assert stored(flag, staging).enabled is False


def test_an_outsider_gets_a_404(client, org, outsider, project, flag, staging):
    signed_in(client, outsider)
    assert client.get(url(org, project, flag, staging)).status_code == 404
    body = settings_fields(enabled=True, default="off", rules=[], variants=VARIANTS)
    assert client.post(url(org, project, flag, staging), body).status_code == 404
    assert stored(flag, staging).enabled is False


def test_an_environment_of_another_project_is_a_404(client, org, owner, project, flag):
    from tests.flags.factories import ProjectFactory, environment_with_key

    elsewhere, _ = environment_with_key(ProjectFactory(organization=org), "staging")
    assert signed_in(client, owner).get(url(org, project, flag, elsewhere)).status_code == 404


@pytest.mark.parametrize(
    ("operator", "value", "shown"),
    [
        ("eq", "42", '"42"'),
        ("eq", 42, "42"),
        ("eq", True, "true"),
        ("eq", "true", '"true"'),
        ("eq", "pro", "pro"),
        ("in", ["1", 2, "true", "gold"], '"1", 2, "true", gold'),
        ("ends_with", "42", "42"),
        ("gte", 2.5, "2.5"),
    ],
)
def test_a_condition_made_by_the_api_reads_back_as_the_same_value(operator, value, shown):
    from flags.forms import condition_value_text, parse_condition_value

    assert condition_value_text(operator, value) == shown
    assert parse_condition_value(operator, shown) == value


def test_text_that_looks_like_a_number_is_shown_quoted(client, org, owner, project, flag, staging):
    from flags import services

    rules = [{"conditions": [{"attribute": "build", "operator": "eq", "value": "42"}], "variant": "on"}]
    services.flag_environment_set(flag=flag, environment=staging, settings={"rules": rules})
    page = signed_in(client, owner).get(url(org, project, flag, staging)).content.decode()
    assert 'name="rule-0-cond-0-value" value="&quot;42&quot;"' in page
