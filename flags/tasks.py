"""Celery tasks of the flags app: thin, they call the rollup service."""

from __future__ import annotations

from celery import shared_task

from flags.rollup import rollup_run
from flags.selectors import utc_today


# Idempotent (the rollup recomputes days until totals match, under an advisory lock), so a retry is safe.
@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def rollup_flag_usage() -> int:
    """The nightly rollup of recorded flag evaluations; returns how many evaluations were rolled up."""
    return rollup_run(today=utc_today()).evaluations
