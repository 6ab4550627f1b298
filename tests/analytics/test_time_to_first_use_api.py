"""Time to first use, worked out by hand: America/New_York (EST, UTC−5 until 2026-03-08), window 03-01 … 03-09.

Licenses created in the window (local days) and their first export_pdf, ever:

    A  created 03-01 10:00      first use 03-01 15:00         0 days
    B  created 03-01 23:30      first use 03-02 01:00         1 day  (UTC: both on 03-02, 04:30 and 06:00)
    C  created 03-03            first use 03-10 (after `to`)   7 days  (a later use on 04-20 changes nothing)
    D  created 03-05, revoked   first use 04-20               46 days (another 32-day block)
    E  created 03-06            never (uses dashboard only)   never
    G  created 03-09            first use 03-20               11 days
    H  created 03-04            an event dated 03-02 (before creation: a backfill) → 0 days
    F  created 02-27 (before the window), used export_pdf on 03-01: not in the cohort
    J  created 03-10 (after the window): not in the cohort

Used: [0, 0, 1, 7, 11, 46] → median (1 + 7) / 2 = 4; buckets 0: 2, 1: 1, 2-7: 1, 8-30: 1, >30: 1, never: 1.
"""

from __future__ import annotations

import pytest

from analytics.counters import counters_fold
from events.models import License
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


@pytest.fixture
def cohort(org):
    product = ProductFactory(organization=org, name="PDF Suite", timezone="America/New_York")
    created = {
        "A": "2026-03-01T15:00:00",
        "B": "2026-03-02T04:30:00",
        "C": "2026-03-03T12:00:00",
        "D": "2026-03-05T12:00:00",
        "E": "2026-03-06T12:00:00",
        "F": "2026-02-27T12:00:00",
        "G": "2026-03-09T12:00:00",
        "H": "2026-03-04T12:00:00",
        "J": "2026-03-10T12:00:00",
    }
    lic = {
        name: LicenseFactory(
            product=product,
            public_id=f"lic_{name.lower()}",
            created_at=utc(at),
            status=License.Status.REVOKED if name == "D" else License.Status.ACTIVE,
        )
        for name, at in created.items()
    }
    product.lic = lic

    def use(name, at, feature="export_pdf"):
        EventFactory(
            product=product, event=feature, feature=feature, license=lic[name], license_key=lic[name].key,
            occurred_at=utc(at),
        )  # fmt: skip

    use("A", "2026-03-01T20:00:00")
    use("A", "2026-03-05T20:00:00")
    use("B", "2026-03-02T06:00:00")
    use("C", "2026-03-10T12:00:00")
    use("C", "2026-04-20T12:00:00")
    use("D", "2026-04-20T12:00:00")
    use("E", "2026-03-07T12:00:00", feature="dashboard")
    use("F", "2026-03-01T12:00:00")
    use("G", "2026-03-20T12:00:00")
    use("H", "2026-03-02T12:00:00")
    use("H", "2026-03-08T12:00:00")
    use("J", "2026-03-10T13:00:00")
    product.use = use
    return product


@pytest.fixture(params=["tail", "folded"])
def cohort_as(request, cohort):
    if request.param == "folded":
        counters_fold(product=cohort)
    return cohort


def url(product, feature, query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/features/{feature}/time-to-first-use?{query}"


def buckets(data):
    return {bucket["label"]: bucket["licenses"] for bucket in data["buckets"]}


def test_it_counts_days_from_creation_to_first_use_for_the_windows_new_licenses(api, cohort_as):
    response = api.get(url(cohort_as, "export_pdf"))
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["feature"], data["from"], data["to"]) == ("export_pdf", "2026-03-01", "2026-03-09")
    assert (data["licenses"], data["used"], data["never"]) == (7, 6, 1)
    assert data["medianDays"] == 4
    assert buckets(data) == {"0": 2, "1": 1, "2-7": 1, "8-30": 1, ">30": 1, "never": 1}
    assert [(b["minDays"], b["maxDays"]) for b in data["buckets"]] == [
        (0, 0), (1, 1), (2, 7), (8, 30), (31, None), (None, None),
    ]  # fmt: skip


def test_a_feature_nobody_used_has_every_new_license_in_never_and_no_median(api, cohort_as):
    data = api.get(url(cohort_as, "never_used")).json()["data"]
    assert (data["licenses"], data["used"], data["never"], data["medianDays"]) == (7, 0, 7, None)
    assert buckets(data) == {"0": 0, "1": 0, "2-7": 0, "8-30": 0, ">30": 0, "never": 7}


