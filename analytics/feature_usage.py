"""Feature Usage: the one computation behind the API, its CSV export and the console tab.

Unfiltered and ``event=`` answers come from the counters of ``events.counters``
(per local day × hour × feature, and 32-day blocks per license or domain × feature),
whose size follows the answer, not the event count. ``license_id=`` answers read
that one license's raw events through the (product, license, occurred_at) index:
their cost follows that license's events. Pending events are folded in first, so
an accepted event counts on the very next request.
"""

from __future__ import annotations

import csv
import heapq
import io
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from math import floor

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import ExtractHour, TruncDate

from events.counters import counters_fold, day_block
from events.models import (
    BLOCK_DAYS,
    EVENT_NAME_MAX_LENGTH,
    RUNNING_COLUMNS,
    DomainBlockCounter,
    DomainTotalBlock,
    Event,
    FeatureHourCounter,
    FeatureReachCounter,
    License,
    LicenseBlockCounter,
    LicenseTotalBlock,
    Product,
)
from packedge.errors import ApiError, NotFound
from packedge.models import Organization

DEFAULT_WINDOW_DAYS = 30  # `from` defaults to `to` - 30 days (API.md)
MAX_WINDOW_DAYS = 366
TOP_FEATURES = 12
TOP_LICENSES = 10
TOP_DOMAINS = 10
CSV_TABLES = ("features", "licenses", "domains")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FeatureUsageQuery:
    product: Product
    date_from: date
    date_to: date
    event: str | None = None
    license: License | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def prior_from(self) -> date:
        return self.date_from - timedelta(days=self.days)


