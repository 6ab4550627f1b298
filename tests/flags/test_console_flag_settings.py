from __future__ import annotations

import pytest

from flags import services
from flags.models import Flag
from tenancy.models import AuditEntry
from tests.flags.console_helpers import field_errors, signed_in, variant_fields
from tests.flags.factories import boolean_flag

pytestmark = pytest.mark.django_db


@pytest.fixture
def flag(project, production, staging):
    return boolean_flag(
        project, "new-checkout", environments={staging.public_id: {"enabled": True, "defaultVariant": "off"}}
    )


def url(org, project, flag) -> str:
    return f"/o/{org.slug}/projects/{project.public_id}/flags/{flag.key}/settings/"


def test_an_admin_edits_the_description_and_variants(client, org, org_admin, project, flag):
    body = {"description": "Checkout v2", **variant_fields([("on", "true"), ("off", "false"), ("", "")])}

    response = signed_in(client, org_admin).post(url(org, project, flag), body)

    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.description == "Checkout v2"
    entry = AuditEntry.objects.get(action="flag.updated")
    assert (entry.actor_type, entry.actor_name) == ("user", "ada")
    assert (entry.before["description"], entry.after["description"]) == ("", "Checkout v2")


def test_a_string_flag_gains_a_variant(client, org, owner, project, production):
    flag = services.flag_create(project=project, key="theme", type="string", variants={"light": "#fff"})
    body = {"description": "", **variant_fields([("light", "#fff"), ("dark", "#000")])}
    assert signed_in(client, owner).post(url(org, project, flag), body).status_code == 302
    flag.refresh_from_db()
    assert flag.ordered_variants == {"light": "#fff", "dark": "#000"}


def test_renaming_a_variant_an_environment_serves_is_refused_next_to_the_variants(client, org, owner, project, flag):
    body = {"description": "", **variant_fields([("on", "true"), ("disabled", "false")])}

    response = signed_in(client, owner).post(url(org, project, flag), body)

    assert response.status_code == 400
    (error,) = field_errors(response)
    assert "must name one of the flag's variants (on, disabled)." in error
    flag.refresh_from_db()
    assert flag.ordered_variants == {"on": True, "off": False}
    assert not AuditEntry.objects.filter(action="flag.updated").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"description": "d" * 501, **variant_fields([("on", "true"), ("off", "false")])}, "at most 500 characters"),
        (
            {"description": "", **variant_fields([("on", "1"), ("off", "false")])},
            "must be true or false for a boolean flag.",
        ),
        ({"description": "", **variant_fields([("bad name!", "true")])}, "1–100 letters, digits"),
    ],
)
def test_each_mistake_is_shown_next_to_its_field_and_nothing_is_saved(client, org, owner, project, flag, body, message):
    response = signed_in(client, owner).post(url(org, project, flag), body)
    assert response.status_code == 400
    assert message in " ".join(field_errors(response))
    assert Flag.objects.get(pk=flag.pk).description == ""
    assert not AuditEntry.objects.filter(action="flag.updated").exists()


def test_the_page_lists_each_environment_state(client, org, owner, project, flag, production, staging):
    page = signed_in(client, owner).get(url(org, project, flag)).content.decode()
    staging_row = page[page.index(f'data-environment="{staging.public_id}"') :]
    assert "status-active" in staging_row.split("</tr>")[0]


def test_a_viewer_reads_the_definition_but_cannot_change_it(client, org, viewer, project, flag):
    signed_in(client, viewer)
    page = client.get(url(org, project, flag)).content.decode()
    assert 'id="read-only"' in page and 'id="save-definition"' not in page and 'id="delete-flag"' not in page
    body = {"description": "sneaky", **variant_fields([("on", "true"), ("off", "false")])}
    assert client.post(url(org, project, flag), body).status_code == 403
    assert Flag.objects.get(pk=flag.pk).description == ""


def test_an_outsider_gets_a_404(client, org, outsider, project, flag):
    signed_in(client, outsider)
    assert client.get(url(org, project, flag)).status_code == 404
    assert client.post(url(org, project, flag), {"description": "x"}).status_code == 404
