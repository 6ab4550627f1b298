"""Feature Usage counters: per-day aggregates kept beside the events.

Ingestion only inserts events. The counters of a product hold exactly its events
with an id at or below its watermark (``CounterState.folded_through``). A fold
passes the product's write barrier (``events_committed_through``: every id at or
below what it returns is committed, every later insert gets a higher id), then,
under a per-product lock, adds the events between the watermark and that id and
moves the watermark in the same transaction, so nothing is lost or counted twice.
A rebuild (time zone change) recounts everything up to the watermark, under the same lock.

Days and hours are local to the product's time zone. The grouping is done by the
database (``AT TIME ZONE`` on PostgreSQL, Django's zoneinfo functions on SQLite), so
a fold or a rebuild over millions of events never loads them. Folds, recounts and
rebuilds all count with the same statements (``analytics.sql``) on both databases:
there is no second way of counting to disagree with the first (issue 18, item 6).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.timezone import now

from analytics import sql as analytics_sql
from analytics.models import (
    BLOCK_DAYS,
    HOUR_COLUMNS,
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
# Events per committed step of a fold: a large backlog drains in steps, each shrinking the tail reads add.
# Large, because every step upserts the counter rows its days touch, whatever its size: on this
# machine a 10M backlog folds at 105,000 ev/s in 5M steps and 36,000 ev/s in 1M steps (README).
FOLD_CHUNK_EVENTS = 5_000_000
# Events per committed step of a time-zone recount: the same trade (progress moves once per step).
RECOUNT_CHUNK_EVENTS = FOLD_CHUNK_EVENTS


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
        through = folded_through(product=product)
    return Event.objects.filter(product=product, id__gt=through)


def folded_through(*, product: Product) -> int:
    """The product's watermark: every event at or below it is in the counters (0 before the first fold)."""
    return CounterState.objects.filter(product=product).values_list("folded_through", flat=True).first() or 0


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
        # The fold's statements, into empty counters: one way of counting (issue 18, item 6).
        low = 1
        while low <= through:
            upper = _chunk_end(product=product, low=low, high=through, events=RECOUNT_CHUNK_EVENTS)
            _fold_range(product=product, ids=(low, upper))
            low = upper + 1
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
    """Add the product's events with ids in ``ids`` (inclusive) to its counters: the same statements on both databases."""
    _fold_in_database(product=product, ids=ids)


def _fold_in_database(*, product: Product, ids: tuple[int, int]) -> None:
    """The events of the id range grouped once by the database, then one additive upsert per counter table.

    The reach points too: the days each (entity, feature) pair used, before and with
    the batch, compared with window functions, before the pair blocks change. The same
    statements on PostgreSQL and SQLite (``analytics.sql`` renders the few fragments that
    differ); PostgreSQL's settings and ANALYZE only where they exist.
    """
    low, high = ids
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        _prepare_session()
    product_param = {"product": product.pk}
    with connection.cursor() as cursor:
        if postgresql:
            cursor.execute(analytics_sql.fold_transaction_settings_sql(work_mem_mb=FOLD_WORK_MEM_MB))
        group = analytics_sql.events_batch_table_sql(Event, batch_table=BATCH_TABLE)
        cursor.execute(group, {"zone": product.timezone, "product": product.pk, "low": low, "high": high})
        # The day-keyed counters need no hour: grouped again, they read a table several times smaller.
        statement = analytics_sql.coarser_batch_table_sql(DAY_BATCH_TABLE, source=BATCH_TABLE, keys=DAY_BATCH_KEYS)
        cursor.execute(statement)
        if postgresql:  # the joins below are planned from these tables' sizes
            cursor.execute(core_sql.analyze_sql(BATCH_TABLE))
            cursor.execute(core_sql.analyze_sql(DAY_BATCH_TABLE))
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
