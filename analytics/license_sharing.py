"""Key sharing: licenses seen on more distinct sites in a window than their ``maxSites`` allows.

Only licenses with a ``maxSites`` are looked at. The database sums their license-site
counters per (license, site) in one statement: the window's events (a difference of
running totals), the first day ever seen and the last day in the window, so what comes
back is a row per site, never a row per day. The events not folded yet (the tail, one
statement) are added to those rows; the licenses over their limit are then read once.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import Case, Count, IntegerField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import TruncDate

from analytics.counters import day_block, unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product
from analytics.feature_usage.sources import _window_sum, first_day_of_block, last_day_in_window
from analytics.license_usage import license_summary
from analytics.models import LicenseDomainBlockCounter
from events.models import License
from lib.snapshot import read_snapshot


class _Site:
    """One limited license's site: the window's events, its first day ever, its last day in the window."""

    __slots__ = ("events", "first", "last")

    def __init__(self) -> None:
        self.events = 0
        self.first: date | None = None
        self.last: date | None = None

    def seen(self, day: date, n: int, *, in_window: bool) -> None:
        self.first = day if self.first is None else min(self.first, day)
        if in_window:
            self.events += n
            self.last = day if self.last is None else max(self.last, day)


def license_sharing(query: FeatureUsageQuery) -> list[dict]:
    """Every flagged license of the product, by license id: its limit, its sites and their first days."""
    with read_snapshot():
        product = counted_product(query)
        zone = zoneinfo.ZoneInfo(product.timezone)
        blocks, window = _window_sum(query.date_from, query.date_to)
        sites: dict[int, dict[str, _Site]] = defaultdict(lambda: defaultdict(_Site))
        limits: dict[int, int] = {}
        # The tail of the limited licenses up to the window's end (a day wider for the index range), first:
        # the licenses it touches keep their counted sites even with no counted event in the window.
        tail = list(
            unfolded_events(product=product, through=product.folded_through)
            .filter(
                license__max_sites__isnull=False,
                is_system=False,
                occurred_at__lt=datetime.combine(query.date_to + timedelta(days=2), time.min, tzinfo=zone),
            )
            .exclude(domain="")
            .annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
            .order_by()
            .values_list("license_id", "license__max_sites", "domain", "local_day")
            .annotate(n=Count("id"))
        )
        # Every block up to the window's end: the first day ever may be long before it.
        # Blocks outside the window add nothing to the window's events (``window`` is 0 there).
        counted = (
            LicenseDomainBlockCounter.objects.filter(
                product=product, license__max_sites__isnull=False, block__lte=day_block(query.date_to)[0]
            )
            .order_by()
            .values_list("license_id", "license__max_sites", "domain")
            .annotate(
                events=Sum(_zero_outside(blocks, window)),
                first=Min(first_day_of_block(LicenseDomainBlockCounter)),
                last=Max(last_day_in_window(LicenseDomainBlockCounter, query.date_from, query.date_to)),
            )
            .filter(Q(events__gt=0) | Q(license_id__in={row[0] for row in tail}))
        )
        for license_id, max_sites, domain, events, first, last in counted:
            limits[license_id] = max_sites
            site = sites[license_id][domain]
            site.events = int(events)
            site.first = date.fromordinal(first) if first is not None else None
            site.last = date.fromordinal(last) if last is not None else None
        for license_id, max_sites, domain, day, n in tail:
            if day <= query.date_to:
                limits[license_id] = max_sites
                sites[license_id][domain].seen(day, n, in_window=day >= query.date_from)
        flagged = {}
        for license_id, of_license in sites.items():
            in_window = [(domain, site) for domain, site in of_license.items() if site.events > 0]
            if len(in_window) > limits[license_id]:
                flagged[license_id] = in_window
        if not flagged:
            return []
        rows = []
        for license in License.objects.filter(pk__in=list(flagged)).order_by("public_id"):
            seen = [
                {
                    "domain": domain,
                    "events": site.events,
                    "firstSeen": site.first.isoformat(),
                    "lastSeen": site.last.isoformat(),
                }
                for domain, site in flagged[license.pk]
            ]
            # First seen first: the order in which the key spread.
            seen.sort(key=lambda row: (row["firstSeen"], row["domain"]))
            rows.append({"license": license_summary(license), "maxSites": license.max_sites, "sites": seen})
        return rows


def _zero_outside(blocks: list[int], window):
    """The window's count of a block row, 0 on the blocks before the window (read for the first day ever)."""
    if len(blocks) > 1:
        return window  # already a CASE over the window's blocks, 0 elsewhere
    return Case(When(block=blocks[0], then=window), default=Value(0), output_field=IntegerField())
