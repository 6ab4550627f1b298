"""The installs fold: the worker adds the product's lifecycle events above its watermark to the installs tables.

Its own watermark and lock (``InstallState``), beside Feature Usage's: lifecycle events
are a small part of the stream, so the fold reads only them (by event name) and
applies them in Python, in id order, with the rules of ``lifecycle``, to the rows of
the sites they name. Each step is one transaction that moves the watermark with the
rows it changed, so nothing is lost or counted twice. Ingestion is not touched.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from analytics.installs.lifecycle import (
    DAY_COLUMNS,
    LIFECYCLE_EVENTS,
    Changes,
    LifecycleEvent,
    Site,
    apply_event,
)
from analytics.installs.models import (
    UNKNOWN_AGE,
    InstallActiveCount,
    InstallDay,
    InstallSite,
    InstallState,
    Uninstall,
    UninstallDayCount,
)
from events.models import Event, Product
from events.selectors import events_committed_through, first_event_above
from lib import sql as core_sql

# Lifecycle events per committed step: a large backlog drains in steps that each shrink the tail.
FOLD_STEP_EVENTS = 20000
# SITE_FIELDS as the insert names them (the license by its field name).
SITE_FIELDS_COLUMNS = (
    "active",
    "first_installed_at",
    "installed_at",
    "last_event",
    "last_event_at",
    "last_event_id",
    "installs",
    "uninstalls",
    "license",
    "license_key",
    "php",
    "platform",
    "plugins",
)
SITE_FIELDS = (
    "active",
    "first_installed_at",
    "installed_at",
    "last_event",
    "last_event_at",
    "last_event_id",
    "installs",
    "uninstalls",
    "license_id",
    "license_key",
    "php",
    "platform",
    "plugins",
)


def lifecycle_events(*, product: Product) -> QuerySet[Event]:
    return Event.objects.filter(product=product, event__in=LIFECYCLE_EVENTS)


def as_lifecycle_events(events: QuerySet[Event], limit: int | None = None) -> Iterable[LifecycleEvent]:
    """The events as LifecycleEvent values, in id order (the first ``limit`` of them)."""
    rows = events.order_by("id").values_list(
        "id", "event", "domain", "occurred_at", "properties", "license_id", "license_key"
    )
    if limit is not None:
        rows = rows[:limit]
    for row in rows.iterator(chunk_size=2000):
        yield LifecycleEvent(*row)


def sites_of(*, product: Product, domains: Iterable[str]) -> dict[str, Site]:
    """The stored sites among ``domains``, as lifecycle ``Site`` values."""
    sites = {}
    wanted = list(set(domains))
    for start in range(0, len(wanted), 1000):
        for row in InstallSite.objects.filter(product=product, domain__in=wanted[start : start + 1000]):
            sites[row.domain] = Site(domain=row.domain, pk=row.pk, **{name: getattr(row, name) for name in SITE_FIELDS})
    return sites


def apply_events(*, product: Product, events: list[LifecycleEvent], zone) -> tuple[dict[str, Site], Changes]:
    """Apply ``events`` (id order) to the stored state of their sites: the sites after, and the changes."""
    sites = sites_of(product=product, domains=(event.domain for event in events if event.domain))
    changes = Changes()
    for event in events:
        site = apply_event(sites.get(event.domain), event, changes, zone=zone)
        if site is not None:
            sites[event.domain] = site
    return sites, changes


def installs_fold(*, product: Product, step_events: int = FOLD_STEP_EVENTS) -> int:
    """Fold the product's committed lifecycle events above its watermark; returns how many."""
    through = events_committed_through(product_id=product.pk)
    InstallState.objects.get_or_create(product=product, defaults={"timezone": product.timezone})
    folded = 0
    while True:
        with transaction.atomic():
            state = InstallState.objects.select_for_update().get(product=product)
            product = Product.objects.get(pk=product.pk)
            if state.timezone != product.timezone:
                # The day rows are in the old zone: count everything again in the new one.
                _drop(product)
                state.folded_through, state.without_site, state.timezone = 0, 0, product.timezone
            if state.folded_through >= through:
                state.save()
                return folded
            events = list(
                as_lifecycle_events(
                    lifecycle_events(product=product).filter(id__gt=state.folded_through, id__lte=through),
                    limit=step_events,
                )
            )
            if events:
                sites, changes = apply_events(product=product, events=events, zone=zoneinfo.ZoneInfo(product.timezone))
                _write(product, sites, changes)
                state.without_site += changes.without_site
            full_step = len(events) == step_events
            state.folded_through = events[-1].id if full_step else through
            state.save()
            folded += len(events)


def installs_fold_all() -> int:
    """Fold every product with lifecycle events above its installs watermark; returns how many events."""
    through = Coalesce(
        Subquery(InstallState.objects.filter(product=OuterRef("pk")).values("folded_through")[:1]), Value(0)
    )
    zone = Subquery(InstallState.objects.filter(product=OuterRef("pk")).values("timezone")[:1])
    pending = (
        Product.objects.annotate(through=through, state_zone=zone)
        # An index probe per product (first_event_above), never a scan of the events.
        .alias(next_event=first_event_above(through=OuterRef("through")))
        .filter(
            # Any event above the watermark, not only lifecycle ones: the fold moves the watermark
            # past the others too, so this probe (and a read's tail) never rescan them.
            Q(next_event__isnull=False) | (Q(state_zone__isnull=False) & ~Q(state_zone=F("timezone")))
        )
    )
    return sum(installs_fold(product=product) for product in pending)


