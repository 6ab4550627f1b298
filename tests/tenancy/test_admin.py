from __future__ import annotations

import pytest

from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db


def test_it_keeps_the_admin_for_staff_only(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_shows_a_new_keys_secret_once_and_stores_its_hash(staff_client, org):
    response = staff_client.post(
        "/admin/packedge/apikey/add/", {"organization": org.pk, "name": "From admin"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw = next(m for m in shown if "sk_" in m).split(": ")[-1]
    api_key = ApiKey.objects.get(name="From admin")
    assert raw.startswith("sk_") and api_key.secret_hash != raw
    again = staff_client.get(f"/admin/packedge/apikey/{api_key.pk}/change/")
    assert raw not in again.content.decode()


def test_it_revokes_keys_from_the_admin(staff_client, api, org):
    api_key = ApiKey.objects.get(organization=org)
    staff_client.post("/admin/packedge/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert api.get("/v1/products").status_code == 401


@pytest.mark.parametrize(
    "url",
    ["/admin/packedge/plan/", "/admin/packedge/organization/", "/admin/events/product/", "/admin/events/license/?q=x"],
)
def test_its_lists_open_for_staff(staff_client, org, url):
    assert staff_client.get(url).status_code == 200


def test_staff_key_changes_are_audited_as_staff_without_the_secret(staff_client, org):
    from tenancy.models import AuditEntry

    staff_client.post("/admin/packedge/apikey/add/", {"organization": org.pk, "name": "From admin"})
    key = ApiKey.objects.get(name="From admin")
    staff_client.post(f"/admin/packedge/apikey/{key.pk}/change/", {"name": "Renamed"})
    staff_client.post("/admin/packedge/apikey/", {"action": "revoke", "_selected_action": [key.pk]})

    entries = list(AuditEntry.objects.filter(target_id=key.prefix).order_by("pk"))
    assert [(e.action, e.actor_type) for e in entries] == [
        ("api_key.created", "staff"),
        ("api_key.updated", "staff"),
        ("api_key.revoked", "staff"),
    ]
    assert (entries[1].before["name"], entries[1].after["name"]) == ("From admin", "Renamed")
    assert key.secret_hash not in str([(e.before, e.after) for e in entries])


def test_deleting_an_organization_in_the_admin_takes_its_audit_log_with_it(staff_client, org, api):
    from tenancy.models import AuditEntry, Organization

    assert AuditEntry.objects.filter(organization=org).exists()
    response = staff_client.post(f"/admin/packedge/organization/{org.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert not AuditEntry.objects.filter(organization_id=org.pk).exists()


def test_staff_deleting_api_keys_is_audited_as_staff_without_the_secret(staff_client, org):
    from tenancy import services
    from tenancy.models import AuditEntry

    one, raw_one = services.api_key_create(organization=org, name="One")
    two, raw_two = services.api_key_create(organization=org, name="Two")
    assert staff_client.post(f"/admin/packedge/apikey/{one.pk}/delete/", {"post": "yes"}).status_code == 302
    response = staff_client.post(
        "/admin/packedge/apikey/", {"action": "delete_selected", "_selected_action": [two.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not ApiKey.objects.filter(pk__in=[one.pk, two.pk]).exists()
    entries = AuditEntry.objects.filter(action="api_key.deleted").order_by("pk")
    assert [(e.target_id, e.actor_type, e.actor_name, e.before, e.after) for e in entries] == [
        (key.prefix, "staff", "staff", {"name": key.name, "prefix": key.prefix, "revokedAt": None}, None)
        for key in (one, two)
    ]
    assert not AuditEntry.objects.filter(before__icontains=raw_one[len(one.prefix) :]).exists()


def test_a_key_made_in_the_admin_leaves_its_secret_in_no_session_or_cookie(staff_client, org):
    from django.contrib.sessions.models import Session

    response = staff_client.post("/admin/packedge/apikey/add/", {"organization": org.pk, "name": "From admin"})
    assert response.status_code == 200
    raw = next(str(m) for m in response.context["messages"] if "sk_" in str(m)).split(": ")[-1]
    assert raw.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    for session in Session.objects.all():
        assert raw not in repr(session.get_decoded())
    assert all(raw not in morsel.value for morsel in staff_client.cookies.values())
    assert raw.encode() not in staff_client.get("/admin/packedge/apikey/").content
