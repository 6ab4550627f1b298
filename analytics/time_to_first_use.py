"""Time to first use: for the licenses created in a window, the days from creation to each feature's first use.

Exact from the counters the worker keeps, never a scan of raw events: a license's
first day with a feature is the first non-zero day of its earliest
``LicenseBlockCounter`` row for that feature (running totals, 32 days to a row),
found by the database for the window's new licenses only, plus the events not folded yet (the
tail, a ``MIN`` per license). Read-only, in one snapshot (docs/customers.md).
"""

from __future__ import annotations

import statistics
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Min, QuerySet
from django.db.models.functions import TruncDate

from analytics.counters import unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product
from analytics.feature_usage.sources import first_day_of_block
from analytics.models import RUNNING_COLUMNS, LicenseBlockCounter
from events.models import License
from lib.snapshot import read_snapshot


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


def window_cohort_licenses(query: FeatureUsageQuery, zone) -> QuerySet[License]:
    """The product's licenses created on the window's local days, whatever their status."""
    start = datetime.combine(query.date_from, time.min, tzinfo=zone)
    end = datetime.combine(query.date_to + timedelta(days=1), time.min, tzinfo=zone)
    return License.objects.filter(product=query.product, created_at__gte=start, created_at__lt=end)


def window_cohort(query: FeatureUsageQuery, zone) -> dict[int, date]:
    """{pk: local creation day} of the window's new licenses."""
    # The database turns each creation time into its local day: loading thousands of
    # timestamps with their time zone cost more than the rest of the answer (10M bench).
    return dict(
        window_cohort_licenses(query, zone)
        .annotate(local_day=TruncDate("created_at", tzinfo=zone))
        .values_list("pk", "local_day")
    )


def first_use_days(
    query: FeatureUsageQuery,
    *,
    features: Iterable[str],
    licenses: QuerySet[License],
    zone,
    watermark: int | None = None,
) -> dict:
    """{(license pk, feature): first local day it was used, ever (counters and tail)}; absent: never.

    ``licenses`` is a subquery, not a list: a cohort of thousands stays one join for the planner.
    ``watermark``: the one ``counted_product`` read in this snapshot (else read here).
    """
    features = list(features)
    first: dict[tuple[int, str], date] = {}
    if not features:
        return first
    license_ids = licenses.values("pk")

    def seen(key: tuple[int, str], day: date) -> None:
        if key not in first or day < first[key]:
            first[key] = day

    # The database finds each license's first day: of the blocks where the running total ends
    # above zero, the smallest block × 32 + the first column above zero. One row per
    # (license, feature) comes back, however many blocks and event names the pair has.
    rows = (
        LicenseBlockCounter.objects.filter(
            product=query.product,
            feature__in=features,
            license_id__in=license_ids,
            **{f"{RUNNING_COLUMNS[-1]}__gt": 0},
        )
        .order_by()
        .values_list("license_id", "feature")
        .annotate(first=Min(first_day_of_block(LicenseBlockCounter)))
    )
    for license_id, feature, ordinal in rows:
        seen((license_id, feature), date.fromordinal(ordinal))
    tail = (
        unfolded_events(product=query.product, through=watermark)
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
    first = first_use_days(
        query,
        features=features,
        licenses=window_cohort_licenses(query, zone),
        zone=zone,
        watermark=product.folded_through,
    )
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
