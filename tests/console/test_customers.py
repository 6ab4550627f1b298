"""The customer page and the entitlement-gap CSV, on the hand-computed shop (tests/analytics/conftest.py)."""

from __future__ import annotations

import pytest

from analytics.counters import counters_fold
from tests.analytics.conftest import shop  # noqa: F401 (the fixture)
from tests.events.factories import LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

WINDOW = "from=2026-03-01&to=2026-03-09"


def page_url(org, product, license_id, query=WINDOW):
    return f"/o/{org.slug}/products/{product.public_id}/customers/{license_id}/?{query}"


def test_it_shows_what_the_api_answers(client, owner, org, api, shop):  # noqa: F811
    counters_fold(product=shop)
    shop.lic["L1"].max_sites = 1
    shop.lic["L1"].save()
    client.force_login(owner)
    response = client.get(page_url(org, shop, "lic_1"))
    assert response.status_code == 200
    html = response.content.decode()
    data = api.get(f"/v1/products/{shop.public_id}/licenses/lic_1/usage?{WINDOW}").json()["data"]
    assert data["totals"] == {"events": 3, "features": 3, "sites": 2}
    for feature in data["features"]:
        assert f'data-feature="{feature["name"]}"' in html
    for name in ("dark_mode", "legacy_import", "old_wizard"):
        assert f"<li>{name}</li>" in html
    assert '<td>a.com</td><td class="num">1</td><td>2026-02-19</td><td>2026-03-01</td>' in html
    assert 'id="sharing-badge"' in html and "2 sites, 1 allowed" in html
    assert 'data-field="firstSeen">2026-02-19<' in html and 'data-field="lastSeen">2026-03-10<' in html


def test_the_status_that_rules_is_explained(client, owner, org, shop):  # noqa: F811
    client.force_login(owner)
    html = client.get(page_url(org, shop, "lic_0")).content.decode()
    assert 'data-field="status">Expired<' in html
    assert 'id="status-note"' in html


def test_the_feature_usage_page_links_to_it_and_says_who_did_not_use_a_feature(client, owner, org, shop):  # noqa: F811
    client.force_login(owner)
    html = client.get(f"/o/{org.slug}/products/{shop.public_id}/analytics/feature-usage/?{WINDOW}").content.decode()
    assert f'href="/o/{org.slug}/products/{shop.public_id}/customers/lic_1/?from=2026-03-01&amp;to=2026-03-09"' in html
    # dark_mode: its only user is expired, so none of the 3 active licenses used it.
    assert ">3</a> of 3 active licenses" in html


def test_the_gap_csv_has_every_row(client, owner, org, shop):  # noqa: F811
    client.force_login(owner)
    url = f"/o/{org.slug}/products/{shop.public_id}/analytics/features/export_pdf/licenses.csv?{WINDOW}&used=false"
    response = client.get(url)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in lines] == ["licenseId", "lic_2", "lic_6"]
    assert client.get(url.replace("used=false", "used=no")).status_code == 400


def test_another_organizations_license_or_product_is_404(client, owner, org, other_org, shop):  # noqa: F811
    client.force_login(owner)
    foreign_product = ProductFactory(organization=other_org)
    foreign = LicenseFactory(product=foreign_product)
    assert client.get(page_url(org, shop, foreign.public_id)).status_code == 404
    assert client.get(page_url(org, foreign_product, foreign.public_id)).status_code == 404
    assert client.get(page_url(other_org, foreign_product, foreign.public_id)).status_code == 404


def test_a_bad_window_is_400_with_the_message(client, owner, org, shop):  # noqa: F811
    client.force_login(owner)
    response = client.get(page_url(org, shop, "lic_1", "from=2026-03-10&to=2026-03-09"))
    assert response.status_code == 400
    assert 'id="query-error"' in response.content.decode()


def test_it_needs_a_login(client, org, shop):  # noqa: F811
    assert client.get(page_url(org, shop, "lic_1")).status_code == 302


def test_the_feature_usage_filter_takes_a_key_or_an_email(client, owner, org, shop):  # noqa: F811
    client.force_login(owner)
    base = f"/o/{org.slug}/products/{shop.public_id}/analytics/feature-usage/?{WINDOW}&license_id="
    by_email = client.get(base + "ONE@example.com")
    assert by_email.status_code == 200 and by_email.context["license"].public_id == "lic_1"
    by_key = client.get(base + shop.lic["L2"].key)
    assert by_key.context["license"].public_id == "lic_2"
    LicenseFactory(product=shop, customer_email="one@example.com")
    ambiguous = client.get(base + "one@example.com")
    assert ambiguous.status_code == 400
    assert "more than one license" in ambiguous.content.decode()
    assert client.get(base + "nobody@example.com").status_code == 404
