from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from flags.models import SdkKey
from tenancy import services
from tenancy.models import AuditEntry
from tests.flags.factories import ProjectFactory

pytestmark = pytest.mark.django_db

AUDIT_URL = "/v1/audit-log"


def entries(api, **params) -> list[dict]:
    response = api.get(AUDIT_URL, params)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def api_key_actor(api) -> dict:
    prefix = api.raw_key[:11]
    return {"type": "api_key", "name": f"test ({prefix}…)"}


@pytest.fixture
def project_via_api(api) -> dict:
    return api.post("/v1/projects", {"name": "Checkout"}, format="json").json()["data"]


@pytest.fixture
def staging_via_api(api, project_via_api) -> dict:
    url = f"/v1/projects/{project_via_api['id']}/environments"
    return api.post(url, {"name": "staging"}, format="json").json()["data"]


def test_it_records_each_step_of_a_flag_with_the_api_key_as_actor_and_before_and_after(
    api, project_via_api, staging_via_api
):
    flags = f"/v1/projects/{project_via_api['id']}/flags"
    env_id = staging_via_api["id"]
    flag = api.post(
        flags, {"key": "dark-mode", "type": "boolean", "variants": {"off": False, "on": True}}, format="json"
    )
    flag_id = flag.json()["data"]["id"]
    api.patch(f"{flags}/dark-mode", {"description": "Night theme"}, format="json")
    api.put(f"{flags}/dark-mode/environments/{env_id}", {"enabled": True, "defaultVariant": "on"}, format="json")
    assert api.delete(f"{flags}/dark-mode").status_code == 204

    data = entries(api, target=flag_id)

    assert [e["action"] for e in data] == ["flag.deleted", "flag.environment_updated", "flag.updated", "flag.created"]
    assert all(e["actor"] == api_key_actor(api) for e in data)
    assert all(e["target"] == {"type": "flag", "id": flag_id} for e in data)
    deleted, switched, described, created = data
    off_in_staging = {"enabled": False, "defaultVariant": "off", "offVariant": "off", "rules": []}
    assert created["before"] is None
    assert created["after"] == {
        "key": "dark-mode",
        "type": "boolean",
        "description": "",
        "variants": {"off": False, "on": True},
        "environments": {env_id: off_in_staging},
    }
    assert (described["before"]["description"], described["after"]["description"]) == ("", "Night theme")
    assert switched["before"] == {"environmentId": env_id, **off_in_staging}
    assert switched["after"] == {
        "environmentId": env_id,
        "enabled": True,
        "defaultVariant": "on",
        "offVariant": "off",
        "rules": [],
    }
    assert deleted["before"]["environments"][env_id]["enabled"] is True
    assert deleted["after"] is None
    assert all(e["id"].startswith("aud_") for e in data)


def test_it_records_projects_environments_and_sdk_keys_without_their_secrets(api, project_via_api, staging_via_api):
    project_id, env_id = project_via_api["id"], staging_via_api["id"]
    first_key = staging_via_api["sdkKey"]
    keys_url = f"/v1/projects/{project_id}/environments/{env_id}/sdk-keys"
    second = api.post(keys_url).json()["data"]
    assert api.delete(f"{keys_url}/{second['prefix']}").status_code == 204
    api.patch(f"/v1/projects/{project_id}", {"name": "Checkout v2"}, format="json")

    response = api.get(AUDIT_URL)

    actions = [(e["action"], e["target"]["type"]) for e in response.json()["data"]]
    assert actions == [
        ("project.updated", "project"),
        ("sdk_key.revoked", "sdk_key"),
        ("sdk_key.created", "sdk_key"),
        ("sdk_key.created", "sdk_key"),
        ("environment.created", "environment"),
        ("project.created", "project"),
        ("api_key.created", "api_key"),  # the test's own key, made by the fixture
    ]
    revoked = response.json()["data"][1]
    assert revoked["target"]["id"] == second["prefix"]
    assert revoked["before"]["revokedAt"] is None and revoked["after"]["revokedAt"] is not None
    body = response.content.decode()
    stored_hashes = SdkKey.objects.values_list("secret_hash", flat=True)
    for secret in [first_key, second["key"], api.raw_key, *stored_hashes]:
        assert secret not in body
    assert response.json()["data"][0]["before"] == {"id": project_id, "name": "Checkout", "productId": None}


