"""Connecting an app in the console, in Debian's Chromium: create an SDK key, copy a snippet, revoke.

The Python snippet is copied from the page through the clipboard and run as
it is against the live server: what the console shows is what works. Screenshots
of the Connect page at laptop and phone widths land in tests/artifacts/.
"""

from __future__ import annotations

import pytest
from openfeature import api as openfeature

from core import keys, services
from core.models import Membership
from flags import recording
from flags.models import SdkKey
from tests.core.factories import OrganizationFactory, UserFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

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
    project = ProjectFactory(organization=org, name="Shop")
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
    assert page.locator("#copy-python").get_attribute("data-copied") == "true"
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
