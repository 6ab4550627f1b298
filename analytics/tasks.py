"""Celery tasks of Feature Usage: thin, they call the counter services in ``analytics.counters``."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from analytics.counters import counters_fold_all, counters_recount
from events.models import Product
from events.services import product_recount_heartbeat, product_recount_status, products_recount_abandoned

logger = logging.getLogger(__name__)

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


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def recount_product(self, product_id: int) -> bool:
    """Recount one product's counters in its current time zone (after a time zone change)."""
    product = Product.objects.filter(pk=product_id).first()
    if product is None or not product.recounting:
        return False
    if product_recount_status(product, stale_seconds=settings.RECOUNT_STALE_SECONDS) == "running":
        return False  # a duplicate (the sweep's, a redelivery): another worker is on it right now
    if self.request.is_eager:  # in the caller's process (no broker): no worker to lose
        return counters_recount(product=product)
    with _heartbeat(product_id):
        return counters_recount(product=product)


@contextmanager
def _heartbeat(product_id: int):
    """Tell the sweep, every third of RECOUNT_STALE_SECONDS, that this worker is still on the recount.

    A thread, because one step of a recount can take longer than the staleness window
    (a step is up to RECOUNT_CHUNK_EVENTS events): progress alone would look like death.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RECOUNT_STALE_SECONDS / 3):
                try:
                    product_recount_heartbeat(product_id=product_id)
                except Exception:
                    logger.warning("recount heartbeat of product %s failed", product_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"recount-heartbeat-{product_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@shared_task
def sweep_abandoned_recounts() -> int:
    """Enqueue again each recount left with no worker (its worker died, or Redis lost the message).

    The recount's state lives in the database (``Product.recount_progress``), so a change
    made while Redis was down, or a recount whose worker was killed, is found here once a
    worker and its beat are back; returns how many were enqueued.
    """
    ids = products_recount_abandoned(stale_seconds=settings.RECOUNT_STALE_SECONDS)
    for product_id in ids:
        logger.warning("recount of product %s has no worker: enqueued again", product_id)
        recount_product.delay(product_id)
    return len(ids)


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
