"""Celery tasks of Feature Usage: thin, they call the counter services in ``analytics.counters``.

At most one fold message waits in the queue. Whoever asks for a fold (the beat every
FEATURE_USAGE_FOLD_EVERY seconds, ingestion through ``fold_soon``) goes through
``fold_events.apply_async``, which sends a message only when it can claim the queue
(``fold_claim``: a Redis key with a TTL, beside the broker's queue). The task gives the
claim back as it starts, so while a long fold runs one more may wait, not one per tick
(issue 18: 337 queued and growing by one a second). The running fold keeps a waiting
message's claim alive between its steps; should a message be lost (Redis flushed), the
claim lapses after FOLD_CLAIM_SECONDS and the next tick sends one.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from functools import cache

import redis
from celery import Task, shared_task
from django.conf import settings
from django.db import connections

from analytics.counter_statistics import counter_statistics_refresh
from analytics.counters import counters_fold_all, counters_recount
from analytics.installs.fold import installs_fold_all
from events.models import Product
from events.services import product_recount_heartbeat, product_recount_status, products_recount_abandoned

logger = logging.getLogger(__name__)

# Ingestion asks for a fold at most once per this many seconds per process (the beat asks every second anyway).
FOLD_DEBOUNCE_SECONDS = 1
FOLD_CLAIM_KEY = "packedge:analytics:fold-queued"
# Longer than a fold step on the PERFORMANCE.md shape (minutes at worst), so that a waiting
# message's claim outlives the step the running fold is in.
FOLD_CLAIM_SECONDS = 300


@cache
def _claim_store(broker_url: str) -> redis.Redis | None:
    """The broker's Redis, or None in-process (eager tasks run at the call: nothing can queue)."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return redis.Redis.from_url(broker_url)
    return None


def fold_claim() -> bool:
    """Claim the queue for one fold message; False while another one is waiting (or unclaimed in time)."""
    store = _claim_store(settings.CELERY_BROKER_URL)
    if store is None:
        return True
    return bool(store.set(FOLD_CLAIM_KEY, 1, nx=True, ex=FOLD_CLAIM_SECONDS))


def fold_claim_release() -> None:
    """A fold message started: the next one may be sent."""
    store = _claim_store(settings.CELERY_BROKER_URL)
    if store is not None:
        store.delete(FOLD_CLAIM_KEY)


def fold_claim_keep() -> None:
    """While a fold runs: the message waiting behind it (if any) keeps its claim for another FOLD_CLAIM_SECONDS."""
    store = _claim_store(settings.CELERY_BROKER_URL)
    if store is not None:
        store.expire(FOLD_CLAIM_KEY, FOLD_CLAIM_SECONDS)  # no key, no effect


class FoldTask(Task):
    """A task that is sent only when ``fold_claim`` succeeds: ``apply_async`` answers None otherwise."""

    def apply_async(self, *args, **kwargs):
        if not fold_claim():
            return None
        return super().apply_async(*args, **kwargs)


# Idempotent: a fold claims only what is still pending, and one per product runs at a time
# (a fold that finds another running leaves the product to it). Not retried: the next tick folds.
@shared_task(base=FoldTask)
def fold_events() -> int:
    """Fold every product's pending events into its counters; returns how many were folded."""
    fold_claim_release()
    folded, _ = counters_fold_all(on_step=fold_claim_keep)
    if folded:
        counter_statistics_refresh()  # what autovacuum would analyze, now (analytics.counter_statistics)
    return folded


# Installs analytics keeps its own watermark and lock (analytics.installs.fold): on the beat
# schedule beside fold_events, so neither fold waits for the other.
@shared_task
def fold_installs() -> int:
    """Fold every product's pending lifecycle events into its Installs tables; returns how many."""
    return installs_fold_all()


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
    """Ask for a fold, at most once per FOLD_DEBOUNCE_SECONDS in this process; the claim decides across processes.

    Per process first: with Redis a claim per ingestion request would be a network round
    trip per request (issue 10).
    """
    global _asked_at
    now = time.monotonic()
    if now - _asked_at < FOLD_DEBOUNCE_SECONDS:
        return
    _asked_at = now
    fold_events.delay()
    # Its own task, so a slow installs fold never delays Feature Usage's; a message not taken within
    # 5 s is dropped (the next request or tick sends another), so the queue stays bounded.
    fold_installs.apply_async(expires=5)
