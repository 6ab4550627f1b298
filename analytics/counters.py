"""Feature Usage counters: per-day aggregates kept beside the events.

Ingestion only inserts events. The counters of a product hold exactly its events
with an id at or below its watermark (``CounterState.folded_through``). A fold
passes the product's write barrier (``events_committed_through``: every id at or
below what it returns is committed, every later insert gets a higher id), then,
under a per-product lock, adds the events between the watermark and that id and
moves the watermark in the same transaction, so nothing is lost or counted twice.
A rebuild (time zone change) recounts everything up to the watermark, under the same lock.

Days and hours are local to the product's time zone. The grouping is done by the
database through the ORM (``AT TIME ZONE`` on PostgreSQL, Django's zoneinfo
functions on SQLite), so a rebuild over millions of events never loads them.
"""

from __future__ import annotations

import logging
import time
import uuid
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import accumulate, islice

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, ExtractHour, TruncDate
from django.utils.timezone import now

from analytics import sql as analytics_sql
from analytics.models import (
    BLOCK_DAYS,
    HOUR_COLUMNS,
    NO_PREVIOUS_DAY,
    RUNNING_COLUMNS,
    CounterState,
    DayHourCounter,
    DomainBlockCounter,
    DomainTotalBlock,
    FeatureDayCounter,
    FeatureHourCounter,
    FeatureReachCounter,
    LicenseBlockCounter,
    LicenseDayHours,
    LicenseDomainBlockCounter,
    LicenseTotalBlock,
)
from events.models import Event, Product
from events.selectors import events_committed_through, first_event_above
from events.services import product_recount_progress_set
from lib import sql as core_sql
from lib.locks import try_lock

logger = logging.getLogger("analytics.fold")

WRITE_BATCH_SIZE = 2000
# PostgreSQL advisory lock class of "a fold of this product is running" (the product id is the other half).
FOLD_LOCK = 0x666F6C64  # "fold"
COUNTER_MODELS = (
    FeatureHourCounter,
    FeatureDayCounter,
    DayHourCounter,
    LicenseDayHours,
    LicenseDomainBlockCounter,
    LicenseBlockCounter,
    DomainBlockCounter,
    LicenseTotalBlock,
    DomainTotalBlock,
    FeatureReachCounter,
)
READ_CHUNK_SIZE = 20000
# Events per committed step of a fold: a large backlog drains in steps, each shrinking the tail reads add.
# Large, because every step upserts the counter rows its days touch, whatever its size: on this
# machine a 10M backlog folds at 105,000 ev/s in 5M steps and 36,000 ev/s in 1M steps (README).
FOLD_CHUNK_EVENTS = 5_000_000
# Events per committed step of a time-zone recount: the same trade (progress moves once per step).
RECOUNT_CHUNK_EVENTS = FOLD_CHUNK_EVENTS
USE_POSTGRESQL_WRITE_PATHS = (
    True  # the database-specific write paths (COPY, additive upserts); tests compare them with the portable ones
)


BATCH_TABLE = "analytics_fold_batch"
DAY_BATCH_TABLE = "analytics_fold_batch_days"
DAY_BATCH_KEYS = ("license_id", "domain", "event", "feature", "day")
# Memory for one fold's grouping (per sort or hash, in the worker only) and for its temporary tables.
FOLD_WORK_MEM_MB = 256
FOLD_TEMP_BUFFERS_MB = 256
TEMP_BUFFERS_FLAG = "packedge_fold_temp_buffers"
# Which batch rows a counter takes: licenses only when the key matched a license; domains
# only when the event named one ('' is no domain and gets no counter).
WITH_LICENSE = {"required": ("license_id",)}
WITH_DOMAIN = {"nonblank": ("domain",)}
WITH_LICENSE_AND_DOMAIN = {"required": ("license_id",), "nonblank": ("domain",)}
ADDED_COUNTS = (
    (FeatureHourCounter, ("day", "hour", "event", "feature"), {}),
    (FeatureDayCounter, ("day", "event", "feature"), {}),
    (DayHourCounter, ("day", "hour"), {}),
)
ADDED_BLOCKS = (
    (LicenseBlockCounter, ("license_id", "event", "feature"), WITH_LICENSE),
    (LicenseTotalBlock, ("license_id",), WITH_LICENSE),
    (DomainBlockCounter, ("domain", "event", "feature"), WITH_DOMAIN),
    (DomainTotalBlock, ("domain",), WITH_DOMAIN),
    (LicenseDomainBlockCounter, ("license_id", "domain", "event", "feature"), WITH_LICENSE_AND_DOMAIN),
)
REACH_SOURCES = (
    ("license_id", LicenseBlockCounter, FeatureReachCounter.Kind.LICENSE, WITH_LICENSE),
    ("domain", DomainBlockCounter, FeatureReachCounter.Kind.DOMAIN, WITH_DOMAIN),
)


