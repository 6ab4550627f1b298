"""License-aware flags in Debian's Chromium: exposure by variant and license on the flag page,
health badges, sparklines and unknown flags on the project page, each checked against the API.

Screenshots at 1280 and 390 px land in tests/artifacts/.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

import pytest

from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tenancy import services
from tenancy.models import Membership
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
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
    product = ProductFactory(organization=org, name="SEO Booster Pro")
    licenses = [
        LicenseFactory(product=product, key=f"LIC-{n}", customer_email=f"owner{n}@example.com") for n in range(4)
    ]
    project = ProjectFactory(organization=org, name="Checkout", product=product)
    production, raw_key = environment_with_key(project, "production")
    flag = boolean_flag(project, "new-checkout")
    boolean_flag(project, "dark-mode")  # never evaluated: new
    today = utc_today()
    for days_ago in range(1, 8):
        day = today - timedelta(days=days_ago)
        for n, license in enumerate(licenses[:3]):
            variant = "on" if (n + days_ago) % 3 else "off"
            for _ in range(n + 1):
                recording.record(
                    environment_id=production.pk,
                    flag_id=flag.pk,
                    value="true" if variant == "on" else "false",
                    reason=Reason.SPLIT,
                    at=datetime.combine(day, time(9 + n), tzinfo=UTC),
                    variant=variant,
                    targeting_key=f"user-{n}",
                    license_key=license.key,
                )
    recording.flush()
    rollup_run(today=today)
    return {
        "org": org,
        "secret": secret,
        "raw_key": raw_key,
        "project": project,
        "production": production,
        "licenses": licenses,
        "product": product,
    }


def api_get(live_server, secret: str, path: str, params: dict) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def shoot(page, artifacts_dir, name: str) -> None:
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"console-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_vendor_sees_which_licenses_got_each_variant_and_each_flags_health(live_server, page, artifacts_dir, world):
    project, production, secret = world["project"], world["production"], world["secret"]
    # An undefined key evaluated by the SDK shows in the unknown-flags panel.
    request = urllib.request.Request(
        f"{live_server.url}/ofrep/v1/evaluate/flags/old-banner",
        data=b'{"context": {"targetingKey": "u"}}',
        headers={"Authorization": f"Bearer {world['raw_key']}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=30)
    recording.flush()

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/o/acme/")

    page.goto(f"{live_server.url}/o/acme/projects/{project.public_id}/")
    flags = api_get(live_server, secret, f"/v1/projects/{project.public_id}/flags", {})["data"]
    for flag in flags:
        health = flag["health"][production.public_id]
        row = page.locator("#flags-table tr", has_text=flag["key"])
        assert row.locator(".flag-health").get_attribute("data-status") == health["status"]
        assert row.locator("[data-evaluations7d]").get_attribute("data-evaluations7d") == str(health["evaluations7d"])
        assert row.locator("svg.sparkline").count() == 1
    assert page.locator("#unknown-flags td.mono").all_inner_texts() == ["old-banner"]
    shoot(page, artifacts_dir, "20-flags-project-health")

    page.click("text=new-checkout")
    page.wait_for_url("**/flags/new-checkout/**")
    exposure = api_get(
        live_server,
        secret,
        f"/v1/projects/{project.public_id}/flags/new-checkout/exposure",
        {"environmentId": production.public_id},
    )
    bars = page.locator("#variant-bars li")
    assert bars.count() == len(exposure["variants"]) == 2
    for variant in exposure["variants"]:
        figures = page.locator(f'#variant-bars li[data-variant="{variant["variant"]}"] .variant-figures').inner_text()
        assert f"{variant['evaluations']} evaluations" in figures
        assert f"{variant['licenses']} licenses ({variant['licensesPct']}% of active)" in figures
    rows = page.locator("#exposure-licenses tbody tr")
    assert [rows.nth(i).get_attribute("data-license") for i in range(rows.count())] == [
        row["id"] for row in exposure["licenses"]["data"]
    ]
    assert page.locator('#exposure-totals [data-total="activeLicenses"]').inner_text() == "4"
    assert page.errors == []
    shoot(page, artifacts_dir, "21-flag-exposure")

    # The license links to its row in the product's Licenses tab.
    first = exposure["licenses"]["data"][0]
    page.click(f'#exposure-licenses tr[data-license="{first["id"]}"] a')
    page.wait_for_url(f"**/products/{world['product'].public_id}/licenses/**")
    assert page.locator("#licenses-table tbody tr").count() == 1
    assert first["key"] in page.locator("#licenses-table").inner_text()
