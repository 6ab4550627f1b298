"""GET /v1/products/{id}/analytics/installs (+ /feedback, .csv): the answer of tests/analytics/test_installs.py over HTTP."""

from __future__ import annotations

import json

import pytest

from analytics.installs.fold import installs_fold
from analytics.installs.models import InstallSite
from events.models import Event
from tests.analytics.test_installs import check_expected, lifecycle, plugin, store  # noqa: F401 (fixture)
from tests.events.factories import ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def url(product, suffix="", query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/installs{suffix}?{query}"


@pytest.fixture
def stored(plugin):  # noqa: F811
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    return plugin


def test_it_answers_the_hand_computed_figures(api, stored):
    response = api.get(url(stored))
    assert response.status_code == 200
    check_expected(response.json()["data"])


def test_feedback_is_a_sub_endpoint_with_search_and_pages(api, stored):
    data = api.get(url(stored, "/feedback", f"{WINDOW}&q=screen")).json()["data"]
    assert (data["total"], data["page"], data["pageSize"]) == (1, 1, 50)
    assert data["results"] == [
        {
            "occurredAt": "2026-03-03T12:00:00Z",
            "site": "b.com",
            "licenseId": None,
            "licenseKey": "",
            "reason": "broke_site",
            "feedback": "White screen",
            "daysInstalled": 2,
        }
    ]


def test_csv_tables(api, stored):
    body = api.get(url(stored, ".csv", f"{WINDOW}&table=days")).content.decode()
    assert body.splitlines()[:3] == [
        "date,activeInstalls,installs,uninstalls,net",
        "2026-03-01,2,2,0,2",
        "2026-03-02,2,0,1,-1",
    ]
    response = api.get(url(stored, ".csv", f"{WINDOW}&table=feedback"))
    assert response["Content-Disposition"] == 'attachment; filename="installs-feedback-2026-03-01-2026-03-09.csv"'
    assert response.content.decode().splitlines()[1:] == [
        "2026-03-03T12:00:00Z,b.com,,,broke_site,White screen,2",
        "2026-03-02T10:00:00Z,c.com,,,too_expensive,Costs too much,",
    ]
    assert api.get(url(stored, ".csv", f"{WINDOW}&table=nope")).status_code == 400


def test_it_refuses_a_free_plan_with_402(api, org, free_plan, stored):
    org.plan = free_plan
    org.save()
    for suffix in ("", "/feedback", ".csv"):
        response = api.get(url(stored, suffix, f"{WINDOW}&table=days"))
        assert response.status_code == 402
        assert response.json()["error"]["code"] == "plan_upgrade_required"


def test_another_organizations_product_is_not_found(outsider_api, stored):
    assert outsider_api.get(url(stored)).status_code == 404


@pytest.mark.parametrize(
    ("suffix", "query", "parameter"),
    [
        ("", "from=2026-3-1&to=2026-03-09", "from"),
        ("", "from=2026-03-10&to=2026-03-09", "from"),
        ("", "from=2025-03-08&to=2026-03-09", "from"),  # 367 days
        ("", "from=２０２６-03-01&to=2026-03-09", "from"),
        ("/feedback", f"{WINDOW}&page=0", "page"),
        ("/feedback", f"{WINDOW}&page=abc", "page"),
        ("/feedback", f"{WINDOW}&q=" + "x" * 201, "q"),
        ("/feedback", f"{WINDOW}&q=a%0Ab", "q"),
    ],
)
def test_it_rejects_bad_parameters_naming_them(api, stored, suffix, query, parameter):
    response = api.get(url(stored, suffix, query))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_a_read_never_writes(api, stored):
    api.get(url(stored))
    api.get(url(stored, "/feedback"))
    assert not InstallSite.objects.exists()


def test_the_schema_documents_the_operations(client):
    schema = client.get("/v1/openapi.json").json()
    operation = schema["paths"]["/v1/products/{product_id}/analytics/installs"]["get"]
    assert {"400", "402", "404"} <= set(operation["responses"])
    data = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert "activeInstalls" in data["properties"]
    assert "402" in schema["paths"]["/v1/products/{product_id}/analytics/installs/feedback"]["get"]["responses"]


HOSTILE = [
    {},  # no env, no plugins
    {"env": "php 8"},
    {"env": {"php": 8.2, "wp": True}, "plugins": {"woo": 1}},
    {"env": {"php": {"major": 8}, "wp": None}, "plugins": [1, None, {"name": 5}, {"slug": "akismet"}, ["x"]]},
    {"env": {"php": "8.3" + "9" * 500, "wp": "<script>alert(1)</script>"}, "plugins": ["=HYPERLINK(1)"] * 3},
    {"plugins": [f"plugin-{n:04d}" for n in range(2000)]},  # 28 KB, near: the largest list ingestion accepts
]


def test_hostile_lifecycle_events_are_stored_and_shown_safely(client, api, org):
    product = ProductFactory(organization=org, timezone="UTC")
    for index, properties in enumerate(HOSTILE):
        body = {
            "public_key": product.public_key,
            "event": "product.installed",
            "site": f"s{index}.example.com",
            "properties": properties,
        }
        assert client.post("/public/v1/event", json.dumps(body), content_type="application/json").status_code == 200
    uninstall = {"reason": ["x"], "feedback": {"a": 1}}
    body = {
        "public_key": product.public_key,
        "event": "product.uninstalled",
        "site": "s0.example.com",
        "properties": uninstall,
    }
    assert client.post("/public/v1/event", json.dumps(body), content_type="application/json").status_code == 200
    too_big = {"public_key": product.public_key, "event": "product.installed", "site": "x.example.com"}
    too_big["properties"] = {"plugins": ["p" * 100] * 400}
    response = client.post("/public/v1/event", json.dumps(too_big), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("properties:")
    assert Event.objects.filter(product=product).count() == 7

    for fold in (False, True):
        if fold:
            installs_fold(product=product)
        data = api.get(url(product, query="")).json()["data"]
        assert data["activeInstalls"] == 5
        php = {row["version"]: row["sites"] for row in data["environment"]["php"]}
        assert php == {"unknown": 3, "8.2": 1, "8.3" + "9" * 29: 1}  # cut to 32 characters
        wp = {row["version"]: row["sites"] for row in data["environment"]["wp"]}
        assert wp == {"unknown": 4, "<script>alert(1)</script>": 1}
        plugins = {row["plugin"]: row["sites"] for row in data["environment"]["plugins"]}
        # akismet and the formula once each; the huge list kept to its first 200 plugins.
        assert plugins["akismet"] == 1 and plugins["=HYPERLINK(1)"] == 1 and plugins["plugin-0000"] == 1
        assert len(plugins) == 20
        assert data["uninstallReasons"] == [{"reason": "", "uninstalls": 1, "withFeedback": 0}]
    site = InstallSite.objects.get(product=product, domain="s5.example.com")
    assert len(site.plugins) == 200
    csv = api.get(url(product, ".csv", "table=plugins")).content.decode()
    assert "'=HYPERLINK(1),1" in csv


def test_a_time_zone_change_answers_503_until_the_fold_recounts(api, stored):
    installs_fold(product=stored)
    stored.timezone = "Asia/Tokyo"
    stored.save()
    response = api.get(url(stored))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "analytics_recounting"
    assert response["Retry-After"] == "5"
    installs_fold(product=stored)
    assert api.get(url(stored)).status_code == 200


def test_pages_stop_at_200(api, stored):
    response = api.get(url(stored, "/feedback", f"{WINDOW}&page=201"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_page"
