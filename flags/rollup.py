"""The nightly rollup: recorded evaluations → one FlagUsageDay per (environment, flag, UTC day).

A day's rows are always recomputed from all of that day's raw evaluations, in
one transaction, so running twice changes nothing and evaluations that arrive
late are folded in by the next run. Which days need it is found by comparing,
per day, the raw evaluations with the total already rolled up: no bookkeeping
column to update on millions of rows, and nothing can be missed by a writer
that committed after a watermark was read.

One tenant's bad row never stops another's rollup: the days are rolled up for
every environment at once (one set-based pass, the fast path), and should that
fail, once more environment by environment, each in its own savepoint; an
environment that still fails is logged and reported as skipped, its days stay
pending, and the next run tries it again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from flags import fold, reach, tail
from flags.models import (
    EvaluationBucket,
    EvaluationBucketCount,
    Flag,
    FlagActivityDay,
    FlagEvaluation,
    FlagLicenseDay,
    FlagUsageDay,
    UnknownFlagDay,
)
from lib import sql
from tenancy.models import Plan

logger = logging.getLogger(__name__)

# Days aggregated per query: big enough for one pass of the index, small
# enough that progress shows and a transaction stays short.
DAYS_PER_CHUNK = 7
# work_mem of the rollup's transaction. At 10M evaluations the license days' hash of the raw
# rows takes 754 MB (hash_mem_multiplier 2: up to 1 GB here, so it does not spill); a sort of
# that size spills to disk, which was no slower than in memory (3.4M rows sorted, alternating,
# load ~6: 23.2 and 15.2 s spilled, 21.4 and 26.7 s at 1,536 MB).
ROLLUP_WORK_MEM_MB = 512
ROLLUP_LOCK_ID = 0x666C6167  # "flag": the advisory lock serialising rollup transactions


@dataclass
class DaysRolled:
    rows: int
    evaluations: int
    # ids of the environments whose rows could not be rolled up (logged): their days stay pending
    skipped: list[int]


@dataclass
class RollupReport:
    days: list[date]
    rows: int
    evaluations: int
    deleted: int
    cutoff: date
    skipped: list[int]


def days_pending(*, before: date) -> list[date]:
    """Days before ``before`` whose raw evaluations and SDK buckets are not all counted in the rollup."""
    raw = defaultdict(int)
    for day, n in (
        FlagEvaluation.objects.filter(day__lt=before, flag_id__in=Flag.objects.values("pk"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("day", "n")
    ):
        raw[day] += n
    for day, n in (
        EvaluationBucketCount.objects.filter(day__lt=before)
        .values("day")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("day", "n")
    ):
        raw[day] += n
    rolled = dict(
        FlagUsageDay.objects.filter(date__in=list(raw))
        .values("date")
        .annotate(n=Sum("total_evaluations"))
        .order_by()
        .values_list("date", "n")
    )
    return sorted(day for day, count in raw.items() if rolled.get(day) != count)


def rollup_days(days: Iterable[date], *, progress: Callable[[str], None] = lambda _: None) -> DaysRolled:
    """Recompute the given days in one transaction: rows written, evaluations counted, environments skipped.

    The usage rows are grouped a week at a time (small: a row per flag, day and
    reason); the exposure structures are rewritten once for every day, one
    set-based statement per structure, because per-week statements redrew the
    reach points of each week and re-sorted every key day each time (profiled:
    the per-chunk points and totals were most of the 106 s at 1M evaluations).
    """
    days = sorted(set(days))
    if not days:
        return DaysRolled(rows=0, evaluations=0, skipped=[])
    with transaction.atomic():
        _lock_against_a_concurrent_run()
        # The worker's folds of these days and later were drawn against the rolled state this
        # rewrites (each key's last rolled day): gone with it, in the same transaction; the
        # worker folds those days again from their first row (flags/fold.py).
        fold.forget(from_day=days[0])
        try:
            with transaction.atomic():
                rows, counted = _rollup_scope(days, environment_id=None, progress=progress)
            return DaysRolled(rows=rows, evaluations=counted, skipped=[])
        except Exception:
            logger.exception("flag rollup of %s … %s failed; rolling up each environment apart", days[0], days[-1])
        rows = counted = 0
        skipped = []
        for environment_id in _environments_of(days):
            try:
                with transaction.atomic():
                    scope_rows, scope_counted = _rollup_scope(days, environment_id=environment_id, progress=progress)
            except Exception:
                logger.exception(
                    "flag rollup of environment %s, %s … %s, failed: skipped until its rows can be counted",
                    environment_id,
                    days[0],
                    days[-1],
                )
                skipped.append(environment_id)
                progress(f"  environment {environment_id}: skipped (its rows could not be rolled up; see the log)")
                continue
            rows += scope_rows
            counted += scope_counted
    return DaysRolled(rows=rows, evaluations=counted, skipped=skipped)


def _rollup_scope(days: list[date], *, environment_id: int | None, progress: Callable[[str], None]) -> tuple[int, int]:
    """The rollup of ``days`` for every environment (None) or one."""
    rows_written = evaluations = 0
    for start in range(0, len(days), DAYS_PER_CHUNK):
        chunk = days[start : start + DAYS_PER_CHUNK]
        rows, counted = _usage_rows_rebuild(chunk, environment_id=environment_id)
        rows_written += rows
        evaluations += counted
        progress(f"  {chunk[0]} … {chunk[-1]}: {counted:,} evaluations → {rows:,} rows")
    # Every day from the first rewritten one on: the reach points of a later day
    # depend on the previous days of its keys, which a rewritten day may change.
    reach.exposure_rebuild(days, points_from=days[0], points_until=None, environment_id=environment_id)
    progress(f"  exposure of {len(days)} day(s) rewritten")
    return rows_written, evaluations


def _environments_of(days: list[date]) -> list[int]:
    """Every environment the all-environments pass would write for ``days``: raw rows, or rows to replace."""
    found: set[int] = set()
    for model, field in (
        (FlagEvaluation, "day"),
        (EvaluationBucketCount, "day"),
        (FlagUsageDay, "date"),
        (FlagLicenseDay, "day"),
    ):
        found.update(model.objects.filter(**{f"{field}__in": days}).values_list("environment_id", flat=True).distinct())
    return sorted(found)


def _usage_rows_rebuild(days: list[date], *, environment_id: int | None = None) -> tuple[int, int]:
    scope = {} if environment_id is None else {"environment_id": environment_id}
    # The aggregation reads share (flags/tail.py): a day read before its rollup shows what the rollup then writes.
    totals = tail.usage_totals(days=days, environment_id=environment_id)
    counted = sum(row["total"] for row in totals.values())
    FlagUsageDay.objects.filter(date__in=days, **scope).delete()
    now = timezone.now()
    FlagUsageDay.objects.bulk_create(
        [
            FlagUsageDay(
                date=day,
                environment_id=environment_id,
                flag_id=flag_id,
                total_evaluations=row["total"],
                rule_match_count=row["rule"],
                default_count=row["default"],
                error_count=row["error"],
                value_distribution=tail.value_distribution(row["values"]),
                variant_distribution=dict(sorted(row["variants"].items())),
                rolled_up_at=now,
            )
            for (day, environment_id, flag_id), row in totals.items()
        ],
        batch_size=1000,
    )
    return len(totals), counted


def _lock_against_a_concurrent_run() -> None:
    """Two overlapping runs (a slow night, a manual run) would both delete and re-insert
    a day's rows; on PostgreSQL the second waits for the first's transaction instead.
    SQLite allows one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql.advisory_xact_lock_sql(), [ROLLUP_LOCK_ID])
            # JIT-compiling the exposure statements costs more than running them (measured: 2×).
            cursor.execute(sql.jit_off_sql())
            # Derived data, rebuilt from the raw evaluations if lost: no wait for the WAL
            # flush at commit; and the key days' sorts (LAG, GROUP BY) stay in memory.
            cursor.execute(sql.bulk_write_settings_sql(work_mem_mb=ROLLUP_WORK_MEM_MB))


