"""Same-day figures: evaluations the rollup has not counted yet are read from the raw rows (flags/tail.py).

Every figure is hand-computed from the fixture's evaluations; each test reads
before and after the rollup that counts today and expects identical answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flags import recording
from flags.models import FlagUsageDay, Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.flags.test_exposure_properties import (
    LICENSE_KEYS,
    SPAN_DAYS,
    TARGETING_KEYS,
    VARIANTS,
    evaluations_strategy,
    naive_exposure,
)

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=1)


def served(environment, flag, variant, day, hour, targeting_key="", license_key="", n=1):
    for _ in range(n):
        recording.record(
            environment_id=environment.pk,
            flag_id=flag.pk,
            value=None if variant is None else ("true" if variant == "on" else "false"),
            reason=Reason.ERROR if variant is None else Reason.SPLIT,
            at=datetime.combine(day, time(hour), tzinfo=UTC),
            variant=variant,
            targeting_key=targeting_key,
            license_key=license_key,
        )


@pytest.fixture
def shop(org):
    """D1 and D2 rolled up (5 evaluations); today 8 more, recorded but not rolled up."""
    product = ProductFactory(organization=org, name="Shop plugin")
    licenses = {
        "a": LicenseFactory(product=product, key="LIC-A", customer_email="a@example.com"),
        "b": LicenseFactory(product=product, key="user-2", customer_email="b@example.com"),
        "c": LicenseFactory(product=product, key="LIC-C", customer_email="c@example.com"),
    }
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(production, flag, "on", D1, 9, "u1", "LIC-A", n=2)
    served(production, flag, "off", D1, 10, "user-2")  # license B by its targeting key
    served(production, flag, "off", D2, 9, "u1", "LIC-A")
    served(production, flag, "on", D2, 10, "anon-9")
    recording.flush()
    rollup_run(today=TODAY)
    # Today: u1 on ×3 (seen on "on" already); u4 on (new key, no license); user-2 on ×2 (seen, but
    # only on "off"); u5 with LIC-C off (new key, new license); one error for u1.
    served(production, flag, "on", TODAY, 0, "u1", "LIC-A", n=3)
    served(production, flag, "on", TODAY, 0, "u4")
    served(production, flag, "on", TODAY, 0, "user-2", n=2)
    served(production, flag, "off", TODAY, 0, "u5", "LIC-C")
    served(production, flag, None, TODAY, 0, "u1", "LIC-A")
    recording.flush()
    return project, production, flag, licenses


def get(api, project, environment, report, **params):
    query = {"environmentId": environment.public_id, **params}
    return api.get(f"/v1/projects/{project.public_id}/flags/new-checkout/{report}", query)


def figures(response) -> dict:
    """The answer without its countedThrough, the moment of each read (tests/packedge/test_freshness.py)."""
    body = response.json()
    assert body.pop("countedThrough")
    return body


def roll_up_today():
    rollup_run(today=TODAY + timedelta(days=1))
    assert FlagUsageDay.objects.filter(date=TODAY).exists()


def test_exposure_counts_todays_evaluations_keys_and_licenses(api, shop):
    project, production, flag, licenses = shop
    body = figures(get(api, project, production, "exposure"))
    # 5 rolled + 8 today; on: 2 + 1 + (3 + 1 + 2) = 9, off: 1 + 1 + 1 = 3, one error.
    # Keys: u1, user-2, anon-9, u4, u5 = 5; on: u1, anon-9, u4, user-2 = 4; off: user-2, u1, u5 = 3.
    # Licenses: A, B, C = 3; on: A, B = 2 of 3 active; off: B, A, C = 3 of 3.
    assert body["totals"] == {"evaluations": 13, "uniqueTargetingKeys": 5, "licenses": 3, "activeLicenses": 3}
    assert body["variants"] == [
        {
            "variant": "on",
            "value": True,
            "evaluations": 9,
            "uniqueTargetingKeys": 4,
            "licenses": 2,
            "licensesPct": 66.7,
        },
        {
            "variant": "off",
            "value": False,
            "evaluations": 3,
            "uniqueTargetingKeys": 3,
            "licenses": 3,
            "licensesPct": 100.0,
        },
    ]
    today = f"{TODAY.isoformat()}T00:00:00Z"
    # A: 2 on (D1) + 1 off (D2) + 3 on (today; the error serves no variant); B: 1 off + 2 on; C: 1 off.
    assert body["licenses"]["data"] == [
        {
            "id": licenses["a"].public_id,
            "key": "LIC-A",
            "customerEmail": "a@example.com",
            "evaluations": 6,
            "variants": {"off": 1, "on": 5},
            "lastVariant": "on",
            "lastSeenAt": today,
        },
        {
            "id": licenses["b"].public_id,
            "key": "user-2",
            "customerEmail": "b@example.com",
            "evaluations": 3,
            "variants": {"off": 1, "on": 2},
            "lastVariant": "on",
            "lastSeenAt": today,
        },
        {
            "id": licenses["c"].public_id,
            "key": "LIC-C",
            "customerEmail": "c@example.com",
            "evaluations": 1,
            "variants": {"off": 1},
            "lastVariant": "off",
            "lastSeenAt": today,
        },
    ]
    roll_up_today()
    assert figures(get(api, project, production, "exposure")) == body


def test_usage_has_todays_row_and_keeps_it_through_the_rollup(api, shop):
    project, production, flag, _ = shop
    body = figures(get(api, project, production, "usage"))
    assert [(row["date"], row["totalEvaluations"]) for row in body["rows"]] == [
        (D1.isoformat(), 3),
        (D2.isoformat(), 2),
        (TODAY.isoformat(), 8),
    ]
    assert body["rows"][-1] == {
        "date": TODAY.isoformat(),
        "totalEvaluations": 8,
        "valueDistribution": {"true": 6, "false": 1},
        "ruleMatchCount": 7,
        "defaultCount": 0,
        "errorCount": 1,
    }
    roll_up_today()
    assert figures(get(api, project, production, "usage")) == body


def test_a_late_evaluation_of_a_rolled_up_day_counts_once(api, shop):
    """Yesterday was rolled up; an evaluation stamped yesterday arrives after (a flush across midnight)."""
    project, production, flag, _ = shop
    served(production, flag, "on", D2, 23, "u6")
    recording.flush()
    usage = figures(get(api, project, production, "usage"))
    assert [row["totalEvaluations"] for row in usage["rows"]] == [3, 3, 8]
    exposure = figures(get(api, project, production, "exposure"))
    assert exposure["totals"]["evaluations"] == 14
    assert exposure["totals"]["uniqueTargetingKeys"] == 6  # u6 is new
    roll_up_today()  # rolls yesterday again, and today
    assert figures(get(api, project, production, "usage")) == usage
    assert figures(get(api, project, production, "exposure")) == exposure


def test_a_window_ending_before_today_and_a_second_page_are_exact_too(api, shop):
    project, production, flag, licenses = shop
    past = get(api, project, production, "exposure", to=D2.isoformat()).json()
    # D1 and D2 only: 5 evaluations; keys u1, user-2, anon-9; licenses A, B.
    assert past["totals"] == {"evaluations": 5, "uniqueTargetingKeys": 3, "licenses": 2, "activeLicenses": 3}
    first = get(api, project, production, "exposure", limit=2).json()["licenses"]
    assert [row["evaluations"] for row in first["data"]] == [6, 3]
    second = get(api, project, production, "exposure", limit=2, cursor=first["nextCursor"]).json()["licenses"]
    assert [(row["id"], row["evaluations"]) for row in second["data"]] == [(licenses["c"].public_id, 1)]
    assert second["nextCursor"] is None


def test_reading_writes_nothing(api, shop):
    project, production, *_ = shop
    with CaptureQueriesContext(connection) as queries:
        assert get(api, project, production, "exposure").status_code == 200
        assert get(api, project, production, "usage").status_code == 200
    writes = [q["sql"] for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.IGNORECASE)]
    # The API key's last use is authentication's bookkeeping, not the report's.
    assert [sql for sql in writes if "packedge_apikey" not in sql] == []


def test_the_flag_page_and_the_flag_list_agree_before_the_rollup(client, owner, org, shop):
    project, production, *_ = shop
    client.force_login(owner)
    page = client.get(
        reverse("console:flag-usage", args=[org.slug, project.public_id, "new-checkout"]),
        {"environmentId": production.public_id, "days": "7"},
    ).content.decode()
    listing = client.get(reverse("console:project", args=[org.slug, project.public_id])).content.decode()
    # 13 evaluations in the last 7 days, on both pages; 9 on "on" in the exposure panel.
    assert re.search(r'data-total="totalEvaluations">13<', page)
    assert 'data-evaluations7d="13"' in listing
    assert "9 evaluations · 4 keys · 2 licenses (66.7% of active)" in page


unrolled_strategy = st.lists(
    st.tuples(
        st.integers(0, SPAN_DAYS),  # days before today, today included
        st.integers(0, len(VARIANTS) - 1),
        st.integers(0, len(TARGETING_KEYS) - 1),
        st.integers(0, len(LICENSE_KEYS) - 1),
    ),
    max_size=20,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=evaluations_strategy,
    unrolled=unrolled_strategy,
    windows=st.lists(st.tuples(st.integers(0, SPAN_DAYS), st.integers(0, SPAN_DAYS)), min_size=1, max_size=3),
)
def test_exposure_with_unrolled_days_equals_the_naive_count_before_and_after_the_rollup(
    api, org, first, unrolled, windows
):
    """Rolled-up evaluations, then evaluations on random days (today, and days already rolled up) not rolled up."""
    today = utc_today()
    product = ProductFactory(organization=org)
    for key in ("LIC-0", "LIC-1", "LIC-2"):
        LicenseFactory(product=product, key=key)
    project = ProjectFactory(organization=org, product=product)
    environment = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    recorded = []

    def record(rows):
        for back, variant_index, key_index, license_index in rows:
            day, variant = today - timedelta(days=back), VARIANTS[variant_index]
            served(environment, flag, variant, day, 12, TARGETING_KEYS[key_index], LICENSE_KEYS[license_index])
            recorded.append((day, variant, TARGETING_KEYS[key_index], LICENSE_KEYS[license_index]))
        recording.flush()

    record(first)
    rollup_run(today=today)
    record(unrolled)

    def check():
        answers = []
        for back, length in windows:
            date_from = today - timedelta(days=back)
            date_to = min(today, date_from + timedelta(days=length))
            body = get(
                api, project, environment, "exposure", **{"from": date_from.isoformat(), "to": date_to.isoformat()}
            )
            assert body.status_code == 200, body.content
            body = figures(body)
            expected = naive_exposure(
                recorded, license_keys={"LIC-0", "LIC-1", "LIC-2"}, date_from=date_from, date_to=date_to
            )
            assert body["totals"]["evaluations"] == expected["evaluations"]
            assert (body["totals"]["uniqueTargetingKeys"], body["totals"]["licenses"]) == expected["all"]
            assert {
                v["variant"]: (v["evaluations"], v["uniqueTargetingKeys"], v["licenses"]) for v in body["variants"]
            } == expected["variants"]
            assert {row["key"]: row["variants"] for row in body["licenses"]["data"]} == expected["licenses"]
            answers.append(body)
        return answers

    before = check()
    rollup_run(today=today + timedelta(days=1))
    assert check() == before


def test_todays_new_subjects_are_the_same_from_the_totals_and_from_the_license_days(shop):
    """The window D1 … today holds every kept license day, so the per-license totals may answer
    "has the window a rolled day of this license"; the license days' probes must say the same.

    Today, by hand: keys u1 (on, seen on on), u4 (on, new), user-2 (on, new on on; seen on off),
    u5 (off, new): new keys on 2 (u4, user-2), off 1 (u5), any 2 (u4, u5). Licenses: A on (seen),
    B on (user-2: new on on, seen on off), C off (new): on 1, off 1, any 1 (C).
    """
    from flags import tail

    project, production, flag, licenses = shop
    window = {"flag_id": flag.pk, "environment_id": production.pk, "product_id": project.product_id}
    answers = [
        tail.subjects(**window, days=[TODAY], date_from=D1, date_to=TODAY, totals_cover_window=cover)
        for cover in (True, False)
    ]
    for answer in answers:
        assert {v: n for v, n in answer.new_keys.items() if n} == {"on": 2, "off": 1, "": 2}
        assert {v: n for v, n in answer.new_licenses.items() if n} == {"on": 1, "off": 1, "": 1}
        assert {(pk, variant): n for (pk, variant), (n, _) in answer.license_evaluations.items()} == {
            (licenses["a"].pk, "on"): 3,
            (licenses["b"].pk, "on"): 2,
            (licenses["c"].pk, "off"): 1,
        }
    assert answers[0] == answers[1]


def license_totals_from_days(flag, environment) -> dict:
    """The per-license totals recomputed from every kept license day: what the rollup keeps up to date."""
    from flags.models import FlagLicenseDay

    totals: dict[tuple[int, str], int] = {}
    for license_id, variant, n in FlagLicenseDay.objects.filter(flag=flag, environment=environment).values_list(
        "license_id", "variant", "evaluations"
    ):
        for name in (variant, ""):
            totals[(license_id, name)] = totals.get((license_id, name), 0) + n
    return totals


def test_a_re_rolled_day_changes_the_license_totals_by_its_difference(shop):
    """D2 re-rolled after its license's key moved to another license: the old license loses D2's
    evaluation (its D1 ones stay), the new one gains it and the late one; others are unchanged."""
    from flags.models import FlagLicenseTotal

    project, production, flag, licenses = shop
    roll_up_today()
    # D2 had u1 with LIC-A (license a, "off" ×1). The key LIC-A now belongs to license c.
    a, c = licenses["a"], licenses["c"]
    a.key, c.key = "LIC-A-OLD", "LIC-A"
    a.save(update_fields=["key"])
    c.save(update_fields=["key"])
    served(production, flag, "off", D2, 11, "u1", "LIC-A")  # late: D2 is rolled up again
    recording.flush()
    rollup_run(today=TODAY + timedelta(days=1))
    kept = {
        (license_id, variant): n
        for license_id, variant, n in FlagLicenseTotal.objects.filter(flag=flag, environment=production).values_list(
            "license_id", "variant", "evaluations"
        )
    }
    assert kept == license_totals_from_days(flag, production)
    # By hand: a: D1 on ×2, today on ×3 (rolled before the move) → on 5, all 5, no "off" any more;
    # c: today off ×1, D2 off ×2 (re-resolved) → off 3, all 3.
    assert (kept[(a.pk, "on")], kept[(a.pk, "")], (a.pk, "off") in kept) == (5, 5, False)
    assert (kept[(c.pk, "off")], kept[(c.pk, "")]) == (3, 3)
