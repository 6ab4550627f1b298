"""The entitlement gap: which active licenses used a feature in a window, and which did not.

"Used" is exact from the license pair counters (a window's events of a
(license, feature) are a difference of running totals) plus the events not
folded yet. Both lists are the product's active licenses (Feature Usage's
definition, docs/customers.md) in creation order, paged by primary key: the
feature's users in the window are one subquery over the (product, feature, block)
index that the database hashes, so a page costs the feature's rows in the window
and its own, not the product's.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from analytics.counters import unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product
from analytics.feature_usage.sources import _window_sum, active_licenses_q
from analytics.models import LicenseBlockCounter
from events.models import License
from lib.errors import ApiError

USED_VALUES = {"true": True, "false": False}
CSV_CHUNK = 1000


def parse_used(raw: str | None) -> bool:
    """``used``: ``true`` or ``false``; absent or empty means ``false`` (the gap itself)."""
    if raw is None or raw == "":
        return False
    if raw not in USED_VALUES:
        raise ApiError(f"used: '{raw[:20]}' is not true or false.")
    return USED_VALUES[raw]


def feature_licenses(query: FeatureUsageQuery, *, feature: str, used: bool) -> QuerySet[License]:
    """The product's active licenses that used ``feature`` in the window (``used``) or did not.

    Call inside ``read_snapshot()``: the tail and the counters must be one view.
    """
    product = counted_product(query)
    zone = zoneinfo.ZoneInfo(product.timezone)
    from_start = datetime.combine(query.date_from, time.min, tzinfo=zone)
    blocks, window = _window_sum(query.date_from, query.date_to)
    # The feature's users in the window, as one uncorrelated subquery over the (product,
    # feature, block) index: the planner hashes it once. A probe per license (EXISTS) made
    # PostgreSQL merge-join along the license index through every feature's rows instead
    # (1M events: 97 ms for a page, bench/customers.py).
    counted = (
        LicenseBlockCounter.objects.filter(product=product, block__in=blocks, feature=feature)
        .annotate(n=window)
        .filter(n__gt=0)
        .values("license_id")
    )
    pending = set(_tail_events(query, feature=feature, zone=zone, watermark=product.folded_through))
    used_q = Q(pk__in=counted) | Q(pk__in=pending)
    active = License.objects.filter(product=product).filter(active_licenses_q(from_start))
    return active.filter(used_q) if used else active.exclude(used_q)


def feature_events_of(query: FeatureUsageQuery, *, feature: str, license_ids: list[int]) -> dict[int, int]:
    """The window's events of ``feature`` for each of a page's licenses (0 when none)."""
    zone = zoneinfo.ZoneInfo(query.product.timezone)
    blocks, window = _window_sum(query.date_from, query.date_to)
    events: dict[int, int] = defaultdict(int)
    for license_id, n in (
        LicenseBlockCounter.objects.filter(
            product=query.product, block__in=blocks, feature=feature, license_id__in=license_ids
        )
        .order_by()
        .values_list("license_id")
        .annotate(n=Sum(window))
    ):
        events[license_id] += int(n or 0)
    for license_id, n in _tail_events(query, feature=feature, zone=zone, license_ids=license_ids).items():
        events[license_id] += n
    return {pk: events.get(pk, 0) for pk in license_ids}


def feature_license_rows(query: FeatureUsageQuery, *, feature: str, used: bool) -> Iterator[list]:
    """Every row of the list for CSV, in chunks of primary keys (memory stays flat however many)."""
    licenses = feature_licenses(query, feature=feature, used=used).order_by("pk")
    after = 0
    while True:
        chunk = list(licenses.filter(pk__gt=after)[:CSV_CHUNK])
        if not chunk:
            return
        events = feature_events_of(query, feature=feature, license_ids=[lic.pk for lic in chunk])
        for lic in chunk:
            yield [lic.public_id, lic.key, lic.customer_email, events[lic.pk]]
        after = chunk[-1].pk


def _tail_events(
    query: FeatureUsageQuery, *, feature: str, zone, license_ids: list[int] | None = None, watermark: int | None = None
) -> dict:
    """Events of ``feature`` not folded yet, per license, on the window's local days (``watermark``: already read)."""
    events = unfolded_events(product=query.product, through=watermark).filter(
        feature=feature,
        is_system=False,
        license__isnull=False,
        # A day wider on each side for the index range; the local day decides exactly.
        occurred_at__gte=datetime.combine(query.date_from - timedelta(days=1), time.min, tzinfo=zone),
        occurred_at__lt=datetime.combine(query.date_to + timedelta(days=2), time.min, tzinfo=zone),
    )
    if license_ids is not None:
        events = events.filter(license_id__in=license_ids)
    found: dict[int, int] = defaultdict(int)
    for license_id, day, n in (
        events.annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
        .order_by()
        .values_list("license_id", "local_day")
        .annotate(n=Count("id"))
    ):
        if query.date_from <= day <= query.date_to:
            found[license_id] += n
    return dict(found)
