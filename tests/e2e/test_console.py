"""The console in Debian's Chromium: sign in, read Feature Usage and flag usage, compare with the API.

Screenshots of every page at laptop and phone widths land in tests/artifacts/
for a person to look at.
"""

from __future__ import annotations

import json
import random
import re
import urllib.request
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from events.models import License
from flags.models import Reason
from flags.rollup import rollup_days
from flags.selectors import utc_today
from tenancy import services
from tenancy.models import Membership
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key, evaluation
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
FEATURES = ["export_pdf", "bulk_edit", "schedule_report", "import_csv", "share_link", "dark_mode"]
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def world(pro_plan):
    """One organization with a product of known events and a project with rolled-up flag usage."""
    rng = random.Random(6)
    org = OrganizationFactory(name="Acme Plugins", slug="acme", plan=pro_plan)
    user = UserFactory(username="alice")
    services.membership_add(organization=org, user=user, role=Membership.Role.OWNER)
    _, secret = services.api_key_create(organization=org, name="e2e")
    product = ProductFactory(organization=org, name="SEO Booster Pro", timezone="UTC")
    licenses = [
        LicenseFactory(product=product, customer_email=f"owner{n}@site{n}.example", status=status)
        for n, status in enumerate([License.Status.ACTIVE] * 8 + [License.Status.EXPIRED] * 2)
    ]
    today = datetime.now(UTC).date()
    for days_ago in range(0, 62):
        day = today - timedelta(days=days_ago)
        for _ in range(rng.randint(2, 9)):
            feature = rng.choices(FEATURES, weights=[9, 5, 4, 3, 2, 1])[0]
            if feature == "dark_mode" and days_ago < 30:
                continue  # quiet in the current window
            license = rng.choice(licenses + [None, None])
            EventFactory(
                product=product,
                event=feature,
                occurred_at=datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=UTC),
                license=license,
                license_key=license.key if license else "",
                domain=f"shop{rng.randint(1, 6)}.example",
            )
    EventFactory(product=product, event="product.installed", is_system=True, occurred_at=datetime.now(UTC))

    project = ProjectFactory(organization=org, name="Checkout")
    production, _ = environment_with_key(project, "production")
    staging, _ = environment_with_key(project, "staging")
    flag = boolean_flag(project, "new-checkout", environments={production.public_id: {"enabled": True}})
    boolean_flag(project, "dark-launch")
    flag_today = utc_today()
    days = [flag_today - timedelta(days=n) for n in range(1, 30)]
    for day in days:
        for _ in range(rng.randint(5, 20)):
            reason = rng.choices(
                [Reason.TARGETING_MATCH, Reason.SPLIT, Reason.DEFAULT, Reason.ERROR], weights=[5, 3, 4, 1]
            )[0]
            value = None if reason == Reason.ERROR else rng.choice(["true", "false"])
            evaluation(production, flag, at=datetime.combine(day, time(12), tzinfo=UTC), value=value, reason=reason)
        evaluation(staging, flag, at=datetime.combine(day, time(9), tzinfo=UTC), value="false", reason=Reason.DEFAULT)
    rollup_days(days)
    return {
        "org": org,
        "product": product,
        "project": project,
        "production": production,
        "staging": staging,
        "secret": secret,
    }


def api_get(live_server, secret: str, path: str, params: dict) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def number(text: str) -> int:
    return int(text.replace(",", "").strip())


