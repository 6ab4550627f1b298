"""Every statement of ``analytics/sql.py``, rendered as the fold and the reads render it, equals its snapshot.

A reviewer sees in ``tests/analytics/sql_snapshots/<statement>.<database>.sql`` the SQL a
change produces. After an intended change, write the snapshots again and review the diff:

    SQL_SNAPSHOTS_WRITE=1 pytest tests/analytics/test_sql_rendering.py

The fold's statements run on both databases (issue 18, item 6), so each has a snapshot per
database, except PostgreSQL's settings and ANALYZE, which SQLite does not run. Quoting is
the same on both databases, so each statement renders on either.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analytics import counters
from analytics import sql as analytics_sql
from analytics.feature_usage.sources import window_parts
from analytics.models import (
    HOUR_COLUMNS,
    DomainBlockCounter,
    FeatureReachCounter,
    LicenseBlockCounter,
    LicenseDayHours,
    LicenseDomainBlockCounter,
)
from events.models import Event, License
from lib import sql as core_sql
from tests.sql_snapshots import assert_renders_as_snapshot, builders_of

SNAPSHOTS = Path(__file__).parent / "sql_snapshots"
PG, LITE = "postgresql", "sqlite"
# An ORM query's SQL in the real call; its text is the ORM's business, not this module's.
WINDOW_PAIRS = "SELECT license_id, feature, n FROM the_window_pairs"


def statements() -> dict[str, tuple[str, tuple[str, ...], object]]:
    """name → (builder, databases, render(database)), in the fold's and the reads' order."""
    found = {
        "fold_transaction_settings": (
            "fold_transaction_settings_sql",
            (PG,),
            lambda db: analytics_sql.fold_transaction_settings_sql(work_mem_mb=counters.FOLD_WORK_MEM_MB),
        ),
        "temp_buffers": (
            "temp_buffers_sql",
            (PG,),
            lambda db: analytics_sql.temp_buffers_sql(megabytes=counters.FOLD_TEMP_BUFFERS_MB),
        ),
        "events_batch_table": (
            "events_batch_table_sql",
            (PG, LITE),
            lambda db: analytics_sql.events_batch_table_sql(Event, batch_table=counters.BATCH_TABLE, vendor=db),
        ),
        "coarser_batch_table": (
            "coarser_batch_table_sql",
            (PG, LITE),
            lambda db: analytics_sql.coarser_batch_table_sql(
                counters.DAY_BATCH_TABLE, source=counters.BATCH_TABLE, keys=counters.DAY_BATCH_KEYS, vendor=db
            ),
        ),
        "stale_statistics": ("stale_statistics_sql", (PG,), lambda db: analytics_sql.stale_statistics_sql()),
    }
    for entity, pairs_model, kind, rows in counters.REACH_SOURCES:
        found[f"add_batch_reach_points.{kind}"] = (
            "add_batch_reach_points_sql",
            (PG, LITE),
            lambda db, pairs_model=pairs_model, entity=entity, rows=rows: analytics_sql.add_batch_reach_points_sql(
                pairs_model, entity, batch_table=counters.DAY_BATCH_TABLE, vendor=db, **rows
            ),
        )
    found["delete_zero_counts"] = (
        "delete_zero_counts_sql",
        (PG, LITE),
        lambda db: analytics_sql.delete_zero_counts_sql(FeatureReachCounter),
    )
    for model, keys, rows in counters.ADDED_COUNTS:
        source = counters.BATCH_TABLE if "hour" in keys else counters.DAY_BATCH_TABLE
        found[f"add_batch_counts.{model._meta.model_name}"] = (
            "add_batch_counts_sql",
            (PG, LITE),
            lambda db, model=model, keys=keys, rows=rows, source=source: analytics_sql.add_batch_counts_sql(
                model, keys, batch_table=source, **rows
            ),
        )
    found["add_batch_hour_columns.licensedayhours"] = (
        "add_batch_hour_columns_sql",
        (PG, LITE),
        lambda db: analytics_sql.add_batch_hour_columns_sql(
            LicenseDayHours,
            ("license_id", "day"),
            batch_table=counters.BATCH_TABLE,
            hour_fields=HOUR_COLUMNS,
            **counters.WITH_LICENSE,
        ),
    )
    for model, keys, rows in counters.ADDED_BLOCKS:
        found[f"add_batch_running_blocks.{model._meta.model_name}"] = (
            "add_batch_running_blocks_sql",
            (PG, LITE),
            lambda db, model=model, keys=keys, rows=rows: analytics_sql.add_batch_running_blocks_sql(
                model, keys, batch_table=counters.DAY_BATCH_TABLE, vendor=db, **rows
            ),
        )
    found["delete_product_rows"] = (
        "delete_product_rows_sql",
        (PG, LITE),
        lambda db: analytics_sql.delete_product_rows_sql(FeatureReachCounter),
    )
    for entity, pairs_model, kind, _ in counters.REACH_SOURCES:
        found[f"reach_points_from_blocks.{kind}"] = (
            "reach_points_from_blocks_sql",
            (PG, LITE),
            lambda db, pairs_model=pairs_model, entity=entity: analytics_sql.reach_points_from_blocks_sql(
                pairs_model, entity.removesuffix("_id"), vendor=db
            ),
        )
    for one_license in (False, True):
        found[f"tail_rows.{'license' if one_license else 'all'}"] = (
            "tail_rows_sql",
            (PG, LITE),
            lambda db, one_license=one_license: analytics_sql.tail_rows_sql(Event, one_license=one_license, vendor=db),
        )
    # The 30 days to 2026-03-09: the end of one block and the start of the next; with ``event=``, two names.
    for names, small_tail in ((None, False), (2, False), (None, True)):
        label = ("all" if names is None else "names") + (".small" if small_tail else "")
        found[f"tail_figures.{label}"] = (
            "tail_figures_sql",
            (PG, LITE),
            lambda db, names=names, small_tail=small_tail: analytics_sql.tail_figures_sql(
                Event,
                License,
                LicenseBlockCounter,
                DomainBlockCounter,
                parts=window_parts(date(2026, 2, 8), date(2026, 3, 9)),
                names=names,
                small_tail=small_tail,
                vendor=db,
            ),
        )
    found["pair_rollup"] = (
        "pair_rollup_sql",
        (PG, LITE),
        lambda db: analytics_sql.pair_rollup_sql(WINDOW_PAIRS, entity="license_id", feature_sum="n"),
    )
    found["ranked_license_pairs"] = (
        "ranked_license_pairs_sql",
        (PG, LITE),
        lambda db: analytics_sql.ranked_license_pairs_sql(
            WINDOW_PAIRS, licenses=License, collation={PG: "C", LITE: "BINARY"}[db]
        ),
    )
    found["first_day_of_block"] = (
        "first_day_of_block_sql",
        (PG, LITE),
        lambda db: analytics_sql.first_day_of_block_sql(LicenseBlockCounter),
    )
    # 2026-03-01 … 2026-03-09: the end of one block and the start of the next.
    found["last_day_in_window"] = (
        "last_day_in_window_sql",
        (PG, LITE),
        lambda db: analytics_sql.last_day_in_window_sql(
            LicenseDomainBlockCounter, parts=window_parts(date(2026, 3, 1), date(2026, 3, 9))
        ),
    )
    found["read_only_snapshot"] = (
        "read_only_snapshot_sql",
        (PG,),
        lambda db: core_sql.read_only_snapshot_sql(work_mem_mb=64),
    )
    for only in (True, False):
        found[f"hash_aggregation.{'only' if only else 'back'}"] = (
            "hash_aggregation_sql",
            (PG,),
            lambda db, only=only: analytics_sql.hash_aggregation_sql(only=only),
        )
    found["sqlite_begin_deferred"] = (
        "sqlite_begin_deferred_sql",
        (LITE,),
        lambda db: core_sql.sqlite_begin_deferred_sql(),
    )
    found["commit"] = ("commit_sql", (LITE,), lambda db: core_sql.commit_sql())
    return found


CASES = [(name, db) for name, (_, databases, _) in statements().items() for db in databases]


@pytest.mark.parametrize(("name", "database"), CASES, ids=[f"{name}.{db}" for name, db in CASES])
def test_the_statement_renders_as_its_snapshot(name, database):
    assert_renders_as_snapshot(SNAPSHOTS / f"{name}.{database}.sql", statements()[name][2](database))


# The answers' snapshot statements: rendered here beside the reads they open, defined in lib.sql for
# lib.snapshot.read_snapshot, which the flag reads take too.
SNAPSHOT_BUILDERS = {"read_only_snapshot_sql", "sqlite_begin_deferred_sql", "commit_sql"}


def test_every_statement_of_the_module_has_a_snapshot_and_every_snapshot_a_statement():
    assert builders_of(analytics_sql) == {builder for builder, _, _ in statements().values()} - SNAPSHOT_BUILDERS
    assert SNAPSHOT_BUILDERS <= builders_of(core_sql)
    assert {path.name for path in SNAPSHOTS.glob("*.sql")} == {f"{name}.{db}.sql" for name, db in CASES}


def test_every_bit_operation_is_parenthesised():
    """Issue 18: PostgreSQL reads ``a & b << k`` as ``(a & b) << k``; each ``<<`` stands alone in parentheses."""
    for path in SNAPSHOTS.glob("add_batch_reach_points.*.sql"):
        text = path.read_text()
        assert "(COALESCE(m.used, 0) & (CAST(1 AS bigint) << CAST(MOD(" in text
        assert text.count("<<") == text.count("(CAST(1 AS bigint) <<")
