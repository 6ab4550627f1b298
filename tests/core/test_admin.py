from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client.force_login(staff)
    return client


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
