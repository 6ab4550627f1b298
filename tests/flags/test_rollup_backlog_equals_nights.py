"""A backlog rolled up in one pass writes what the same days rolled up night by night write (flags/rollup.py).

The two paths share no statement for the exposure structures: a backlog rebuilds the
license totals from nothing and draws every key point from one sort of the raw rows;
a night changes the totals by the day's difference and seeks each key's previous day.
Four days, two flags, two environments, keys with and without a license (one license
found by its targeting key), an error; every exposure figure below is hand-computed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from flags import recording
from flags.models import FlagKeyRecent, FlagLicenseDay, FlagLicenseTotal, FlagReachPoint, FlagUsageDay
from flags.rollup import rollup_days, rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.flags.test_same_day_exposure import figures, get, served

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D1, D2, D3, D4 = (TODAY - timedelta(days=n) for n in (5, 4, 3, 2))
DAYS = [D1, D2, D3, D4]
STRUCTURES = {
    FlagUsageDay: [
        "flag",
        "environment",
        "date",
        "total_evaluations",
        "rule_match_count",
        "default_count",
        "error_count",
        "value_distribution",
        "variant_distribution",
    ],
    FlagLicenseDay: ["flag", "environment", "license", "variant", "day", "evaluations", "last_seen_at"],
    FlagLicenseTotal: ["flag", "environment", "license", "variant", "license_public_id", "evaluations", "last_seen_at"],
    FlagReachPoint: ["flag", "environment", "kind", "variant", "day", "previous_day", "count"],
    FlagKeyRecent: ["flag", "environment", "targeting_key", "variant", "last_day", "previous_day"],
}


@pytest.fixture
def shop(org):
    """Four days of new-checkout in production, plus staging and a second flag beside it."""
    product = ProductFactory(organization=org, name="Shop plugin")
    for key in ("LIC-A", "LIC-B", "user-3"):  # user-3's license is found by its targeting key
        LicenseFactory(product=product, key=key)
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    staging = environment_with_key(project, "staging")[0]
    checkout = boolean_flag(project, "new-checkout")
    dark = boolean_flag(project, "dark-mode")
    served(production, checkout, "on", D1, 9, "u1", "LIC-A", n=2)
    served(production, checkout, "off", D1, 10, "u2")
    served(production, checkout, "on", D1, 11, "user-3")
    served(production, checkout, "off", D2, 9, "u1", "LIC-A")
    served(production, checkout, "off", D2, 10, "u2")
    served(production, checkout, "on", D2, 11, "u4", "LIC-B")
    served(production, checkout, "on", D3, 9, "u1", "LIC-A")
    served(production, checkout, "off", D3, 10, "user-3")
    served(production, checkout, "on", D4, 9, "u2", "LIC-B", n=3)
    served(production, checkout, "on", D4, 10, "u4", "LIC-B")
    served(production, checkout, None, D4, 11, "u5")  # an error serves no variant: no key, no license
    served(staging, checkout, "on", D2, 9, "u1", "LIC-A")
    served(staging, checkout, "off", D4, 9, "u9")
    served(production, dark, "on", D1, 9, "u1")
    served(production, dark, "on", D3, 9, "u1", "LIC-A")
    recording.flush()
    return project, production


def structures() -> dict[str, set[tuple]]:
    """Every row the rollup wrote, without ids or the moment it was written."""
    rows = {}
    for model, fields in STRUCTURES.items():
        columns = [f"{name}_id" if name in ("flag", "environment", "license") else name for name in fields]
        rows[model.__name__] = {tuple(repr(value) for value in row) for row in model.objects.values_list(*columns)}
    return rows


def forget_the_rollup() -> None:
    for model in STRUCTURES:
        model.objects.all().delete()


def exposure(api, project, environment, first, last) -> tuple[dict, dict]:
    body = figures(get(api, project, environment, "exposure", **{"from": first.isoformat(), "to": last.isoformat()}))
    variants = {v["variant"]: (v["evaluations"], v["uniqueTargetingKeys"], v["licenses"]) for v in body["variants"]}
    return body["totals"], variants


def licenses(api, project, environment) -> dict[str, tuple]:
    body = figures(get(api, project, environment, "exposure", **{"from": D1.isoformat(), "to": D4.isoformat()}))
    return {row["key"]: (row["evaluations"], row["variants"]) for row in body["licenses"]["data"]}


def assert_hand_computed_exposure(api, project, production) -> None:
    # D1 … D4: on 3 + 1 + 1 + 4 = 9, off 1 + 2 + 1 = 4, one error. Keys u1, u2, user-3, u4 (u5 only
    # erred); on: u1, user-3, u4, u2; off: u2, u1, user-3. Licenses A (u1), B (u4, u2), C (user-3);
    # on: A, C, B; off: A (D2), C (D3).
    assert exposure(api, project, production, D1, D4) == (
        {"evaluations": 14, "uniqueTargetingKeys": 4, "licenses": 3, "activeLicenses": 3},
        {"on": (9, 4, 3), "off": (4, 3, 2)},
    )
    # D2 … D3: on u4 (D2), u1 (D3); off u1, u2 (D2), user-3 (D3). Licenses B, A; A, C.
    assert exposure(api, project, production, D2, D3) == (
        {"evaluations": 5, "uniqueTargetingKeys": 4, "licenses": 3, "activeLicenses": 3},
        {"on": (2, 2, 2), "off": (3, 3, 2)},
    )
    # D4: u2 ×3 and u4 on, both license B; u5's error.
    assert exposure(api, project, production, D4, D4) == (
        {"evaluations": 5, "uniqueTargetingKeys": 2, "licenses": 1, "activeLicenses": 3},
        {"on": (4, 2, 1), "off": (0, 0, 0)},
    )
    assert licenses(api, project, production) == {
        "LIC-A": (4, {"on": 3, "off": 1}),
        "LIC-B": (5, {"on": 5}),
        "user-3": (2, {"on": 1, "off": 1}),
    }


def test_a_backlog_in_one_pass_writes_what_the_nights_write(api, shop):
    project, production = shop
    for day in DAYS:  # each night rolls up the day before it
        rollup_run(today=day + timedelta(days=1))
    nights = structures()
    assert_hand_computed_exposure(api, project, production)

    forget_the_rollup()
    report = rollup_run(today=D4 + timedelta(days=1))
    assert report.days == DAYS
    assert report.evaluations == 18  # 14 of new-checkout in production, 2 in staging, 2 of dark-mode
    assert structures() == nights
    assert_hand_computed_exposure(api, project, production)


def test_every_day_re_rolled_over_its_rollup_writes_the_same_rows(api, shop):
    project, production = shop
    for day in DAYS:
        rollup_run(today=day + timedelta(days=1))
    nights = structures()
    rollup_days(DAYS)  # `rollup_flag_usage --days 4`: every structure already there
    assert structures() == nights
    assert_hand_computed_exposure(api, project, production)