def shoot(page, artifacts_dir, name: str) -> None:
    """The current page at both widths, full length."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"console-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def read_totals(page) -> dict:
    return {
        key: number(page.locator(f'#totals [data-total="{key}"]').inner_text())
        for key in ("events", "uniqueFeatures", "uniqueLicenses", "uniqueDomains", "activeLicenses")
    }


def read_card(page, name: str) -> dict:
    card = page.locator(f'.card[data-feature="{name}"]')
    adoption = card.locator('[data-field="adoptionPct"]').inner_text().rstrip("%")
    return {
        "events": number(card.locator('[data-field="events"]').inner_text()),
        "licenses": number(card.locator('[data-field="licenses"]').inner_text()),
        "domains": number(card.locator('[data-field="domains"]').inner_text()),
        "adoptionPct": None if adoption == "—" else float(adoption),
    }


def query_of(page) -> dict:
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


def test_a_vendor_reads_feature_usage_and_flag_usage_in_the_browser(live_server, page, artifacts_dir, world):
    product, project, secret = world["product"], world["project"], world["secret"]
    usage_path = f"/v1/products/{product.public_id}/analytics/feature-usage"

    page.goto(f"{live_server.url}/o/acme/")
    assert page.url.startswith(f"{live_server.url}/login/")
    shoot(page, artifacts_dir, "01-login")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/o/acme/")
    assert page.locator("h1").inner_text() == "Acme Plugins"
    shoot(page, artifacts_dir, "02-organization")

    page.click(f"text={product.name}")
    page.wait_for_url(f"**/products/{product.public_id}/")
    shoot(page, artifacts_dir, "03-product-overview")

    # Feature Usage with the default preset: the 30 days ending today (docs/windows.md), sent explicitly.
    page.click("nav.tabs >> text=Analytics")
    page.wait_for_url("**/analytics/feature-usage/")
    default_window = {name: page.locator(f"input[name={name}]").input_value() for name in ("from", "to")}
    assert (datetime.fromisoformat(default_window["to"]) - datetime.fromisoformat(default_window["from"])).days == 29
    data = api_get(live_server, secret, usage_path, default_window)["data"]
    assert page.locator("#window-range").inner_text().startswith(f"{data['from']} → {data['to']}")
    assert read_totals(page) == data["totals"]
    top = data["topFeatures"][0]
    assert top["name"] == "export_pdf"
    assert read_card(page, top["name"]) == {key: top[key] for key in ("events", "licenses", "domains", "adoptionPct")}
    assert page.locator('.card[data-feature="export_pdf"] svg.sparkline > title').count() == 1
    assert "dark_mode" in page.locator("#quiet-features").inner_text()
    shoot(page, artifacts_dir, "04-feature-usage")

    # The 7-day preset, kept in the URL.
    page.click(".segmented >> text=7 days")
    page.wait_for_url("**/feature-usage/?days=7")
    week = api_get(
        live_server,
        secret,
        usage_path,
        {"from": page.locator("input[name=from]").input_value(), "to": page.locator("input[name=to]").input_value()},
    )["data"]
    # "7 days" is the 7 days ending today, today included (tenancy.console.console_window): to − from = 6.
    assert (date_span := (datetime.fromisoformat(week["to"]) - datetime.fromisoformat(week["from"])).days) == 6, (
        date_span
    )
    assert read_totals(page) == week["totals"]
    assert read_card(page, week["topFeatures"][0]["name"])["events"] == week["topFeatures"][0]["events"]

    # The event filter, from the form: the URL carries it, the figures follow it.
    page.fill("input[name=event]", "EXPORT")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*event=EXPORT.*"))
    params = query_of(page)
    assert params["event"] == "EXPORT"
    filtered = api_get(live_server, secret, usage_path, params)["data"]
    assert read_totals(page) == filtered["totals"]
    assert [f["name"] for f in filtered["topFeatures"]] == ["export_pdf"]
    assert page.locator(".card").count() == 1
    shoot(page, artifacts_dir, "05-feature-usage-filtered")

    # The license filter, from a top license's row.
    page.click("#top-licenses tbody tr:first-child a.small-link")  # the name opens the customer page
    page.wait_for_url(re.compile(r".*license_id=lic_.*"))
    params = query_of(page)
    assert params["event"] == "EXPORT"
    by_license = api_get(live_server, secret, usage_path, params)["data"]
    assert read_totals(page) == by_license["totals"]
    assert by_license["totals"]["uniqueLicenses"] == 1

    page.click("nav.tabs >> text=Licenses")
    page.fill("#license-search", "owner3@")
    page.press("#license-search", "Enter")
    page.wait_for_url("**/licenses/?q=owner3%40")
    assert page.locator("#licenses-table tbody tr").count() == 1
    shoot(page, artifacts_dir, "06-licenses")

    page.click("nav.tabs >> text=Settings")
    assert product.public_key in page.locator("#snippet-php").inner_text()
    shoot(page, artifacts_dir, "07-settings")

    page.click("nav.org-nav >> text=API keys")
    page.fill("#key-name", "Back office")
    page.click("text=Create key")
    assert page.locator("#new-secret code").inner_text().startswith("sk_")
    shoot(page, artifacts_dir, "08-api-keys")

    # Flags: project page, then a flag's usage page.
    page.click("nav.org-nav >> text=Acme Plugins")
    page.click(f"text={project.name}")
    page.wait_for_url(f"**/projects/{project.public_id}/")
    assert page.locator("#flags-table tbody tr").count() == 2
    shoot(page, artifacts_dir, "09-project")

    page.click("#flags-table >> text=new-checkout")
    page.wait_for_url("**/flags/new-checkout/")
    flag_path = f"/v1/projects/{project.public_id}/flags/new-checkout/usage"
    usage = api_get(live_server, secret, flag_path, {"environmentId": world["production"].public_id})
    page_totals = {
        key: number(page.locator(f'#flag-totals [data-total="{key}"]').inner_text())
        for key in ("totalEvaluations", "ruleMatchCount", "defaultCount", "errorCount")
    }
    assert page_totals == {key: sum(row[key] for row in usage["rows"]) for key in page_totals}
    assert page.locator("#flag-usage-rows tbody tr").count() == len(usage["rows"]) == 29
    assert page.locator("svg.barchart > g").count() == 30  # one bar per day of the window, today included
    shoot(page, artifacts_dir, "10-flag-usage")

    page.click(".env-picker >> text=staging")
    page.wait_for_url(re.compile(r".*environmentId=env_.*"))
    assert number(page.locator('#flag-totals [data-total="totalEvaluations"]').inner_text()) == 29

    page.click("nav.segmented >> text=90 days")
    assert "days=90" in page.url
    assert page.locator("#clamped-note").count() == 0

    assert page.errors == []


def test_a_free_plan_sees_why_feature_usage_is_empty_and_a_clamped_flag_window(
    live_server, page, artifacts_dir, world, free_plan
):
    org, product, project = world["org"], world["product"], world["project"]
    org.plan = free_plan
    org.save()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/o/acme/products/{product.public_id}/analytics/feature-usage/")
    assert "needs a paid plan" in page.locator("#plan-required").inner_text()
    assert page.locator("[data-total]").count() == 0
    shoot(page, artifacts_dir, "11-feature-usage-free-plan")

    page.goto(f"{live_server.url}/o/acme/projects/{project.public_id}/flags/new-checkout/")
    assert "keeps 7 days" in page.locator("#clamped-note").inner_text()
    shoot(page, artifacts_dir, "12-flag-usage-clamped")
    assert page.errors == []
