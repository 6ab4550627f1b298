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
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from itertools import accumulate, islice

from django.db import connection, transaction
from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import ExtractHour, TruncDate
from django.utils.timezone import now

from events.models import (
    BLOCK_DAYS,
    NO_PREVIOUS_DAY,
    RUNNING_COLUMNS,
    CounterState,
    DomainBlockCounter,
    DomainTotalBlock,
    Event,
    FeatureHourCounter,
    FeatureReachCounter,
    LicenseBlockCounter,
    LicenseTotalBlock,
    Product,
)

WRITE_BATCH_SIZE = 2000
COUNTER_MODELS = (
    FeatureHourCounter, LicenseBlockCounter, DomainBlockCounter, LicenseTotalBlock, DomainTotalBlock, FeatureReachCounter,
)
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
        for model in COUNTER_MODELS:
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
    _merge_entity(
        product=product, rows=licenses, entity="license_id", pairs_model=LicenseBlockCounter,
        totals_model=LicenseTotalBlock, kind=FeatureReachCounter.Kind.LICENSE, fresh=fresh,
    )
    # '' means the event named no domain: it is not a domain and gets no counter.
    domains = (
        counted.exclude(domain="")
        .order_by()
        .values_list("domain", "event", "feature", "local_day")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    )
    _merge_entity(
        product=product, rows=domains, entity="domain", pairs_model=DomainBlockCounter,
        totals_model=DomainTotalBlock, kind=FeatureReachCounter.Kind.DOMAIN, fresh=fresh,
    )


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
    _insert_rows(
        FeatureHourCounter,
        ("product", "day", "hour", "event", "feature", "count"),
        ((product.pk, _date_value(day), hour, event, feature, count) for (day, hour, event, feature), count in added.items()),
    )


def _merge_entity(
    *, product: Product, rows: Iterable[tuple], entity: str, pairs_model, totals_model, kind: str, fresh: bool
) -> None:
    """Fold (entity, event, feature, day, n) rows into the pair blocks, entity totals and reach points."""
    pairs: dict[tuple, list[int]] = {}
    totals: dict[tuple, list[int]] = {}
    days_used: dict[tuple, set[int]] = defaultdict(set)
    for key_entity, event, feature, day, n in rows:
        block, column = day_block(day)
        _add_day(pairs, (key_entity, event, feature, block), column, n)
        _add_day(totals, (key_entity, block), column, n)
        days_used[(key_entity, feature)].add(day.toordinal())
    if not pairs:
        return
    if fresh:
        reach = Counter()
        for (_, feature), days in days_used.items():
            for day, previous in _reach_points(days):
                reach[(feature, day, previous)] += 1
    else:
        # Before the pair blocks change: they tell which days each pair already used.
        reach = _reach_changes(product=product, pairs_model=pairs_model, entity=entity, days_used=days_used)
    _merge_blocks(model=pairs_model, key_fields=(entity, "event", "feature"), product=product, added=pairs, fresh=fresh)
    _merge_blocks(model=totals_model, key_fields=(entity,), product=product, added=totals, fresh=fresh)
    _merge_reach(product=product, kind=kind, changes=reach, fresh=fresh)


def _add_day(table: dict[tuple, list[int]], key: tuple, column: int, n: int) -> None:
    days = table.get(key)
    if days is None:
        days = table[key] = [0] * BLOCK_DAYS
    days[column] += n


def _reach_points(days: Iterable[int]) -> Iterable[tuple[int, int]]:
    """(day, previous day used) for each day a pair was used, as ordinals."""
    previous = NO_PREVIOUS_DAY.toordinal()
    for day in sorted(days):
        yield day, previous
        previous = day


def _used_days(row) -> Iterable[int]:
    """The days a block row counts events on, from its running totals."""
    before = 0
    first = row.block * BLOCK_DAYS
    for index, column in enumerate(RUNNING_COLUMNS):
        total = getattr(row, column)
        if total > before:
            yield first + index
        before = total


def _reach_changes(*, product: Product, pairs_model, entity: str, days_used: dict[tuple, set[int]]) -> Counter:
    known: dict[tuple, set[int]] = defaultdict(set)
    existing = pairs_model.objects.filter(
        product=product,
        feature__in={feature for _, feature in days_used},
        **{f"{entity}__in": {key_entity for key_entity, _ in days_used}},
    )
    for row in existing:
        key = (getattr(row, entity), row.feature)
        if key in days_used:
            known[key].update(_used_days(row))
    changes = Counter()
    for key, days in days_used.items():
        before = known.get(key, set())
        if days <= before:
            continue
        for day, previous in _reach_points(before):
            changes[(key[1], day, previous)] -= 1
        for day, previous in _reach_points(before | days):
            changes[(key[1], day, previous)] += 1
    return changes


def _merge_reach(*, product: Product, kind: str, changes: Counter, fresh: bool) -> None:
    changes = {key: delta for key, delta in changes.items() if delta}
    if not changes:
        return
    if not fresh:
        existing = FeatureReachCounter.objects.filter(
            product=product,
            kind=kind,
            day__in={date.fromordinal(day) for _, day, _ in changes},
            feature__in={feature for feature, _, _ in changes},
        )
        stale = []
        for row in existing:
            key = (row.feature, row.day.toordinal(), row.previous_day.toordinal())
            if key in changes:
                changes[key] += row.count
                stale.append(row.pk)
        FeatureReachCounter.objects.filter(pk__in=stale).delete()
    _insert_rows(
        FeatureReachCounter,
        ("product", "kind", "feature", "day", "previous_day", "count"),
        (
            (product.pk, kind, feature, _date_value(date.fromordinal(day)), _date_value(date.fromordinal(previous)), count)
            for (feature, day, previous), count in changes.items()
            if count
        ),
    )


def _merge_blocks(*, model, key_fields: tuple[str, ...], product: Product, added: dict[tuple, list[int]], fresh: bool) -> None:
    """Add per-day counts (keyed by ``key_fields`` + block) to ``model``'s rows of running totals."""
    running = {key: list(accumulate(days)) for key, days in added.items()}
    if not fresh:
        existing = model.objects.filter(
            product=product,
            block__in={key[-1] for key in added},
            **{f"{key_fields[0]}__in": {key[0] for key in added}},
        )
        stale = []
        for row in existing:
            key = (*(getattr(row, name) for name in key_fields), row.block)
            totals = running.get(key)
            if totals is not None:
                for index, column in enumerate(RUNNING_COLUMNS):
                    totals[index] += getattr(row, column)
                stale.append(row.pk)
        model.objects.filter(pk__in=stale).delete()
    _insert_rows(
        model,
        ("product", *key_fields, "block", *RUNNING_COLUMNS),
        ((product.pk, *key, *totals) for key, totals in running.items()),
    )


def batched(rows: Iterable[tuple], size: int) -> Iterable[list[tuple]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _date_value(day: date):
    return connection.ops.adapt_datefield_value(day)


def _insert_rows(model, fields: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """executemany of one prepared INSERT (pipelined by psycopg): bulk_create spends most of a
    rebuild preparing values one by one, and huge multi-row statements are slow to parse."""
    columns = [model._meta.get_field(name.removesuffix("_id")).column for name in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    column_list = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: several times faster again, which a rebuild over millions of events needs.
            with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({column_list}) VALUES (" + ", ".join(["%s"] * len(columns)) + ")"
        for chunk in batched(rows, WRITE_BATCH_SIZE):
            cursor.executemany(sql, chunk)
