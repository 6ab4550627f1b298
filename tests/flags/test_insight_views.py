"""The console's license-aware additions, server-side: exposure on the flag page, health and unknown flags on the project page."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse

from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import boolean_flag

pytestmark = pytest.mark.django_db


def test_the_flag_page_shows_a_bar_per_variant_and_links_each_license_to_the_products_licenses_tab(
    client, owner, org, project, production
):
    product = ProductFactory(organization=org, name="SEO Booster")
    license = LicenseFactory(product=product, key="LIC-A")
    project.product = product
    project.save()
    flag = boolean_flag(project, "new-checkout")
    yesterday = utc_today() - timedelta(days=1)
    recording.record(
        environment_id=production.pk,
        flag_id=flag.pk,
        value="true",
        reason=Reason.SPLIT,
        at=datetime.combine(yesterday, time(9), tzinfo=UTC),
        variant="on",
        targeting_key="u1",
        license_key="LIC-A",
    )
    recording.flush()
    rollup_run(today=utc_today())
    client.force_login(owner)
    html = client.get(
        reverse("console:flag-usage", args=[org.slug, project.public_id, "new-checkout"])
    ).content.decode()
    assert 'data-variant="on"' in html and 'data-variant="off"' in html
    assert "1 evaluations · 1 keys · 1 licenses (100.0% of active)" in html
    licenses_tab = reverse("console:product-licenses", args=[org.slug, product.public_id])
    assert f'href="{licenses_tab}?q={license.public_id}"' in html


def test_the_project_page_shows_health_badges_sparklines_and_unknown_flags(client, owner, org, project, production):
    boolean_flag(project, "fresh")
    recording.record_unknown(environment_id=production.pk, key="old-banner", at=datetime.now(UTC))
    recording.flush()
    client.force_login(owner)
    html = client.get(reverse("console:project", args=[org.slug, project.public_id])).content.decode()
    assert 'data-status="new"' in html
    assert 'class="sparkline"' in html
    assert "old-banner" in html
