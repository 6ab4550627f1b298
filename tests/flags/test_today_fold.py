"""The worker's fold of today's evaluations (flags/fold.py): what it stores, and that no answer moves.

The fixture is test_same_day_exposure's ``shop`` (D1, D2 rolled up; 8 evaluations today).
Hand-computed rows first; then every answer equals the naive count from the raw rows at any
moment: before a fold, between folds with evaluations above the watermark, after the
night's rollup (which forgets the folds) and after a re-rolled past day.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flags import recording
from flags.fold import fold_today
from flags.models import FlagEvaluation, FlagFoldKey, FlagFoldLicense, FlagFoldPoint, FlagFoldState
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.flags.test_exposure_properties import LICENSE_KEYS, SPAN_DAYS, TARGETING_KEYS, VARIANTS, naive_exposure
from tests.flags.test_same_day_exposure import D1, D2, TODAY, figures, get, roll_up_today, served, shop  # noqa: F401

pytestmark = pytest.mark.django_db

NEVER = date.min


def test_the_fold_holds_todays_keys_by_last_rolled_day_licenses_and_usage(shop):  # noqa: F811
    _, production, flag, licenses = shop
    assert fold_today(today=TODAY) == 8
    state = FlagFoldState.objects.get(flag=flag, environment=production, day=TODAY)
    assert state.folded_through == FlagEvaluation.objects.latest("id").pk
    # 8 today: 7 split (u1 on ×3, u4 on, user-2 on ×2, u5 off), 1 error.
    assert state.usage == {
        "total": 8,
        "rule": 7,
        "default": 0,
        "error": 1,
        "values": {"true": 6, "false": 1},
        "variants": {"on": 6, "off": 1},
    }
    # Rolled: u1 on D1 and off D2; user-2 off D1; anon-9 on D2. Today's pairs and their last rolled day
    # on that variant: (on, u1) D1, (on, u4) never, (on, user-2) never, (off, u5) never; over every
    # variant: u1 D2, user-2 D1, u4 and u5 never.
    points = set(FlagFoldPoint.objects.filter(day=TODAY, kind="key").values_list("variant", "rolled_last_day", "count"))
    assert points == {("on", D1, 1), ("on", NEVER, 2), ("off", NEVER, 1), ("", D2, 1), ("", D1, 1), ("", NEVER, 2)}
    assert FlagFoldKey.objects.filter(day=TODAY).count() == 8  # 4 pairs + 4 keys
    # A: on ×3 (licenseKey); B (key user-2): on ×2 by targeting key; C: off ×1; the error serves no variant.
    rows = set(FlagFoldLicense.objects.filter(day=TODAY).values_list("license_id", "variant", "evaluations"))
    assert rows == {(licenses["a"].pk, "on", 3), (licenses["b"].pk, "on", 2), (licenses["c"].pk, "off", 1)}
    # Their last rolled license day: A on D1, off D2; B off D1. So (on, A) D1, (on, B) never, (off, C)
    # never; over every variant A D2, B D1, C never.
    points = set(
        FlagFoldPoint.objects.filter(day=TODAY, kind="license").values_list("variant", "rolled_last_day", "count")
    )
    assert points == {("on", D1, 1), ("on", NEVER, 1), ("off", NEVER, 1), ("", D2, 1), ("", D1, 1), ("", NEVER, 1)}
    assert fold_today(today=TODAY) == 0  # nothing above the watermark


def test_answers_are_the_same_before_and_after_a_fold_and_with_rows_above_it(api, shop):  # noqa: F811
    project, production, flag, _ = shop
    exposure = figures(get(api, project, production, "exposure"))
    usage = figures(get(api, project, production, "usage"))
    fold_today(today=TODAY)
    assert figures(get(api, project, production, "exposure")) == exposure
    assert figures(get(api, project, production, "usage")) == usage
    # Above the watermark: u4 off (a key new on "off", not new at all), u6 on with LIC-A (new key).
    served(production, flag, "off", TODAY, 1, "u4")
    served(production, flag, "on", TODAY, 1, "u6", "LIC-A")
    recording.flush()
    body = figures(get(api, project, production, "exposure"))
    # Before: 13 evaluations, 5 keys; on 9 / 4 keys; off 3 / 3 keys. Now +2: keys u6 new (6);
    # on 10 evaluations, 5 keys (u6); off 4 evaluations, 4 keys (u4).
    assert body["totals"]["evaluations"] == 15
    assert body["totals"]["uniqueTargetingKeys"] == 6
    assert [(v["variant"], v["evaluations"], v["uniqueTargetingKeys"], v["licenses"]) for v in body["variants"]] == [
        ("on", 10, 5, 2),
        ("off", 4, 4, 3),
    ]
    assert body["licenses"]["data"][0]["evaluations"] == 7  # A: 6 + 1
    usage_row = figures(get(api, project, production, "usage"))["rows"][-1]
    assert (usage_row["totalEvaluations"], usage_row["valueDistribution"]) == (10, {"true": 7, "false": 2})
    fold_today(today=TODAY)
    assert figures(get(api, project, production, "exposure")) == body
    roll_up_today()  # the night: today rolled up, its fold forgotten
    assert not FlagFoldState.objects.exists() and not FlagFoldKey.objects.exists()
    assert figures(get(api, project, production, "exposure")) == body


def test_a_read_with_a_fold_writes_nothing_and_reads_no_row_below_the_watermark(api, shop):  # noqa: F811
    project, production, *_ = shop
    fold_today(today=TODAY)
    with CaptureQueriesContext(connection) as queries:
        assert get(api, project, production, "exposure").status_code == 200
        assert get(api, project, production, "usage").status_code == 200
    statements = [q["sql"] for q in queries]
    writes = [sql for sql in statements if re.match(r"\s*(INSERT|UPDATE|DELETE)", sql, re.IGNORECASE)]
    assert [sql for sql in writes if "packedge_apikey" not in sql] == []
    raw = [sql for sql in statements if "flags_flagevaluation" in sql]
    assert raw and all('"id" >' in sql for sql in raw), raw


def test_a_relinked_product_or_a_second_unrolled_day_reads_the_raw_rows(api, org, shop):  # noqa: F811
    project, production, flag, _ = shop
    fold_today(today=TODAY)
    served(production, flag, "on", D2, 23, "u6")  # yesterday, late: two unrolled days
    recording.flush()
    body = figures(get(api, project, production, "exposure"))
    assert (body["totals"]["evaluations"], body["totals"]["uniqueTargetingKeys"]) == (14, 6)
    rollup_run(today=TODAY)  # re-rolls yesterday: the fold of today goes with it
    assert not FlagFoldState.objects.exists()
    fold_today(today=TODAY)
    assert figures(get(api, project, production, "exposure")) == body


unrolled_strategy = st.lists(
    st.tuples(
        st.integers(0, 2),  # days before today: mostly today, sometimes a rolled-up day (a late row)
        st.integers(0, len(VARIANTS) - 1),
        st.integers(0, len(TARGETING_KEYS) - 1),
        st.integers(0, len(LICENSE_KEYS) - 1),
        st.sampled_from(["", "", "fold", "night"]),  # what happens after this evaluation
    ),
    max_size=25,
)
rolled_strategy = st.lists(
    st.tuples(
        st.integers(1, SPAN_DAYS),
        st.integers(0, len(VARIANTS) - 1),
        st.integers(0, len(TARGETING_KEYS) - 1),
        st.integers(0, len(LICENSE_KEYS) - 1),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=rolled_strategy,
    later=unrolled_strategy,
    windows=st.lists(st.tuples(st.integers(0, SPAN_DAYS), st.integers(0, SPAN_DAYS)), min_size=1, max_size=3),
)
def test_every_answer_equals_the_naive_count_at_any_fold_moment(api, org, first, later, windows):
    """Rolled-up days, then evaluations one by one with folds and nights (a re-roll of the past) at random moments."""
    today = utc_today()
    product = ProductFactory(organization=org)
    for key in ("LIC-0", "LIC-1", "LIC-2"):
        LicenseFactory(product=product, key=key)
    project = ProjectFactory(organization=org, product=product)
    environment = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    recorded = []

    def record(back, variant_index, key_index, license_index):
        day, variant = today - timedelta(days=back), VARIANTS[variant_index]
        served(environment, flag, variant, day, 12, TARGETING_KEYS[key_index], LICENSE_KEYS[license_index])
        recorded.append((day, variant, TARGETING_KEYS[key_index], LICENSE_KEYS[license_index]))

    def check():
        for back, length in windows:
            date_from = today - timedelta(days=back)
            date_to = min(today, date_from + timedelta(days=length))
            window = {"from": date_from.isoformat(), "to": date_to.isoformat()}
            body = get(api, project, environment, "exposure", **window)
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
            rows = figures(get(api, project, environment, "usage", **window))["rows"]
            per_day: dict[str, list[int]] = {}
            for day, variant, _, _ in recorded:
                if date_from <= day <= date_to:
                    counts = per_day.setdefault(day.isoformat(), [0, 0, 0])
                    counts[{"on": 0, "off": 1, None: 2}[variant]] += 1
            assert {
                row["date"]: [
                    row["valueDistribution"].get("true", 0),
                    row["valueDistribution"].get("false", 0),
                    row["errorCount"],
                ]
                for row in rows
            } == per_day

    for row in first:
        record(*row)
    recording.flush()
    rollup_run(today=today)
    check()
    for back, variant_index, key_index, license_index, then in later:
        record(back, variant_index, key_index, license_index)
        recording.flush()
        if then == "fold":
            fold_today(today=today)
        elif then == "night":
            rollup_run(today=today)  # re-rolls any past day with late rows, and forgets today's fold
        check()
    fold_today(today=today)
    check()
    rollup_run(today=today + timedelta(days=1))
    check()


def test_the_recorder_holds_the_folds_write_barrier_in_its_insert_transaction(shop):  # noqa: F811
    """PostgreSQL: one shared lock per flush, before the inserts (SQLite serialises writers: none)."""
    _, production, flag, _ = shop
    served(production, flag, "on", TODAY, 2, "u7")
    with CaptureQueriesContext(connection) as queries:
        recording.flush()
    statements = [q["sql"] for q in queries]
    barrier = [i for i, sql in enumerate(statements) if "pg_advisory_xact_lock_shared" in sql]
    inserts = [i for i, sql in enumerate(statements) if "INSERT INTO" in sql and "flagevaluation" in sql]
    if connection.vendor == "postgresql":
        assert len(barrier) == 1 and inserts and barrier[0] < inserts[0]
    else:
        assert barrier == [] and inserts
