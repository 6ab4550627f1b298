"""The Installs tab in Debian's Chromium: the figures the API answers, screenshots at 1280 and 390 px."""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tenancy import services
from tenancy.models import Membership
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}
REASONS = [("too_expensive", "Too pricey for a small shop"), ("broke_site", "White screen after update"), ("", "")]


@pytest.fixture
def vendor(pro_plan):
    rng = random.Random(21)
    org = OrganizationFactory(name="Acme Plugins", slug="acme", plan=pro_plan)
    user = UserFactory(username="alice")
    services.membership_add(organization=org, user=user, role=Membership.Role.OWNER)
    _, secret = services.api_key_create(organization=org, name="e2e")
    product = ProductFactory(organization=org, name="SEO Booster Pro", timezone="UTC")
    licenses = [LicenseFactory(product=product, key=f"SEO-{n:04d}") for n in range(5)]
    now = datetime.now(UTC)
    for n in range(40):
        license = rng.choice([*licenses, None])
        at = now - timedelta(days=rng.uniform(1, 29))
        EventFactory(
            product=product,
            event="product.installed",
            is_system=True,
            domain=f"shop{n}.example",
            occurred_at=at,
            license=license,
            license_key=license.key if license else "",
            properties={
                "env": {"php": rng.choice(["7.4", "8.1", "8.2", "8.3"]), "wp": rng.choice(["6.4", "6.5", "6.6"])},
                "plugins": rng.sample(["woocommerce", "yoast", "akismet", "elementor", "jetpack"], 2),
            },
        )
        if n % 3 == 0:
            reason, feedback = rng.choice(REASONS)
            EventFactory(
                product=product,
                event="product.uninstalled",
                is_system=True,
                domain=f"shop{n}.example",
                occurred_at=min(at + timedelta(days=rng.uniform(0, 10)), now),
                properties={"reason": reason, "feedback": feedback},
            )
    return {"product": product, "secret": secret}


def api_get(live_server, secret: str, path: str, params: dict) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_vendor_reads_installs_in_the_browser(live_server, page, artifacts_dir, vendor):
    product = vendor["product"]
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/o/acme/products/{product.public_id}/")
    page.click("nav.tabs >> text=Installs")
    page.wait_for_url("**/analytics/installs/")
    path = f"/v1/products/{product.public_id}/analytics/installs"
    # The page shows its default preset, 30 days ending today (lib/windows.py); today is the last
    # day of the API's own default answer (the product's zone).
    today = date.fromisoformat(api_get(live_server, vendor["secret"], path, {})["data"]["days"][-1]["date"])
    window = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    data = api_get(live_server, vendor["secret"], path, window)["data"]
    assert len(data["days"]) == 30
    assert page.locator('#totals [data-total="activeInstalls"]').inner_text() == str(data["activeInstalls"])
    assert page.locator('#totals [data-total="installs"]').inner_text() == str(data["totals"]["installs"])
    assert page.locator("#daily-chart g").count() == len(data["days"])
    assert page.locator("#uninstall-feedback tbody tr").count() == data["totals"]["uninstalls"]
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"console-installs-{label}.png"), full_page=True)
        # Nothing wider than the screen: the page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.fill("input[name=q]", "white screen")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**q=white+screen**")
    rows = page.locator("#uninstall-feedback tbody tr")
    assert all("White screen" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert page.errors == []
