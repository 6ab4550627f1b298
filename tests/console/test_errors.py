from __future__ import annotations

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=False)
def test_a_404_is_a_console_page_that_gives_nothing_away(client, owner, other_org):
    client.force_login(owner)
    response = client.get(f"/o/{other_org.slug}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Back to your organizations" in body
    assert other_org.name not in body


@override_settings(DEBUG=False)
def test_a_403_says_the_role_does_not_allow_it(client, teammate, org):
    client.force_login(teammate)
    response = client.post(f"/o/{org.slug}/api-keys/new", {"name": "x"})
    assert response.status_code == 403
    assert "Only an owner can manage API keys." in response.content.decode()
