"""Celery tasks of Feature Usage: thin, they call the counter services in ``analytics.counters``."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from analytics.counters import counters_fold_all, counters_recount
from analytics.installs.fold import installs_fold_all
from events.models import Product

# Ingestion asks for a fold at most once per this many seconds (the beat folds every second anyway).
FOLD_DEBOUNCE_SECONDS = 1
FOLD_DEBOUNCE_KEY = "analytics:fold-requested"


# Idempotent: a fold claims only what is still pending, under a per-product row lock.
# Not retried: the beat sends the next one within a second, and retries would pile up.
@shared_task
def fold_events() -> int:
    """Fold every product's pending events into its counters; returns how many were folded."""
    folded, _ = counters_fold_all()
    return folded


# Installs analytics keeps its own watermark and lock (analytics.installs.fold): on the beat
# schedule beside fold_events, so neither fold waits for the other.
@shared_task
def fold_installs() -> int:
    """Fold every product's pending lifecycle events into its Installs tables; returns how many."""
    return installs_fold_all()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def recount_product(product_id: int) -> bool:
    """Recount one product's counters in its current time zone (after a time zone change)."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None or not product.recounting:
        return False
    return counters_recount(product=product)


_asked_at = -FOLD_DEBOUNCE_SECONDS  # when this process last asked (monotonic seconds)


def fold_soon() -> None:
    """Ask for a fold, at most once per FOLD_DEBOUNCE_SECONDS across processes (the cache decides).

    This process asks the shared cache at most once per FOLD_DEBOUNCE_SECONDS too: with Redis
    a ``cache.add`` per ingestion request would be a network round trip per request (issue 10).
    """
    global _asked_at
    now = time.monotonic()
    if now - _asked_at < FOLD_DEBOUNCE_SECONDS:
        return
    _asked_at = now
    if cache.add(FOLD_DEBOUNCE_KEY, 1, timeout=FOLD_DEBOUNCE_SECONDS):
        fold_events.delay()
        fold_installs.delay()  # its own task: a slow installs fold never delays Feature Usage's
