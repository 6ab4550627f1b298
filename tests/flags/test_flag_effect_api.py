"""GET /v1/projects/{projectId}/flags/{flagKey}/effect: feature usage of the licenses served each variant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import Event
from flags import recording
from flags.models import FlagLicenseDay, Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D0, D1, D2, D3 = (TODAY - timedelta(days=n) for n in (4, 3, 2, 1))


def at(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def served(environment, flag, variant, when, targeting_key="", license_key=""):
    recording.record(
        environment_id=environment.pk,
        flag_id=flag.pk,
        value="true" if variant == "on" else "false",
        reason=Reason.SPLIT,
        at=when,
        variant=variant,
        targeting_key=targeting_key,
        license_key=license_key,
    )


def used(product, license, feature, when, n=1):
    for _ in range(n):
        EventFactory(product=product, license=license, license_key=license.key, event=feature, occurred_at=when)


@pytest.fixture
def shop(org):
    """Five licenses served new-checkout over D1..today, and their events of export_csv (and of another feature).

    - A: on at D1 09:00 (licenseKey); export_csv at D0 (before the window), D1 08:00 (same day,
      before the evaluation: counts, exposure is per UTC day), D2 ×2 → 3 events after exposure
    - B: on at D2 (targetingKey is its license key); export_csv at D1 (before its exposure) and D3 → 1
    - C: off at D1; only bulk_edit → uses export_csv 0 times
    - D: off at D2 and on at D3 → served two variants, excluded; export_csv ×5 not counted anywhere
    - E: off today, not rolled up yet (raw evaluations); export_csv ×2 today → 2
    - an anonymous targeting key served on at D1: no license
    """
    product = ProductFactory(organization=org, name="Shop plugin")
    lic = {name: LicenseFactory(product=product, key=f"LIC-{name.upper()}") for name in "abcde"}
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(production, flag, "on", at(D1, 9), "u-a", "LIC-A")
    served(production, flag, "on", at(D1, 10), "u-a", "LIC-A")
    served(production, flag, "on", at(D2, 9), "LIC-B")
    served(production, flag, "off", at(D1, 9), "u-c", "LIC-C")
    served(production, flag, "off", at(D2, 9), "u-d", "LIC-D")
    served(production, flag, "on", at(D3, 9), "u-d", "LIC-D")
    served(production, flag, "on", at(D1, 11), "anon-1")
    recording.flush()
    rollup_run(today=TODAY)
    now = timezone.now()
    served(production, flag, "off", max(at(TODAY, 0), now - timedelta(seconds=2)), "u-e", "LIC-E")
    recording.flush()
    used(product, lic["a"], "export_csv", at(D0, 12))
    used(product, lic["a"], "export_csv", at(D1, 8))
    used(product, lic["a"], "export_csv", at(D2, 15), n=2)
    used(product, lic["b"], "export_csv", at(D1, 15))
    used(product, lic["b"], "export_csv", at(D3, 15))
    used(product, lic["c"], "bulk_edit", at(D2, 15), n=4)
    used(product, lic["d"], "export_csv", at(D3, 15), n=5)
    used(product, lic["e"], "export_csv", max(at(TODAY, 0), now - timedelta(seconds=1)), n=2)
    return product, project, production, flag, lic


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
    assert get(api, project, production).json() == before


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


def test_a_project_linked_to_no_product_is_a_409(api, org):
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    boolean_flag(project, "new-checkout")
    response = get(api, project, production)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "project_without_product"