def test_a_window_without_new_licenses_is_empty(api, cohort_as):
    data = api.get(url(cohort_as, "export_pdf", "from=2026-03-11&to=2026-03-31")).json()["data"]
    assert (data["licenses"], data["used"], data["never"], data["medianDays"]) == (0, 0, 0, None)


def test_a_license_created_before_the_window_joins_when_the_window_covers_it(api, cohort_as):
    # 02-27 … 03-01: F (created 02-27, used 03-01: 2 days), A (0 days) and B (1 day): median 1.
    data = api.get(url(cohort_as, "export_pdf", "from=2026-02-27&to=2026-03-01")).json()["data"]
    assert (data["licenses"], data["used"], data["medianDays"]) == (3, 3, 1)
    assert buckets(data) == {"0": 1, "1": 1, "2-7": 1, "8-30": 0, ">30": 0, "never": 0}


def test_events_not_folded_yet_can_move_a_first_use_earlier(api, cohort):
    counters_fold(product=cohort)
    cohort.use("E", "2026-03-06T18:00:00")  # E now uses it on its creation day: 0 days, not never
    cohort.use("G", "2026-03-09T20:00:00")  # G: 0 days instead of 11
    data = api.get(url(cohort, "export_pdf")).json()["data"]
    # [0, 0, 0, 0, 1, 7, 46]: median 0
    assert (data["licenses"], data["used"], data["never"], data["medianDays"]) == (7, 7, 0, 0)
    assert buckets(data) == {"0": 4, "1": 1, "2-7": 1, "8-30": 0, ">30": 1, "never": 0}


def test_it_writes_nothing(api, cohort_as, django_assert_max_num_queries):
    from analytics.models import LicenseBlockCounter

    before = LicenseBlockCounter.objects.count()
    with django_assert_max_num_queries(12):
        assert api.get(url(cohort_as, "export_pdf")).status_code == 200
    assert LicenseBlockCounter.objects.count() == before


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("from=2026-03-10&to=2026-03-09", "from"), ("from=03-01", "from"), ("to=2026-02-30", "to")],
)
def test_bad_windows_are_400(api, cohort, query, parameter):
    response = api.get(url(cohort, "export_pdf", query))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_a_feature_name_too_long_is_400(api, cohort):
    response = api.get(url(cohort, "x" * 300))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("name:")


def test_another_organizations_product_is_404_and_a_free_plan_402(api, outsider_api, org, free_plan, cohort, other_org):
    assert outsider_api.get(url(cohort, "export_pdf")).status_code == 404
    assert api.get(url(ProductFactory(organization=other_org), "export_pdf")).status_code == 404
    org.plan = free_plan
    org.save()
    assert api.get(url(cohort, "export_pdf")).status_code == 402


def test_the_openapi_schema_describes_it(client):
    schema = client.get("/v1/openapi.json").json()
    operation = schema["paths"]["/v1/products/{product_id}/analytics/features/{name}/time-to-first-use"]["get"]
    assert operation["operationId"] == "feature_time_to_first_use"
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert "medianDays" in str(body)


def test_the_feature_usage_cards_show_the_same_time_to_first_use(client, owner, org, api, cohort_as):
    client.force_login(owner)
    response = client.get(f"/o/{org.slug}/products/{cohort_as.public_id}/analytics/feature-usage/?{WINDOW}")
    assert response.status_code == 200
    assert response.context["first_use"]["export_pdf"] == {
        key: value for key, value in api.get(url(cohort_as, "export_pdf")).json()["data"].items()
        if key not in ("feature", "from", "to")
    }  # fmt: skip
    html = response.content.decode()
    card = html[html.index('data-feature="export_pdf"') :]
    card = card[: card.index("</article>")]
    assert 'median <strong data-field="medianDays">4</strong> days' in card
    assert 'never <span data-field="never">1</span> of 7 new licenses' in card
    assert '<li data-bucket="&gt;30"><span class="muted">&gt;30 d</span> 1</li>' in card
    # The page says what its denominators are and what the deltas compare with.
    assert "Adoption</strong> = active licenses that used the feature ÷ active licenses" in html
    assert "expired and revoked ones included" in html
    assert "the 9 days just before, 2026-02-20 → 2026-02-28" in html


def test_a_license_filter_shows_no_cohort(client, owner, org, cohort):
    client.force_login(owner)
    response = client.get(
        f"/o/{org.slug}/products/{cohort.public_id}/analytics/feature-usage/?{WINDOW}&license_id=lic_a"
    )
    assert response.status_code == 200
    assert response.context["first_use"] == {}
    assert 'data-field="timeToFirstUse"' not in response.content.decode()