def retention_cutoff(*, today: date) -> date:
    """The first day any plan still serves; raw evaluations before it are no longer needed."""
    longest = Plan.objects.aggregate(n=Max("flag_retention_days"))["n"] or 90
    return today - timedelta(days=longest - 1)


def delete_expired(*, today: date) -> tuple[int, date]:
    """Raw evaluations, and everything kept per day beside the rollup, older than any plan serves."""
    cutoff = retention_cutoff(today=today)
    deleted, _ = FlagEvaluation.objects.filter(day__lt=cutoff).delete()
    # A bucket older than the cutoff would be refused anyway (7 days at most), so its id may go too;
    # its counts are on its day.
    EvaluationBucket.objects.filter(day__lt=cutoff).delete()
    EvaluationBucketCount.objects.filter(day__lt=cutoff).delete()
    FlagActivityDay.objects.filter(day__lt=cutoff).delete()
    UnknownFlagDay.objects.filter(day__lt=cutoff).delete()
    reach.exposure_delete_before(cutoff)
    return deleted, cutoff


def rollup_run(
    *,
    today: date,
    days: list[date] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> RollupReport:
    """Roll up ``days`` (default: every pending day before today), then delete expired raw evaluations."""
    if days is None:
        days = days_pending(before=today)
        progress(f"{len(days)} day(s) with evaluations not yet rolled up.")
    rolled = rollup_days(days, progress=progress)
    deleted, cutoff = delete_expired(today=today)
    return RollupReport(
        days=sorted(days),
        rows=rolled.rows,
        evaluations=rolled.evaluations,
        deleted=deleted,
        cutoff=cutoff,
        skipped=rolled.skipped,
    )
