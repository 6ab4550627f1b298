"""Celery tasks of the flags app: thin, they call the rollup service."""

from __future__ import annotations

from celery import shared_task

from flags.fold import fold_today
from flags.rollup import rollup_run
from flags.selectors import utc_today


# Idempotent (the rollup recomputes days until totals match, under an advisory lock), so a retry is safe.
@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def rollup_flag_usage() -> int:
    """The nightly rollup of recorded flag evaluations; returns how many evaluations were rolled up."""
    return rollup_run(today=utc_today()).evaluations


# Every few seconds (FLAG_FOLD_EVERY): today's new evaluations into the worker's fold, so that a
# read of today adds only the rows above its watermark (flags/fold.py). A tick that finds a fold
# (or the rollup) running does nothing; the next one folds what it left.
@shared_task(ignore_result=True)
def fold_flag_evaluations() -> int:
    """Fold today's recorded evaluations above each (flag, environment)'s watermark; returns how many."""
    return fold_today(today=utc_today())
