"""A flag made and turned on in the console, in Debian's Chromium, then served to the stock OpenFeature SDK.

Each step (create, add a rule, add a 25% rollout, turn on) is one save, so the
audit log must show four entries with the console user as actor. Screenshots of
the editing pages at laptop and phone widths land in tests/artifacts/.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason as SdkReason

from flags import recording
from flags.evaluation import rollout_variant
from tenancy import services
from tenancy.models import Membership
from tests.flags.factories import ProjectFactory, environment_with_key
from tests.tenancy.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
WIDTHS = {"laptop": (1280, 900), "phone": (390, 844)}
DOMAIN = "packedge-console-edit-test"
ROLLOUT = [{"variant": "on", "weight": 25}, {"variant": "off", "weight": 75}]
# Targeting keys for the split: enough that a 25% rollout cannot land at 0% or 100% by luck.
USERS = [f"user-{n}" for n in range(200)]


@pytest.fixture(autouse=True)
def manual_recording():
    """Evaluations wait in the recorder's buffer: no background thread touching the database after the test."""
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
    _, secret = services.api_key_create(organization=org, name="e2e")
    project = ProjectFactory(organization=org, name="Shop")
    environment_with_key(project, "production")
    staging, sdk_key = environment_with_key(project, "staging")
    return {"project": project, "staging": staging, "sdk_key": sdk_key, "secret": secret}


@pytest.fixture
def sdk(live_server, shop):
    provider = OFREPProvider(live_server.url, headers_factory=lambda: {"Authorization": f"Bearer {shop['sdk_key']}"})
    openfeature.set_provider(provider, DOMAIN)
    yield openfeature.get_client(DOMAIN)
    openfeature.clear_providers()


def shoot(page, artifacts_dir, name: str) -> None:
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(artifacts_dir / f"flag-edit-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def save(page) -> None:
    page.click("#save-environment")
    page.wait_for_url("**?saved=1")
    assert page.locator("#saved").is_visible()


def ctx(key: str, **attributes) -> EvaluationContext:
    return EvaluationContext(targeting_key=key, attributes=attributes)


def test_a_flag_made_in_the_console_is_served_to_the_stock_sdk_and_every_step_is_in_the_audit_log(
    live_server, page, artifacts_dir, shop, sdk
):
    project, staging = shop["project"], shop["staging"]
    assert sdk.get_boolean_details("new-checkout", False, ctx("user-1")).error_code is not None  # not there yet

    page.goto(f"{live_server.url}/login/?next=/o/acme/projects/{project.public_id}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/projects/{project.public_id}/")

    # 1. Create: a boolean flag, its on/off variants offered already.
    page.click("#new-flag")
    page.fill("#flag-key", "new-checkout")
    page.fill("#flag-description", "The one-page checkout")
    shoot(page, artifacts_dir, "01-create")
    page.click("#create-flag")
    page.wait_for_url("**/flags/new-checkout/settings/?created=1")
    shoot(page, artifacts_dir, "02-settings")

    # 2. In staging, a rule: pro and team plans get "on".
    page.click("text=Edit staging")
    page.wait_for_url(f"**/environments/{staging.public_id}/")
    page.click("#add-rule")
    rule = page.locator("#rule-0")
    rule.locator("[name=rule-0-cond-0-attribute]").fill("plan")
    rule.locator("[name=rule-0-cond-0-operator]").select_option("in")
    rule.locator("[name=rule-0-cond-0-value]").fill("pro, team")
    rule.locator("[name=rule-0-variant]").select_option("on")
    page.locator("#default-variant").select_option("off")
    save(page)

    # 3. A 25% rollout of "on" for everyone else.
    page.click("#add-rule")
    rollout = page.locator("#rule-1")
    rollout.locator("input[name=rule-1-serve][value=rollout]").check()
    rollout.locator("[name=rule-1-weight-on]").fill("25")
    rollout.locator("[name=rule-1-weight-off]").fill("75")
    rollout.locator("[name=rule-1-weight-off]").press("Enter")  # Enter saves, as the Save button does
    page.wait_for_url("**?saved=1")

    # Still off: the SDK gets the default variant, reason DISABLED.
    disabled = sdk.get_boolean_details("new-checkout", True, ctx("user-1", plan="pro"))
    assert (disabled.value, disabled.variant, disabled.reason) == (False, "off", SdkReason.DISABLED)

    # 4. Turn it on.
    page.check("#enabled")
    save(page)
    shoot(page, artifacts_dir, "03-environment")

    matched = sdk.get_boolean_details("new-checkout", False, ctx("user-1", plan="team"))
    assert (matched.value, matched.variant, matched.reason) == (True, "on", SdkReason.TARGETING_MATCH)
    split = {key: sdk.get_boolean_details("new-checkout", False, ctx(key, plan="free")) for key in USERS}
    assert {details.reason for details in split.values()} == {SdkReason.SPLIT}
    assert {key: details.variant for key, details in split.items()} == {
        key: rollout_variant("new-checkout", key, ROLLOUT) for key in USERS
    }
    served_on = sum(details.value for details in split.values())
    assert 30 <= served_on <= 70, served_on  # 25% of 200 is 50

    # The flag's history: four steps, newest first, all by alice.
    page.click("nav.tabs >> text=History")
    page.wait_for_url("**/flags/new-checkout/history/")
    rows = page.locator("#history tbody tr")
    assert [rows.nth(i).get_attribute("data-action") for i in range(rows.count())] == [
        "flag.environment_updated",
        "flag.environment_updated",
        "flag.environment_updated",
        "flag.created",
    ]
    assert {rows.nth(i).get_attribute("data-actor") for i in range(rows.count())} == {"alice"}
    shoot(page, artifacts_dir, "04-history")

    # The same four entries from the API, with before and after.
    request = urllib.request.Request(
        f"{live_server.url}/v1/audit-log?limit=4", headers={"Authorization": f"Bearer {shop['secret']}"}
    )
    with urllib.request.urlopen(request) as response:
        entries = json.load(response)["data"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("flag.environment_updated", {"type": "user", "name": "alice"}),
        ("flag.environment_updated", {"type": "user", "name": "alice"}),
        ("flag.environment_updated", {"type": "user", "name": "alice"}),
        ("flag.created", {"type": "user", "name": "alice"}),
    ]
    turned_on, rolled_out, ruled, _ = entries
    assert (turned_on["before"]["enabled"], turned_on["after"]["enabled"]) == (False, True)
    assert rolled_out["after"]["rules"][1] == {"conditions": [], "rollout": ROLLOUT}
    assert ruled["after"]["rules"] == [
        {"conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}], "variant": "on"}
    ]

    # The confirmation step of a delete, and the project's history, for a person to look at.
    page.click("nav.tabs >> text=Settings")
    page.click("#delete-flag")
    page.wait_for_url("**/flags/new-checkout/delete/")
    shoot(page, artifacts_dir, "05-delete")
    page.goto(f"{live_server.url}/o/acme/projects/{project.public_id}/history/")
    shoot(page, artifacts_dir, "06-project-history")
    assert page.errors == []
