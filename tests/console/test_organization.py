from __future__ import annotations

import pytest

from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_the_home_lists_the_organization_products_only(client, owner, org, other_org):
    ProductFactory(organization=org, name="SEO Booster")
    ProductFactory(organization=other_org, name="Secret Globex Tool")
    client.force_login(owner)
    response = client.get(f"/o/{org.slug}/")
    assert response.status_code == 200
    assert b"SEO Booster" in response.content
    assert b"Secret Globex Tool" not in response.content


def test_another_organization_answers_404(client, owner, other_org):
    client.force_login(owner)
    assert client.get(f"/o/{other_org.slug}/").status_code == 404
    assert client.get(f"/o/{other_org.slug}/api-keys/").status_code == 404


def test_an_unknown_organization_answers_404(client, owner):
    client.force_login(owner)
    assert client.get("/o/nope/").status_code == 404
