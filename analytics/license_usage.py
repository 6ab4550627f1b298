"""One customer's usage: what a license did in a window, read from the Feature Usage counters.

Every figure is exact without a scan of raw events: the license's pair, day-hour
and site counters (index ranges that lead with the license), plus the events not
folded yet (the tail), as Feature Usage reads them. Read-only, in one snapshot.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils.timezone import now

from analytics.counters import day_block, unfolded_events
from analytics.feature_usage.query import FeatureUsageQuery, days_in_window
from analytics.feature_usage.report import counted_product, read_snapshot
from analytics.feature_usage.sources import _days_of_block, figures_from_license_counters, tail_rows
from analytics.models import RUNNING_COLUMNS, FeatureDayCounter, LicenseDayHours, LicenseDomainBlockCounter
from events.models import License, Product

# Site days: {license pk: {site: {local day: events}}}
SiteDays = dict[int, dict[str, dict[date, int]]]


def license_usage(query: FeatureUsageQuery) -> dict:
    """The ``data`` object of ``GET /v1/products/{id}/licenses/{licenseId}/usage`` (docs/customers.md)."""
    license = query.license
    assert license is not None
    with read_snapshot():
        product = counted_product(query)
        zone = zoneinfo.ZoneInfo(product.timezone)
        from_start = datetime.combine(query.date_from, time.min, tzinfo=zone)
        figures = figures_from_license_counters(query, from_start=from_start, tail=tail_rows(query, zone=zone))
        window_days = days_in_window(query)
        used = []
        for feature, days in figures.feature_days.items():
            sparkline = [days.get(day, 0) for day in window_days]
            if not any(sparkline):
                continue
            used.append(
                {
                    "name": feature,
                    "events": sum(sparkline),
                    "priorEvents": sum(n for day, n in days.items() if day < query.date_from),
                    "lastUsed": max(day for day, n in zip(window_days, sparkline, strict=True) if n).isoformat(),
                    "sparkline": sparkline,
                }
            )
        used.sort(key=lambda row: (-row["events"], row["name"]))
        used_names = {row["name"] for row in used}
        sites = license_sites(
            product=product, license=license, zone=zone, date_from=query.date_from, date_to=query.date_to
        )
        first_seen, last_seen = license_seen(product=product, license=license, zone=zone)
        return {
            "license": license_summary(license),
            "from": query.date_from.isoformat(),
            "to": query.date_to.isoformat(),
            "firstSeen": _iso(first_seen),
            "lastSeen": _iso(last_seen),
            "totals": {
                "events": sum(row["events"] for row in used),
                "features": len(used),
                "sites": len(sites),
            },
            "sparklineDays": [day.isoformat() for day in window_days],
            "features": used,
            "unusedFeatures": sorted(product_features(product=product, zone=zone) - used_names),
            "sites": sites,
            "sharing": sharing_of(license, sites),
        }


def license_summary(license: License) -> dict:
    """Key, email, the stored status, the status that rules today and the expiry (docs/customers.md)."""
    return {
        "id": license.public_id,
        "key": license.key,
        "customerEmail": license.customer_email,
        "status": license.status_at(now()),
        "storedStatus": license.status,
        "createdAt": _iso_time(license.created_at),
        "expiresAt": _iso_time(license.expires_at),
        "maxSites": license.max_sites,
    }


def sharing_of(license: License, sites: list[dict]) -> dict:
    """Whether the window's distinct sites exceed what the license allows (null maxSites: never)."""
    return {
        "maxSites": license.max_sites,
        "sites": len(sites),
        "exceeded": license.max_sites is not None and len(sites) > license.max_sites,
    }


def license_sites(*, product: Product, license: License, zone, date_from: date, date_to: date) -> list[dict]:
    """The sites the license used in the window: events there, first day ever seen, last day up to ``to``."""
    days = site_days(product=product, license_ids=[license.pk], zone=zone, through=date_to)
    return sites_in_window(days.get(license.pk, {}), date_from=date_from)


def sites_in_window(days_of_site: dict[str, dict[date, int]], *, date_from: date) -> list[dict]:
    """Per site seen on or after ``date_from`` (days are already cut at the window's end), busiest first."""
    sites = []
    for site, days in days_of_site.items():
        in_window = {day: n for day, n in days.items() if day >= date_from and n}
        if not in_window:
            continue
        sites.append(
            {
                "domain": site,
                "events": sum(in_window.values()),
                "firstSeen": min(day for day, n in days.items() if n).isoformat(),
                "lastSeen": max(in_window).isoformat(),
            }
        )
    sites.sort(key=lambda row: (-row["events"], row["domain"]))
    return sites


def site_days(*, product: Product, license_ids: list[int], zone, through: date) -> SiteDays:
    """Events per license, site and local day, every day up to ``through``: site counters plus the tail.

    The counters' key leads with (product, license), so each license is one index range.
    """
    found: SiteDays = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    # Summed over event names and features by the database: running totals add up, and a
    # license's site then comes back as one row per block instead of one per (event, feature).
    rows = (
        LicenseDomainBlockCounter.objects.filter(
            product=product, license_id__in=license_ids, block__lte=day_block(through)[0]
        )
        .order_by()
        .values_list("license_id", "domain", "block")
        .annotate(*(Sum(name) for name in RUNNING_COLUMNS))
    )
    for license_id, domain, block, *totals in rows:
        for day, n in _days_of_block(block, totals):
            if day <= through:
                found[license_id][domain][day] += n
    tail = (
        unfolded_events(product=product)
        .filter(license_id__in=license_ids, is_system=False, occurred_at__lt=_day_start(through, zone, after=2))
        .exclude(domain="")
        .annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
        .order_by()
        .values_list("license_id", "domain", "local_day")
        .annotate(n=Count("id"))
    )
    for license_id, domain, day, n in tail:
        if day <= through:
            found[license_id][domain][day] += n
    return found


def license_seen(*, product: Product, license: License, zone) -> tuple[date | None, date | None]:
    """First and last local day the license sent a counted event, ever: two seeks plus the tail."""
    counted = LicenseDayHours.objects.filter(product=product, license=license).aggregate(
        first=Min("day"), last=Max("day")
    )
    tail = (
        unfolded_events(product=product)
        .filter(license=license, is_system=False)
        .aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    )
    firsts = [counted["first"], tail["first"] and tail["first"].astimezone(zone).date()]
    lasts = [counted["last"], tail["last"] and tail["last"].astimezone(zone).date()]
    return min((d for d in firsts if d), default=None), max((d for d in lasts if d), default=None)


def product_features(*, product: Product, zone) -> set[str]:
    """Every feature the product's counted events have named: its day counters plus the tail."""
    counted = set(FeatureDayCounter.objects.filter(product=product).order_by().values_list("feature", flat=True))
    pending = unfolded_events(product=product).filter(is_system=False).order_by().values_list("feature", flat=True)
    return counted | set(pending.distinct())


def _day_start(day: date, zone, *, after: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=after), time.min, tzinfo=zone)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _iso_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
