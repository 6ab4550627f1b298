"""The SQL of Feature Usage: the fold's statements and the reads', one readable template each.

As Zulip's ``analytics/lib/counts.py`` writes its count queries: each statement is one
template, its identifiers named (``{reach}``, ``{feature}``), quoted from model
metadata by ``core.sql`` when the statement is rendered; values are parameters.
Every bit operation is parenthesised: PostgreSQL gives ``&`` and ``<<`` the same
precedence, left to right (issue 18). ``tests/analytics/test_sql_statements.py``
renders each statement so that a reviewer sees the SQL a change produces.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model

from analytics.models import BLOCK_DAYS, NO_PREVIOUS_DAY, RUNNING_COLUMNS, FeatureReachCounter
from core.sql import column, qn, table

# The days 0 … 31 of a block, as rows (a recursive CTE: both databases have it).
BLOCK_DAY_ROWS = "block_days (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM block_days WHERE k < {last})"


def ordinal_to_date(vendor: str, expression: str) -> str:
    """The date whose Python ``toordinal()`` is ``expression`` (an integer)."""
    if vendor == "postgresql":
        return f"(DATE '0001-01-01' + CAST(({expression}) - 1 AS integer))"
    return f"date('0001-01-01', '+' || (({expression}) - 1) || ' days')"


def _block_day_used(alias: str) -> str:
    """True when a running-totals row counts events on its block's day ``k`` (its running total grew)."""
    cases = " ".join(
        f"WHEN {k} THEN {alias}.{qn(name)} > {f'{alias}.{qn(RUNNING_COLUMNS[k - 1])}' if k else '0'}"
        for k, name in enumerate(RUNNING_COLUMNS)
    )
    return f"(CASE block_days.k {cases} END)"


REACH_POINTS_FROM_BLOCKS = """
WITH RECURSIVE {block_day_rows},
used AS (
    SELECT DISTINCT b.{entity} AS entity, b.{pair_feature} AS feature,
           b.{block} * {block_days} + block_days.k AS ordinal
    FROM {pairs} AS b CROSS JOIN block_days
    WHERE b.{pair_product} = %(product)s AND {day_used}
),
points AS (
    SELECT feature, ordinal,
           LAG(ordinal, 1, {no_previous}) OVER (PARTITION BY entity, feature ORDER BY ordinal) AS previous
    FROM used
)
INSERT INTO {reach} ({product}, {kind}, {day}, {feature}, {previous_day}, {count})
SELECT %(product)s, %(kind)s, {day_of_ordinal}, feature, {day_of_previous}, COUNT(*)
FROM points
GROUP BY feature, ordinal, previous
"""


def reach_points_from_blocks_sql(pairs_model: type[Model], entity: str) -> str:
    """Every reach point of one product and kind, from the pair blocks of ``entity`` (``license`` or ``domain``).

    A pair's points are its used days, each with the one before (or NO_PREVIOUS_DAY);
    the pair blocks tell the used days of every pair. Parameters: ``product``, ``kind``.
    The repair of data folded before issue 18's fix: the pair blocks were always right.
    """
    vendor = connection.vendor
    r, p = FeatureReachCounter, pairs_model
    return REACH_POINTS_FROM_BLOCKS.format(
        block_day_rows=BLOCK_DAY_ROWS.format(last=BLOCK_DAYS - 1),
        entity=column(p, entity),
        pair_feature=column(p, "feature"),
        block=column(p, "block"),
        block_days=int(BLOCK_DAYS),
        pairs=table(p),
        pair_product=column(p, "product"),
        day_used=_block_day_used("b"),
        no_previous=int(NO_PREVIOUS_DAY.toordinal()),
        reach=table(r),
        product=column(r, "product"),
        kind=column(r, "kind"),
        day=column(r, "day"),
        feature=column(r, "feature"),
        previous_day=column(r, "previous_day"),
        count=column(r, "count"),
        day_of_ordinal=ordinal_to_date(vendor, "ordinal"),
        day_of_previous=ordinal_to_date(vendor, "previous"),
    ).strip()


DELETE_PRODUCT_ROWS = "DELETE FROM {model} WHERE {product} = %(product)s"


def delete_product_rows_sql(model: type[Model]) -> str:
    """Every row of one product (parameter ``product``)."""
    return DELETE_PRODUCT_ROWS.format(model=table(model), product=column(model, "product"))
