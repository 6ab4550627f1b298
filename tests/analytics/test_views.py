from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

import pytest

from analytics.feature_usage import feature_usage, parse_feature_usage_query
from events.models import License
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

ZONE = "Europe/Berlin"


def today() -> date:
    return datetime.now(zoneinfo.ZoneInfo(ZONE)).date()


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zoneinfo.ZoneInfo(ZONE))


@pytest.fixture
def product(org):
    return ProductFactory(organization=org, name="SEO Booster", timezone=ZONE)


@pytest.fixture
def licenses(product):
    return [
        LicenseFactory(product=product, customer_email="ann@shop.example"),
        LicenseFactory(product=product, customer_email="ben@shop.example"),
        LicenseFactory(product=product, status=License.Status.EXPIRED),
        LicenseFactory(product=product),
    ]


@pytest.fixture
def events(product, licenses):
    """Three days ago and yesterday in the window, and the week before for the prior window."""
    d3, d1, prior = today() - timedelta(days=3), today() - timedelta(days=1), today() - timedelta(days=10)
    ann, ben = licenses[0], licenses[1]
    for hour in (9, 10, 10):
        EventFactory(product=product, event="export_pdf", occurred_at=at(d3, hour), license=ann, domain="ann.example")
    EventFactory(product=product, event="export_pdf", occurred_at=at(d1, 14), license=ben, domain="ben.example")
    EventFactory(
        product=product, event="feature_used", feature="import_csv", occurred_at=at(d1, 15), license=ann, domain=""
    )
    EventFactory(product=product, event="product.installed", is_system=True, occurred_at=at(d1, 15))
    EventFactory(product=product, event="export_pdf", occurred_at=at(prior, 8), domain="ann.example")
    EventFactory(product=product, event="export_pdf", occurred_at=at(prior, 8), domain="ann.example")
    EventFactory(product=product, event="bulk_import", occurred_at=at(prior - timedelta(days=1), 8))


def tab_url(org, product, suffix="analytics/feature-usage/"):
    return f"/o/{org.slug}/products/{product.public_id}/{suffix}"


def api_data(api, product, params):
    response = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage", params)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_it_needs_a_login(client, org, product):
    for suffix in ("analytics/feature-usage/", "analytics/feature-usage.csv?table=features"):
        response = client.get(tab_url(org, product, suffix))
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_another_organizations_product_answers_404(client, owner, org, other_org):
    foreign = ProductFactory(organization=other_org)
    client.force_login(owner)
    for suffix in ("analytics/feature-usage/", "analytics/feature-usage.csv?table=features"):
        assert client.get(tab_url(org, foreign, suffix)).status_code == 404
        assert client.get(tab_url(other_org, foreign, suffix)).status_code == 404


def test_the_figures_are_the_apis_and_the_numbers_computed_by_hand(client, owner, org, api, product, licenses, events):
    client.force_login(owner)
    response = client.get(tab_url(org, product), {"days": "7"})
    assert response.status_code == 200
    data = response.context["data"]
    assert data == api_data(
        api, product, {"from": (today() - timedelta(days=6)).isoformat(), "to": today().isoformat()}
    )
    assert data["totals"] == {
        "events": 5,
        "uniqueFeatures": 2,
        "uniqueLicenses": 2,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
    export = data["topFeatures"][0]
    assert (export["name"], export["events"], export["priorEvents"], export["licenses"], export["adoptionPct"]) == (
        "export_pdf",
        4,
        2,
        2,
        66.7,
    )
    html = response.content.decode()
    assert 'data-total="events">5<' in html
    assert 'data-total="activeLicenses">3<' in html
    card = html[html.index('data-feature="export_pdf"') :]
    assert 'data-field="events">4<' in card
    assert 'data-field="adoptionPct">66.7%<' in card
    assert "▲ 100%" in card  # 4 events against 2 before
    import_card = html[html.index('data-feature="import_csv"') :]
    assert "delta-new" in import_card[: import_card.index("</article>")]
    assert "bulk_import" in html  # quiet: used only in the prior window
    assert (
        "Used in the 7 days before this window" in html
    )  # "7 days" is today − 6 … today: the prior window is 7 days too


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"days": "30"},
        {"days": "90"},
        {"event": "EXPORT"},
        {"from": "2020-01-01", "to": "2020-01-31"},
    ],
)
def test_every_window_and_filter_shows_what_the_api_answers(client, owner, org, api, product, events, params):
    client.force_login(owner)
    response = client.get(tab_url(org, product), params)
    assert response.status_code == 200
    data = response.context["data"]
    api_params = {k: v for k, v in params.items() if k != "days"}
    # "N days" is the N days ending today, both included (lib.windows): 90 → today − 89 … today;
    # the default preset, 30 days, sends its window too (the API's own default is 31 days).
    days = 90 if params.get("days") == "90" else (30 if not {"from", "to"} & set(params) else None)
    if days:
        api_params.update({"from": (today() - timedelta(days=days - 1)).isoformat(), "to": today().isoformat()})
    assert data == api_data(api, product, api_params)


