"""Every statement of ``flags/sql.py``, rendered as the nightly rollup and the exposure read render it, equals its snapshot.

A reviewer sees in ``tests/flags/sql_snapshots/<statement>.sql`` the PostgreSQL a change
produces (SQLite keeps the ORM's statements for these structures). After an intended
change, write the snapshots again and review the diff:

    SQL_SNAPSHOTS_WRITE=1 pytest tests/flags/test_sql_rendering.py

Each is rendered for one environment and two days, as the rollup of a night runs it; the
per-variant and over-every-variant forms of the totals and the reach points both appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from events.models import License
from flags import reach
from flags import sql as flags_sql
from flags.models import (
    Environment,
    Flag,
    FlagEvaluation,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    Project,
)
from tests.sql_snapshots import assert_renders_as_snapshot, builders_of

SNAPSHOTS = Path(__file__).parent / "sql_snapshots"
MODELS = {"evaluation": FlagEvaluation, "flag": Flag, "environment": Environment, "project": Project}
PAIRS = {"flag": Flag, "environment": Environment, "per_environment": True}
RAW = {"evaluation": FlagEvaluation, "flag": Flag, "environment": Environment, "per_environment": True}


def _both(render) -> str:
    return ";\n\n".join(render(per_variant) for per_variant in (True, False))


def statements() -> dict[str, tuple[str, object]]:
    """name → (builder, render()), in the order a night's rollup runs them, then the read's."""
    _, subject_days, subject = reach.SUBJECTS[0]
    return {
        "license_days_snapshot": (
            "license_days_snapshot_sql",
            lambda: flags_sql.license_days_snapshot_sql(
                license_day=FlagLicenseDay, snapshot=reach.LICENSE_DAYS_BEFORE, days=2, **PAIRS
            ),
        ),
        "delete_days": (
            "delete_days_sql",
            lambda: flags_sql.delete_days_sql(
                FlagLicenseDay, days=2, per_environment=True, flag=Flag, environment=Environment
            ),
        ),
        "planner_sorts": ("planner_sorts_sql", lambda: flags_sql.planner_sorts_sql(enabled=False)),
        "license_days_insert": (
            "license_days_insert_sql",
            lambda: flags_sql.license_days_insert_sql(
                days=2, license_day=FlagLicenseDay, license=License, per_environment=True, byte_order=True, **MODELS
            ),
        ),
        "license_totals_delta": (
            "license_totals_delta_sql",
            lambda: _both(
                lambda per_variant: flags_sql.license_totals_delta_sql(
                    total=FlagLicenseTotal,
                    license_day=FlagLicenseDay,
                    license=License,
                    snapshot=reach.LICENSE_DAYS_BEFORE,
                    per_variant=per_variant,
                    days=2,
                    **PAIRS,
                )
            ),
        ),
        "license_totals_rebuild": (
            "license_totals_rebuild_sql",
            lambda: flags_sql.license_totals_rebuild_sql(
                total=FlagLicenseTotal, license_day=FlagLicenseDay, license=License, days=2, **PAIRS
            ),
        ),
        "license_totals_add": (
            "license_totals_add_sql",
            lambda: _both(
                lambda per_variant: flags_sql.license_totals_add_sql(
                    total=FlagLicenseTotal,
                    license_day=FlagLicenseDay,
                    license=License,
                    per_variant=per_variant,
                    sign=1,
                    days=2,
                    per_environment=True,
                    flag=Flag,
                    environment=Environment,
                )
            ),
        ),
        "reach_points_insert": (
            "reach_points_insert_sql",
            lambda: flags_sql.reach_points_insert_sql(
                point=FlagReachPoint,
                subject_days=subject_days,
                subject=subject,
                bounded=True,
                flag=Flag,
                environment=Environment,
                seek_earlier=True,
                per_environment=True,
            ),
        ),
        "keys_served_table": (
            "keys_served_table_sql",
            lambda: flags_sql.keys_served_table_sql(served=reach.KEYS_SERVED, **RAW),
        ),
        "key_points_of_a_night": (
            "key_points_of_a_night_sql",
            lambda: flags_sql.key_points_of_a_night_sql(
                point=FlagReachPoint, recent=FlagKeyRecent, served=reach.KEYS_SERVED
            ),
        ),
        "key_recent_of_a_night": (
            "key_recent_of_a_night_sql",
            lambda: flags_sql.key_recent_of_a_night_sql(recent=FlagKeyRecent, served=reach.KEYS_SERVED),
        ),
        "key_reach_from_raw": (
            "key_reach_from_raw_sql",
            lambda: flags_sql.key_reach_from_raw_sql(
                point=FlagReachPoint, recent=FlagKeyRecent, output="both", byte_order=True, **RAW
            ),
        ),
        "unrolled_subjects": (
            "unrolled_subjects_sql",
            lambda: flags_sql.unrolled_subjects_sql(
                evaluation=FlagEvaluation,
                key_recent=FlagKeyRecent,
                license_day=FlagLicenseDay,
                license_total=FlagLicenseTotal,
                license=License,
                totals_cover_window=True,
            ),
        ),
    }


@pytest.mark.parametrize("name", list(statements()))
def test_the_statement_renders_as_its_snapshot(name):
    assert_renders_as_snapshot(SNAPSHOTS / f"{name}.postgresql.sql", statements()[name][1]())


def test_every_statement_of_the_module_has_a_snapshot_and_every_snapshot_a_statement():
    assert builders_of(flags_sql) == {builder for builder, _ in statements().values()}
    assert {path.name for path in SNAPSHOTS.glob("*.sql")} == {f"{name}.postgresql.sql" for name in statements()}
