"""Feature Usage counters: per-day aggregates kept beside the events.

Ingestion only inserts events (``rollup_batch`` NULL). A fold, under a per-product
lock, claims the committed pending rows with a new batch number and adds exactly
those rows to the counters; rows other transactions are still inserting stay NULL
and are folded next time, so nothing is lost or counted twice. A rebuild (time
zone change) recounts everything already folded, under the same lock.

Days and hours are local to the product's time zone. The grouping is done by the
database through the ORM (``AT TIME ZONE`` on PostgreSQL, Django's zoneinfo
functions on SQLite), so a rebuild over millions of events never loads them.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import ExtractHour, TruncDate
from django.utils.timezone import now

from events.models import (
    BLOCK_DAYS,
    DAY_COLUMNS,
    CounterState,
    DomainBlockCounter,
    Event,
    FeatureHourCounter,
    LicenseBlockCounter,
    Product,
)

WRITE_BATCH_SIZE = 2000
READ_CHUNK_SIZE = 20000


def day_block(day: date) -> tuple[int, int]:
    """(block, column index) of a day: blocks of 32 consecutive days."""
    return divmod(day.toordinal(), BLOCK_DAYS)


def counters_pending(*, product: Product) -> bool:
    """Cheap: answered from the partial index on pending events."""
    return Event.objects.filter(product=product, rollup_batch__isnull=True).exists()


def counters_fold(*, product: Product) -> int:
    """Add the product's pending events to its counters; returns how many events were claimed."""
    if not counters_pending(product=product):
        return 0
    _ensure_state(product)
    with transaction.atomic():
        state = CounterState.objects.select_for_update().get(product=product)
        batch, claimed = _claim_pending(product=product, state=state)
        if claimed:
            _count_into_counters(product=product, events=Event.objects.filter(product=product, rollup_batch=batch))
    return claimed


def counters_rebuild(*, product: Product) -> None:
    """Recount the product's counters from all of its events (after a time zone change)."""
    _ensure_state(product)
    with transaction.atomic():
        state = CounterState.objects.select_for_update().get(product=product)
        _claim_pending(product=product, state=state)
        for model in (FeatureHourCounter, LicenseBlockCounter, DomainBlockCounter):
            model.objects.filter(product=product).delete()
        _count_into_counters(
            product=product, events=Event.objects.filter(product=product, rollup_batch__isnull=False), fresh=True
        )
        state.rebuilt_at = now()
        state.save(update_fields=["rebuilt_at"])


def _ensure_state(product: Product) -> None:
    CounterState.objects.get_or_create(product=product)


def _claim_pending(*, product: Product, state: CounterState) -> tuple[int, int]:
    pending = Event.objects.filter(product=product, rollup_batch__isnull=True)
    bounds = pending.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return state.last_batch, 0
    state.last_batch += 1
    state.save(update_fields=["last_batch"])
    # Only rows committed before this statement are visible to it: the id range
    # bounds the claim, the batch number marks exactly what this fold counts.
    claimed = pending.filter(id__range=(bounds["low"], bounds["high"])).update(rollup_batch=state.last_batch)
    return state.last_batch, claimed


def _count_into_counters(*, product: Product, events: QuerySet[Event], fresh: bool = False) -> None:
    zone = zoneinfo.ZoneInfo(product.timezone)
    counted = events.filter(is_system=False).annotate(
        local_day=TruncDate("occurred_at", tzinfo=zone), local_hour=ExtractHour("occurred_at", tzinfo=zone)
    )
    hours = (
        counted.order_by()
        .values_list("local_day", "local_hour", "event", "feature")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    )
    _merge_hours(product=product, rows=hours, fresh=fresh)
    licenses = (
        counted.filter(license__isnull=False)
        .order_by()
        .values_list("license_id", "event", "feature", "local_day")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    )
    _merge_blocks(model=LicenseBlockCounter, entity="license_id", product=product, rows=licenses, fresh=fresh)
    # '' means the event named no domain: it is not a domain and gets no counter.
    domains = (
        counted.exclude(domain="")
        .order_by()
        .values_list("domain", "event", "feature", "local_day")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    )
    _merge_blocks(model=DomainBlockCounter, entity="domain", product=product, rows=domains, fresh=fresh)


def _merge_hours(*, product: Product, rows: Iterable[tuple], fresh: bool) -> None:
    added: dict[tuple, int] = defaultdict(int)
    for day, hour, event, feature, n in rows:
        added[(day, hour, event, feature)] += n
    if not added:
        return
    if not fresh:
        existing = FeatureHourCounter.objects.filter(product=product, day__in={key[0] for key in added})
        stale = []
        for row in existing:
            key = (row.day, row.hour, row.event, row.feature)
            if key in added:
                added[key] += row.count
                stale.append(row.pk)
        FeatureHourCounter.objects.filter(pk__in=stale).delete()
    FeatureHourCounter.objects.bulk_create(
        (
            FeatureHourCounter(product=product, day=day, hour=hour, event=event, feature=feature, count=count)
            for (day, hour, event, feature), count in added.items()
        ),
        batch_size=WRITE_BATCH_SIZE,
    )


def _merge_blocks(*, model, entity: str, product: Product, rows: Iterable[tuple], fresh: bool) -> None:
    """Fold (entity, event, feature, day, n) rows into 32-day block rows of ``model``."""
    added: dict[tuple, list[int]] = {}
    for key_entity, event, feature, day, n in rows:
        block, column = day_block(day)
        key = (key_entity, event, feature, block)
        days = added.get(key)
        if days is None:
            days = added[key] = [0] * BLOCK_DAYS
        days[column] += n
    if not added:
        return
    if not fresh:
        existing = model.objects.filter(
            product=product,
            block__in={key[3] for key in added},
            **{f"{entity}__in": {key[0] for key in added}},
        )
        stale = []
        for row in existing:
            key = (getattr(row, entity), row.event, row.feature, row.block)
            days = added.get(key)
            if days is not None:
                for index, column in enumerate(DAY_COLUMNS):
                    days[index] += getattr(row, column)
                stale.append(row.pk)
        model.objects.filter(pk__in=stale).delete()
    model.objects.bulk_create(
        (
            model(
                product=product,
                event=event,
                feature=feature,
                block=block,
                **{entity: key_entity},
                **dict(zip(DAY_COLUMNS, days, strict=True)),
            )
            for (key_entity, event, feature, block), days in added.items()
        ),
        batch_size=WRITE_BATCH_SIZE,
    )