def test_the_license_filter_narrows_every_figure_and_links_back(client, owner, org, api, product, licenses, events):
    ann = licenses[0]
    client.force_login(owner)
    response = client.get(tab_url(org, product), {"days": "7", "license_id": ann.public_id})
    data = response.context["data"]
    assert data["totals"]["events"] == 4
    assert data["topLicenses"] == [
        {"licenseId": ann.public_id, "customerEmail": "ann@shop.example", "events": 4, "features": 2}
    ]
    query = parse_feature_usage_query(
        product=product,
        params={"from": data["from"], "to": data["to"], "license_id": ann.public_id},
    )
    assert data == feature_usage(query)
    html = response.content.decode()
    assert "ann@shop.example" in html
    assert response.context["clear_license_url"] == tab_url(org, product) + "?days=7"


def test_a_custom_window_and_filter_are_kept_in_the_csv_links(client, owner, org, product, events):
    client.force_login(owner)
    response = client.get(tab_url(org, product), {"from": "2026-01-01", "to": "2026-01-31", "event": "pdf"})
    links = {link["table"]: link["url"] for link in response.context["csv_links"]}
    assert links["domains"] == tab_url(org, product, "analytics/feature-usage.csv") + (
        "?from=2026-01-01&to=2026-01-31&event=pdf&table=domains"
    )
    assert response.context["preset"] is None


def test_the_csv_download_is_the_apis_csv(client, owner, org, api, product, events):
    client.force_login(owner)
    params = {"from": (today() - timedelta(days=6)).isoformat(), "to": today().isoformat()}
    for table in ("features", "licenses", "domains"):
        console = client.get(tab_url(org, product, "analytics/feature-usage.csv"), {**params, "table": table})
        from_api = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage.csv", {**params, "table": table})
        assert console.status_code == 200
        assert console["Content-Type"].startswith("text/csv")
        assert console.getvalue() == from_api.getvalue()
    features = client.get(tab_url(org, product, "analytics/feature-usage.csv"), {**params, "table": "features"})
    assert features.getvalue().decode().splitlines()[1] == "export_pdf,4,2,2,2,66.7"


def test_a_bad_table_or_date_is_a_400_with_a_message(client, owner, org, product):
    client.force_login(owner)
    assert client.get(tab_url(org, product, "analytics/feature-usage.csv"), {"table": "bogus"}).status_code == 400
    response = client.get(tab_url(org, product), {"from": "2026-13-01"})
    assert response.status_code == 400
    assert "from: &#x27;2026-13-01&#x27; is not a date" in response.content.decode()
    assert "data" not in response.context or response.context.get("data") is None
    backwards = client.get(tab_url(org, product), {"from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 400


def test_an_unknown_or_foreign_license_is_a_404_with_a_message(client, owner, org, other_org, product):
    foreign_license = LicenseFactory(product=ProductFactory(organization=other_org))
    client.force_login(owner)
    response = client.get(tab_url(org, product), {"license_id": foreign_license.public_id})
    assert response.status_code == 404
    assert f"no license &#x27;{foreign_license.public_id}&#x27;" in response.content.decode()


def test_a_free_plan_explains_instead_of_showing_figures(client, owner, org, free_plan, product, events):
    org.plan = free_plan
    org.save()
    client.force_login(owner)
    response = client.get(tab_url(org, product))
    assert response.status_code == 200
    assert b"Feature Usage needs a paid plan" in response.content
    assert b"data-total" not in response.content
    assert b"export_pdf" not in response.content
    assert client.get(tab_url(org, product, "analytics/feature-usage.csv"), {"table": "features"}).status_code == 402


def test_the_heatmap_has_readable_labels_and_a_table_for_screen_readers(client, owner, org, product, events):
    client.force_login(owner)
    html = client.get(tab_url(org, product), {"days": "7"}).content.decode()
    heatmap = html[html.index('class="heatmap"') :]
    for label in ("Sun", "Mon", "Sat", ">0<", ">23<"):
        assert label in heatmap
    d3 = today() - timedelta(days=3)
    weekday = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][d3.isoweekday() % 7]
    assert f"{weekday} 10:00–10:59: 2 events" in heatmap
    assert 'id="usage-pattern-table"' in html
