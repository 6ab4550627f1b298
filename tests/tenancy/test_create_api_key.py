from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenancy.models import Organization

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_it_creates_the_organization_and_prints_the_key_last():
    lines = run("acme", "--create-org", "--plan", "pro")
    key = lines[-1]
    assert key.startswith("sk_") and " " not in key
    assert Organization.objects.get(slug="acme").plan.slug == "pro"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/v1/products").json() == {"data": [], "nextCursor": None}


def test_it_adds_a_key_to_an_existing_organization(org):
    key = run("acme", "--name", "CI")[-1]
    assert key.startswith("sk_")
    assert org.api_keys.get().name == "CI"


def test_it_refuses_an_unknown_organization_without_create_org():
    with pytest.raises(CommandError, match="--create-org"):
        run("nobody")
    assert not Organization.objects.filter(slug="nobody").exists()


def test_it_refuses_an_unknown_plan():
    with pytest.raises(CommandError, match="No plan 'gold'"):
        run("acme", "--create-org", "--plan", "gold")
    assert not Organization.objects.filter(slug="acme").exists()
