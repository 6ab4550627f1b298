"""Key sharing: licenses seen on more distinct sites in a window than their ``maxSites`` allows.

Only licenses with a ``maxSites`` are looked at. Their sites in the window come
from the license-site counters (a window's events are a difference of running
totals) plus the events not folded yet; the evidence (each site's first day
ever seen) is read for the flagged licenses only.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import datetime, time, timedelta

from django.db.models.functions import TruncDate

from analytics.counters import unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product, read_snapshot
from analytics.feature_usage.sources import _window_sum
from analytics.license_usage import license_summary, site_days, sites_in_window
from analytics.models import LicenseDomainBlockCounter
from events.models import License


def license_sharing(query: FeatureUsageQuery) -> list[dict]:
    """Every flagged license of the product, by license id: its limit, its sites and their first days."""
    with read_snapshot():
        product = counted_product(query)
        zone = zoneinfo.ZoneInfo(product.timezone)
        limited = dict(License.objects.filter(product=product, max_sites__isnull=False).values_list("pk", "max_sites"))
        if not limited:
            return []
        blocks, window = _window_sum(query.date_from, query.date_to)
        sites: dict[int, set[str]] = defaultdict(set)
        for license_id, domain in (
            LicenseDomainBlockCounter.objects.filter(product=product, block__in=blocks, license_id__in=list(limited))
            .annotate(n=window)
            .filter(n__gt=0)
            .order_by()
            .values_list("license_id", "domain")
            .distinct()
        ):
            sites[license_id].add(domain)
        pending = (
            unfolded_events(product=product)
            .filter(
                license_id__in=list(limited),
                is_system=False,
                occurred_at__gte=datetime.combine(query.date_from - timedelta(days=1), time.min, tzinfo=zone),
                occurred_at__lt=datetime.combine(query.date_to + timedelta(days=2), time.min, tzinfo=zone),
            )
            .exclude(domain="")
            .annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
            .order_by()
            .values_list("license_id", "domain", "local_day")
            .distinct()
        )
        for license_id, domain, day in pending:
            if query.date_from <= day <= query.date_to:
                sites[license_id].add(domain)
        flagged = [pk for pk, found in sites.items() if len(found) > limited[pk]]
        if not flagged:
            return []
        evidence = site_days(product=product, license_ids=flagged, zone=zone, through=query.date_to)
        rows = []
        for license in License.objects.filter(pk__in=flagged).order_by("public_id"):
            seen = sites_in_window(evidence.get(license.pk, {}), date_from=query.date_from)
            # First seen first: the order in which the key spread.
            seen.sort(key=lambda row: (row["firstSeen"], row["domain"]))
            rows.append({"license": license_summary(license), "maxSites": license.max_sites, "sites": seen})
        return rows
