"""The naive reference: Feature Usage in plain Python over every raw event.

Slow and obviously right; the fast computation must equal it on any data.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from events.models import Event, License, Product


def naive_feature_usage(
    *, product: Product, date_from: date, date_to: date, event: str | None = None, license: License | None = None
) -> dict:
    zone = zoneinfo.ZoneInfo(product.timezone)
    days = (date_to - date_from).days + 1
    prior_from = date_from - timedelta(days=days)
    window, prior = [], []
    for row in Event.objects.filter(product=product).select_related("license"):
        if row.is_system:
            continue
        if event and event.casefold() not in row.event.casefold() and event.casefold() not in row.feature.casefold():
            continue
        if license is not None and row.license_id != license.pk:
            continue
        local = row.occurred_at.astimezone(zone)
        if date_from <= local.date() <= date_to:
            window.append((row, local))
        elif prior_from <= local.date() < date_from:
            prior.append(row)

    from_start = datetime.combine(date_from, time.min, tzinfo=zone)
    active = {
        lic.pk
        for lic in License.objects.filter(product=product)
        if lic.status == "active" and (lic.expires_at is None or lic.expires_at >= from_start)
    }
    events = Counter(row.feature for row, _ in window)
    prior_events = Counter(row.feature for row in prior)
    users = defaultdict(set)
    domains = defaultdict(set)
    per_day = defaultdict(Counter)
    pattern = [[0] * 24 for _ in range(7)]
    license_events, license_features, domain_events = Counter(), defaultdict(set), Counter()
    for row, local in window:
        per_day[row.feature][local.date()] += 1
        pattern[(local.weekday() + 1) % 7][local.hour] += 1
        if row.license_id is not None:
            users[row.feature].add(row.license_id)
            license_events[row.license] += 1
            license_features[row.license].add(row.feature)
        if row.domain:
            domains[row.feature].add(row.domain)
            domain_events[row.domain] += 1

    window_days = [date_from + timedelta(days=i) for i in range(days)]

    def adoption(feature):
        if not active:
            return None
        pct = Decimal(len(users[feature] & active) * 100) / Decimal(len(active))
        return float(pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))

    ranked = sorted(events, key=lambda f: (-events[f], f))
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "totals": {
            "events": len(window),
            "uniqueFeatures": len(events),
            "uniqueLicenses": len(license_events),
            "uniqueDomains": len(domain_events),
            "activeLicenses": len(active),
        },
        "topFeatures": [
            {
                "name": f,
                "events": events[f],
                "priorEvents": prior_events[f],
                "licenses": len(users[f]),
                "domains": len(domains[f]),
                "adoptionPct": adoption(f),
                "notUsedBy": len(active - users[f]),
                "sparkline": [per_day[f][d] for d in window_days],
                "sparklineDays": [d.isoformat() for d in window_days],
            }
            for f in ranked[:12]
        ],
        "quietFeatures": [
            {"name": f, "priorEvents": prior_events[f]}
            for f in sorted(prior_events, key=lambda f: (-prior_events[f], f))
            if f not in events
        ],
        "usagePattern": pattern,
        "topLicenses": [
            {
                "licenseId": lic.public_id,
                "customerEmail": lic.customer_email,
                "events": n,
                "features": len(license_features[lic]),
            }
            for lic, n in sorted(license_events.items(), key=lambda item: (-item[1], item[0].public_id))[:10]
        ],
        "topDomains": [
            {"domain": d, "events": n}
            for d, n in sorted(domain_events.items(), key=lambda item: (-item[1], item[0]))[:10]
        ],
    }


def naive_local_events(product: Product) -> list[tuple]:
    """(license pk or None, domain, event, feature, local day) of each counted event of the product."""
    zone = zoneinfo.ZoneInfo(product.timezone)
    return [
        (row.license_id, row.domain, row.event, row.feature, row.occurred_at.astimezone(zone).date())
        for row in Event.objects.filter(product=product, is_system=False)
    ]


def naive_reach_points(product: Product) -> Counter:
    """What the reach points must hold: for each (license or domain, feature) pair and day it was used,
    one point (kind, feature, day, the pair's previous day used or date.min)."""
    used = defaultdict(set)
    for license_id, domain, _, feature, day in naive_local_events(product):
        if license_id is not None:
            used[("license", license_id, feature)].add(day)
        if domain:
            used[("domain", domain, feature)].add(day)
    points = Counter()
    for (kind, _, feature), days in used.items():
        previous = date.min
        for day in sorted(days):
            points[(kind, feature, day, previous)] += 1
            previous = day
    return points


def naive_pair_days(product: Product, kind: str) -> Counter:
    """Events per (license or domain, event, feature, local day): what the pair blocks must hold."""
    counts = Counter()
    for license_id, domain, event, feature, day in naive_local_events(product):
        entity = license_id if kind == "license" else domain
        if entity is not None and entity != "":
            counts[(entity, event, feature, day)] += 1
    return counts
