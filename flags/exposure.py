"""Exposure by license: who was served which variant of a flag over a window (reads only).

One computation behind the /v1 endpoint and the console's flag page. Every
figure comes from the rollup's structures (usage days, reach points, license
days), so like the usage report it counts rolled-up days, and its cost
follows variants × days² points plus the licenses seen, never evaluations.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db.models import Max, Min, Q, Sum

from core.errors import ApiError
from events.models import License
from flags.models import FlagLicenseDay, FlagLicenseTotal, FlagReachPoint, FlagUsageDay
from flags.selectors import FlagUsageQuery

ANY_VARIANT = ""


@dataclass(frozen=True)
class LicensePage:
    cursor: str | None
    limit: int


def flag_exposure(query: FlagUsageQuery, *, page: LicensePage) -> dict:
    flag, environment = query.flag, query.environment
    usage = FlagUsageDay.objects.filter(
        flag=flag, environment=environment, date__gte=query.date_from, date__lte=query.date_to
    ).values_list("total_evaluations", "variant_distribution")
    evaluations = 0
    per_variant: dict[str, int] = {}
    for total, distribution in usage:
        evaluations += total
        for variant, n in distribution.items():
            per_variant[variant] = per_variant.get(variant, 0) + n
    keys = _reach(query, FlagReachPoint.Kind.TARGETING_KEY)
    licenses = _reach(query, FlagReachPoint.Kind.LICENSE)
    product_id = query.project.product_id
    active = _active_licenses(product_id, query) if product_id else None
    # The flag's variants in their order, then any variant served that the flag no longer has.
    defined = flag.ordered_variants
    names = list(defined) + sorted(set(per_variant) - set(defined))
    body: dict = {
        "flagKey": flag.key,
        "environmentId": environment.public_id,
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
    }
    if query.clamped_from:
        body["clampedFrom"] = True
    body["totals"] = {
        "evaluations": evaluations,
        "uniqueTargetingKeys": keys.get(ANY_VARIANT, 0),
        "licenses": licenses.get(ANY_VARIANT, 0),
        "activeLicenses": active,
    }
    body["variants"] = [
        {
            "variant": name,
            "value": defined.get(name),
            "evaluations": per_variant.get(name, 0),
            "uniqueTargetingKeys": keys.get(name, 0),
            "licenses": licenses.get(name, 0),
            "licensesPct": round(licenses.get(name, 0) * 100 / active, 1) if active else None,
        }
        for name in names
    ]
    body["licenses"] = _license_page(query, page)
    return body


def _reach(query: FlagUsageQuery, kind: str) -> dict[str, int]:
    """Distinct subjects per variant ("" = any) served in the window: the points of their first day in it."""
    return dict(
        FlagReachPoint.objects.filter(
            flag=query.flag,
            environment=query.environment,
            kind=kind,
            day__gte=query.date_from,
            day__lte=query.date_to,
            previous_day__lt=query.date_from,
        )
        .values("variant")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("variant", "n")
    )


def _active_licenses(product_id: int, query: FlagUsageQuery) -> int:
    # As for Feature Usage: active, and not expired before the window's first day.
    window_start = datetime.combine(query.date_from, time.min, tzinfo=UTC)
    return License.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gte=window_start),
        product_id=product_id,
        status=License.Status.ACTIVE,
    ).count()


ALL_VARIANTS = ""


def _kept_span(query: FlagUsageQuery) -> tuple[date | None, date | None]:
    """First and last kept license day of the flag: two seeks on the (flag, environment, day) index."""
    span = FlagLicenseDay.objects.filter(flag=query.flag, environment=query.environment).aggregate(
        first=Min("day"), last=Max("day")
    )
    return span["first"], span["last"]


def _license_page(query: FlagUsageQuery, page: LicensePage) -> dict:
    """One page of licenses by evaluations, then id.

    Three ways, by what the window leaves out of the kept license days:
    nothing (the 90-day default) — an index range of the per-license totals;
    fewer days than it holds (the same window just after midnight, before the
    night's rollup expired the oldest day) — the totals minus the days left
    out; else the window's license days summed. Details of the page's
    licenses always come from its license days in the window.
    """
    offset = _decode(page.cursor) if page.cursor else 0
    first, last = _kept_span(query)
    if first is None:
        return {"data": [], "nextCursor": None}
    window_days = FlagLicenseDay.objects.filter(
        flag=query.flag, environment=query.environment, day__gte=query.date_from, day__lte=query.date_to
    )
    totals = FlagLicenseTotal.objects.filter(flag=query.flag, environment=query.environment, variant=ALL_VARIANTS)
    left_out = max(0, (query.date_from - first).days) + max(0, (last - query.date_to).days)
    kept_in = (min(last, query.date_to) - max(first, query.date_from)).days + 1
    if left_out == 0:
        ranked = list(
            totals.order_by("-evaluations", "license_public_id").values_list("license_id", "evaluations")[
                offset : offset + page.limit + 1
            ]
        )
    elif left_out < kept_in:
        outside = dict(
            FlagLicenseDay.objects.filter(flag=query.flag, environment=query.environment)
            .exclude(day__gte=query.date_from, day__lte=query.date_to)
            .values("license_id")
            .annotate(n=Sum("evaluations"))
            .order_by()
            .values_list("license_id", "n")
        )
        counts = [
            (license_id, public_id, n - outside.get(license_id, 0))
            for license_id, public_id, n in totals.values_list("license_id", "license_public_id", "evaluations")
        ]
        counts.sort(key=lambda row: (-row[2], row[1]))
        ranked = [(license_id, n) for license_id, _, n in counts if n > 0][offset : offset + page.limit + 1]
    else:
        ranked = list(
            window_days.values("license_id")
            .annotate(n=Sum("evaluations"), public_id=Max("license__public_id"))
            .order_by("-n", "public_id")
            .values_list("license_id", "n")[offset : offset + page.limit + 1]
        )
    source = window_days
    chosen = [license_id for license_id, _ in ranked[: page.limit]]
    if not chosen:
        return {"data": [], "nextCursor": None}
    info = {
        pk: (public_id, key, email)
        for pk, public_id, key, email in License.objects.filter(pk__in=chosen).values_list(
            "pk", "public_id", "key", "customer_email"
        )
    }
    seen: dict[int, dict] = {pk: {"evaluations": 0, "variants": {}, "last": None, "lastVariant": None} for pk in chosen}
    for license_id, variant, n, last in (
        source.filter(license_id__in=chosen)
        .values("license_id", "variant")
        .annotate(n=Sum("evaluations"), last=Max("last_seen_at"))
        .order_by()
        .values_list("license_id", "variant", "n", "last")
    ):
        entry = seen[license_id]
        entry["evaluations"] += n
        entry["variants"][variant] = n
        if entry["last"] is None or (last, variant) > (entry["last"], entry["lastVariant"]):
            entry["last"], entry["lastVariant"] = last, variant
    return {
        "data": [
            {
                "id": info[pk][0],
                "key": info[pk][1],
                "customerEmail": info[pk][2],
                "evaluations": seen[pk]["evaluations"],
                "variants": dict(sorted(seen[pk]["variants"].items())),
                "lastVariant": seen[pk]["lastVariant"],
                "lastSeenAt": seen[pk]["last"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
            for pk in chosen
            if pk in info
        ],
        "nextCursor": _encode(offset + page.limit) if len(ranked) > page.limit else None,
    }


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"x:{offset}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    # An offset: the order is by evaluations in the window, which a keyset cannot follow cheaply.
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if kind != "x" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("cursor: not a cursor this API returned.", code="invalid_cursor") from None


def license_flags(*, license: License, date_from: date, date_to: date) -> list[dict]:
    """What one license was served over [date_from, date_to] (UTC days, as rolled up): per flag and environment.

    From the rollup's license days of the flags of projects linked to the license's
    product, so like exposure it counts rolled-up days (the night's rollup adds yesterday).
    """
    served: dict[tuple, dict] = {}
    for project_id, flag_key, environment_id, environment, variant, n, last in (
        FlagLicenseDay.objects.filter(
            license=license, day__gte=date_from, day__lte=date_to, flag__project__product_id=license.product_id
        )
        .values("flag__project__public_id", "flag__key", "environment__public_id", "environment__name", "variant")
        .annotate(n=Sum("evaluations"), last=Max("last_seen_at"))
        .order_by()
        .values_list(
            "flag__project__public_id",
            "flag__key",
            "environment__public_id",
            "environment__name",
            "variant",
            "n",
            "last",
        )
    ):
        entry = served.setdefault(
            (flag_key, project_id, environment_id),
            {
                "projectId": project_id,
                "flagKey": flag_key,
                "environmentId": environment_id,
                "environment": environment,
                "evaluations": 0,
                "variants": {},
                "lastVariant": None,
                "last": None,
            },
        )
        entry["evaluations"] += n
        entry["variants"][variant] = n
        if entry["last"] is None or (last, variant) > (entry["last"], entry["lastVariant"]):
            entry["last"], entry["lastVariant"] = last, variant
    rows = []
    for key in sorted(served):
        entry = served[key]
        last = entry.pop("last")
        entry["variants"] = dict(sorted(entry["variants"].items()))
        entry["lastSeenAt"] = last.astimezone(UTC).isoformat().replace("+00:00", "Z")
        rows.append(entry)
    return rows