def day_block(day: date) -> tuple[int, int]:
    """(block, column index) of a day: blocks of 32 consecutive days."""
    return divmod(day.toordinal(), BLOCK_DAYS)


def unfolded_events(*, product: Product, through: int | None = None) -> QuerySet[Event]:
    """The product's events above its watermark: not in the counters yet (the tail a read adds).

    ``through``: the watermark the caller already read in its snapshot (``counted_product``
    annotates it), so a read that takes the tail several times asks for it once.
    """
    if through is None:
        through = CounterState.objects.filter(product=product).values_list("folded_through", flat=True).first() or 0
    return Event.objects.filter(product=product, id__gt=through)


def watermark_of_product():
    """The watermark as an expression on a Product queryset (0 before the first fold)."""
    return Coalesce(
        Subquery(CounterState.objects.filter(product=OuterRef("pk")).values("folded_through")[:1]), Value(0)
    )


@dataclass(frozen=True)
class FoldLag:
    """How far a product's counters are behind its events: the tail a read adds at query time."""

    events: int  # events above the watermark
    seconds: float  # since the first of them was received (0 with no tail)


def fold_lag(*, product: Product, at: datetime | None = None) -> FoldLag:
    """The product's unfolded events and the age of the first of them (two probes of the (product, id) index)."""
    tail = unfolded_events(product=product)
    first_received = tail.order_by("id").values_list("received_at", flat=True).first()
    if first_received is None:
        return FoldLag(events=0, seconds=0.0)
    age = ((at or now()) - first_received).total_seconds()
    return FoldLag(events=tail.count(), seconds=round(max(age, 0.0), 1))


def counters_fold(
    *, product: Product, chunk_events: int = FOLD_CHUNK_EVENTS, on_step: Callable[[], None] | None = None
) -> int:
    """Add the product's committed events above its watermark to its counters; returns how many.

    At most one fold per product runs: one that finds another running (the FOLD_LOCK
    try-lock) returns 0 at once, without waiting and without passing the write barrier;
    the running one takes whatever it leaves. ``on_step`` is called before each step
    (the worker keeps its claim on the queue alive with it). The worker's log gets a line
    per fold: what it folded and how far behind the product was before and after.
    """
    with try_lock(FOLD_LOCK, product.pk) as held:
        if not held:
            logger.info("fold %s: skipped, another fold of this product is running", product.public_id)
            return 0
        logging_on = logger.isEnabledFor(logging.INFO)
        before = fold_lag(product=product) if logging_on else None
        started = time.monotonic()
        folded = _fold_pending(product=product, chunk_events=chunk_events, on_step=on_step)
        if logging_on and (folded or before.events):
            after = fold_lag(product=product)
            logger.info(
                "fold %s: %d events in %.2f s; lag before %d events / %.1f s, after %d events / %.1f s",
                product.public_id,
                folded,
                time.monotonic() - started,
                before.events,
                before.seconds,
                after.events,
                after.seconds,
            )
        return folded


def _fold_pending(*, product: Product, chunk_events: int, on_step: Callable[[], None] | None) -> int:
    """The fold itself, once it holds FOLD_LOCK.

    The write barrier first (``events_committed_through``, its own short transaction):
    every id at or below ``through`` is committed. Then, in committed steps of at most
    ``chunk_events`` events, each under the CounterState row lock (which a recount or a
    rebuild takes too, so nothing counts an id twice), the next ids are added and the
    watermark moves past them, in the same transaction.
    """
    through = events_committed_through(product_id=product.pk)
    _ensure_state(product)
    folded = 0
    while True:
        if on_step is not None:
            on_step()
        with transaction.atomic():
            state = CounterState.objects.select_for_update().get(product=product)
            if state.folded_through >= through:
                return folded
            # Read under the lock: a time zone change committed before it is already the
            # recount's business, and the recount deletes and redoes whatever this adds.
            product = Product.objects.get(pk=product.pk)
            low = state.folded_through + 1
            upper = _chunk_end(product=product, low=low, high=through, events=chunk_events)
            _fold_range(product=product, ids=(low, upper))
            folded += Event.objects.filter(product=product, id__range=(low, upper)).count()
            state.folded_through = upper
            state.save(update_fields=["folded_through"])


