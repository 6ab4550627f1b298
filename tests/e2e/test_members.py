"""Members in Debian's Chromium: an owner invites, the invitee signs up through the link, becomes a viewer.

The viewer still sees the pages, without their edit forms, and a write sent by
hand is a 403 that changes nothing. Screenshots of the members page at laptop
and phone widths land in tests/artifacts/.
"""

from __future__ import annotations

import pytest

from tenancy import services
from tenancy.models import Membership
from tests.flags.factories import ProjectFactory, boolean_flag
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another long pass 42"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def acme(pro_plan):
    org = OrganizationFactory(name="Acme Plugins", slug="acme", plan=pro_plan)
    services.membership_add(organization=org, user=UserFactory(username="alice"), role=Membership.Role.OWNER)
    project = ProjectFactory(organization=org, name="Shop")
    boolean_flag(project, key="new-checkout")
    return {"org": org, "project": project}


def _sign_in(page, base: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base}/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def test_invite_accept_demote_to_viewer(browser, live_server, acme, artifacts_dir):
    base = live_server.url
    owner_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    owner = owner_ctx.new_page()
    _sign_in(owner, base, "alice", PASSWORD, "/o/acme/members/")
    owner.wait_for_url("**/o/acme/members/")
    owner.fill("#invite-email", "carol@example.com")
    owner.select_option("#invite-role", "member")
    owner.click("#invite-form button[type=submit]")
    link = owner.text_content("#invitation-link").strip()
    assert link.startswith(f"{base}/invite/inv_")

    guest_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    guest = guest_ctx.new_page()
    guest.goto(link)
    assert guest.input_value("#id_username") == "carol@example.com"
    guest.fill("#id_password1", NEW_PASSWORD)
    guest.fill("#id_password2", NEW_PASSWORD)
    guest.click("#signup")
    guest.wait_for_url("**/o/acme/")
    assert Membership.objects.get(user__username="carol@example.com").role == "member"

    owner.goto(f"{base}/o/acme/members/")
    carol_row = owner.locator('tr[data-member="carol@example.com"]')
    carol_row.locator("select").select_option("viewer")
    carol_row.locator("button[type=submit]").click()
    owner.wait_for_url("**/o/acme/members/")
    assert Membership.objects.get(user__username="carol@example.com").role == "viewer"
    for name, (width, height) in WIDTHS.items():
        owner.set_viewport_size({"width": width, "height": height})
        owner.goto(f"{base}/o/acme/members/")
        owner.screenshot(path=str(artifacts_dir / f"members-owner-{name}.png"), full_page=True)

    # The viewer sees the flag and the members, without any form that would change them.
    project_id = acme["project"].public_id
    guest.goto(f"{base}/o/acme/projects/{project_id}/flags/new-checkout/settings/")
    assert guest.locator("main").get_by_text("new-checkout").first.is_visible()
    assert guest.locator("main button[type=submit]").count() == 0
    guest.goto(f"{base}/o/acme/members/")
    assert guest.locator("#invite-form").count() == 0 and guest.locator("#members-table select").count() == 0
    assert guest.locator("#read-only").is_visible()
    for name, (width, height) in WIDTHS.items():
        guest.set_viewport_size({"width": width, "height": height})
        guest.goto(f"{base}/o/acme/members/")
        guest.screenshot(path=str(artifacts_dir / f"members-viewer-{name}.png"), full_page=True)

    # A write sent by hand, with the viewer's session and a valid CSRF token, is refused.
    status = guest.evaluate(
        """async () => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
            const r = await fetch('/o/acme/members/invite', {method: 'POST', headers: {'X-CSRFToken': token,
                'Content-Type': 'application/x-www-form-urlencoded'}, body: 'email=eve%40example.com&role=owner'});
            return r.status;
        }"""
    )
    assert status == 403
    assert not acme["org"].invitations.filter(email="eve@example.com").exists()
    owner_ctx.close()
    guest_ctx.close()
