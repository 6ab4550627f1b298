"""Time to first use: for the licenses created in a window, the days from creation to each feature's first use.

Exact from the counters the worker keeps, never a scan of raw events: a license's
first day with a feature is the first non-zero day of its earliest
``LicenseBlockCounter`` row for that feature (running totals, 32 days to a row),
read for the window's new licenses only, plus the events not folded yet (the
tail, a ``MIN`` per license). Read-only, in one snapshot (docs/customers.md).
"""

from __future__ import annotations

import statistics
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Min

from analytics.counters import unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product, read_snapshot
from analytics.feature_usage.sources import _days_of_block
from analytics.models import RUNNING_COLUMNS, LicenseBlockCounter
from events.models import License


@dataclass(frozen=True)
class Bucket:
    label: str
    min_days: int
    max_days: int | None  # None: no upper bound


# Same day, next day, the first week, the first month, later; licenses that never used it come last.
BUCKETS = (
    Bucket("0", 0, 0),
    Bucket("1", 1, 1),
    Bucket("2-7", 2, 7),
    Bucket("8-30", 8, 30),
    Bucket(">30", 31, None),
)
NEVER = "never"


def window_cohort(query: FeatureUsageQuery, zone) -> dict[int, date]:
    """The product's licenses created on the window's local days, whatever their status: {pk: local creation day}."""
    start = datetime.combine(query.date_from, time.min, tzinfo=zone)
    end = datetime.combine(query.date_to + timedelta(days=1), time.min, tzinfo=zone)
    created = License.objects.filter(product=query.product, created_at__gte=start, created_at__lt=end)
    return {pk: at.astimezone(zone).date() for pk, at in created.values_list("pk", "created_at")}


def first_use_days(query: FeatureUsageQuery, *, features: Iterable[str], license_ids: list[int], zone) -> dict:
    """{(license pk, feature): first local day it was used, ever (counters and tail)}; absent: never."""
    features = list(features)
    first: dict[tuple[int, str], date] = {}
    if not features or not license_ids:
        return first

    def seen(key: tuple[int, str], day: date) -> None:
        if key not in first or day < first[key]:
            first[key] = day

    # A license's rows of a feature, earliest block first: the first non-zero day of the
    # first row is the answer, so later blocks are read only to skip past (rows: licenses × blocks used).
    rows = (
        LicenseBlockCounter.objects.filter(product=query.product, feature__in=features, license_id__in=license_ids)
        .order_by("license_id", "feature", "block")
        .values_list("license_id", "feature", "block", *RUNNING_COLUMNS)
    )
    for license_id, feature, block, *totals in rows.iterator(chunk_size=2000):
        key = (license_id, feature)
        if key in first and first[key].toordinal() // len(RUNNING_COLUMNS) < block:
            continue
        day = next((day for day, n in _days_of_block(block, totals) if n > 0), None)
        if day is not None:
            seen(key, day)
    tail = (
        unfolded_events(product=query.product)
        .filter(feature__in=features, is_system=False, license_id__in=license_ids)
        .order_by()
        .values_list("license_id", "feature")
        .annotate(at=Min("occurred_at"))
    )
    for license_id, feature, at in tail:
        seen((license_id, feature), at.astimezone(zone).date())
    return first


def distribution(days: list[int | None]) -> dict:
    """Median and buckets of the days to first use (None: never used) of one feature's cohort."""
    used = sorted(d for d in days if d is not None)
    buckets = [
        {
            "label": bucket.label,
            "minDays": bucket.min_days,
            "maxDays": bucket.max_days,
            "licenses": sum(
                1 for d in used if d >= bucket.min_days and (bucket.max_days is None or d <= bucket.max_days)
            ),
        }
        for bucket in BUCKETS
    ]
    never = len(days) - len(used)
    buckets.append({"label": NEVER, "minDays": None, "maxDays": None, "licenses": never})
    median = statistics.median(used) if used else None
    return {
        "licenses": len(days),
        "used": len(used),
        "never": never,
        # A whole number of days when the middle falls on one license, else halfway between two.
        "medianDays": (int(median) if median == int(median) else median) if median is not None else None,
        "buckets": buckets,
    }


def time_to_first_use_of(query: FeatureUsageQuery, *, features: list[str]) -> dict[str, dict]:
    """Per feature, the distribution over the window's new licenses. Call inside ``read_snapshot()``."""
    product = counted_product(query)
    zone = zoneinfo.ZoneInfo(product.timezone)
    cohort = window_cohort(query, zone)
    first = first_use_days(query, features=features, license_ids=list(cohort), zone=zone)
    answer = {}
    for feature in features:
        days = []
        for pk, created in cohort.items():
            used = first.get((pk, feature))
            # An event dated before the license was created (a backfill) counts as the same day.
            days.append(None if used is None else max(0, (used - created).days))
        answer[feature] = distribution(days)
    return answer


def time_to_first_use(query: FeatureUsageQuery, *, feature: str) -> dict:
    """The ``data`` of ``GET /v1/products/{id}/analytics/features/{name}/time-to-first-use``."""
    with read_snapshot():
        figures = time_to_first_use_of(query, features=[feature])[feature]
    return {"feature": feature, "from": query.date_from.isoformat(), "to": query.date_to.isoformat(), **figures}
