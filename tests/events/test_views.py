from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from events.models import License
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(org):
    return ProductFactory(organization=org, name="SEO Booster", timezone="Europe/Berlin")


@pytest.fixture
def foreign_product(other_org):
    return ProductFactory(organization=other_org, name="Globex Tool")


def product_url(org, product, tab=""):
    return f"/o/{org.slug}/products/{product.public_id}/{tab}"


@pytest.mark.parametrize("tab", ["", "licenses/", "settings/"])
def test_every_product_tab_needs_a_login(client, org, product, tab):
    response = client.get(product_url(org, product, tab))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("tab", ["", "licenses/", "settings/"])
def test_another_organizations_product_answers_404(client, owner, org, other_org, foreign_product, tab):
    client.force_login(owner)
    # Through our own organization's URL, and through theirs.
    assert client.get(product_url(org, foreign_product, tab)).status_code == 404
    assert client.get(product_url(other_org, foreign_product, tab)).status_code == 404


def test_the_overview_counts_licenses_by_status_and_shows_the_last_event(client, owner, org, product):
    LicenseFactory.create_batch(3, product=product)
    LicenseFactory(product=product, status=License.Status.EXPIRED)
    LicenseFactory(product=ProductFactory(organization=org))  # another product's
    EventFactory(product=product, event="export_pdf", received_at=timezone.now() - timedelta(minutes=5))
    client.force_login(owner)
    response = client.get(product_url(org, product))
    assert response.status_code == 200
    assert response.context["license_total"] == 4
    assert response.context["license_counts"] == [("Active", 3), ("Expired", 1), ("Revoked", 0)]
    assert b"export_pdf" in response.content


def test_the_licenses_tab_searches_by_email_key_or_id(client, owner, org, product):
    wanted = LicenseFactory(product=product, key="PRO-AAAA", customer_email="jane@shop.example")
    LicenseFactory(product=product, key="PRO-BBBB", customer_email="joe@other.example")
    client.force_login(owner)
    for query in ["JANE@shop", "aaaa", wanted.public_id]:
        response = client.get(product_url(org, product, "licenses/"), {"q": query})
        assert [lic.key for lic in response.context["page"].object_list] == ["PRO-AAAA"], query
    everything = client.get(product_url(org, product, "licenses/"))
    assert everything.context["page"].paginator.count == 2


def test_the_licenses_tab_pages_through_many_licenses(client, owner, org, product):
    LicenseFactory.create_batch(51, product=product)
    client.force_login(owner)
    first = client.get(product_url(org, product, "licenses/"))
    second = client.get(product_url(org, product, "licenses/"), {"page": 2})
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 1


@override_settings(PUBLIC_BASE_URL="https://edge.example.net/")
def test_the_settings_tab_shows_the_public_key_in_four_snippets_pointed_at_this_server(client, teammate, org, product):
    client.force_login(teammate)
    response = client.get(product_url(org, product, "settings/"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count(product.public_key) >= 5  # the key itself + JS SDK, script tag, fetch, PHP
    assert "https://edge.example.net/public/v1/event" in body
    assert "https://edge.example.net/static/sdk/packedge.js" in body
    assert "wp_remote_post('https://edge.example.net/public/v1/event'" in body
    assert "api.packedge.dev" not in body


@override_settings(PUBLIC_BASE_URL="https://edge.example.net/")
def test_the_settings_tab_warns_when_the_snippets_point_elsewhere_than_the_console(client, teammate, org, product):
    client.force_login(teammate)
    body = client.get(product_url(org, product, "settings/")).content.decode()
    assert 'id="base-url-warning"' in body
    assert 'you opened the console at <code class="mono">http://testserver</code>' in body


@override_settings(PUBLIC_BASE_URL="")
def test_the_settings_tab_points_at_the_consoles_own_origin_without_public_base_url(client, teammate, org, product):
    client.force_login(teammate)
    body = client.get(product_url(org, product, "settings/")).content.decode()
    assert "wp_remote_post('http://testserver/public/v1/event'" in body
    assert 'id="base-url-warning"' not in body


def test_the_licenses_tab_shows_the_status_that_rules_and_links_each_customer(client, owner, org, product):
    # Stored active, expired yesterday: it counts (and shows) as expired.
    lapsed = LicenseFactory(product=product, key="LAPSED-1", expires_at=timezone.now() - timedelta(days=1))
    client.force_login(owner)
    html = client.get(product_url(org, product, "licenses/")).content.decode()
    assert 'class="status status-expired" title="Stored as active; its expiry date has passed">Expired<' in html
    assert f'href="/o/{org.slug}/products/{product.public_id}/customers/{lapsed.public_id}/">LAPSED-1</a>' in html
    lapsed.refresh_from_db()
    assert lapsed.status == License.Status.ACTIVE  # a page never writes