def counters_fold_all(*, on_step: Callable[[], None] | None = None) -> tuple[int, int]:
    """Fold every product that has events above its watermark; returns (events, products).

    A product another fold is folding is left to it (and not counted).
    """
    through = Coalesce(
        Subquery(CounterState.objects.filter(product=OuterRef("pk")).values("folded_through")[:1]), Value(0)
    )
    # An index probe per product (first_event_above), never a scan of the events.
    pending = (
        Product.objects.annotate(through=through)
        .alias(next_event=first_event_above(through=OuterRef("through")))
        .filter(next_event__isnull=False)
    )
    folded = products = 0
    for product in pending:
        n = counters_fold(product=product, on_step=on_step)
        folded += n
        products += bool(n)
    return folded, products


def counters_rebuild(*, product: Product) -> None:
    """Recount the product's counters from all of its events in one transaction (operators, the demo)."""
    through = events_committed_through(product_id=product.pk)
    _ensure_state(product)
    with transaction.atomic():
        state = CounterState.objects.select_for_update().get(product=product)
        product = Product.objects.get(pk=product.pk)
        through = max(through, state.folded_through)
        for model in COUNTER_MODELS:
            model.objects.filter(product=product).delete()
        _count_into_counters(product=product, events=Event.objects.filter(product=product, id__lte=through), fresh=True)
        state.folded_through = through
        state.rebuilt_at = now()
        state.save(update_fields=["folded_through", "rebuilt_at"])
        product_recount_progress_set(product_id=product.pk, timezone=product.timezone, progress=None)


def counters_reach_repair(*, product: Product) -> int:
    """Recount the product's reach points from its pair blocks; returns how many points it has.

    The repair of data folded on PostgreSQL before issue 18's fix, which could lose a
    pair's later days of a block it used on day 0 (and so its licenses and domains in
    unfiltered answers). The pair blocks were always right, and every point follows
    from them: one statement per kind, under the fold lock, in one transaction per product.
    """
    _ensure_state(product)
    with transaction.atomic():
        CounterState.objects.select_for_update().get(product=product)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(core_sql.bulk_write_settings_sql(work_mem_mb=256))
            cursor.execute(analytics_sql.delete_product_rows_sql(FeatureReachCounter), {"product": product.pk})
            for entity, pairs_model, kind, _ in REACH_SOURCES:
                statement = analytics_sql.reach_points_from_blocks_sql(pairs_model, entity.removesuffix("_id"))
                cursor.execute(statement, {"product": product.pk, "kind": str(kind)})
        return FeatureReachCounter.objects.filter(product=product).count()


