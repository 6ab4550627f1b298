"""The the Feature Usage contract answer, assembled from the figures of either source."""

from __future__ import annotations

import heapq
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time
from fractions import Fraction
from itertools import islice
from math import floor

from rest_framework import status

from analytics.counters import watermark_of_product
from analytics.feature_usage.query import FeatureUsageQuery, days_in_window
from analytics.feature_usage.sources import (
    Figures,
    active_licenses_q,
    figures_from_counters,
    figures_from_license_counters,
    figures_from_license_events,
    tail_rows,
)
from analytics.feature_usage.tail import merge_tail
from events.models import License, Product
from lib.errors import ApiError
from lib.snapshot import read_snapshot

TOP_FEATURES = 12
TOP_LICENSES = 10
TOP_DOMAINS = 10
# Licenses looked up per query by an export (well under SQLite's bound variables).
LICENSE_CHUNK = 500
RECOUNTING_RETRY_AFTER_SECONDS = 5


class AnalyticsRecounting(ApiError):
    """503 while the counters are recounted in a new time zone: never an answer in the old zone's days."""

    def __init__(self, progress: int):
        super().__init__(
            f"Feature Usage is being recounted in the product's new time zone ({progress}% done); retry shortly.",
            code="analytics_recounting",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        self.progress = progress
        self.wait = RECOUNTING_RETRY_AFTER_SECONDS  # DRF's handler turns ``wait`` into Retry-After


def feature_usage(query: FeatureUsageQuery) -> dict:
    """The ``data`` object of the Feature Usage contract for one product, window and filters.

    Read-only: counters plus the exact aggregate of the events not folded yet, read
    in one snapshot so that a fold committing meanwhile is seen either entirely or
    not at all. No fold, no lock, no write.
    """
    with read_snapshot():
        figures, active_count = feature_usage_figures(query)
        return _assemble(query, figures, active_count=active_count)


def feature_usage_figures(query: FeatureUsageQuery) -> tuple[Figures, int]:
    """The figures of the answer and the active license count, read inside the caller's ``read_snapshot``.

    Raises ``AnalyticsRecounting`` (503) first. The JSON and the full CSV exports
    both order these figures with ``feature_rows``/``license_rows``/``domain_rows``.
    """
    product = counted_product(query)
    zone = zoneinfo.ZoneInfo(product.timezone)
    from_start = datetime.combine(query.date_from, time.min, tzinfo=zone)
    active_count = License.objects.filter(product=product).filter(active_licenses_q(from_start)).count()
    if query.license is not None and query.event is not None:
        # Reads that license's raw rows, folded or not: nothing to merge.
        figures = figures_from_license_events(query, zone=zone, from_start=from_start)
    elif query.license is not None:
        figures = figures_from_license_counters(query, from_start=from_start, tail=tail_rows(query, zone=zone))
    else:
        figures = figures_from_counters(query, from_start=from_start)
        merge_tail(query, figures, through=product.folded_through, zone=zone, from_start=from_start)
    return figures, active_count


def counted_product(query: FeatureUsageQuery) -> Product:
    """The query's product read again inside the snapshot, or 503 while its counters are recounted.

    A time zone change may have committed since the request began. The product
    carries ``folded_through``, its watermark in this snapshot.
    """
    # The watermark comes in the same statement: the tail reads of the answer use
    # ``product.folded_through`` instead of asking for it again.
    product = (
        Product.objects.only("timezone", "recount_progress")
        .annotate(folded_through=watermark_of_product())
        .get(pk=query.product.pk)
    )
    if product.recounting or product.timezone != query.product.timezone:
        raise AnalyticsRecounting(product.recount_progress or 0)
    return product


def _adoption_pct(users: int, active_count: int) -> float | None:
    if active_count == 0:
        return None
    # Half up on the exact fraction: floats would round 0.05 steps unpredictably.
    return floor(Fraction(users * 1000, active_count) + Fraction(1, 2)) / 10


@dataclass
class FeatureTotals:
    events: dict[str, int]  # per feature, in the window
    prior: dict[str, int]  # per feature, in the prior window
    used: list[str]  # features with events in the window, most events first, ties by name


def feature_totals(query: FeatureUsageQuery, figures: Figures) -> FeatureTotals:
    events_by_feature, prior_by_feature = {}, {}
    for feature, days in figures.feature_days.items():
        events_by_feature[feature] = sum(n for day, n in days.items() if query.date_from <= day <= query.date_to)
        prior_by_feature[feature] = sum(n for day, n in days.items() if day < query.date_from)
    used = sorted((f for f, n in events_by_feature.items() if n > 0), key=lambda f: (-events_by_feature[f], f))
    return FeatureTotals(events_by_feature, prior_by_feature, used)


def feature_rows(
    query: FeatureUsageQuery, figures: Figures, totals: FeatureTotals, *, active_count: int
) -> Iterator[dict]:
    """Every feature used in the window, in the answer's order (topFeatures is the first TOP_FEATURES)."""
    window_days = days_in_window(query)
    for feature in totals.used:
        users, active_users = figures.feature_licenses.get(feature, (0, 0))
        days = figures.feature_days[feature]
        yield {
            "name": feature,
            "events": totals.events[feature],
            "priorEvents": totals.prior[feature],
            "licenses": users,
            "domains": figures.feature_domains.get(feature, 0),
            "adoptionPct": _adoption_pct(active_users, active_count),
            # The entitlement gap: adoption's denominator minus its numerator (docs/customers.md).
            "notUsedBy": active_count - active_users,
            "sparkline": [days.get(day, 0) for day in window_days],
            "sparklineDays": [day.isoformat() for day in window_days],
        }


def _most_events(row: tuple) -> int:
    return -row[1]


def license_rows(figures: Figures, *, limit: int | None = None) -> Iterator[dict]:
    """Every license with events in the window: most events first, ties by licenseId.

    With ``limit`` (the JSON's top N) only the licenses with at least the N-th most
    events are considered: the same order, so its first N rows are the export's
    first N. Ids and emails are looked up a group of equal-or-more events at a time,
    and features counted a chunk at a time, so an export never holds every license's
    details at once (beyond the largest group of licenses with equal events).
    """
    rows = figures.licenses
    if not rows:
        return
    if limit is not None:
        threshold = heapq.nlargest(limit, (row[1] for row in rows))[-1]
        rows = [row for row in rows if row[1] >= threshold]
    rows = sorted(rows, key=_most_events)
    step = LICENSE_CHUNK if limit is None else min(limit, LICENSE_CHUNK)
    start = 0
    while start < len(rows):
        end = min(start + step, len(rows))
        while end < len(rows) and rows[end][1] == rows[end - 1][1]:
            end += 1  # a group never splits licenses with equal events: their order needs every id
        group = rows[start:end]
        details = {}
        for offset in range(0, len(group), LICENSE_CHUNK):
            pks = [row[0] for row in group[offset : offset + LICENSE_CHUNK]]
            details.update(
                (pk, (public_id, email))
                for pk, public_id, email in License.objects.filter(pk__in=pks).values_list(
                    "pk", "public_id", "customer_email"
                )
            )
        group.sort(key=lambda row: (-row[1], details[row[0]][0]))
        for offset in range(0, len(group), step):
            piece = group[offset : offset + step]
            if figures.license_features is not None:
                counts = figures.license_features([row[0] for row in piece])
                piece = [(pk, events, counts.get(pk, 0)) for pk, events, _ in piece]
            for pk, events, features in piece:
                public_id, email = details[pk]
                yield {"licenseId": public_id, "customerEmail": email, "events": events, "features": features}
        start = end


def domain_rows(figures: Figures, *, limit: int | None = None) -> Iterator[dict]:
    """Every site with events in the window, most events first, ties by name; ``limit``: the first N of that order."""
    key = lambda row: (-row[1], row[0])  # noqa: E731
    ordered = sorted(figures.domains, key=key) if limit is None else heapq.nsmallest(limit, figures.domains, key=key)
    for domain, n in ordered:
        yield {"domain": domain, "events": n}


def _assemble(query: FeatureUsageQuery, figures: Figures, *, active_count: int) -> dict:
    totals = feature_totals(query, figures)
    used = totals.used
    quiet = sorted(
        (f for f, n in totals.prior.items() if n > 0 and totals.events[f] == 0),
        key=lambda f: (-totals.prior[f], f),
    )
    return {
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
        "totals": {
            "events": sum(totals.events[f] for f in used),
            "uniqueFeatures": len(used),
            "uniqueLicenses": len(figures.licenses),
            "uniqueDomains": len(figures.domains),
            "activeLicenses": active_count,
        },
        "topFeatures": list(islice(feature_rows(query, figures, totals, active_count=active_count), TOP_FEATURES)),
        "quietFeatures": [{"name": f, "priorEvents": totals.prior[f]} for f in quiet],
        "usagePattern": figures.pattern,
        "topLicenses": list(islice(license_rows(figures, limit=TOP_LICENSES), TOP_LICENSES)),
        "topDomains": list(domain_rows(figures, limit=TOP_DOMAINS)),
    }
