"""What the Feature Usage tab and the flag list say about their own figures, in Debian's Chromium.

Denominators, the window's day count, today's partial day in sparklines, time to first
use on the cards (compared with the API) and the answer-first columns on a phone.
Screenshots at 1280 and 390 px land in tests/artifacts/.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.e2e.test_console import WIDTHS, api_get, shoot, world  # noqa: F401 (the fixture)
from tests.e2e.test_customers import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_feature_usage_states_its_denominators_window_and_time_to_first_use(live_server, page, artifacts_dir, world):  # noqa: F811
    product, secret = world["product"], world["secret"]
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/o/acme/products/{product.public_id}/analytics/feature-usage/")
    window = {
        "from": page.locator("input[name=from]").input_value(),
        "to": page.locator("input[name=to]").input_value(),
    }
    # The default preset is 30 days ending today, today included, like every preset and the flag pages.
    assert (date.fromisoformat(window["to"]) - date.fromisoformat(window["from"])).days == 29
    data = api_get(live_server, secret, f"/v1/products/{product.public_id}/analytics/feature-usage", window)["data"]
    note = page.locator("#how-counted").inner_text()
    assert f"the 30 days {window['from']} → {window['to']}" in note
    assert f"active licenses ({data['totals']['activeLicenses']}:" in note
    assert "expired and revoked ones included" in note
    prior_to = (date.fromisoformat(window["from"]) - timedelta(days=1)).isoformat()
    assert (
        f"the 30 days just before, {(date.fromisoformat(window['from']) - timedelta(days=30)).isoformat()} → {prior_to}"
        in note
    )

    top = data["topFeatures"][0]["name"]
    first_use = api_get(
        live_server, secret, f"/v1/products/{product.public_id}/analytics/features/{top}/time-to-first-use", window
    )["data"]
    card = page.locator(f'.card[data-feature="{top}"]')
    assert card.locator('[data-field="never"]').inner_text() == str(first_use["never"])
    for bucket in first_use["buckets"]:
        assert card.locator(f'[data-bucket="{bucket["label"]}"]').inner_text().split()[-1] == str(bucket["licenses"])
    # The window ends today: the last day of each sparkline is drawn apart, "today, so far".
    assert card.locator("svg.sparkline .line-partial").count() == 1
    assert "today, so far" in card.locator("svg.sparkline .line-partial title").text_content()
    assert page.errors == []
    shoot(page, artifacts_dir, "30-feature-usage-clarity")

    # A phone: the cards stack and every figure stays inside the screen.
    page.set_viewport_size({"width": WIDTHS["phone"][0], "height": WIDTHS["phone"][1]})
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS["phone"][0] + 1


def test_the_flag_list_puts_each_environments_state_first_and_marks_today(live_server, page, artifacts_dir, world):  # noqa: F811
    project = world["project"]
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/o/acme/projects/{project.public_id}/")
    headers = [h.upper() for h in page.locator("#flags-table thead th").all_inner_texts()]  # CSS capitalises
    assert headers[0] == "KEY" and headers[-2:] == ["TYPE", "VARIANTS"]  # the environments come right after the key
    note = page.locator("#flags-counting").inner_text()
    assert "last 7 days" in note and "today included" in note
    assert page.locator("#flags-table .flag-spark .line-partial").count() >= 1
    # On a phone the key and the first environment's state are on screen without scrolling sideways.
    page.set_viewport_size({"width": WIDTHS["phone"][0], "height": WIDTHS["phone"][1]})
    state = page.locator("#flags-table tbody tr:first-child td:nth-child(2)").bounding_box()
    assert state["x"] < WIDTHS["phone"][0]
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.errors == []
    shoot(page, artifacts_dir, "31-flag-list")