def test_it_records_products_created_and_updated(api):
    product = api.post("/v1/products", {"name": "Backup Pro"}, format="json").json()["data"]
    api.patch(f"/v1/products/{product['id']}", {"timezone": "Europe/Paris"}, format="json")

    updated, created = entries(api, target=product["id"])

    assert created["action"] == "product.created"
    assert created["after"] == {"id": product["id"], "name": "Backup Pro", "timezone": "UTC"}
    assert updated["action"] == "product.updated"
    assert (updated["before"]["timezone"], updated["after"]["timezone"]) == ("UTC", "Europe/Paris")


def test_it_records_nothing_for_an_update_that_changes_nothing(api, project_via_api):
    api.patch(f"/v1/projects/{project_via_api['id']}", {"name": "Checkout"}, format="json")
    assert [e["action"] for e in entries(api)] == ["project.created", "api_key.created"]


def test_it_records_nothing_for_a_rejected_change(api, project_via_api, staging_via_api):
    flags = f"/v1/projects/{project_via_api['id']}/flags"
    before = AuditEntry.objects.count()
    bad = {"key": "x", "type": "boolean", "variants": {"on": "yes"}}
    assert api.post(flags, bad, format="json").status_code == 400
    assert AuditEntry.objects.count() == before


def test_it_records_api_keys_created_and_revoked_by_a_console_user_without_the_secret(client, api, org, owner):
    client.force_login(owner)
    client.post(f"/o/{org.slug}/api-keys/new", {"name": "CI"})
    new = org.api_keys.get(name="CI")
    client.post(f"/o/{org.slug}/api-keys/{new.prefix}/revoke")

    revoked, created = entries(api, target=new.prefix)

    assert created["action"] == "api_key.created"
    assert created["actor"] == {"type": "user", "name": "alice"}
    assert created["after"] == {"name": "CI", "prefix": new.prefix, "revokedAt": None}
    assert revoked["action"] == "api_key.revoked"
    assert new.secret_hash not in str(revoked)


def test_it_pages_newest_first_without_gaps_or_repeats(api):
    for n in range(5):
        api.post("/v1/projects", {"name": f"P{n}"}, format="json")

    first = api.get(AUDIT_URL, {"limit": 2}).json()
    second = api.get(AUDIT_URL, {"limit": 2, "cursor": first["nextCursor"]}).json()
    third = api.get(AUDIT_URL, {"limit": 2, "cursor": second["nextCursor"]}).json()

    # six entries: the five projects, then the test's own API key, made first
    names = [e["after"]["name"] for page in (first, second, third) for e in page["data"]]
    assert names == ["P4", "P3", "P2", "P1", "P0", "test"]
    assert third["nextCursor"] is None


