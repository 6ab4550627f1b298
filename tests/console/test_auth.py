from __future__ import annotations

import pytest

from tenancy import services
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_it_redirects_an_anonymous_visitor_to_the_sign_in_page(client):
    response = client.get("/o/acme/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/o/acme/"


def test_it_signs_in_and_lands_on_the_only_organization(client, owner, org):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == f"/o/{org.slug}/"
    assert b"Acme" in response.content


def test_it_rejects_a_wrong_password(client, owner):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert "_auth_user_id" not in client.session


def test_it_signs_out_with_a_post(client, owner):
    client.force_login(owner)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_it_lists_every_organization_of_a_user_in_several(client, owner, org, pro_plan):
    second = OrganizationFactory(name="Initech", slug="initech", plan=pro_plan)
    services.membership_add(organization=second, user=owner)
    client.force_login(owner)
    response = client.get("/")
    assert response.status_code == 200
    assert [o.slug for o in response.context["organizations"]] == ["acme", "initech"]


def test_it_tells_a_user_without_organization_to_ask_for_one(client):
    user = UserFactory(username="loner")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert b"not a member of any organization" in response.content
