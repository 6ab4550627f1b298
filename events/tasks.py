"""Celery tasks of the event stream: thin, they call ``events.partitions``."""

from __future__ import annotations

from celery import shared_task

from events.partitions import event_partitions_ensure, events_prune


# Idempotent and serialized by an advisory lock: two workers running it at once are harmless.
@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def maintain_event_partitions() -> dict:
    """Create the coming months' partitions, then drop the months past EVENT_RETENTION_DAYS."""
    created = event_partitions_ensure()
    pruned = events_prune()
    return {"created": created, "dropped": [partition.name for partition in pruned.dropped]}
