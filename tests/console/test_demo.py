from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_the_demo_prints_a_working_login_and_key(client):
    out = StringIO()
    call_command("demo", "--no-progress", stdout=out)
    lines = out.getvalue().splitlines()
    login = next(line for line in lines if line.startswith("Console login: ")).split(": ")[1]
    username, password = login.split(" / ")
    assert client.login(username=username, password=password)
    key = next(line for line in lines if line.startswith("API key")).split(": ")[1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    products = api.get("/v1/products").json()["data"]
    assert len(products) == 2
    assert all(p["publicKey"] in out.getvalue() for p in products)