def counters_recount(*, product: Product, chunk_events: int = RECOUNT_CHUNK_EVENTS) -> bool:
    """Recount the product's counters in its current time zone, in committed chunks that show progress.

    First, under the fold lock: drop the counters, move the watermark to the committed
    events and take ownership (a token). Then each chunk of events (by id, up to that
    watermark) is added under the lock, like a fold, while folds keep adding new events
    in the new zone. Feature Usage answers 503 until the last chunk marks the product ready.
    Returns False when a newer recount (another time zone change) took over.
    """
    through = events_committed_through(product_id=product.pk)
    _ensure_state(product)
    token = uuid.uuid4().hex
    with transaction.atomic():
        state = CounterState.objects.select_for_update().get(product=product)
        product = Product.objects.get(pk=product.pk)
        zone = product.timezone
        through = max(through, state.folded_through)
        for model in COUNTER_MODELS:
            model.objects.filter(product=product).delete()
        state.recount_token = token
        state.folded_through = through
        state.save(update_fields=["recount_token", "folded_through"])
        counted = Event.objects.filter(product=product, id__lte=through)
        bounds = counted.aggregate(low=Min("id"), n=Count("id"))
        product_recount_progress_set(product_id=product.pk, timezone=zone, progress=0)
    low, high, total = bounds["low"], through, bounds["n"]
    done = 0
    while low is not None and low <= high:
        with transaction.atomic():
            state = CounterState.objects.select_for_update().get(product=product)
            product = Product.objects.get(pk=product.pk)
            if state.recount_token != token or product.timezone != zone:
                return False
            upper = _chunk_end(product=product, low=low, high=high, events=chunk_events)
            done += Event.objects.filter(product=product, id__range=(low, upper)).count()
            # Merged, never fresh: folds may have added new events in the new zone since the drop.
            _fold_range(product=product, ids=(low, upper))
            low = upper + 1
            if low <= high:
                product_recount_progress_set(
                    product_id=product.pk, timezone=zone, progress=min(99, done * 100 // max(total, 1))
                )
    with transaction.atomic():
        state = CounterState.objects.select_for_update().get(product=product)
        if state.recount_token != token:
            return False
        state.recount_token = ""
        state.rebuilt_at = now()
        state.save(update_fields=["recount_token", "rebuilt_at"])
        return product_recount_progress_set(product_id=product.pk, timezone=zone, progress=None)


def _ensure_state(product: Product) -> None:
    CounterState.objects.get_or_create(product=product)


def _chunk_end(*, product: Product, low: int, high: int, events: int) -> int:
    """The highest id of the next ``events`` events of the product from ``low`` (ids are shared by every product)."""
    nth = list(
        Event.objects.filter(product=product, id__gte=low, id__lte=high)
        .order_by("id")
        .values_list("id", flat=True)[events - 1 : events]
    )
    return nth[0] if nth else high


def _fold_range(*, product: Product, ids: tuple[int, int]) -> None:
    """Add the product's events with ids in ``ids`` (inclusive) to its counters."""
    if _adds_in_database():
        _fold_in_database(product=product, ids=ids)
    else:
        _count_into_counters(product=product, events=Event.objects.filter(product=product, id__range=ids))


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
        product=product,
        rows=licenses,
        entity="license_id",
        pairs_model=LicenseBlockCounter,
        totals_model=LicenseTotalBlock,
        kind=FeatureReachCounter.Kind.LICENSE,
        fresh=fresh,
    )
    # What a license_id= answer needs beyond the pair blocks: its hours and its domains.
    license_hours: dict[tuple, list[int]] = {}
    for license_id, day, hour, n in (
        counted.filter(license__isnull=False)
        .order_by()
        .values_list("license_id", "local_day", "local_hour")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    ):
        _add_to_column(license_hours, (license_id, day), hour, n, width=len(HOUR_COLUMNS))
    _merge_columns(
        model=LicenseDayHours,
        key_fields=("license_id", "day"),
        columns=HOUR_COLUMNS,
        product=product,
        added=license_hours,
        fresh=fresh,
    )
    license_domains: dict[tuple, list[int]] = {}
    for license_id, domain, event, feature, day, n in (
        counted.filter(license__isnull=False)
        .exclude(domain="")
        .order_by()
        .values_list("license_id", "domain", "event", "feature", "local_day")
        .annotate(n=Count("id"))
        .iterator(chunk_size=READ_CHUNK_SIZE)
    ):
        block, column = day_block(day)
        _add_to_column(license_domains, (license_id, domain, event, feature, block), column, n)
    if license_domains:
        _merge_blocks(
            model=LicenseDomainBlockCounter,
            key_fields=("license_id", "domain", "event", "feature"),
            product=product,
            added=license_domains,
            fresh=fresh,
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
        product=product,
        rows=domains,
        entity="domain",
        pairs_model=DomainBlockCounter,
        totals_model=DomainTotalBlock,
        kind=FeatureReachCounter.Kind.DOMAIN,
        fresh=fresh,
    )


