"""Connecting an app in the console, in Debian's Chromium: create an SDK key, copy a snippet, revoke.

The snippets are copied from the page through the clipboard and run as they
are against the live server: the Python one in this process, the browser ones
(OpenFeature web SDK + OFREP provider, PackEdge JS SDK, OpenFeature tracking
through the JS SDK's provider hook) pasted into pages of another origin, the
curl tracking call in a shell. What the console shows is what works, down to
the stored event rows. Screenshots of the Connect page at laptop and phone
widths land in tests/artifacts/ (docs/images/connect-page-*.png are cut from them).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from openfeature import api as openfeature

from events.models import Event, License
from flags import recording
from flags.models import SdkKey
from tenancy import keys, services
from tenancy.models import Membership
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(autouse=True)
def manual_recording():
    mode = recording.recorder.mode
    recording.recorder.mode = "manual"
    recording.recorder.discard()
    yield
    recording.recorder.discard()
    recording.recorder.mode = mode


@pytest.fixture
def shop(pro_plan):
    org = OrganizationFactory(name="Acme Plugins", slug="acme", plan=pro_plan)
    services.membership_add(organization=org, user=UserFactory(username="alice"), role=Membership.Role.OWNER)
    project = ProjectFactory(organization=org, name="Shop", product=ProductFactory(organization=org, name="Shop Pro"))
    # The license the snippets' context names (licenseKey 'MYPLUGIN-XXXX'): tracked events count for it.
    LicenseFactory(product=project.product, key="MYPLUGIN-XXXX")
    environment_with_key(project, "production")
    staging, _ = environment_with_key(project, "staging")
    boolean_flag(project, "new-checkout", environments={staging.public_id: {"enabled": True, "defaultVariant": "on"}})
    return {"project": project, "staging": staging}


@pytest.fixture
def clipboard_page(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def sign_in_and_create_key(page, live_server, project, staging) -> str:
    page.goto(f"{live_server.url}/login/?next=/o/acme/projects/{project.public_id}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/projects/{project.public_id}/")
    page.click(f"#connect-{staging.public_id}")
    page.wait_for_url(f"**/environments/{staging.public_id}/connect/")
    page.click("#create-sdk-key")
    return page.locator("#new-sdk-key-secret").inner_text()


def copied(page, snippet: str) -> str:
    page.click(f"#copy-{snippet}")
    # The Clipboard API answers asynchronously: wait for the button to say it copied.
    page.wait_for_selector(f'#copy-{snippet}[data-copied="true"]', timeout=10_000)
    return page.evaluate("navigator.clipboard.readText()")


def shoot(page, artifacts_dir, name: str) -> None:
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"connect-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_key_made_on_the_connect_page_works_in_the_copied_python_snippet_until_revoked(
    live_server, clipboard_page, artifacts_dir, shop, settings
):
    settings.PUBLIC_BASE_URL = ""  # the snippets name the server the console was opened at
    page, project, staging = clipboard_page, shop["project"], shop["staging"]
    page.goto(f"{live_server.url}/login/?next=/o/acme/projects/{project.public_id}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/projects/{project.public_id}/")

    page.click(f"#connect-{staging.public_id}")
    page.wait_for_url(f"**/environments/{staging.public_id}/connect/")
    assert page.locator("#base-url").inner_text() == live_server.url
    assert page.locator("#base-url-warning").count() == 0
    shoot(page, artifacts_dir, "01-page")

    # Create: the secret is on this response only, and the snippets carry it.
    page.click("#create-sdk-key")
    secret = page.locator("#new-sdk-key-secret").inner_text()
    assert secret.startswith("sdk_")
    assert keys.display_prefix(secret) in page.locator("#sdk-keys-table").inner_text()
    assert f"Bearer {secret}" in page.locator("#snippet-web").inner_text()
    shoot(page, artifacts_dir, "02-key-created")

    page.click("#copy-python")
    page.wait_for_selector('#copy-python[data-copied="true"]', timeout=10_000)
    assert page.locator("#copy-python").inner_text() == "Copied"
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#snippet-python").inner_text()

    # The pasted snippet, run as it is, evaluates the flag in staging.
    namespace: dict = {}
    try:
        exec(copied, namespace)  # noqa: S102 -- the snippet we show is the code under test
        assert namespace["enabled"] is True
    finally:
        openfeature.clear_providers()
    new_key = SdkKey.objects.get(prefix=secret[: len(SdkKey.objects.filter(environment=staging).last().prefix)])
    assert new_key.last_used_at is not None

    # The page took its GET address: a reload shows no secret and mints no second key.
    page.reload()
    assert page.url.endswith(f"/environments/{staging.public_id}/connect/")
    assert page.locator("#new-sdk-key-secret").count() == 0
    assert secret not in page.content()
    assert SdkKey.objects.filter(environment=staging).count() == 2

    # Revoke: a confirmation page first, then the key is refused.
    page.click(f"a[aria-label='Revoke {new_key.prefix}']")
    page.wait_for_url(f"**/sdk-keys/{new_key.prefix}/revoke/")
    shoot(page, artifacts_dir, "03-revoke-confirm")
    new_key.refresh_from_db()
    assert new_key.revoked_at is None
    page.click("#confirm-revoke")
    page.wait_for_url("**/connect/?revoked=*")
    assert page.locator("#revoked").is_visible()
    new_key.refresh_from_db()
    assert new_key.revoked_at is not None
    namespace = {}
    try:
        exec(copied, namespace)  # noqa: S102
        assert namespace["enabled"] is False  # the SDK's own default: the key is refused
    finally:
        openfeature.clear_providers()
    assert page.errors == []


# The stock OpenFeature web packages, from npm, at the versions this test was written against.
WEB_PACKAGES = ["@openfeature/web-sdk@1.10.0", "@openfeature/ofrep-web-provider@0.4.3"]
SDK_MODULE = Path(__file__).resolve().parents[2] / "static" / "sdk" / "packedge.mjs"
IMPORT_MAP = {
    "@openfeature/web-sdk": "/node_modules/@openfeature/web-sdk/dist/esm/index.js",
    "@openfeature/core": "/node_modules/@openfeature/core/dist/esm/index.js",
    "@openfeature/ofrep-web-provider": "/node_modules/@openfeature/ofrep-web-provider/index.esm.js",
    "@openfeature/ofrep-core": "/node_modules/@openfeature/ofrep-core/index.esm.js",
}


@pytest.fixture(scope="session")
def web_packages(tmp_path_factory):
    if not shutil.which("npm"):
        pytest.skip("npm is missing: the OpenFeature web SDK is installed from npm")
    directory = tmp_path_factory.mktemp("openfeature-web")
    (directory / "package.json").write_text('{"private": true}')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", *WEB_PACKAGES],
        cwd=directory,
        check=True,
        timeout=300,
    )
    return directory


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


@pytest.fixture
def other_origin(web_packages):
    """A second, plain HTTP server on 127.0.0.1 (the live server is on localhost): another origin."""
    handler = functools.partial(QuietHandler, directory=str(web_packages))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield web_packages, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def ofrep_allows_other_origins(base_url: str) -> bool:
    request = urllib.request.Request(
        f"{base_url}/ofrep/v1/evaluate/flags",
        method="OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:1",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers.get("Access-Control-Allow-Origin") in ("*", "http://127.0.0.1:1")


def test_the_pasted_web_snippets_evaluate_a_flag_and_count_an_event_from_another_origin(
    live_server, clipboard_page, shop, settings, other_origin
):
    assert ofrep_allows_other_origins(live_server.url)  # flags/cors.py
    settings.PUBLIC_BASE_URL = ""
    page, project, staging = clipboard_page, shop["project"], shop["staging"]
    sign_in_and_create_key(page, live_server, project, staging)
    web, events, web_tracking, curl_tracking = (
        copied(page, name) for name in ("web", "events", "web-tracking", "curl-tracking")
    )

    # A customer's page: the snippets as pasted, a line each to show what they did.
    directory, origin = other_origin
    # The JS SDK bundled with the customer's page, as `npm install @packedge/js-sdk` would.
    shutil.copy(SDK_MODULE, directory / "packedge.mjs")
    imports = {**IMPORT_MAP, "@packedge/js-sdk": "/packedge.mjs"}
    (directory / "index.html").write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{json.dumps({"imports": imports})}</script></head><body>
<p id="flag">pending</p><p id="events">pending</p>
<script type="module">
{web}
document.getElementById('flag').textContent = String(client.getBooleanValue('new-checkout', false));
</script>
<script type="module">
{events}
await packedge.flush();
document.getElementById('events').textContent = 'sent';
</script>
</body></html>"""
    )
    customer = page.context.new_page()
    failures = []
    customer.on("pageerror", lambda exc: failures.append(str(exc)))
    customer.on("console", lambda msg: failures.append(msg.text) if msg.type == "error" else None)
    customer.goto(f"{origin}/index.html")
    done = "['flag', 'events'].every(id => document.getElementById(id).textContent !== 'pending')"
    try:
        customer.wait_for_function(done, timeout=15000)
    finally:
        assert failures == []
    assert customer.locator("#flag").inner_text() == "true"  # on in staging, serving "on"
    assert Event.objects.filter(product=project.product, event="feature_used").count() == 1

    # OpenFeature tracking: the tracking snippet as pasted, on a page of its own (one OpenFeature
    # singleton per page, as on a customer's site), then a line to send the batch now.
    (directory / "tracking.html").write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="importmap">{json.dumps({"imports": imports})}</script></head><body>
