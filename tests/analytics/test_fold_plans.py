"""The idle fold's probes are planned as index probes on a fresh, small install (issue 25).

With fewer than ~50 products autovacuum never analyzes the product table (its analyze
threshold is 50 changed rows), and the planner turned the fold's "any event above the
watermark?" EXISTS into a hash semi-join over a sequential scan of every event: 4.0 s per
idle fold at 955k events, every second. Here a few products and 200k events, with the
small tables put back to "never analyzed" (inside the test's transaction, so nothing
else sees it) and the events table either analyzed (autovacuum does that on its own once
it is big) or not: the plan of every SELECT an idle fold runs must read the events table
through an index only. A plan assertion, not a timing.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.counters import counters_fold_all
from analytics.installs.fold import installs_fold_all
from analytics.installs.models import InstallState
from analytics.models import CounterState
from events.models import Event, Product
from events.services import product_create

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")

EVENTS = 200_000
PRODUCTS = 3
SMALL_TABLES = (Product, CounterState, InstallState)


def _insert_events(products: list[Product]) -> int:
    """EVENTS events spread over the products, by one INSERT … SELECT; returns the highest id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Event._meta.db_table}
                (event, feature, is_system, properties, license_key, domain, occurred_at, received_at, product_id)
            SELECT 'feature.used', 'f' || (g %% 20), false, '{{}}', '', '',
                   now() - (g %% 5000) * interval '1 minute', now(), (%s::bigint[])[1 + g %% {len(products)}]
            FROM generate_series(1, {EVENTS}) AS g
            """,
            [[product.pk for product in products]],
        )
        cursor.execute(f"SELECT max(id) FROM {Event._meta.db_table}")
        return cursor.fetchone()[0]


def _tables_of(model) -> list[str]:
    """The table and, for the partitioned events table, its partitions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [model._meta.db_table]
        )
        return [model._meta.db_table, *(name for (name,) in cursor.fetchall())]


def _forget_statistics(tables: list[str]) -> None:
    """Put tables back to the state of a fresh install: never vacuumed nor analyzed.

    Catalog rows changed in this test's transaction only (rolled back after it): earlier
    tests of the session may have let autovacuum analyze them.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("resetting planner statistics needs a superuser")
        for table in tables:
            cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])
            cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [table])


def _scans(plan: dict) -> list[tuple[str, str]]:
    """(node type, relation) of every scan node of a JSON plan, subplans included."""
    found = [(plan["Node Type"], plan["Relation Name"])] if "Relation Name" in plan else []
    for child in plan.get("Plans", ()):
        found += _scans(child)
    return found


def _explained_reads_of_events(queries: list[dict]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(statement, scans) of every captured statement that reads the events table (SELECTs, cursors, the
    fold's CREATE TEMPORARY TABLE … AS SELECT), explained again now."""
    plans = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if " CURSOR FOR " in sql:
                sql = sql.split(" CURSOR FOR ", 1)[1]
            if f'"{Event._meta.db_table}"' not in sql or not sql.lstrip().upper().startswith(("SELECT", "CREATE")):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            document = cursor.fetchone()[0]
            plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
            plans.append((sql, _scans(plan)))
    return plans


def _fresh_install(org, *, unfolded: int, events_analyzed: bool) -> None:
    """PRODUCTS products, EVENTS events, each product folded but for its last ``unfolded`` events; statistics
    as on a fresh install (the small tables never analyzed; the events table as ``events_analyzed`` says)."""
    products = [product_create(organization=org, name=f"Plugin {n}") for n in range(PRODUCTS)]
    high = _insert_events(products)
    for product in products:
        CounterState.objects.create(product=product, folded_through=high - unfolded)
        InstallState.objects.create(product=product, folded_through=high - unfolded, timezone=product.timezone)
    small = [table for model in SMALL_TABLES for table in _tables_of(model)]
    _forget_statistics(small if events_analyzed else small + _tables_of(Event))
    if events_analyzed:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Event._meta.db_table}")


# A Bitmap Heap Scan reads only the pages its Bitmap Index Scan children found: an index read too.
# The planner takes it for a partition holding few of the events, as the default partition
# does in a month's first days (events up to 5,000 minutes old fall before the month, whose
# partition the test database never made); a Seq Scan is what the test is here to refuse.
INDEX_READS = ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")


def _assert_events_read_by_index(plans: list[tuple[str, list[tuple[str, str]]]]) -> None:
    """Every read of a partition that holds events is an index scan (an empty one may be scanned: it has no page)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT tableoid::regclass::text FROM {Event._meta.db_table}")
        holding = {name for (name,) in cursor.fetchall()}
    for sql, scans in plans:
        on_events = [(node, table) for node, table in scans if table in holding]
        assert on_events, sql
        assert all(node in INDEX_READS for node, _ in on_events), (on_events, sql)


ANALYZED = pytest.mark.parametrize("events_analyzed", [True, False], ids=["events-analyzed", "nothing-analyzed"])


@ANALYZED
def test_an_idle_fold_reads_events_only_through_an_index(org, events_analyzed):
    _fresh_install(org, unfolded=0, events_analyzed=events_analyzed)

    with CaptureQueriesContext(connection) as captured:
        assert counters_fold_all() == (0, 0)
        assert installs_fold_all() == 0

    plans = _explained_reads_of_events(captured.captured_queries)
    assert len(plans) == 2  # one probe per fold: which products have events above their watermark
    _assert_events_read_by_index(plans)


@ANALYZED
def test_a_fold_of_a_short_tail_reads_events_only_through_an_index(org, events_analyzed):
    # Each product 10 events behind: the probes, the write barrier, the chunk bounds, the batch, the count.
    _fresh_install(org, unfolded=10 * PRODUCTS, events_analyzed=events_analyzed)

    with CaptureQueriesContext(connection) as captured:
        assert counters_fold_all() == (10 * PRODUCTS, PRODUCTS)
        assert installs_fold_all() == 0  # no lifecycle events among them: the watermark moves past them

    plans = _explained_reads_of_events(captured.captured_queries)
    assert any(sql.startswith("CREATE TEMPORARY TABLE") for sql, _ in plans)  # the batch's grouping read
    _assert_events_read_by_index(plans)
