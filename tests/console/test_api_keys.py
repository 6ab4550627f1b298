from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db


def test_an_owner_creates_a_key_whose_secret_is_shown_once_and_works(client, owner, org):
    client.force_login(owner)
    response = client.post(f"/o/{org.slug}/api-keys/new", {"name": "Back office"}, follow=True)
    assert response.status_code == 200
    secret = response.context["new_secret"]["secret"]
    assert secret.startswith("sk_")
    assert secret.encode() in response.content
    key = ApiKey.objects.get(organization=org, name="Back office")
    assert key.prefix == secret[: len(key.prefix)]
    assert secret.encode() not in client.get(f"/o/{org.slug}/api-keys/").content

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/v1/products").status_code == 200


def test_an_owner_revokes_a_key_and_the_api_refuses_it(client, owner, org):
    client.force_login(owner)
    response = client.post(f"/o/{org.slug}/api-keys/new", {"name": "Temp"}, follow=True)
    secret = response.context["new_secret"]["secret"]
    key = ApiKey.objects.get(organization=org, name="Temp")
    response = client.post(f"/o/{org.slug}/api-keys/{key.prefix}/revoke")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/v1/products").status_code == 401
    assert b"Revoked" in client.get(f"/o/{org.slug}/api-keys/").content


def test_a_member_sees_the_keys_but_cannot_create_or_revoke(client, owner, teammate, org):
    client.force_login(owner)
    client.post(f"/o/{org.slug}/api-keys/new", {"name": "Owner key"})
    key = ApiKey.objects.get(organization=org, name="Owner key")
    client.force_login(teammate)
    page = client.get(f"/o/{org.slug}/api-keys/")
    assert page.status_code == 200
    assert key.prefix.encode() in page.content
    assert b"Create key" not in page.content and b">Revoke<" not in page.content
    assert client.post(f"/o/{org.slug}/api-keys/new", {"name": "Sneaky"}).status_code == 403
    assert client.post(f"/o/{org.slug}/api-keys/{key.prefix}/revoke").status_code == 403
    assert not ApiKey.objects.filter(name="Sneaky").exists()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_an_outsider_cannot_touch_another_organizations_keys(client, outsider, owner, org):
    client.force_login(owner)
    client.post(f"/o/{org.slug}/api-keys/new", {"name": "Owner key"})
    key = ApiKey.objects.get(organization=org, name="Owner key")
    client.force_login(outsider)
    assert client.get(f"/o/{org.slug}/api-keys/").status_code == 404
    assert client.post(f"/o/{org.slug}/api-keys/new", {"name": "x"}).status_code == 404
    assert client.post(f"/o/{org.slug}/api-keys/{key.prefix}/revoke").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.filter(organization=org).count() == 1


def test_creating_a_key_needs_a_post(client, owner, org):
    client.force_login(owner)
    assert client.get(f"/o/{org.slug}/api-keys/new").status_code == 405
    assert not ApiKey.objects.filter(organization=org).exists()


def test_a_blank_name_gets_a_default(client, owner, org):
    client.force_login(owner)
    client.post(f"/o/{org.slug}/api-keys/new", {"name": "   "})
    assert ApiKey.objects.get(organization=org).name == "API key"


def test_a_new_keys_secret_is_never_written_to_the_session_store(client, owner, org):
    from django.contrib.sessions.models import Session

    client.force_login(owner)
    response = client.post(f"/o/{org.slug}/api-keys/new", {"name": "Back office"})
    # shown on the POST's own response, which no cache may keep
    assert response.status_code == 200
    secret = response.context["new_secret"]["secret"]
    assert secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    sessions = list(Session.objects.all())
    assert sessions
    for session in sessions:
        assert secret not in session.session_data
        assert secret not in repr(session.get_decoded())
    assert all(secret not in morsel.value for morsel in client.cookies.values())
    # the next view of the page shows it no more
    assert secret.encode() not in client.get(f"/o/{org.slug}/api-keys/").content
