"""The console's Installs tab: the API's answer for the same window, laid out; safe with hostile text."""

from __future__ import annotations

import pytest

from analytics.installs_views import daily_chart, shares
from tests.analytics.test_installs import lifecycle, plugin, store  # noqa: F401 (fixture)
from tests.events.factories import EventFactory, ProductFactory

pytestmark = pytest.mark.django_db
WINDOW = {"from": "2026-03-01", "to": "2026-03-09"}


def tab_url(org, product, suffix="analytics/installs/"):
    return f"/o/{org.slug}/products/{product.public_id}/{suffix}"


@pytest.fixture
def stored(plugin):  # noqa: F811
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    return plugin


def test_it_needs_a_login_and_hides_other_organizations(client, owner, org, other_org, stored):
    for suffix in ("analytics/installs/", "analytics/installs.csv?table=days"):
        assert client.get(tab_url(org, stored, suffix)).status_code == 302
    client.force_login(owner)
    foreign = ProductFactory(organization=other_org)
    assert client.get(tab_url(other_org, foreign)).status_code == 404
    assert client.get(tab_url(org, foreign)).status_code == 404


def test_the_tab_shows_the_apis_answer(client, owner, org, api, stored):
    client.force_login(owner)
    response = client.get(tab_url(org, stored), WINDOW)
    assert response.status_code == 200
    api_data = api.get(f"/v1/products/{stored.public_id}/analytics/installs", WINDOW).json()["data"]
    assert response.context["data"] == api_data
    html = response.content.decode()
    assert 'aria-current="page">Installs</a>' in html
    assert '<dd data-total="activeInstalls">2</dd>' in html
    assert "White screen" in html and "Costs too much" in html
    # One bar per day of the window; 03-01's two installs reach the top of the +2 scale.
    chart = response.context["chart"]
    assert len(chart["bars"]) == 9 and chart["top"] == 2 and chart["bars"][0]["up_y"] == chart["top_y"]


def test_feedback_search_and_csv_from_the_tab(client, owner, org, stored):
    client.force_login(owner)
    response = client.get(tab_url(org, stored), {**WINDOW, "q": "screen"})
    assert [row["site"] for row in response.context["feedback"]["results"]] == ["b.com"]
    csv = client.get(tab_url(org, stored, "analytics/installs.csv"), {**WINDOW, "table": "reasons"})
    assert csv.content.decode().splitlines() == [
        "reason,uninstalls,withFeedback",
        "broke_site,1,1",
        "too_expensive,1,1",
    ]


def test_bad_window_is_a_clear_400_on_the_page(client, owner, org, stored):
    client.force_login(owner)
    response = client.get(tab_url(org, stored), {"from": "2026-03-10", "to": "2026-03-01"})
    assert response.status_code == 400
    assert "is after to" in response.content.decode()


def test_a_free_plan_sees_the_upgrade_panel(client, owner, org, free_plan, stored):
    org.plan = free_plan
    org.save()
    client.force_login(owner)
    assert 'id="plan-required"' in client.get(tab_url(org, stored)).content.decode()
    assert client.get(tab_url(org, stored, "analytics/installs.csv?table=days")).status_code == 402


def test_hostile_text_is_escaped(client, owner, org):
    product = ProductFactory(organization=org, timezone="UTC")
    EventFactory(
        product=product,
        event="product.installed",
        is_system=True,
        domain="x.example.com",
        properties={"env": {"php": "<img src=x onerror=alert(1)>"}, "plugins": ["<b>bold</b>"]},
    )
    EventFactory(
        product=product,
        event="product.uninstalled",
        is_system=True,
        domain="y.example.com",
        properties={"reason": "<script>alert(1)</script>", "feedback": "<i>no</i>"},
    )
    client.force_login(owner)
    html = client.get(tab_url(org, product)).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_chart_and_share_layout():
    days = [
        {"date": "2026-03-01", "installs": 5, "uninstalls": 0, "activeInstalls": 5},
        {"date": "2026-03-02", "installs": 0, "uninstalls": 2, "activeInstalls": 3},
    ]
    chart = daily_chart(days)
    # Scale 5 (1/2/5 × 10ⁿ at or above 5); half the 182-unit plot height each way from the middle.
    assert chart["top"] == 5 and chart["active_top"] == 5
    assert chart["bars"][0]["up"] == 91.0 and chart["bars"][1]["down"] == 36.4
    assert shares([{"v": "a", "sites": 4}, {"v": "b", "sites": 1}], "v") == [
        {"label": "a", "count": 4, "pct": 100.0},
        {"label": "b", "count": 1, "pct": 25.0},
    ]