def test_it_never_shows_another_organizations_entries(api, outsider_api, project_via_api):
    assert [e["target"]["id"] for e in entries(outsider_api)] == [outsider_api.raw_key[:11]]
    assert entries(outsider_api, target=project_via_api["id"]) == []
    assert len(entries(api, target=project_via_api["id"])) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"target": "x" * 101}, "target"),
    ],
)
def test_it_rejects_bad_parameters_with_a_400_naming_them(api, params, field):
    response = api.get(AUDIT_URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{field}:")


def test_it_needs_an_api_key(client):
    response = client.get(AUDIT_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_the_api_has_no_way_to_change_or_delete_entries(api, project_via_api):
    for method in (api.post, api.put, api.patch, api.delete):
        assert method(AUDIT_URL, {}, format="json").status_code == 405
    assert len(entries(api)) == 2


def test_staff_see_entries_in_the_admin_but_cannot_change_or_delete_them(client, api, project_via_api):
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client.force_login(staff)
    entry = AuditEntry.objects.get(action="project.created")
    assert client.get("/admin/packedge/auditentry/").status_code == 200
    assert client.get(f"/admin/packedge/auditentry/{entry.pk}/delete/").status_code == 403
    client.post("/admin/packedge/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_staff_changes_in_the_admin_are_recorded_with_staff_as_actor(client, api, org):
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client.force_login(staff)
    project = ProjectFactory(organization=org, name="Old")
    response = client.post(f"/admin/flags/project/{project.pk}/change/", {"name": "New"})
    assert response.status_code == 302

    (entry,) = entries(api, target=project.public_id)

    assert entry["actor"] == {"type": "staff", "name": "staff"}
    assert (entry["before"]["name"], entry["after"]["name"]) == ("Old", "New")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only trigger is PostgreSQL's")
def test_postgresql_refuses_to_update_or_delete_an_entry_but_not_to_delete_its_organization(api, org, project_via_api):
    for change in (lambda: AuditEntry.objects.update(action="forged"), lambda: AuditEntry.objects.all().delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert AuditEntry.objects.filter(action="project.created").count() == 1
    services.organization_delete(organization=org)
    assert not AuditEntry.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the append-only triggers are PostgreSQL's")
def test_postgresql_refuses_to_truncate_the_audit_log(api, org, project_via_api):
    with connection.cursor() as cursor:
        # the test's own transaction holds deferred foreign-key checks, which TRUNCATE would wait for
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for statement in ("TRUNCATE packedge_auditentry", "TRUNCATE packedge_organization CASCADE"):
        with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert AuditEntry.objects.filter(action="project.created").count() == 1
    # the one exception, as for DELETE: the transaction-local erase of an organization's deletion
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL packedge.audit_erase = 'on'")
        cursor.execute("TRUNCATE packedge_auditentry")
    assert not AuditEntry.objects.exists()


def test_the_openapi_schema_describes_the_page_envelope_and_errors(client):
    schema = client.get("/v1/openapi.json").json()
    operation = schema["paths"]["/v1/audit-log"]["get"]
    responses = operation["responses"]
    page = responses["200"]["content"]["application/json"]["schema"]
    assert set(page["properties"]) == {"data", "nextCursor"}
    assert page["properties"]["nextCursor"]["nullable"] is True
    assert page["properties"]["data"]["items"]["$ref"].endswith("/AuditEntry")
    entry = schema["components"]["schemas"]["AuditEntry"]
    assert set(entry["properties"]) == {"id", "at", "actor", "action", "target", "before", "after"}
    for status in ("400", "401"):
        assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert {p["name"] for p in operation["parameters"]} == {"cursor", "limit", "target"}


def test_a_forged_cursor_beyond_any_id_is_a_400(api):
    import base64

    forged = base64.urlsafe_b64encode(f"o:{10**30}".encode()).decode().rstrip("=")
    response = api.get(AUDIT_URL, {"cursor": forged})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_it_records_linking_a_project_to_a_product_and_unlinking_it(api, project_via_api):
    product = api.post("/v1/products", {"name": "Backup Pro"}, format="json").json()["data"]
    url = f"/v1/projects/{project_via_api['id']}"
    assert api.patch(url, {"productId": product["id"]}, format="json").status_code == 200
    assert api.patch(url, {"productId": None}, format="json").status_code == 200

    unlinked, linked, _ = entries(api, target=project_via_api["id"])

    assert (linked["action"], linked["before"]["productId"], linked["after"]["productId"]) == (
        "project.updated",
        None,
        product["id"],
    )
    assert (unlinked["before"]["productId"], unlinked["after"]["productId"]) == (product["id"], None)
    assert linked["actor"] == api_key_actor(api)
