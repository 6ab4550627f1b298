"""The customer page and the entitlement gap in Debian's Chromium, compared with the API.

Screenshots at laptop and phone widths land in tests/artifacts/.
"""

from __future__ import annotations

import urllib.request

import pytest

from events.models import License
from tests.e2e.test_console import PASSWORD, api_get, number, shoot, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/o/acme/")


def shown_window(page) -> dict[str, str]:
    """The window the page shows: its from/to inputs (every preset sends an explicit window)."""
    return {name: page.locator(f"input[name={name}]").input_value() for name in ("from", "to")}


def test_a_vendor_opens_a_customer_from_top_licenses(live_server, page, artifacts_dir, world):  # noqa: F811
    product, secret = world["product"], world["secret"]
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/o/acme/products/{product.public_id}/analytics/feature-usage/")
    window = shown_window(page)  # the default preset's 30 days ending today (docs/windows.md)
    usage = api_get(live_server, secret, f"/v1/products/{product.public_id}/analytics/feature-usage", window)["data"]
    top = usage["topLicenses"][0]
    License.objects.filter(public_id=top["licenseId"]).update(max_sites=1)

    # Every card states the gap, as the API counts it.
    for feature in usage["topFeatures"]:
        card = page.locator(f'.card[data-feature="{feature["name"]}"] [data-field="notUsedBy"]')
        active = usage["totals"]["activeLicenses"]
        assert card.inner_text() == f"Not used by {feature['notUsedBy']} of {active} active licenses"

    page.click(f'#top-licenses a[data-customer="{top["licenseId"]}"]')
    page.wait_for_url(f"**/customers/{top['licenseId']}/")
    assert page.locator("#window-range").inner_text().startswith(f"{window['from']} → {window['to']}")
    data = api_get(live_server, secret, f"/v1/products/{product.public_id}/licenses/{top['licenseId']}/usage", window)[
        "data"
    ]
    assert data["totals"]["events"] == top["events"]
    assert page.locator("#customer-features .card").count() == len(data["features"])
    first = data["features"][0]
    card = page.locator(f'#customer-features .card[data-feature="{first["name"]}"]')
    assert number(card.locator('[data-field="events"]').inner_text()) == first["events"]
    assert page.locator("#customer-sites tbody tr").count() == len(data["sites"])
    assert page.locator("#unused-features li").count() == len(data["unusedFeatures"])
    assert data["sharing"]["exceeded"] == (len(data["sites"]) > 1)
    assert page.locator("#sharing-badge").count() == int(data["sharing"]["exceeded"])
    assert page.errors == []
    shoot(page, artifacts_dir, "20-customer")


def test_the_gap_csv_behind_a_card_lists_exactly_the_licenses_it_counts(live_server, page, world):  # noqa: F811
    product, secret = world["product"], world["secret"]
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/o/acme/products/{product.public_id}/analytics/feature-usage/")
    window = shown_window(page)
    usage = api_get(live_server, secret, f"/v1/products/{product.public_id}/analytics/feature-usage", window)["data"]
    feature = usage["topFeatures"][0]
    href = page.locator(f'.card[data-feature="{feature["name"]}"] [data-field="notUsedBy"] a').get_attribute("href")
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    request = urllib.request.Request(f"{live_server.url}{href}", headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=30) as response:
        lines = response.read().decode().splitlines()
    assert lines[0] == "licenseId,key,customerEmail,events"
    assert len(lines) - 1 == feature["notUsedBy"]