def installs_rebuild(*, product: Product) -> int:
    """Count the product's installs again from all its lifecycle events (operators, the demo)."""
    with transaction.atomic():
        state, _ = InstallState.objects.select_for_update().get_or_create(product=product)
        _drop(product)
        state.folded_through, state.without_site, state.timezone = 0, 0, product.timezone
        state.save()
    return installs_fold(product=product)


def _drop(product: Product) -> None:
    for model in (InstallSite, InstallDay, InstallActiveCount, Uninstall, UninstallDayCount):
        model.objects.filter(product=product).delete()


def _write(product: Product, sites: dict[str, Site], changes: Changes) -> None:
    """Write the changed sites and add the changes to the day and count rows (under the state's lock)."""
    changed = [site for site in sites.values() if site.changed]
    # Replaced rather than updated: a bulk_update of a few thousand rows builds CASE
    # expressions that cost seconds, a DELETE by primary key and one INSERT cost milliseconds.
    stored = [site.domain for site in changed if site.pk]
    for start in range(0, len(stored), 1000):
        InstallSite.objects.filter(product=product, domain__in=stored[start : start + 1000]).delete()
    _insert(
        InstallSite,
        ("product", "domain", *SITE_FIELDS_COLUMNS),
        [
            (
                product.pk,
                site.domain,
                site.active,
                _when(site.first_installed_at),
                _when(site.installed_at),
                site.last_event,
                _when(site.last_event_at),
                site.last_event_id,
                site.installs,
                site.uninstalls,
                site.license_id,
                site.license_key,
                site.php,
                site.platform,
                json.dumps(site.plugins),
            )
            for site in changed
        ],
    )
    days = {day: values for day, values in changes.days.items() if any(values)}
    existing = InstallDay.objects.filter(product=product, day__in=list(days))
    for day, *stored_values in existing.values_list("day", *DAY_COLUMNS):
        days[day] = [added + stored for added, stored in zip(days[day], stored_values, strict=True)]
    existing.delete()
    _insert(
        InstallDay,
        ("product", "day", *DAY_COLUMNS),
        [(product.pk, _when(day), *values) for day, values in days.items()],
    )
    counts = {key: delta for key, delta in changes.counts.items() if delta}
    by_kind: dict[str, list[str]] = {}
    for kind, value in counts:
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for start in range(0, len(values), 500):
            rows = InstallActiveCount.objects.filter(product=product, kind=kind, value__in=values[start : start + 500])
            for value, sites in rows.values_list("value", "sites"):
                counts[(kind, value)] += sites
            rows.delete()
    _insert(
        InstallActiveCount,
        ("product", "kind", "value", "sites"),
        [(product.pk, kind, value, sites) for (kind, value), sites in counts.items() if sites],
    )
    # The rows of the touched (day, reason) pairs are read, merged, deleted and written again, all of them.
    uninstall_counts = uninstall_day_counts(changes.uninstalls)
    reasons_by_day: dict = {}
    for day, reason, _ in uninstall_counts:
        reasons_by_day.setdefault(day, set()).add(reason)
    for day, reasons in reasons_by_day.items():
        existing = UninstallDayCount.objects.filter(product=product, day=day, reason__in=list(reasons))
        for reason, age, n, with_feedback in existing.values_list(
            "reason", "days_installed", "uninstalls", "with_feedback"
        ):
            merged = uninstall_counts.setdefault((day, reason, age), [0, 0])
            merged[0] += n
            merged[1] += with_feedback
        existing.delete()
    _insert(
        UninstallDayCount,
        ("product", "day", "reason", "days_installed", "uninstalls", "with_feedback"),
        [(product.pk, _when(day), reason, age, n, f) for (day, reason, age), (n, f) in uninstall_counts.items()],
    )
    _insert(
        Uninstall,
        (
            "product",
            "event_id",
            "domain",
            "day",
            "occurred_at",
            "reason",
            "feedback",
            "license",
            "license_key",
            "days_installed",
            "search_text",
        ),
        [
            (
                product.pk,
                row.event_id,
                row.domain,
                _when(row.day),
                _when(row.occurred_at),
                row.reason,
                row.feedback,
                row.license_id,
                row.license_key,
                row.days_installed,
                row.search_text,
            )
            for row in changes.uninstalls
        ],
    )


def _insert(model, field_names: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert plain tuples: COPY on PostgreSQL, one prepared INSERT (executemany) elsewhere.

    bulk_create spends most of a fold step preparing values field by field; the values
    here are already what the columns hold (JSON columns as text, dates as the backend wants).
    """
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(core_sql.copy_from_stdin_sql(model, field_names)) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor.executemany(core_sql.insert_values_sql(model, field_names), rows)


def _when(value):
    """A date or datetime as the backend's driver takes it (SQLite: text)."""
    if value is None or connection.vendor == "postgresql":
        return value
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return connection.ops.adapt_datefield_value(value)


def uninstall_day_counts(uninstalls) -> dict[tuple, list[int]]:
    """(day, reason, days installed or UNKNOWN_AGE) → [uninstalls, with feedback]."""
    counts: dict[tuple, list[int]] = {}
    for row in uninstalls:
        age = UNKNOWN_AGE if row.days_installed is None else row.days_installed
        values = counts.setdefault((row.day, row.reason, age), [0, 0])
        values[0] += 1
        values[1] += 1 if row.feedback else 0
    return counts
