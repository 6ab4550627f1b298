"""GET /v1/projects/{projectId}/flags/{flagKey}/effect: feature usage of the licenses served each variant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.models import Event
from flags.models import FlagLicenseDay
from flags.rollup import rollup_run
from tests.flags.effect_world import D1, D2, TODAY, effect_world
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(org):
    return effect_world(org)


def get(api, project, environment, flag_key="new-checkout", **params):
    query = {"environmentId": environment.public_id, "feature": "export_csv", "from": D1.isoformat(), **params}
    return api.get(f"/v1/projects/{project.public_id}/flags/{flag_key}/effect", query)


def test_it_compares_the_feature_usage_of_each_variants_licenses(api, shop):
    product, project, production, _, _ = shop
    response = get(api, project, production)
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("flagKey", "environmentId", "productId", "feature", "from", "to")} == {
        "flagKey": "new-checkout",
        "environmentId": production.public_id,
        "productId": product.public_id,
        "feature": "export_csv",
        "from": D1.isoformat(),
        "to": TODAY.isoformat(),
    }
    # exposed: A, B, C, D, E; D saw both variants
    assert body["totals"] == {"licensesExposed": 5, "licensesCounted": 4, "licensesExcluded": 1}
    assert body["variants"] == [
        # on: A (3 events) and B (1): 2 of 2 use it, 4 events, 2 per license
        {
            "variant": "on",
            "value": True,
            "licenses": 2,
            "licensesUsing": 2,
            "usingPct": 100.0,
            "events": 4,
            "eventsPerLicense": 2.0,
            "eventsPerUsingLicense": 2.0,
            "excludedLicenses": 1,
        },
        # off: C (0) and E (2, today, from raw evaluations): 1 of 2, 2 events
        {
            "variant": "off",
            "value": False,
            "licenses": 2,
            "licensesUsing": 1,
            "usingPct": 50.0,
            "events": 2,
            "eventsPerLicense": 1.0,
            "eventsPerUsingLicense": 2.0,
            "excludedLicenses": 1,
        },
    ]


def test_the_answer_has_the_fields_the_schema_documents(api, client, shop):
    _, project, production, _, _ = shop
    body = get(api, project, production).json()
    components = client.get("/v1/openapi.json").json()["components"]["schemas"]
    assert set(body) == set(components["FlagEffect"]["properties"]) - {"clampedFrom"}
    assert set(body["variants"][0]) == set(components["EffectVariant"]["properties"])
    assert set(body["totals"]) == set(components["EffectTotals"]["properties"])


def test_a_later_window_counts_from_the_first_exposure_inside_it(api, shop):
    _, project, production, _, _ = shop
    body = get(api, project, production, **{"from": D2.isoformat()}).json()
    # A was served only on D1, C only on D1: outside. B (on, D2), D (both: excluded), E (off, today).
    assert body["totals"] == {"licensesExposed": 3, "licensesCounted": 2, "licensesExcluded": 1}
    on, off = body["variants"]
    assert (on["licenses"], on["licensesUsing"], on["events"], on["usingPct"]) == (1, 1, 1, 100.0)
    assert (off["licenses"], off["licensesUsing"], off["events"], off["eventsPerLicense"]) == (1, 1, 2, 2.0)


def test_a_window_ending_before_a_use_does_not_count_it(api, shop):
    _, project, production, _, _ = shop
    body = get(api, project, production, to=D2.isoformat()).json()
    # to = D2: A's D2 events count (3), B's D3 event does not (B: 0); D only off (D2): counted under off
    assert body["totals"] == {"licensesExposed": 4, "licensesCounted": 4, "licensesExcluded": 0}
    on, off = body["variants"]
    assert (on["licenses"], on["licensesUsing"], on["events"], on["usingPct"], on["eventsPerLicense"]) == (
        2,
        1,
        3,
        50.0,
        1.5,
    )
    # off: C (0) and D, whose 5 events are on D3, after the window
    assert (off["licenses"], off["licensesUsing"], off["events"], off["usingPct"]) == (2, 0, 0, 0.0)
    assert off["eventsPerUsingLicense"] is None


def test_a_feature_nobody_used_gives_zeros_not_errors(api, shop):
    _, project, production, _, _ = shop
    on, off = get(api, project, production, feature="never_used").json()["variants"]
    assert (on["licenses"], on["licensesUsing"], on["events"], on["usingPct"], on["eventsPerLicense"]) == (
        2,
        0,
        0,
        0.0,
        0.0,
    )


def test_the_answer_is_the_same_after_the_night_rollup(api, shop):
    _, project, production, flag, _ = shop
    before = get(api, project, production).json()
    rollup_run(today=TODAY + timedelta(days=1))  # rolls today up too
    assert FlagLicenseDay.objects.filter(flag=flag, day=TODAY).exists()
    after = get(api, project, production).json()
    assert after.pop("countedThrough") >= before.pop("countedThrough")  # the moment of each read
    assert after == before


def test_a_get_only_reads(api, shop):
    _, project, production, _, _ = shop
    events = Event.objects.count()
    get(api, project, production)  # the API key's last_used_at (authentication, to the minute) is written now
    with CaptureQueriesContext(connection) as queries:
        assert get(api, project, production).status_code == 200
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
    assert set(statements) <= {"SELECT", "SAVEPOINT", "RELEASE", "SET", "BEGIN", "COMMIT", "ROLLBACK"}, statements
    assert Event.objects.count() == events


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"feature": ""}, 400, "feature: required"),
        ({"feature": "a" * 201}, 400, "feature: at most 200 characters."),
        ({"feature": "bad\x07name"}, 400, "feature: must not contain control characters."),
        ({"environmentId": ""}, 400, "environmentId: required"),
        ({"environmentId": "env_unknown1234567890"}, 404, "environmentId: no environment"),
        ({"from": "yesterday"}, 400, "from: 'yesterday' is not a date"),
        ({"from": TODAY.isoformat(), "to": D1.isoformat()}, 400, "is after to"),
        ({"productId": "prd_someoneelse0000000"}, 400, "productId: the project's licenses are those of"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(api, shop, params, status, message):
    _, project, production, _, _ = shop
    response = get(api, project, production, **params)
    assert response.status_code == status, response.content
    assert message in response.json()["error"]["message"]


def test_an_unknown_flag_or_another_organizations_flag_is_a_404(api, outsider_api, shop):
    _, project, production, _, _ = shop
    assert get(api, project, production, flag_key="nope").status_code == 404
    assert get(outsider_api, project, production).status_code == 404


def test_a_project_linked_to_no_product_is_a_409_as_the_schema_documents(api, client, org):
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    boolean_flag(project, "new-checkout")
    response = get(api, project, production)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "project_without_product"
    operation = client.get("/v1/openapi.json").json()["paths"]["/v1/projects/{project_id}/flags/{flag_key}/effect"]
    assert "409" in operation["get"]["responses"]  # Schemathesis found it undocumented
