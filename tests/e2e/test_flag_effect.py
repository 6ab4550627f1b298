"""The flag page's effect panel in Debian's Chromium, fed by an OpenFeature tracking event sent from
another origin with the JS SDK's ``packedge.tracking`` (CORS preflight, SDK key, /ofrep/v1/track).

Screenshots at 1280 and 390 px land in tests/artifacts/.
"""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from events.models import Event
from flags import services as flag_services
from tenancy import services
from tenancy.models import Membership
from tests.e2e.test_sdk import site  # noqa: F401 - the customer's site fixture (another origin)
from tests.flags.effect_world import D1, effect_world
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def world(pro_plan):
    org = OrganizationFactory(name="Acme Plugins", slug="acme", plan=pro_plan)
    user = UserFactory(username="alice")
    user.set_password(PASSWORD)
    user.save()
    services.membership_add(organization=org, user=user, role=Membership.Role.OWNER)
    _, secret = services.api_key_create(organization=org, name="e2e")
    product, project, production, flag, licenses = effect_world(org)
    _, sdk_key = flag_services.sdk_key_create(environment=production)
    return {
        "org": org,
        "secret": secret,
        "sdk_key": sdk_key,
        "product": product,
        "project": project,
        "production": production,
        "licenses": licenses,
    }


def shoot(page, artifacts_dir, name: str) -> None:
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"console-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def api_get(live_server, secret: str, path: str, params: dict) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_tracked_openfeature_event_shows_in_the_flags_effect_panel(live_server, page, artifacts_dir, world, site):  # noqa: F811
    product, project, production = world["product"], world["project"], world["production"]
    before = Event.objects.filter(product=product).count()
    # An OpenFeature provider given PackEdge tracking, on a customer's page (another origin).
    url = site(
        "tracking.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          const edge = packedge.tracking({{ endpoint: "{live_server.url}", sdkKey: "{world["sdk_key"]}" }});
          const provider = edge.provider({{ metadata: {{ name: "OFREP Web Provider" }} }});
          provider.track("export_csv", {{ targetingKey: "u-c", licenseKey: "LIC-C" }}, {{ value: 1 }});
          window.done = edge.flush().then(() => edge.stats());
        </script>
        """,
    )
    page.goto(url)
    assert page.evaluate("window.done") == {"queued": 0, "sent": 1, "dropped": 0, "rejected": 0}
    deadline = time.monotonic() + 10
    while Event.objects.filter(product=product).count() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    tracked = Event.objects.filter(product=product).latest("id")
    assert (tracked.feature, tracked.license.key, tracked.properties) == ("export_csv", "LIC-C", {"value": 1})
    assert page.errors == []

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/o/acme/")
    flag_page = f"{live_server.url}/o/acme/projects/{project.public_id}/flags/new-checkout/"
    page.goto(f"{flag_page}?{urlencode({'environmentId': production.public_id, 'from': D1.isoformat()})}")
    # the picker offers what the exposed licenses used: export_csv 12 + C's tracked 1, bulk_edit 4
    assert page.locator("#effect-choices a").all_inner_texts() == ["export_csv", "bulk_edit"]
    page.fill("#effect-feature", "export_csv")
    page.click("#effect-form button[type=submit]")
    page.wait_for_selector("#effect-variants")
    effect = api_get(
        live_server,
        world["secret"],
        f"/v1/projects/{project.public_id}/flags/new-checkout/effect",
        {"environmentId": production.public_id, "from": D1.isoformat(), "feature": "export_csv"},
    )
    # on: A 3 + B 1, both using; off: C 1 (the tracked event) + E 2, both using now
    expected = {"on": ("2", "2 of 2 (100.0%)", "4", "2.0"), "off": ("2", "2 of 2 (100.0%)", "3", "1.5")}
    for variant in effect["variants"]:
        row = page.locator(f'#effect-variants tr[data-variant="{variant["variant"]}"]')
        shown = tuple(
            row.locator(f'[data-figure="{name}"]').inner_text().strip()
            for name in ("licenses", "using", "events", "per-license")
        )
        assert shown == expected[variant["variant"]]
        assert shown[2] == str(variant["events"]) and shown[0] == str(variant["licenses"])
    assert "1 served more than one variant" in page.locator("#effect-excluded").inner_text()
    page.locator("#effect").scroll_into_view_if_needed()
    assert page.errors == []
    shoot(page, artifacts_dir, "22-flag-effect")
    # the panel alone, at both widths, for the review
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.locator("#effect").screenshot(path=str(artifacts_dir / f"console-22-flag-effect-panel-{label}.png"))
    # at 390 px nothing of the panel runs off the page
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
