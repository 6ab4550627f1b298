"""One customer's usage: what a license did in a window, read from the Feature Usage counters.

Every figure is exact without a scan of raw events: the license's pair and site
counters and its day-hour rows (index seeks on the license), plus the events not
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
from analytics.feature_usage.report import counted_product
from analytics.feature_usage.sources import _days_of_block
from analytics.models import (
    RUNNING_COLUMNS,
    FeatureDayCounter,
    LicenseBlockCounter,
    LicenseDayHours,
    LicenseDomainBlockCounter,
)
from events.models import License, Product
from lib.snapshot import read_snapshot

# Site days: {license pk: {site: {local day: events}}}
SiteDays = dict[int, dict[str, dict[date, int]]]


def license_usage(query: FeatureUsageQuery) -> dict:
    """The ``data`` object of ``GET /v1/products/{id}/licenses/{licenseId}/usage`` (docs/customers.md).

    A few statements, each an index range of this license or a handful of product rows
    (tests/analytics/test_license_usage_api.py pins how many): the product with its
    watermark, the license's tail (read once, it serves every figure), its feature
    blocks, its site blocks, its first and last counted days, the product's features.
    """
    license = query.license
    assert license is not None
    with read_snapshot():
        product = counted_product(query)
        zone = zoneinfo.ZoneInfo(product.timezone)
        tail = license_tail(product=product, license=license, zone=zone)
        feature_days = license_feature_days(query, product=product, license=license, tail=tail)
        window_days = days_in_window(query)
        used = []
        for feature, days in feature_days.items():
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
        days_of_site = site_days(product=product, license_ids=[license.pk], zone=zone, through=query.date_to, tail=tail)
        sites = sites_in_window(days_of_site.get(license.pk, {}), date_from=query.date_from)
        first_seen, last_seen = license_seen(product=product, license=license, tail=tail)
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
            "unusedFeatures": sorted(product_features(product=product) - used_names),
            "sites": sites,
            "sharing": sharing_of(license, sites),
        }


# One license's events not folded yet: (domain, feature, local day, events).
LicenseTail = list[tuple[str, str, date, int]]


def license_tail(*, product: Product, license: License, zone) -> LicenseTail:
    """The license's counted events above the watermark, per site, feature and local day: one statement.

    All of its tail, whatever the day: the window's features, its sites up to ``to``
    and its first and last days ever each take their part of it.
    """
    return list(
        unfolded_events(product=product, through=product.folded_through)
        .filter(license=license, is_system=False)
        .annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
        .order_by()
        .values_list("domain", "feature", "local_day")
        .annotate(n=Count("id"))
    )


def license_feature_days(
    query: FeatureUsageQuery, *, product: Product, license: License, tail: LicenseTail
) -> dict[str, dict[date, int]]:
    """Events per feature and local day of the prior window and the window: the license's pair blocks plus its tail."""
    found: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    first_block, last_block = day_block(query.prior_from)[0], day_block(query.date_to)[0]
    # ``block IN (…)``, not a range: the key is (product, block, license, …), so PostgreSQL
    # descends once per block straight to this license's rows; a range of blocks would read
    # every license's rows of those blocks (EXPLAIN ANALYZE in docs/benchmarks.md).
    for feature, block, *totals in LicenseBlockCounter.objects.filter(
        product=product, license=license, block__in=list(range(first_block, last_block + 1))
    ).values_list("feature", "block", *RUNNING_COLUMNS):
        for day, n in _days_of_block(block, totals):
            if query.prior_from <= day <= query.date_to:
                found[feature][day] += n
    for _, feature, day, n in tail:
        if query.prior_from <= day <= query.date_to:
            found[feature][day] += n
    return found


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


def site_days(
    *, product: Product, license_ids: list[int], zone, through: date, tail: LicenseTail | None = None
) -> SiteDays:
    """Events per license, site and local day, every day up to ``through``: site counters plus the tail.

    The counters' key leads with (product, license), so each license is one index range.
    ``tail``: one license's tail already read (``license_tail``), instead of reading it here.
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
    if tail is not None:
        assert len(license_ids) == 1
        pending = [(license_ids[0], domain, day, n) for domain, _, day, n in tail if domain]
    else:
        pending = (
            unfolded_events(product=product, through=product.folded_through)
            .filter(license_id__in=license_ids, is_system=False, occurred_at__lt=_day_start(through, zone, after=2))
            .exclude(domain="")
            .annotate(local_day=TruncDate("occurred_at", tzinfo=zone))
            .order_by()
            .values_list("license_id", "domain", "local_day")
            .annotate(n=Count("id"))
        )
    for license_id, domain, day, n in pending:
        if day <= through:
            found[license_id][domain][day] += n
    return found


def license_seen(*, product: Product, license: License, tail: LicenseTail) -> tuple[date | None, date | None]:
    """First and last local day the license sent a counted event, ever: two seeks plus its tail."""
    counted = LicenseDayHours.objects.filter(product=product, license=license).aggregate(
        first=Min("day"), last=Max("day")
    )
    days = [day for day in (counted["first"], counted["last"]) if day] + [day for _, _, day, _ in tail]
    return (min(days), max(days)) if days else (None, None)


def product_features(*, product: Product) -> set[str]:
    """Every feature the product's counted events have named: its day counters plus the tail, one statement."""
    counted = FeatureDayCounter.objects.filter(product=product).order_by().values_list("feature")
    pending = (
        unfolded_events(product=product, through=product.folded_through)
        .filter(is_system=False)
        .order_by()
        .values_list("feature")
    )
    return {feature for (feature,) in counted.union(pending)}


def _day_start(day: date, zone, *, after: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=after), time.min, tzinfo=zone)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _iso_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