def _fold_in_database(*, product: Product, ids: tuple[int, int]) -> None:
    """PostgreSQL: the events of the id range grouped once by the database, then one additive upsert per counter table.

    The reach points too: the days each (entity, feature) pair used, before and with
    the batch, compared with window functions, before the pair blocks change.
    """
    low, high = ids
    _prepare_session()
    product_param = {"product": product.pk}
    with connection.cursor() as cursor:
        cursor.execute(analytics_sql.fold_transaction_settings_sql(work_mem_mb=FOLD_WORK_MEM_MB))
        group = analytics_sql.events_batch_table_sql(Event, batch_table=BATCH_TABLE)
        cursor.execute(group, {"zone": product.timezone, "product": product.pk, "low": low, "high": high})
        # The day-keyed counters need no hour: grouped again, they read a table several times smaller.
        statement = analytics_sql.coarser_batch_table_sql(DAY_BATCH_TABLE, source=BATCH_TABLE, keys=DAY_BATCH_KEYS)
        cursor.execute(statement)
        # The joins below are planned from these tables' sizes.
        cursor.execute(analytics_sql.analyze_sql(BATCH_TABLE))
        cursor.execute(analytics_sql.analyze_sql(DAY_BATCH_TABLE))
        # Before the pair blocks change: they tell which days each pair already used.
        for entity, pairs_model, kind, rows in REACH_SOURCES:
            statement = analytics_sql.add_batch_reach_points_sql(
                pairs_model, entity, batch_table=DAY_BATCH_TABLE, **rows
            )
            cursor.execute(statement, {"product": product.pk, "kind": str(kind)})
        cursor.execute(analytics_sql.delete_zero_counts_sql(FeatureReachCounter), product_param)
        for model, keys, rows in ADDED_COUNTS:
            source = BATCH_TABLE if "hour" in keys else DAY_BATCH_TABLE
            cursor.execute(analytics_sql.add_batch_counts_sql(model, keys, batch_table=source, **rows), product_param)
        statement = analytics_sql.add_batch_hour_columns_sql(
            LicenseDayHours, ("license_id", "day"), batch_table=BATCH_TABLE, hour_fields=HOUR_COLUMNS, **WITH_LICENSE
        )
        cursor.execute(statement, product_param)
        for model, keys, rows in ADDED_BLOCKS:
            statement = analytics_sql.add_batch_running_blocks_sql(model, keys, batch_table=DAY_BATCH_TABLE, **rows)
            cursor.execute(statement, product_param)
        # Dropped at once, not only at commit: an enclosing transaction may fold several batches.
        cursor.execute(core_sql.drop_table_sql(DAY_BATCH_TABLE))
        cursor.execute(core_sql.drop_table_sql(BATCH_TABLE))


def _prepare_session() -> None:
    """Once per database session, before its first temporary table: temp_buffers can only be set then.

    With the default (8 MB) a large batch table spills to disk between the statements that read it.
    """
    if getattr(connection, TEMP_BUFFERS_FLAG, False):
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(analytics_sql.temp_buffers_sql(megabytes=FOLD_TEMP_BUFFERS_MB))
    except DatabaseError:
        pass  # this session already used a temporary table: it keeps the smaller buffers
    setattr(connection, TEMP_BUFFERS_FLAG, True)


def _merge_hours(*, product: Product, rows: Iterable[tuple], fresh: bool) -> None:
    hours: dict[tuple, int] = defaultdict(int)
    days: dict[tuple, int] = defaultdict(int)
    day_hours: dict[tuple, int] = defaultdict(int)
    for day, hour, event, feature, n in rows:
        hours[(day, hour, event, feature)] += n
        days[(day, event, feature)] += n
        day_hours[(day, hour)] += n
    _merge_counts(
        model=FeatureHourCounter,
        key_fields=("day", "hour", "event", "feature"),
        product=product,
        added=hours,
        fresh=fresh,
    )
    _merge_counts(
        model=FeatureDayCounter, key_fields=("day", "event", "feature"), product=product, added=days, fresh=fresh
    )
    _merge_counts(model=DayHourCounter, key_fields=("day", "hour"), product=product, added=day_hours, fresh=fresh)


