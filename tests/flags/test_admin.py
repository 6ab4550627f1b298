from __future__ import annotations

import pytest

from flags.models import SdkKey
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


def test_staff_see_every_flags_page(staff_client, org):
    project = ProjectFactory(organization=org)
    environment, _ = environment_with_key(project)
    flag = boolean_flag(project)
    for url in [
        "/admin/flags/project/",
        f"/admin/flags/project/{project.pk}/change/",
        "/admin/flags/environment/",
        f"/admin/flags/environment/{environment.pk}/change/",
        "/admin/flags/sdkkey/",
        "/admin/flags/flag/",
        f"/admin/flags/flag/{flag.pk}/change/",
        "/admin/flags/flagusageday/",
    ]:
        assert staff_client.get(url).status_code == 200, url


def test_staff_revoke_sdk_keys(staff_client, org):
    environment, _ = environment_with_key(ProjectFactory(organization=org))
    key = SdkKey.objects.get(environment=environment)
    staff_client.post("/admin/flags/sdkkey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_staff_changes_to_flags_and_keys_are_in_the_audit_log_with_staff_as_actor(staff_client, org):
    from flags.models import Flag
    from tenancy.models import AuditEntry

    project = ProjectFactory(organization=org)
    environment, _ = environment_with_key(project)
    flag = boolean_flag(project)
    key = SdkKey.objects.get(environment=environment)
    staff_client.post("/admin/flags/sdkkey/", {"action": "revoke", "_selected_action": [key.pk]})
    staff_client.post(
        f"/admin/flags/flag/{flag.pk}/change/",
        {"description": "Set by staff", "settings-TOTAL_FORMS": "0", "settings-INITIAL_FORMS": "0"},
    )
    staff_client.post(f"/admin/flags/flag/{flag.pk}/delete/", {"post": "yes"})

    entries = AuditEntry.objects.filter(actor_type="staff", actor_name="staff").order_by("pk")
    assert [e.action for e in entries] == ["sdk_key.revoked", "flag.updated", "flag.deleted"]
    assert entries[1].after["description"] == "Set by staff"
    assert not Flag.objects.filter(pk=flag.pk).exists()


def deleted_entries(target_id: str):
    from tenancy.models import AuditEntry

    return list(
        AuditEntry.objects.filter(target_id=target_id, action__endswith=".deleted").values_list(
            "action", "actor_type", "actor_name", "before", "after"
        )
    )


def test_staff_deleting_a_project_an_environment_and_an_sdk_key_is_audited_as_staff(staff_client, org):
    from flags.models import Environment, Project

    project = ProjectFactory(organization=org, name="Checkout")
    environment, _ = environment_with_key(project, "staging")
    other, _ = environment_with_key(project, "production")
    key = SdkKey.objects.get(environment=other)

    # one key from its change page, one environment from the list's bulk action, the project from its page
    assert staff_client.post(f"/admin/flags/sdkkey/{key.pk}/delete/", {"post": "yes"}).status_code == 302
    response = staff_client.post(
        "/admin/flags/environment/",
        {"action": "delete_selected", "_selected_action": [environment.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert staff_client.post(f"/admin/flags/project/{project.pk}/delete/", {"post": "yes"}).status_code == 302

    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Environment.objects.exists()
    assert deleted_entries(key.prefix) == [
        (
            "sdk_key.deleted",
            "staff",
            "staff",
            {"prefix": key.prefix, "environmentId": other.public_id, "revokedAt": None},
            None,
        )
    ]
    assert deleted_entries(environment.public_id) == [
        ("environment.deleted", "staff", "staff", {"id": environment.public_id, "name": "staging"}, None)
    ]
    assert deleted_entries(project.public_id) == [
        ("project.deleted", "staff", "staff", {"id": project.public_id, "name": "Checkout", "productId": None}, None)
    ]
