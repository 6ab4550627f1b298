"""Planner statistics of the counter tables, kept fresh by the worker after its folds.

The Feature Usage reads are planned from the counter tables' statistics: with none (a table
never analyzed) two ``COUNT(DISTINCT …)`` reads of a 30-day answer walked the pair blocks'
index over the whole window, 350 ms of a 1.8 s answer against 38 ms once analyzed (issue 18,
P0s). Autovacuum analyzes a table once its changed rows pass a threshold, but up to a minute
later (``autovacuum_naptime``), and not at all where it is off. So after a fold the worker
analyzes each counter table autovacuum would: the same threshold, read from the same settings,
so it adds no work autovacuum would not do and never analyzes a table twice for one change.

PostgreSQL only (SQLite's planner reads no statistics it was not given). Never inside a
transaction, so a fold's locks are not held while ``ANALYZE`` samples; and one worker at a
time (a try-lock: a second worker skips, it does not wait on the first one's ``ANALYZE``).
"""

from __future__ import annotations

import logging

from django.db import connection

from analytics import sql as analytics_sql
from analytics.counters import COUNTER_MODELS
from lib import sql as core_sql
from lib.locks import try_lock

logger = logging.getLogger("analytics.fold")

# PostgreSQL advisory lock class of "a worker is analyzing the counter tables" (object 0).
STATISTICS_LOCK = 0x73746174  # "stat"


def counter_statistics_refresh() -> list[str]:
    """ANALYZE the counter tables whose changes since their last ANALYZE pass autovacuum's threshold.

    Returns the tables analyzed, by name (none on SQLite, inside a transaction, or while another
    worker is at it).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return []
    with try_lock(STATISTICS_LOCK, 0) as held:
        if not held:
            return []
        with connection.cursor() as cursor:
            cursor.execute(core_sql.flush_statistics_sql())
            tables = [model._meta.db_table for model in COUNTER_MODELS]
            cursor.execute(analytics_sql.stale_statistics_sql(), {"tables": tables})
            stale = [name for (name,) in cursor.fetchall()]
            for name in stale:
                cursor.execute(core_sql.analyze_sql(name))
    if stale:
        logger.info("counter statistics: analyzed %s", ", ".join(stale))
    return stale