<p id="flag">pending</p><p id="tracked">pending</p>
<script type="module">
{web_tracking}
document.getElementById('flag').textContent = String(client.getBooleanValue('new-checkout', false));
await edge.flush();
document.getElementById('tracked').textContent = JSON.stringify(edge.stats());
</script>
</body></html>"""
    )
    tracker = page.context.new_page()
    tracker.on("pageerror", lambda exc: failures.append(str(exc)))
    tracker.on("console", lambda msg: failures.append(msg.text) if msg.type == "error" else None)
    track_answers = []
    tracker.on(
        "response",
        lambda r: track_answers.append((r.request.method, r.status)) if r.url.endswith("/ofrep/v1/track") else None,
    )
    tracker.goto(f"{origin}/tracking.html")
    try:
        tracker.wait_for_function("document.getElementById('tracked').textContent !== 'pending'", timeout=15000)
    finally:
        assert failures == []
    # Evaluation stayed with the stock OFREP provider the hook wraps.
    assert tracker.locator("#flag").inner_text() == "true"
    assert json.loads(tracker.locator("#tracked").inner_text()) == {"queued": 0, "sent": 1, "dropped": 0, "rejected": 0}
    # One request for the batch (Chromium does not report the CORS preflight to Playwright).
    assert track_answers == [("POST", 200)]
    license = License.objects.get(product=project.product, key="MYPLUGIN-XXXX")
    rows = Event.objects.filter(product=project.product, event="export_csv")
    fields = ("event", "feature", "license_id", "license_key", "properties", "domain")
    # client.track('export_csv', { value: 3 }) with the context set by the snippet: one row, the license's.
    assert list(rows.values_list(*fields)) == [
        ("export_csv", "export_csv", license.pk, "MYPLUGIN-XXXX", {"value": 3}, "127.0.0.1")
    ]

    # The curl form, as copied, in a shell: one more row for the same license (no Origin: no domain).
    answer = subprocess.run(["bash", "-c", curl_tracking], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(answer.stdout) == {"accepted": 1}
    assert list(rows.order_by("id").values_list(*fields)) == [
        ("export_csv", "export_csv", license.pk, "MYPLUGIN-XXXX", {"value": 3}, "127.0.0.1"),
        ("export_csv", "export_csv", license.pk, "MYPLUGIN-XXXX", {"value": 3}, ""),
    ]
    assert Event.objects.filter(product=project.product).count() == 3  # feature_used + two export_csv
