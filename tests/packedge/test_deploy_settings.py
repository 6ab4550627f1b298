"""HTTPS deployment settings from the environment, the console's Content-Security-Policy, no-store on secrets, JSON 413."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]


def _settings_under(**env) -> dict:
    # The settings module alone, without django.setup(): importing every app costs a second of CPU a call.
    code = (
        "import json; import packedge.settings as settings; "
        "print(json.dumps({name: getattr(settings, name, None) for name in ["
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SECURE_PROXY_SSL_HEADER']}))"
    )
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "packedge.settings", "SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_https_1_turns_on_the_redirect_hsts_and_secure_cookies():
    assert _settings_under(HTTPS="1") == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


def test_without_https_nothing_changes_and_behind_a_proxy_its_header_is_trusted():
    plain = _settings_under()
    assert (plain["SECURE_SSL_REDIRECT"], plain["SECURE_HSTS_SECONDS"], plain["SESSION_COOKIE_SECURE"]) == (
        False,
        0,
        False,
    )
    assert _settings_under(HTTPS="1", BEHIND_PROXY="1")["SECURE_PROXY_SSL_HEADER"] == [
        "HTTP_X_FORWARDED_PROTO",
        "https",
    ]


def test_check_deploy_warns_only_about_what_the_operations_guide_explains():
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "k" * 64 + "Zq9!",
        "HTTPS": "1",
        "CACHE_URL": "redis://127.0.0.1:6379/13",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    warnings = set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", output))
    # docs/operations.md, "Checking a deployment": W005 (HSTS for subdomains) and W021 (preload) are opt-in.
    assert warnings == {"security.W005", "security.W021"}, output
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert all(code in guide for code in warnings)


@pytest.mark.django_db
def test_http_is_redirected_to_https_and_hsts_sent_over_https(owner):
    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31_536_000):
        client = Client()
        response = client.get("/login/")
        assert response.status_code == 301
        assert response["Location"] == "https://testserver/login/"
        secure = client.get("/login/", secure=True)
        assert secure.status_code == 200
        assert secure["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.django_db
def test_console_pages_carry_a_content_security_policy_and_json_does_not_need_one(client, owner, api):
    page = client.get("/login/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy.split("style-src-attr")[0]  # no inline scripts anywhere
    assert "frame-ancestors 'none'" in policy
    assert "Content-Security-Policy" not in api.get("/v1/products")


@pytest.mark.django_db
def test_the_api_key_page_is_never_stored_by_a_cache(client, owner, org):
    client.force_login(owner)
    # the secret is shown on the POST's own response (never kept in the session for a later GET)
    response = client.post(f"/o/{org.slug}/api-keys/new", {"name": "CI"})
    assert b"Copy the secret now" in response.content
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in client.get(f"/o/{org.slug}/api-keys/")["Cache-Control"]


@pytest.mark.django_db
def test_sdk_keys_shown_once_by_the_api_are_never_stored_by_a_cache(api):
    project = api.post("/v1/projects", {"name": "Web"}, format="json").json()["data"]
    created = api.post(f"/v1/projects/{project['id']}/environments", {"name": "production"}, format="json")
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    environment = created.json()["data"]["id"]
    key = api.post(f"/v1/projects/{project['id']}/environments/{environment}/sdk-keys")
    assert key.status_code == 201
    assert key["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_a_v1_body_over_1_mib_is_a_json_413_and_stores_nothing(api):
    body = json.dumps({"name": "x" * (1024 * 1024 + 5000)})
    response = api.post("/v1/products", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert api.get("/v1/products").json()["data"] == []
