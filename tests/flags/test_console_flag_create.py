from __future__ import annotations

import pytest

from flags.models import Flag, FlagEnvironment
from tenancy.models import AuditEntry
from tests.flags.console_helpers import field_errors, signed_in, variant_fields

pytestmark = pytest.mark.django_db


def create_url(org, project) -> str:
    return f"/o/{org.slug}/projects/{project.public_id}/new-flag/"


def post(client, org, project, **fields):
    body = {
        "op": "save",
        "key": "",
        "type": "boolean",
        "description": "",
        **variant_fields([("on", "true"), ("off", "false")]),
    }
    body.update(fields)
    return client.post(create_url(org, project), body)


def test_an_owner_creates_a_flag_off_in_every_environment_and_it_is_audited(
    client, org, owner, project, production, staging
):
    response = post(signed_in(client, owner), org, project, key="dark-mode", description="Night theme")

    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/projects/{project.public_id}/flags/dark-mode/settings/?created=1"
    flag = Flag.objects.get(project=project, key="dark-mode")
    assert (flag.type, flag.description, flag.ordered_variants) == (
        "boolean",
        "Night theme",
        {"on": True, "off": False},
    )
    assert {(row.enabled, row.default_variant) for row in FlagEnvironment.objects.filter(flag=flag)} == {(False, "on")}
    entry = AuditEntry.objects.get(action="flag.created")
    assert (entry.actor_type, entry.actor_name, entry.target_id) == ("user", "alice", flag.public_id)


@pytest.mark.parametrize(
    ("flag_type", "rows", "expected"),
    [
        ("string", [("blue", "#00f"), ("red", "#f00")], {"blue": "#00f", "red": "#f00"}),
        ("number", [("low", "1"), ("high", "2.5")], {"low": 1, "high": 2.5}),
        ("object", [("a", '{"limit": 3}'), ("b", "{}")], {"a": {"limit": 3}, "b": {}}),
    ],
)
def test_a_member_creates_flags_with_typed_values(client, org, teammate, project, flag_type, rows, expected):
    response = post(
        signed_in(client, teammate), org, project, key="thing", type=flag_type, **variant_fields([*rows, ("", "")])
    )

    assert response.status_code == 302
    assert Flag.objects.get(key="thing").ordered_variants == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": ""}, "1–100 letters, digits"),
        ({"key": "bad key!"}, "1–100 letters, digits"),
        ({"key": "x", "type": "color"}, "must be one of boolean, string, number, object."),
        ({"key": "x", "description": "d" * 501}, "at most 500 characters"),
        ({"key": "x", **variant_fields([("on", "yes")])}, "must be true or false for a boolean flag."),
        ({"key": "x", "type": "number", **variant_fields([("low", "abc")])}, "must be a number for a number flag."),
        (
            {"key": "x", "type": "object", **variant_fields([("a", "{not json")])},
            "must be a JSON object for an object flag.",
        ),
        ({"key": "x", **variant_fields([("", "")])}, "must be a non-empty object of variant name → value."),
        ({"key": "x", **variant_fields([("on", "true"), ("on", "false")])}, "this name is used twice."),
    ],
)
def test_each_mistake_is_shown_next_to_its_field_and_nothing_is_saved(
    client, org, owner, project, production, fields, message
):
    response = post(signed_in(client, owner), org, project, **fields)

    assert response.status_code == 400
    assert message in " ".join(field_errors(response))
    assert not Flag.objects.exists()
    assert not AuditEntry.objects.filter(action="flag.created").exists()


def test_a_duplicate_key_is_shown_next_to_the_key(client, org, owner, project):
    signed_in(client, owner)
    assert post(client, org, project, key="dark-mode").status_code == 302
    response = post(client, org, project, key="dark-mode")
    assert response.status_code == 400
    assert field_errors(response) == ["a flag with key 'dark-mode' already exists in this project."]
    assert Flag.objects.count() == 1


def test_the_form_keeps_what_was_typed_after_an_error(client, org, owner, project):
    response = post(signed_in(client, owner), org, project, key="keep-me", description="Typed once")
    assert response.status_code == 302
    response = post(client, org, project, key="keep-me", description="Typed twice")
    assert 'value="Typed twice"' in response.content.decode()


def test_a_viewer_sees_no_form_and_cannot_post_one(client, org, viewer, project):
    signed_in(client, viewer)
    page = client.get(create_url(org, project))
    assert page.status_code == 200
    assert 'id="read-only"' in page.content.decode() and 'id="flag-create-form"' not in page.content.decode()
    assert post(client, org, project, key="sneaky").status_code == 403
    assert not Flag.objects.exists()


def test_an_outsider_gets_a_404(client, org, outsider, project):
    signed_in(client, outsider)
    assert client.get(create_url(org, project)).status_code == 404
    assert post(client, org, project, key="sneaky").status_code == 404
    assert not Flag.objects.exists()


def test_changing_the_type_keeps_the_key_and_offers_that_type_s_variants(client, org, owner, project):
    response = post(
        signed_in(client, owner), org, project, key="limits", description="Seats", type="number", op="change_type"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="limits"' in page and 'value="Seats"' in page
    assert 'name="variant-0-name" value=""' in page  # a number flag has no default variants
    assert not Flag.objects.exists()


def test_a_new_boolean_flag_is_off_on_false_and_every_off_badge_says_so(client, org, owner, project, production):
    signed_in(client, owner)
    assert post(client, org, project, key="beta").status_code == 302
    assert FlagEnvironment.objects.get(flag__key="beta", environment=production).off_variant == "off"
    settings = client.get(f"/o/{org.slug}/projects/{project.public_id}/flags/beta/settings/").content.decode()
    listing = client.get(f"/o/{org.slug}/projects/{project.public_id}/").content.decode()
    assert "Off: serves false" in settings and "Off: serves false" in listing


def test_the_form_takes_an_off_variant_and_an_unknown_one_creates_nothing(client, org, owner, project, production):
    signed_in(client, owner)
    response = post(client, org, project, key="beta", offVariant="maybe")
    assert response.status_code == 400
    assert any("must name one of the flag's variants" in error for error in field_errors(response))
    assert not Flag.objects.filter(key="beta").exists()
    assert post(client, org, project, key="beta", offVariant="on").status_code == 302
    assert FlagEnvironment.objects.get(flag__key="beta", environment=production).off_variant == "on"
