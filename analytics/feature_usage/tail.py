"""The tail (events above the watermark) merged with the counters' figures in SQL.

An unfiltered or ``event=`` answer adds the tail to the figures of the counters. The
database groups the tail, decides which of its (license or domain, feature) pairs the
window's pair blocks do not count yet, and aggregates: Python gets one row per figure the
tail changes (a feature's day, a heatmap cell, a feature's new licenses and domains, a
license's or domain's events), never a row per tail event. Before (issue 18, item 5) the
grouped tail came to Python row by row, about one row per event on the PERFORMANCE.md shape,
and its pairs were looked up in the counters from Python: seconds for a 200,000-event tail.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date, datetime

from django.db import connections

from analytics import sql as analytics_sql
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.sources import Figures, hash_grouped, selected_names, window_parts
from analytics.models import DomainBlockCounter, LicenseBlockCounter
from events.models import Event, License

# Below this many unfolded events the tail's pairs are looked up in its own licenses' and
# domains' blocks; at or above it, in one read of the window's blocks (analytics.sql.tail_figures_sql).
TAIL_SMALL_BELOW = 20_000
# The rows of analytics.sql.tail_figures_sql, by kind.
FEATURE_DAY, HEATMAP_CELL, FEATURE_LICENSES, LICENSE_EVENTS, LICENSE_NEW_FEATURES, FEATURE_DOMAINS, DOMAIN_EVENTS = (
    range(7)
)


def merge_tail(
    query: FeatureUsageQuery, figures: Figures, *, through: int, zone: zoneinfo.ZoneInfo, from_start: datetime
) -> None:
    """Add the tail above ``through`` (the snapshot's watermark) to figures that came from the counters."""
    names = selected_names(query)
    if names is not None and not names:
        return  # an ``event`` that matches no name: no tail event counts
    connection = connections[Event.objects.db]
    ops = connection.ops
    params = {
        "product": query.product.pk,
        "through": through,
        "zone": str(zone),
        "prior_from": ops.adapt_datefield_value(query.prior_from),
        "date_from": ops.adapt_datefield_value(query.date_from),
        "date_to": ops.adapt_datefield_value(query.date_to),
        "active": License.Status.ACTIVE.value,
        "from_start": ops.adapt_datetimefield_value(from_start),
    }
    for k, (event, feature) in enumerate(names or ()):
        params[f"event_{k}"], params[f"feature_{k}"] = event, feature
    # At most TAIL_SMALL_BELOW index entries read, on the tail's own connection. It only picks the
    # statement's form: both give the same rows.
    unfolded = (
        Event.objects.using(connection.alias)
        .filter(product=query.product, id__gt=through, is_system=False)
        .values("id")
    )
    statement = analytics_sql.tail_figures_sql(
        Event,
        License,
        LicenseBlockCounter,
        DomainBlockCounter,
        parts=window_parts(query.date_from, query.date_to),
        names=None if names is None else len(names),
        small_tail=unfolded[:TAIL_SMALL_BELOW].count() < TAIL_SMALL_BELOW,
        vendor=connection.vendor,
    )
    license_events: dict[int, int] = {}
    new_features_of: dict[int, int] = {}
    domain_events: dict[str, int] = {}
    for kind, name, day, number, n in hash_grouped(connection, statement, params):
        n = int(n)
        if kind == FEATURE_DAY:
            figures.feature_days[name][_as_date(day)] += n
        elif kind == HEATMAP_CELL:
            figures.pattern[_as_date(day).isoweekday() % 7][int(number)] += n
        elif kind == FEATURE_LICENSES:
            users, active_users = figures.feature_licenses.get(name, (0, 0))
            figures.feature_licenses[name] = (users + int(number), active_users + n)
        elif kind == LICENSE_EVENTS:
            license_events[int(number)] = n
        elif kind == LICENSE_NEW_FEATURES:
            new_features_of[int(number)] = n
        elif kind == FEATURE_DOMAINS:
            figures.feature_domains[name] = figures.feature_domains.get(name, 0) + n
        elif kind == DOMAIN_EVENTS:
            domain_events[name] = n
    if license_events:
        _merge_licenses(figures, license_events, new_features_of)
    if domain_events:
        domains = defaultdict(int, figures.domains)
        for domain, n in domain_events.items():
            domains[domain] += n
        figures.domains = list(domains.items())


def _merge_licenses(figures: Figures, license_events: dict[int, int], new_features_of: dict[int, int]) -> None:
    """Each license's tail events, and its new features where the counters' rows carry features."""
    merged = []
    for pk, events, features in figures.licenses:
        extra = new_features_of.get(pk, 0)
        merged.append((pk, events + license_events.pop(pk, 0), None if features is None else features + extra))
    counted_features = figures.license_features
    for pk, events in license_events.items():  # licenses with no counted event in the window: all pairs are new
        merged.append((pk, events, None if counted_features is not None else new_features_of.get(pk, 0)))
    figures.licenses = merged
    if counted_features is not None:

        def features_of(license_pks: list[int]) -> dict[int, int]:
            counted = counted_features(license_pks)
            return {pk: counted.get(pk, 0) + new_features_of.get(pk, 0) for pk in license_pks}

        figures.license_features = features_of


def _as_date(day) -> date:
    return date.fromisoformat(day) if isinstance(day, str) else day  # SQLite: ISO text
