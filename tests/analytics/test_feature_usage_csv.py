"""The CSV exports never hand a spreadsheet a formula: cells that would start one are prefixed with '."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.test import Client

from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db
WINDOW = "from=2026-03-01&to=2026-03-09"
HOSTILE = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]


@pytest.fixture
def product(org):
    product = ProductFactory(organization=org, timezone="UTC")
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    for index, name in enumerate(HOSTILE):
        license = LicenseFactory(
            product=product, public_id=f"lic_{index}", customer_email=f"{name[0]}x{index}@example.com"
        )
        # Domains were stored unchecked before sites had to be host names: old rows still hold such text.
        EventFactory(
            product=product,
            event=name,
            feature=name,
            license=license,
            license_key=license.key,
            domain=name,
            occurred_at=at,
        )
    EventFactory(product=product, event="export_pdf", feature="export_pdf", domain="a.com", occurred_at=at)
    return product


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


def _first_column(rows):
    return sorted(row[0] for row in rows[1:])


def test_every_cell_that_would_start_a_formula_is_prefixed_in_the_api_export(api, product):
    base = f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}"
    features = _rows(api.get(f"{base}&table=features").getvalue())
    assert _first_column(features) == sorted(["'" + name for name in HOSTILE] + ["export_pdf"])
    assert [row[1] for row in features[1:]] == ["1"] * 5  # counts stay numbers

    domains = _rows(api.get(f"{base}&table=domains").getvalue())
    assert _first_column(domains) == sorted(["'" + name for name in HOSTILE] + ["a.com"])

    licenses = _rows(api.get(f"{base}&table=licenses").getvalue())
    assert sorted(row[1] for row in licenses[1:]) == [
        "'+x1@example.com",
        "'-x3@example.com",
        "'=x0@example.com",
        "'@x2@example.com",
    ]
    assert sorted(row[0] for row in licenses[1:]) == ["lic_0", "lic_1", "lic_2", "lic_3"]


def test_the_console_download_is_neutralised_too(owner, product):
    client = Client()
    client.force_login(owner)
    url = f"/o/acme/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}&table=features"
    response = client.get(url)
    assert response.status_code == 200
    assert '\'=HYPERLINK("http://x")' in _first_column(_rows(response.getvalue()))
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in _first_column(_rows(response.getvalue())))