@dataclass
class _Figures:
    """What either source (counters or one license's raw events) hands to the assembler."""

    feature_days: dict[str, dict[date, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    pattern: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    feature_licenses: dict[str, tuple[int, int]] = field(default_factory=dict)  # (licenses, active ones)
    feature_domains: dict[str, int] = field(default_factory=dict)
    licenses: list[tuple[int, int, int | None]] = field(default_factory=list)  # (license pk, events, features)
    # When ``licenses`` leaves features out (None): counts them for the few top licenses only.
    license_features: Callable[[list[int]], dict[int, int]] | None = None
    domains: list[tuple[str, int]] = field(default_factory=list)


def feature_usage_allowed(organization: Organization) -> bool:
    return organization.plan.is_paid


def parse_feature_usage_query(*, product: Product, params: Mapping[str, str], today: date | None = None) -> FeatureUsageQuery:
    """Validate the query parameters of API.md; an empty parameter counts as absent."""
    if today is None:
        today = datetime.now(zoneinfo.ZoneInfo(product.timezone)).date()
    date_to = _parse_date(params, "to") or today
    date_from = _parse_date(params, "from") or date_to - timedelta(days=DEFAULT_WINDOW_DAYS)
    if date_from > date_to:
        raise ApiError(f"from: {date_from.isoformat()} is after to ({date_to.isoformat()}).", code="invalid_date_range")
    if (date_to - date_from).days + 1 > MAX_WINDOW_DAYS:
        raise ApiError(f"from: the window may span at most {MAX_WINDOW_DAYS} days.", code="invalid_date_range")
    event = (params.get("event") or "").strip() or None
    if event is not None and len(event) > EVENT_NAME_MAX_LENGTH:
        raise ApiError(f"event: at most {EVENT_NAME_MAX_LENGTH} characters.")
    license = None
    license_id = (params.get("license_id") or "").strip()
    if license_id:
        license = License.objects.filter(product=product, public_id=license_id).first()
        if license is None:
            raise NotFound(f"license_id: no license '{license_id}' for this product.")
    return FeatureUsageQuery(product=product, date_from=date_from, date_to=date_to, event=event, license=license)


def _parse_date(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not DATE_PATTERN.match(raw):
        raise ApiError(f"{name}: '{raw}' is not a date (YYYY-MM-DD).", code="invalid_date")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name}: '{raw}' is not a date (YYYY-MM-DD).", code="invalid_date") from None


def feature_usage(query: FeatureUsageQuery) -> dict:
    """The ``data`` object of seed 000 for one product, window and filters."""
    product = query.product
    counters_fold(product=product)
    zone = zoneinfo.ZoneInfo(product.timezone)
    from_start = datetime.combine(query.date_from, time.min, tzinfo=zone)
    active_count = License.objects.filter(product=product).filter(_active_licenses_q(from_start)).count()
    if query.license is not None:
        figures = _figures_from_license_events(query, zone=zone, from_start=from_start)
    else:
        figures = _figures_from_counters(query, from_start=from_start)
    return _assemble(query, figures, active_count=active_count)


def _active_licenses_q(from_start: datetime, prefix: str = "") -> Q:
    """Active: status active, and no expiry or an expiry not before the window's first day."""
    return Q(**{f"{prefix}status": License.Status.ACTIVE}) & (
        Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gte": from_start})
    )


def _event_filter_q(query: FeatureUsageQuery) -> Q | None:
    """Rows whose event name or feature contains the ``event`` substring, case-insensitively.

    Matching is done in Python (casefold) on the product's distinct names so that
    SQLite and PostgreSQL agree; None means no filter, an impossible Q none match.
    """
    if query.event is None:
        return None
    needle = query.event.casefold()
    pairs = (
        FeatureHourCounter.objects.filter(product=query.product, day__range=(query.prior_from, query.date_to))
        .order_by()
        .values_list("event", "feature")
        .distinct()
    )
    events, features = set(), set()
    for event, feature in pairs:
        if needle in event.casefold():
            events.add(event)
        if needle in feature.casefold():
            features.add(feature)
    if query.license is not None:
        # A license's raw events may hold names still pending a fold: match those too.
        for event, feature in (
            Event.objects.filter(product=query.product, license=query.license).order_by().values_list("event", "feature").distinct()
        ):
            if needle in event.casefold():
                events.add(event)
            if needle in feature.casefold():
                features.add(feature)
    return Q(event__in=events) | Q(feature__in=features)


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
    return blocks, Case(*(When(block=block, then=expr) for block, expr in parts), default=Value(0), output_field=IntegerField())


def _figures_from_counters(query: FeatureUsageQuery, *, from_start: datetime) -> _Figures:
    figures = _Figures()
    product = query.product
    pair_filter = _event_filter_q(query)
    hours = FeatureHourCounter.objects.filter(product=product)
    if pair_filter is not None:
        hours = hours.filter(pair_filter)
    for feature, day, n in (
        hours.filter(day__range=(query.prior_from, query.date_to))
        .order_by()
        .values_list("feature", "day")
        .annotate(n=Sum("count"))
    ):
        figures.feature_days[feature][day] += n
    for day, hour, n in (
        hours.filter(day__range=(query.date_from, query.date_to))
        .order_by()
        .values_list("day", "hour")
        .annotate(n=Sum("count"))
    ):
        figures.pattern[day.isoweekday() % 7][hour] += n

    if pair_filter is None:
        _reach_and_totals(query, figures, from_start=from_start)
        return figures
    blocks, window = _window_sum(query.date_from, query.date_to)
    licenses = LicenseBlockCounter.objects.filter(product=product, block__in=blocks)
    domains = DomainBlockCounter.objects.filter(product=product, block__in=blocks)
    if pair_filter is not None:
        licenses, domains = licenses.filter(pair_filter), domains.filter(pair_filter)
    license_active = _active_licenses_q(from_start, prefix="license__")
    license_pairs = (
        licenses.annotate(active=Case(When(license_active, then=Value(1)), default=Value(0), output_field=IntegerField()))
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


def _reach_and_totals(query: FeatureUsageQuery, figures: _Figures, *, from_start: datetime) -> None:
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
    # Adoption counts active users: all users minus the (few) users that are not active.
    inactive = License.objects.filter(product=product).exclude(_active_licenses_q(from_start)).values("pk")
    for feature, inactive_users in (
        pairs.filter(license__in=inactive)
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
    sql = (
        f"WITH pairs AS ({inner}) "
        f"SELECT 0, feature, COUNT(*), SUM({feature_sum}) FROM pairs GROUP BY feature "
        f"UNION ALL "
        f"SELECT 1, CAST({entity} AS TEXT), COUNT(*), SUM(n) FROM pairs GROUP BY {entity}"
    )
    with connections[pairs.db].cursor() as cursor:
        cursor.execute(sql, params)
        # PostgreSQL sums integers into numeric: back to int.
        return [(kind, key, int(count), int(total)) for kind, key, count, total in cursor.fetchall()]


def _figures_from_license_events(query: FeatureUsageQuery, *, zone: zoneinfo.ZoneInfo, from_start: datetime) -> _Figures:
    figures = _Figures()
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
    is_active = License.objects.filter(pk=license.pk).filter(_active_licenses_q(from_start)).exists()
    features_used = [feature for feature, days in figures.feature_days.items() if _in_window(days, query)]
    for feature in features_used:
        figures.feature_licenses[feature] = (1, int(is_active))
    total = sum(sum(_in_window_counts(figures.feature_days[feature], query)) for feature in features_used)
    if total:
        figures.licenses = [(license.pk, total, len(features_used))]
    with_domain = window.exclude(domain="")
    figures.feature_domains = dict(
        with_domain.values_list("feature").annotate(n=Count("domain", distinct=True)).values_list("feature", "n")
    )
    figures.domains = list(with_domain.values_list("domain").annotate(n=Count("id")).values_list("domain", "n"))
    return figures


def _window_days(query: FeatureUsageQuery) -> list[date]:
    return [query.date_from + timedelta(days=offset) for offset in range(query.days)]


def _in_window_counts(days: Mapping[date, int], query: FeatureUsageQuery) -> list[int]:
    return [days.get(day, 0) for day in _window_days(query)]


def _in_window(days: Mapping[date, int], query: FeatureUsageQuery) -> bool:
    return any(n for day, n in days.items() if query.date_from <= day <= query.date_to)


def _adoption_pct(users: int, active_count: int) -> float | None:
    if active_count == 0:
        return None
    # Half up on the exact fraction: floats would round 0.05 steps unpredictably.
    return floor(Fraction(users * 1000, active_count) + Fraction(1, 2)) / 10


def _assemble(query: FeatureUsageQuery, figures: _Figures, *, active_count: int) -> dict:
    window_days = _window_days(query)
    events_by_feature, prior_by_feature = {}, {}
    for feature, days in figures.feature_days.items():
        events_by_feature[feature] = sum(n for day, n in days.items() if query.date_from <= day <= query.date_to)
        prior_by_feature[feature] = sum(n for day, n in days.items() if day < query.date_from)
    used = sorted((f for f, n in events_by_feature.items() if n > 0), key=lambda f: (-events_by_feature[f], f))
    quiet = sorted(
        (f for f, n in prior_by_feature.items() if n > 0 and events_by_feature[f] == 0),
        key=lambda f: (-prior_by_feature[f], f),
    )
    top_features = []
    for feature in used[:TOP_FEATURES]:
        users, active_users = figures.feature_licenses.get(feature, (0, 0))
        days = figures.feature_days[feature]
        top_features.append(
            {
                "name": feature,
                "events": events_by_feature[feature],
                "priorEvents": prior_by_feature[feature],
                "licenses": users,
                "domains": figures.feature_domains.get(feature, 0),
                "adoptionPct": _adoption_pct(active_users, active_count),
                "sparkline": [days.get(day, 0) for day in window_days],
                "sparklineDays": [day.isoformat() for day in window_days],
            }
        )
    return {
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
        "totals": {
            "events": sum(events_by_feature[f] for f in used),
            "uniqueFeatures": len(used),
            "uniqueLicenses": len(figures.licenses),
            "uniqueDomains": len(figures.domains),
            "activeLicenses": active_count,
        },
        "topFeatures": top_features,
        "quietFeatures": [{"name": f, "priorEvents": prior_by_feature[f]} for f in quiet],
        "usagePattern": figures.pattern,
        "topLicenses": _top_licenses(figures),
        "topDomains": [
            {"domain": domain, "events": n}
            for domain, n in heapq.nsmallest(TOP_DOMAINS, figures.domains, key=lambda row: (-row[1], row[0]))
        ],
    }


def _top_licenses(figures: _Figures) -> list[dict]:
    """Top licenses by events, ties by licenseId: only the candidates' ids are looked up."""
    rows = figures.licenses
    if not rows:
        return []
    threshold = heapq.nlargest(TOP_LICENSES, (row[1] for row in rows))[-1]
    candidates = [row for row in rows if row[1] >= threshold]
    details = {
        pk: (public_id, email)
        for pk, public_id, email in License.objects.filter(pk__in=[row[0] for row in candidates]).values_list(
            "pk", "public_id", "customer_email"
        )
    }
    candidates.sort(key=lambda row: (-row[1], details[row[0]][0]))
    candidates = candidates[:TOP_LICENSES]
    if figures.license_features is not None:
        features = figures.license_features([row[0] for row in candidates])
        candidates = [(pk, events, features.get(pk, 0)) for pk, events, _ in candidates]
    return [
        {"licenseId": details[pk][0], "customerEmail": details[pk][1], "events": events, "features": features}
        for pk, events, features in candidates
    ]


CSV_COLUMNS = {
    "features": ("name", "events", "priorEvents", "licenses", "domains", "adoptionPct"),
    "licenses": ("licenseId", "customerEmail", "events", "features"),
    "domains": ("domain", "events"),
}
CSV_SOURCES = {"features": "topFeatures", "licenses": "topLicenses", "domains": "topDomains"}


def feature_usage_csv(query: FeatureUsageQuery, table: str) -> str:
    """One table of the answer (the same rows as the JSON) as CSV, with a header row."""
    if table not in CSV_COLUMNS:
        raise ApiError(f"table: must be one of {', '.join(CSV_TABLES)}.")
    data = feature_usage(query)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[table])
    for row in data[CSV_SOURCES[table]]:
        writer.writerow(["" if row[column] is None else row[column] for column in CSV_COLUMNS[table]])
    return out.getvalue()
