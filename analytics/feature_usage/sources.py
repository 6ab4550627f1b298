"""Where Feature Usage figures come from: the counters (unfiltered, ``event=``) or one license's rows."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import ExtractHour, TruncDate

from analytics import sql as analytics_sql
from analytics.counters import day_block, folded_through, unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery, in_window, in_window_counts
from analytics.models import (
    BLOCK_DAYS,
    HOUR_COLUMNS,
    RUNNING_COLUMNS,
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
from events.models import Event, License


@dataclass
class Figures:
    """What either source (counters or one license's raw events) hands to the assembler."""

    feature_days: dict[str, dict[date, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    pattern: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    feature_licenses: dict[str, tuple[int, int]] = field(default_factory=dict)  # (licenses, active ones)
    feature_domains: dict[str, int] = field(default_factory=dict)
    licenses: list[tuple[int, int, int | None]] = field(default_factory=list)  # (license pk, events, features)
    # When ``licenses`` leaves features out (None): counts them for the few top licenses only.
    license_features: Callable[[list[int]], dict[int, int]] | None = None
    domains: list[tuple[str, int]] = field(default_factory=list)


def active_licenses_q(from_start: datetime, prefix: str = "") -> Q:
    """Active: status active, and no expiry or an expiry not before the window's first day."""
    return Q(**{f"{prefix}status": License.Status.ACTIVE}) & (
        Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gte": from_start})
    )


def _event_names(query: FeatureUsageQuery) -> dict[str, list[tuple[str, bool]]] | None:
    """Per feature, its (event name, whether the ``event`` substring selects it); None without ``event``.

    Matching is done in Python (casefold) on the names counted in the two windows
    and those of the events not folded yet, so SQLite and PostgreSQL agree.
    """
    if query.event is None:
        return None
    needle = query.event.casefold()
    names = defaultdict(list)
    counted = (
        FeatureDayCounter.objects.filter(product=query.product, day__range=(query.prior_from, query.date_to))
        .order_by()
        .values_list("event", "feature")
        .distinct()
    )
    # The tail's names too (read through the (product, id) index): a name seen only
    # there must still select that name's folded rows of other days.
    pending = (
        unfolded_events(product=query.product)
        .filter(is_system=False)
        .order_by()
        .values_list("event", "feature")
        .distinct()
    )
    for event, feature in set(counted) | set(pending):
        names[feature].append((event, needle in event.casefold() or needle in feature.casefold()))
    return names


def selected_names(query: FeatureUsageQuery) -> list[tuple[str, str]] | None:
    """The (event, feature) names the ``event`` substring selects, in a stable order; None without ``event``."""
    names = _event_names(query)
    if names is None:
        return None
    return sorted((event, feature) for feature, events in names.items() for event, matched in events if matched)


def _event_filter_q(query: FeatureUsageQuery) -> Q | None:
    """Rows whose event name or feature contains the ``event`` substring, case-insensitively.

    A feature all of whose event names match is selected by feature alone, which the
    (product, feature, block) indexes serve. None means no filter.
    """
    names = _event_names(query)
    if names is None:
        return None
    whole = [feature for feature, events in names.items() if all(matched for _, matched in events)]
    selected = Q(feature__in=whole)
    for feature, events in names.items():
        if feature not in whole:
            for event, matched in events:
                if matched:
                    selected |= Q(event=event, feature=feature)
    return selected


def _window_sum(date_from: date, date_to: date):
    """The blocks a window touches, and the window's count of a block row (a difference of running totals)."""
    first_block, first_column = day_block(date_from)
    last_block, last_column = day_block(date_to)
    parts = []
    for block in range(first_block, last_block + 1):
        low = first_column if block == first_block else 0
        high = last_column if block == last_block else BLOCK_DAYS - 1
        expression = F(RUNNING_COLUMNS[high])
        if low > 0:
            expression = expression - F(RUNNING_COLUMNS[low - 1])
        parts.append((block, expression))
    blocks = [block for block, _ in parts]
    if len(parts) == 1:
        return blocks, parts[0][1]
    return blocks, Case(
        *(When(block=block, then=expr) for block, expr in parts), default=Value(0), output_field=IntegerField()
    )


def window_parts(date_from: date, date_to: date) -> list[tuple[int, int, int]]:
    """The window's (block, first column, last column) of each block it touches."""
    first_block, first_column = day_block(date_from)
    last_block, last_column = day_block(date_to)
    return [
        (
            block,
            first_column if block == first_block else 0,
            last_column if block == last_block else BLOCK_DAYS - 1,
        )
        for block in range(first_block, last_block + 1)
    ]


def first_day_of_block(model) -> RawSQL:
    """A block row's first day with an event, as a day ordinal (``MIN`` of it: a key's first day ever)."""
    return RawSQL(analytics_sql.first_day_of_block_sql(model), (), output_field=IntegerField())


def last_day_in_window(model, date_from: date, date_to: date) -> RawSQL:
    """A block row's last day with an event in the window, as a day ordinal (``MAX``: a key's last day there)."""
    sql = analytics_sql.last_day_in_window_sql(model, parts=window_parts(date_from, date_to))
    return RawSQL(sql, (), output_field=IntegerField())


def figures_from_counters(query: FeatureUsageQuery, *, from_start: datetime) -> Figures:
    figures = Figures()
    product = query.product
    pair_filter = _event_filter_q(query)
    days = FeatureDayCounter.objects.filter(product=product, day__range=(query.prior_from, query.date_to))
    # Unfiltered, the heatmap needs no feature: days × 24 rows instead of days × 24 × features.
    hours = DayHourCounter.objects.filter(product=product, day__range=(query.date_from, query.date_to))
    if pair_filter is not None:
        days = days.filter(pair_filter)
        hours = FeatureHourCounter.objects.filter(product=product, day__range=(query.date_from, query.date_to))
        hours = hours.filter(pair_filter)
    for feature, day, n in days.order_by().values_list("feature", "day").annotate(n=Sum("count")):
        figures.feature_days[feature][day] += n
    for day, hour, n in hours.order_by().values_list("day", "hour").annotate(n=Sum("count")):
        figures.pattern[day.isoweekday() % 7][hour] += n

    if pair_filter is None:
        _reach_and_totals(query, figures, from_start=from_start)
        return figures
    blocks, window = _window_sum(query.date_from, query.date_to)
    licenses = LicenseBlockCounter.objects.filter(product=product, block__in=blocks)
    domains = DomainBlockCounter.objects.filter(product=product, block__in=blocks)
    if pair_filter is not None:
        licenses, domains = licenses.filter(pair_filter), domains.filter(pair_filter)
    license_active = active_licenses_q(from_start, prefix="license__")
    license_pairs = (
        licenses.annotate(
            active=Case(When(license_active, then=Value(1)), default=Value(0), output_field=IntegerField())
        )
        .order_by()
        .values("license_id", "feature", "active")
        .annotate(n=Sum(window))
        .filter(n__gt=0)
    )
    for kind, key, count, extra in _pair_rollup(license_pairs, entity="license_id", feature_sum="active"):
        if kind == 0:
            figures.feature_licenses[key] = (count, extra)
        else:
            figures.licenses.append((int(key), extra, count))
    domain_pairs = domains.order_by().values("domain", "feature").annotate(n=Sum(window)).filter(n__gt=0)
    for kind, key, count, extra in _pair_rollup(domain_pairs, entity="domain", feature_sum="n"):
        if kind == 0:
            figures.feature_domains[key] = count
        else:
            figures.domains.append((key, extra))
    return figures


def _reach_and_totals(query: FeatureUsageQuery, figures: Figures, *, from_start: datetime) -> None:
    """Unfiltered: distinct counts from the reach points, top lists from per-entity totals.

    Nothing here reads a row per (license, feature) pair except for the
    licenses that are not active (adoption) and the ten top licenses (features).
    """
    product = query.product
    for kind, feature, count in (
        FeatureReachCounter.objects.filter(
            product=product,
            kind__in=FeatureReachCounter.Kind.values,  # lets the index range over days within each kind
            day__range=(query.date_from, query.date_to),
            previous_day__lt=query.date_from,
        )
        .order_by()
        .values_list("kind", "feature")
        .annotate(n=Sum("count"))
    ):
        if kind == FeatureReachCounter.Kind.LICENSE:
            figures.feature_licenses[feature] = (count, count)
        else:
            figures.feature_domains[feature] = count
    blocks, window = _window_sum(query.date_from, query.date_to)
    pairs = LicenseBlockCounter.objects.filter(product=product, block__in=blocks)
    # Adoption counts active users: all users minus the (few) users that are not active,
    # by id so that the planner sees how few they are and reads them through the index.
    inactive = list(
        License.objects.filter(product=product).exclude(active_licenses_q(from_start)).values_list("pk", flat=True)
    )
    for feature, inactive_users in (
        pairs.filter(license_id__in=inactive)
        .annotate(n=window)
        .filter(n__gt=0)
        .order_by()
        .values_list("feature")
        .annotate(users=Count("license_id", distinct=True))
    ):
        users, _ = figures.feature_licenses[feature]
        figures.feature_licenses[feature] = (users, users - inactive_users)
    figures.licenses = [
        (pk, int(events), None)
        for pk, events in _raw_rows(
            LicenseTotalBlock.objects.filter(product=product, block__in=blocks)
            .order_by()
            .values_list("license_id")
            .annotate(events=Sum(window))
            .filter(events__gt=0)
        )
    ]
    figures.domains = [
        (domain, int(events))
        for domain, events in _raw_rows(
            DomainTotalBlock.objects.filter(product=product, block__in=blocks)
            .order_by()
            .values_list("domain")
            .annotate(events=Sum(window))
            .filter(events__gt=0)
        )
    ]

    def features_of(license_pks: list[int]) -> dict[int, int]:
        return dict(
            pairs.filter(license_id__in=license_pks)
            .annotate(n=window)
            .filter(n__gt=0)
            .order_by()
            .values_list("license_id")
            .annotate(features=Count("feature", distinct=True))
        )

    figures.license_features = features_of


def _raw_rows(queryset: QuerySet) -> list[tuple]:
    """The rows of a values_list of ints and strings without Django's per-value converters (thousands of rows)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _pair_rollup(pairs: QuerySet, *, entity: str, feature_sum: str) -> list[tuple]:
    """Per feature and per entity, from one scan of the window's (entity, feature) pairs.

    ``pairs`` (built by the ORM, so portable) yields one row per pair used in the
    window; grouping it twice in a CTE replaces COUNT(DISTINCT …), whose sorts
    cost several times more than the hash aggregates here. Rows: (0, feature,
    entities, sum of ``feature_sum``) and (1, entity, features, events).
    """
    try:
        inner, params = pairs.query.sql_with_params()
    except EmptyResultSet:  # an ``event`` filter that matches no name
        return []
    sql = analytics_sql.pair_rollup_sql(inner, entity=entity, feature_sum=feature_sum)
    with connections[pairs.db].cursor() as cursor:
        cursor.execute(sql, params)
        # PostgreSQL sums integers into numeric: back to int.
        return [(kind, key, int(count), int(total)) for kind, key, count, total in cursor.fetchall()]


def figures_from_license_events(query: FeatureUsageQuery, *, zone: zoneinfo.ZoneInfo, from_start: datetime) -> Figures:
    figures = Figures()
    license = query.license
    # A day wider on each side for the index range; the local day decides exactly.
    events = Event.objects.filter(
        product=query.product,
        license=license,
        is_system=False,
        occurred_at__gte=datetime.combine(query.prior_from - timedelta(days=1), time.min, tzinfo=zone),
        occurred_at__lt=datetime.combine(query.date_to + timedelta(days=2), time.min, tzinfo=zone),
    )
    pair_filter = _event_filter_q(query)
    if pair_filter is not None:
        events = events.filter(pair_filter)
    events = events.annotate(local_day=TruncDate("occurred_at", tzinfo=zone)).order_by()
    window = events.filter(local_day__range=(query.date_from, query.date_to))
    for feature, day, n in (
        events.filter(local_day__range=(query.prior_from, query.date_to))
        .values_list("feature", "local_day")
        .annotate(n=Count("id"))
    ):
        figures.feature_days[feature][day] += n
    for day, hour, n in (
        window.annotate(local_hour=ExtractHour("occurred_at", tzinfo=zone))
        .values_list("local_day", "local_hour")
        .annotate(n=Count("id"))
    ):
        figures.pattern[day.isoweekday() % 7][hour] += n
    _one_license(query, figures, from_start=from_start)
    with_domain = window.exclude(domain="")
    figures.feature_domains = dict(
        with_domain.values_list("feature").annotate(n=Count("domain", distinct=True)).values_list("feature", "n")
    )
    figures.domains = list(with_domain.values_list("domain").annotate(n=Count("id")).values_list("domain", "n"))
    return figures


def figures_from_license_counters(query: FeatureUsageQuery, *, from_start: datetime, tail: list[TailRow]) -> Figures:
    """One license, no ``event``: its pair, hour and domain counters (tens of rows, however busy it is), plus its tail."""
    figures = Figures()
    product, license = query.product, query.license
    first_block, last_block = day_block(query.prior_from)[0], day_block(query.date_to)[0]
    for feature, block, *totals in LicenseBlockCounter.objects.filter(
        product=product, license=license, block__range=(first_block, last_block)
    ).values_list("feature", "block", *RUNNING_COLUMNS):
        for day, n in _days_of_block(block, totals):
            if query.prior_from <= day <= query.date_to:
                figures.feature_days[feature][day] += n
    for day, *hours in LicenseDayHours.objects.filter(
        product=product, license=license, day__range=(query.date_from, query.date_to)
    ).values_list("day", *HOUR_COLUMNS):
        weekday = figures.pattern[day.isoweekday() % 7]
        for hour, n in enumerate(hours):
            weekday[hour] += n
    for _, _, _, feature, day, hour, n in tail:
        figures.feature_days[feature][day] += n
        if query.date_from <= day <= query.date_to:
            figures.pattern[day.isoweekday() % 7][hour] += n
    _one_license(query, figures, from_start=from_start)
    blocks, window = _window_sum(query.date_from, query.date_to)
    domain_events: dict[str, int] = defaultdict(int)
    domain_features: dict[str, set[str]] = defaultdict(set)
    for domain, feature, n in (
        LicenseDomainBlockCounter.objects.filter(product=product, license=license, block__in=blocks)
        .annotate(n=window)
        .filter(n__gt=0)
        .values_list("domain", "feature", "n")
    ):
        domain_events[domain] += n
        domain_features[feature].add(domain)
    for _, domain, _, feature, day, _, n in tail:
        if domain and query.date_from <= day <= query.date_to:
            domain_events[domain] += n
            domain_features[feature].add(domain)
    figures.domains = list(domain_events.items())
    figures.feature_domains = {feature: len(domains) for feature, domains in domain_features.items()}
    return figures


def _days_of_block(block: int, totals: list[int]) -> Iterable[tuple[date, int]]:
    """(day, events) of a row of running totals."""
    before = 0
    for index, total in enumerate(totals):
        if total != before:
            yield date.fromordinal(block * BLOCK_DAYS + index), total - before
        before = total


def _one_license(query: FeatureUsageQuery, figures: Figures, *, from_start: datetime) -> None:
    """Licenses figures when the answer is about one license: it is the only user of each feature used."""
    license = query.license
    is_active = License.objects.filter(pk=license.pk).filter(active_licenses_q(from_start)).exists()
    features_used = [feature for feature, days in figures.feature_days.items() if in_window(days, query)]
    for feature in features_used:
        figures.feature_licenses[feature] = (1, int(is_active))
    total = sum(sum(in_window_counts(figures.feature_days[feature], query)) for feature in features_used)
    if total:
        figures.licenses = [(license.pk, total, len(features_used))]


# The tail: events above the watermark (not folded yet), a few seconds of ingestion
# when the worker keeps up. It is aggregated exactly at read time, in the same
# snapshot as the counters, and merged into their figures; distinct counts stay
# exact because a tail pair counts only if the counters do not already have it.
# Its rows serve one license's answer and the exports' few entities; unfiltered and
# ``event=`` answers merge the tail in SQL instead (``analytics.feature_usage.tail``).
TailRow = tuple[int | None, str, str, str, date, int, int]  # license pk, domain, event, feature, day, hour, events


def tail_rows(query: FeatureUsageQuery, *, zone: zoneinfo.ZoneInfo) -> list[TailRow]:
    """The unfolded events of the query's days (prior window included) and filters, grouped by the database."""
    product = query.product
    connection = connections[Event.objects.db]
    params = {
        "product": product.pk,
        "through": folded_through(product=product),
        "zone": str(zone),
        "start": connection.ops.adapt_datetimefield_value(
            datetime.combine(query.prior_from - timedelta(days=1), time.min, tzinfo=zone)
        ),
        "end": connection.ops.adapt_datetimefield_value(
            datetime.combine(query.date_to + timedelta(days=2), time.min, tzinfo=zone)
        ),
    }
    if query.license is not None:
        params["license"] = query.license.pk
    statement = analytics_sql.tail_rows_sql(Event, one_license=query.license is not None, vendor=connection.vendor)
    needle = query.event.casefold() if query.event is not None else None
    rows = []
    for license_id, domain, event, feature, day, hour, n in hash_grouped(connection, statement, params):
        if isinstance(day, str):  # SQLite: ISO text
            day = date.fromisoformat(day)
        if not query.prior_from <= day <= query.date_to:
            continue
        if needle is not None and needle not in event.casefold() and needle not in feature.casefold():
            continue
        rows.append((license_id, domain, event, feature, day, int(hour), int(n)))
    return rows


def hash_grouped(connection, statement: str, params: dict) -> list[tuple]:
    """The grouped tail's rows, grouped by hashing on PostgreSQL (analytics.sql.hash_aggregation_sql says why)."""
    with connection.cursor() as cursor:
        hashing = connection.vendor == "postgresql" and connection.in_atomic_block
        if hashing:
            cursor.execute(analytics_sql.hash_aggregation_sql(only=True))
        try:
            cursor.execute(statement, params)
            return cursor.fetchall()
        finally:
            if hashing:
                cursor.execute(analytics_sql.hash_aggregation_sql(only=False))
