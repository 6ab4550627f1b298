"""The JS SDK the server serves and the Settings page shows is the package in sdk/js."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from django.test import override_settings

from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PACKAGE = json.loads((REPO / "sdk" / "js" / "package.json").read_text())
DECLARATIONS = (REPO / "sdk" / "js" / "src" / "index.d.ts").read_text()


def served(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("path", ["/static/sdk/packedge.js", "/static/sdk/packedge.mjs"])
def test_the_served_sdk_is_the_packages_build(client, path):
    body = served(client, path)
    # The build stamps its files; `npm run check` in CI proves them equal to a fresh build.
    assert body.startswith(f"/*! {PACKAGE['name']} {PACKAGE['version']} | ")
    assert f'VERSION = "{PACKAGE["version"]}"' in body
    assert "/public/v1/events" in body


def test_the_script_build_defines_the_global_and_the_module_build_exports(client):
    script = served(client, "/static/sdk/packedge.js")
    module = served(client, "/static/sdk/packedge.mjs")
    assert "root.packedge = sharedPackedge(" in script
    assert re.search(r"^\s*(import|export) ", script, re.M) is None  # a classic script, not a module
    for name in ("default packedge", "const init", "const track", "const flush", "const stats"):
        assert f"export {name}" in module


def test_a_cross_origin_page_can_read_retry_after(client):
    # The SDK waits what Retry-After says; browsers hide the header from scripts unless exposed.
    response = client.post(
        "/public/v1/events", data="{}", content_type="text/plain", HTTP_ORIGIN="https://customer-site.example"
    )
    assert response.status_code == 400
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "retry-after" in response["Access-Control-Expose-Headers"].lower()


@override_settings(PUBLIC_BASE_URL="https://edge.example.net/")
def test_the_settings_page_snippets_use_the_packages_api_and_the_served_path(client, owner, org):
    product = ProductFactory(organization=org)
    client.force_login(owner)
    page = client.get(f"/o/{org.slug}/products/{product.public_id}/settings/").content.decode()
    snippets = {
        name: html.unescape(re.sub(r"<[^>]+>", "", body))
        for name, body in re.findall(r'<pre class="snippet" id="snippet-(\w+)">(.*?)</pre>', page, re.S)
    }

    assert snippets["npm"] == f"npm install {PACKAGE['name']}"
    js = snippets["js"]
    assert f"import packedge from '{PACKAGE['name']}';" in js
    assert f"packedge.init('{product.public_key}', {{" in js
    assert "endpoint: 'https://edge.example.net'," in js  # the server, as the package's `endpoint` means
    assert "packedge.track('feature_used', {" in js
    options = re.findall(r"^\s+(\w+):", js.split("packedge.track")[0], re.M)
    assert options == ["licenseKey", "endpoint"]
    for option in options:
        assert re.search(rf"^\s+{option}\?: string;", DECLARATIONS, re.M), f"{option} is not a declared option"

    script = snippets["script"]
    assert '<script src="https://edge.example.net/static/sdk/packedge.js"></script>' in script
    assert f"packedge.init('{product.public_key}');" in script
    assert "packedge.track('feature_used', { feature: 'export' });" in script
