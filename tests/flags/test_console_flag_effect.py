"""The flag page's effect panel: a feature picker and, per variant, the licenses' use of the chosen feature."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from events.models import Event
from flags.models import FlagEvaluation
from tests.flags.effect_world import D1, effect_world
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(org):
    return effect_world(org)


def page(client, org, project, production, **params):
    url = reverse("console:flag-usage", args=[org.slug, project.public_id, "new-checkout"])
    return client.get(url, {"environmentId": production.public_id, "from": D1.isoformat(), **params})


def figures(html: str, variant: str) -> dict[str, str]:
    row = re.search(rf'<tr data-variant="{variant}">(.*?)</tr>', html, re.S).group(1)
    return {
        name: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()
        for name, text in re.findall(r'data-figure="([a-z-]+)">(.*?)</td>', row, re.S)
    }


def test_the_picker_offers_the_features_the_exposed_licenses_used(client, owner, org, shop):
    _, project, production, _, _ = shop
    client.force_login(owner)
    html = page(client, org, project, production).content.decode()
    # A 3 in the window (its D0 event is before it) + B 2 + D 5 + E 2 = 12 export_csv; C 4 bulk_edit
    options = re.findall(r'<option value="([^"]+)">([^<]+)</option>', html)
    assert options == [("export_csv", "12 events"), ("bulk_edit", "4 events")]
    assert 'id="effect-variants"' not in html  # nothing compared before a feature is chosen


def test_choosing_a_feature_shows_each_variants_figures_with_their_counts(client, owner, org, shop):
    _, project, production, _, _ = shop
    client.force_login(owner)
    response = page(client, org, project, production, feature="export_csv")
    assert response.status_code == 200
    html = response.content.decode()
    # as the API: on A (3) + B (1); off C (0) + E (2); D served both, excluded
    assert figures(html, "on") == {
        "licenses": "2",
        "using": "2 of 2 (100.0%)",
        "events": "4",
        "per-license": "2.0",
        "per-using-license": "2.0",
    }
    assert figures(html, "off") == {
        "licenses": "2",
        "using": "1 of 2 (50.0%)",
        "events": "2",
        "per-license": "1.0",
        "per-using-license": "2.0",
    }
    excluded = re.sub(r"\s+", " ", re.search(r'id="effect-excluded">(.*?)</p>', html, re.S).group(1))
    assert (
        excluded
        == "5 licenses exposed, 4 counted; 1 served more than one variant, counted under none. Counts, not a test: no p-values."
    )
    # the picker keeps the window and environment
    form = re.search(r'<form[^>]*id="effect-form">(.*?)</form>', html, re.S).group(1)
    assert f'name="from" value="{D1.isoformat()}"' in form
    assert f'name="environmentId" value="{production.public_id}"' in form


def test_a_viewer_sees_the_panel_and_the_page_writes_nothing(client, viewer, org, shop):
    _, project, production, _, _ = shop
    client.force_login(viewer)
    page(client, org, project, production)  # the session's first request may touch it; not the panel's doing
    counts = (Event.objects.count(), FlagEvaluation.objects.count())
    with CaptureQueriesContext(connection) as queries:
        response = page(client, org, project, production, feature="export_csv")
    assert response.status_code == 200
    assert figures(response.content.decode(), "on")["events"] == "4"
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]
    assert writes == []
    assert (Event.objects.count(), FlagEvaluation.objects.count()) == counts


def test_a_bad_feature_is_shown_as_an_error_not_a_crash(client, owner, org, shop):
    _, project, production, _, _ = shop
    client.force_login(owner)
    response = page(client, org, project, production, feature="x" * 201)
    assert response.status_code == 200
    assert "feature: at most 200 characters." in response.content.decode()
    assert 'id="effect-variants"' not in response.content.decode()


def test_a_project_without_a_product_explains_what_to_link(client, owner, org):
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    boolean_flag(project, "new-checkout")
    client.force_login(owner)
    html = page(client, org, project, production, feature="export_csv").content.decode()
    assert 'id="effect-no-product"' in html