def _merge_counts(
    *, model, key_fields: tuple[str, ...], product: Product, added: dict[tuple, int], fresh: bool
) -> None:
    """Add counts keyed by ``key_fields`` to ``model``'s ``count``: one column merged as any other."""
    _merge_columns(
        model=model,
        key_fields=key_fields,
        columns=("count",),
        product=product,
        added={key: [count] for key, count in added.items()},
        fresh=fresh,
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
        _add_to_column(pairs, (key_entity, event, feature, block), column, n)
        _add_to_column(totals, (key_entity, block), column, n)
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


def _add_to_column(table: dict[tuple, list[int]], key: tuple, column: int, n: int, *, width: int = BLOCK_DAYS) -> None:
    days = table.get(key)
    if days is None:
        days = table[key] = [0] * width
    days[column] += n


def _reach_points(days: Iterable[int]) -> Iterable[tuple[int, int]]:
    """(day, previous day used) for each day a pair was used, as ordinals."""
    previous = NO_PREVIOUS_DAY.toordinal()
    for day in sorted(days):
        yield day, previous
        previous = day


def _used_days(block: int, totals: list[int]) -> Iterable[int]:
    """The days a block row counts events on, from its running totals."""
    before = 0
    first = block * BLOCK_DAYS
    for index, total in enumerate(totals):
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
    for key_entity, feature, block, *totals in existing.values_list(entity, "feature", "block", *RUNNING_COLUMNS):
        key = (key_entity, feature)
        if key in days_used:
            known[key].update(_used_days(block, totals))
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
        for pk, feature, day, previous, count in existing.values_list("pk", "feature", "day", "previous_day", "count"):
            key = (feature, day.toordinal(), previous.toordinal())
            if key in changes:
                changes[key] += count
                stale.append(pk)
        FeatureReachCounter.objects.filter(pk__in=stale).delete()
    _insert_rows(
        FeatureReachCounter,
        ("product", "kind", "feature", "day", "previous_day", "count"),
        (
            (
                product.pk,
                kind,
                feature,
                _date_value(date.fromordinal(day)),
                _date_value(date.fromordinal(previous)),
                count,
            )
            for (feature, day, previous), count in changes.items()
            if count
        ),
    )


def _merge_blocks(
    *, model, key_fields: tuple[str, ...], product: Product, added: dict[tuple, list[int]], fresh: bool
) -> None:
    """Add per-day counts (keyed by ``key_fields`` + block) to ``model``'s rows of running totals.

    Running totals add up column by column, so they merge as any other columns do.
    """
    running = {key: list(accumulate(days)) for key, days in added.items()}
    _merge_columns(
        model=model,
        key_fields=(*key_fields, "block"),
        columns=RUNNING_COLUMNS,
        product=product,
        added=running,
        fresh=fresh,
    )


def _merge_columns(
    *,
    model,
    key_fields: tuple[str, ...],
    columns: tuple[str, ...],
    product: Product,
    added: dict[tuple, list[int]],
    fresh: bool,
) -> None:
    """Add ``added`` (key → one number per column of ``columns``) to ``model``'s rows, column by column.

    The key's first and last fields narrow the read of existing rows.
    """
    if not added:
        return
    rows = ((product.pk, *map(_key_value, key), *values) for key, values in added.items())
    if not fresh and _adds_in_database():
        _upsert_adding(model, ("product", *key_fields), columns, rows)
        return
    if not fresh:
        first, last = key_fields[0], key_fields[-1]
        existing = model.objects.filter(
            product=product,
            **{f"{last}__in": {key[-1] for key in added}, f"{first}__in": {key[0] for key in added}},
        )
        stale = []
        width = len(key_fields)
        for pk, *values in existing.values_list("pk", *key_fields, *columns):
            sums = added.get(tuple(values[:width]))
            if sums is not None:
                for index, value in enumerate(values[width:]):
                    sums[index] += value
                stale.append(pk)
        model.objects.filter(pk__in=stale).delete()
    _insert_rows(model, ("product", *key_fields, *columns), rows)


def _adds_in_database() -> bool:
    return connection.vendor == "postgresql" and USE_POSTGRESQL_WRITE_PATHS


def _upsert_adding(model, key_fields: tuple[str, ...], added_fields: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """PostgreSQL: INSERT … ON CONFLICT DO UPDATE SET column = column + excluded.column.

    A fold then writes its rows without first reading the rows it adds to (the
    portable read-modify-write under the same lock gives the same counters).
    """
    sql = core_sql.additive_values_upsert_sql(
        model, key_fields=[name.removesuffix("_id") for name in key_fields], added_columns=added_fields
    )
    with connection.cursor() as cursor:
        for chunk in batched(rows, WRITE_BATCH_SIZE):
            cursor.executemany(sql, chunk)


def batched(rows: Iterable[tuple], size: int) -> Iterable[list[tuple]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _date_value(day: date):
    return connection.ops.adapt_datefield_value(day)


def _key_value(value):
    return _date_value(value) if isinstance(value, date) else value


def _insert_rows(model, fields: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """executemany of one prepared INSERT (pipelined by psycopg): bulk_create spends most of a
    rebuild preparing values one by one, and huge multi-row statements are slow to parse."""
    field_names = [name.removesuffix("_id") for name in fields]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and USE_POSTGRESQL_WRITE_PATHS:
            # COPY: several times faster again, which a rebuild over millions of events needs.
            with cursor.cursor.copy(core_sql.copy_from_stdin_sql(model, field_names)) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = core_sql.insert_values_sql(model, field_names)
        for chunk in batched(rows, WRITE_BATCH_SIZE):
            cursor.executemany(sql, chunk)
