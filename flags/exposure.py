"""Exposure by license: who was served which variant of a flag over a window (reads only).

One computation behind the /v1 endpoint and the console's flag page. Every
figure comes from the rollup's structures (usage days, reach points, license
days), whose cost follows variants × days² points plus the licenses seen,
never evaluations; plus, for the days the rollup has not counted yet (today,
always), their raw evaluations (flags/tail.py), so that a rollout can be
checked the day it starts and the figures do not move when the rollup runs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db.models import Max, Min, Q, Sum

from events.models import License
from flags import fold, tail
from flags.models import FlagLicenseDay, FlagLicenseTotal, FlagReachPoint, FlagUsageDay
from flags.selectors import FlagUsageQuery
from lib.errors import ApiError
from lib.snapshot import read_snapshot

ANY_VARIANT = ""


@dataclass(frozen=True)
class LicensePage:
    cursor: str | None
    limit: int


def flag_exposure(query: FlagUsageQuery, *, page: LicensePage) -> dict:
    # One snapshot: the worker's fold and the raw rows above its watermark are read as of one moment.
    with read_snapshot():
        return _flag_exposure(query, page=page)


def _flag_exposure(query: FlagUsageQuery, *, page: LicensePage) -> dict:
    flag, environment = query.flag, query.environment
    product_id = query.project.product_id
    window = {"date_from": query.date_from, "date_to": query.date_to}
    unrolled = tail.unrolled_days(flag_id=flag.pk, environment_id=environment.pk, **window)
    usage = list(
        FlagUsageDay.objects.filter(
            flag=flag, environment=environment, date__gte=query.date_from, date__lte=query.date_to
        )
        .exclude(date__in=unrolled)
        .values_list("total_evaluations", "variant_distribution")
    )
    folded = fold.usable(
        flag_id=flag.pk, environment_id=environment.pk, product_id=product_id, unrolled=unrolled, date_to=query.date_to
    )
    if unrolled:
        unrolled_usage = fold.usage_totals(days=unrolled, flag_id=flag.pk, environment_id=environment.pk)
        usage += [(row["total"], row["variants"]) for row in unrolled_usage.values()]
    evaluations = 0
    per_variant: dict[str, int] = {}
    for total, distribution in usage:
        evaluations += total
        for variant, n in distribution.items():
            per_variant[variant] = per_variant.get(variant, 0) + n
    keys = _reach(query, FlagReachPoint.Kind.TARGETING_KEY)
    licenses = _reach(query, FlagReachPoint.Kind.LICENSE)
    unrolled_subjects = None
    span = _kept_span(query)
    if unrolled:
        first, last = span
        unrolled_subjects = tail.subjects(
            flag_id=flag.pk,
            environment_id=environment.pk,
            product_id=product_id,
            days=unrolled,
            totals_cover_window=first is not None and first >= query.date_from and last <= query.date_to,
            folded=folded,
            **window,
        )
        if unrolled_subjects.window_keys is not None:
            keys = unrolled_subjects.window_keys
        else:
            _add(keys, unrolled_subjects.new_keys)
        _add(licenses, unrolled_subjects.new_licenses)
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
    live = unrolled_subjects.license_evaluations if unrolled_subjects else {}
    last_seen = unrolled_subjects.last_seen if unrolled_subjects else None
    body["licenses"] = _license_page(query, page, unrolled, live, span, last_seen)
    return body


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for variant, n in more.items():
        if n:
            counts[variant] = counts.get(variant, 0) + n


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
# Licenses looked up by an IN list at most; more are read as the flag's whole range of rows.
IN_LIST_AT_MOST = 200


def _kept_span(query: FlagUsageQuery) -> tuple[date | None, date | None]:
    """First and last kept license day of the flag: two seeks on the (flag, environment, day) index."""
    span = FlagLicenseDay.objects.filter(flag=query.flag, environment=query.environment).aggregate(
        first=Min("day"), last=Max("day")
    )
    return span["first"], span["last"]


def _license_page(
    query: FlagUsageQuery, page: LicensePage, unrolled: list[date], live: dict, span: tuple, last_seen=None
) -> dict:
    """One page of licenses by evaluations, then id.

    Ranked from the rolled-up days (``_rolled_ranking``), then, with unrolled
    days, corrected for them (``_with_unrolled``). Details of the page's
    licenses come from their license days in the window and the unrolled
    days' raw evaluations.
    """
    offset = _decode(page.cursor) if page.cursor else 0
    if live or unrolled:
        # The top of the whole ranking: the unrolled days may lift any license into the page.
        ranked = _with_unrolled(query, _rolled_ranking(query, 0, offset + page.limit + 1, span), unrolled, live, span)
        ranked = ranked[offset : offset + page.limit + 1]
    else:
        ranked = _rolled_ranking(query, offset, page.limit + 1, span)
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
    rolled = (
        FlagLicenseDay.objects.filter(
            flag=query.flag,
            environment=query.environment,
            day__gte=query.date_from,
            day__lte=query.date_to,
            license_id__in=chosen,
        )
        .exclude(day__in=unrolled)
        .values("license_id", "variant")
        .annotate(n=Sum("evaluations"), last=Max("last_seen_at"))
        .order_by()
        .values_list("license_id", "variant", "n", "last")
    )
    unrolled_rows = [(pk, variant, n, last) for (pk, variant), (n, last) in live.items() if pk in seen]
    if last_seen is not None:  # the worker's fold: the page's last evaluations, read for it alone
        lasts = last_seen(set(chosen))
        unrolled_rows = [(pk, variant, n, lasts[(pk, variant)]) for pk, variant, n, _ in unrolled_rows]
    for license_id, variant, n, last in [*rolled, *unrolled_rows]:
        entry = seen[license_id]
        entry["evaluations"] += n
        entry["variants"][variant] = entry["variants"].get(variant, 0) + n
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


def _rolled_ranking(query: FlagUsageQuery, start: int, count: int, span: tuple) -> list[tuple[int, int]]:
    """(license id, evaluations in the window's rolled-up days), ranked by evaluations then id: ``count`` from ``start``.

    Three ways, by what the window leaves out of the kept license days:
    nothing (the 90-day default) — an index range of the per-license totals;
    fewer days than it holds (the same window just after midnight, before the
    night's rollup expired the oldest day) — the totals minus the days left
    out; else the window's license days summed. ``span``: ``_kept_span``, read once per answer.
    """
    first, last = span
    if first is None:
        return []
    totals = FlagLicenseTotal.objects.filter(flag=query.flag, environment=query.environment, variant=ALL_VARIANTS)
    left_out = max(0, (query.date_from - first).days) + max(0, (last - query.date_to).days)
    kept_in = (min(last, query.date_to) - max(first, query.date_from)).days + 1
    if left_out == 0:
        return list(
            totals.order_by("-evaluations", "license_public_id").values_list("license_id", "evaluations")[
                start : start + count
            ]
        )
    if left_out < kept_in:
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
        return [(license_id, n) for license_id, _, n in counts if n > 0][start : start + count]
    return list(
        FlagLicenseDay.objects.filter(
            flag=query.flag, environment=query.environment, day__gte=query.date_from, day__lte=query.date_to
        )
        .values("license_id")
        .annotate(n=Sum("evaluations"), public_id=Max("license__public_id"))
        .order_by("-n", "public_id")
        .values_list("license_id", "n")[start : start + count]
    )


def _rolled_sums(
    query: FlagUsageQuery, license_ids: set[int], span: tuple, public_ids: dict[int, str]
) -> dict[int, int]:
    """Each license's evaluations in the window's rolled-up days: its total when the window keeps every day.

    The totals carry each license's public id: those found are put in ``public_ids``."""
    first, last = span
    if first is None or not license_ids:
        return {}
    if first >= query.date_from and last <= query.date_to:
        totals = FlagLicenseTotal.objects.filter(flag=query.flag, environment=query.environment, variant=ALL_VARIANTS)
        # Many licenses (today's of a busy flag: all of them) are read as the flag's one index range:
        # an IN list of ~1,800 ids cost more to build and bind than the rows (~30 ms at 10M).
        if len(license_ids) <= IN_LIST_AT_MOST:
            totals = totals.filter(license_id__in=license_ids)
        sums = {}
        for license_id, n, public_id in totals.values_list("license_id", "evaluations", "license_public_id"):
            if license_id in license_ids:
                sums[license_id] = n
                public_ids[license_id] = public_id
        return sums
    return dict(
        FlagLicenseDay.objects.filter(
            flag=query.flag,
            environment=query.environment,
            day__gte=query.date_from,
            day__lte=query.date_to,
            license_id__in=license_ids,
        )
        .values("license_id")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("license_id", "n")
    )


def _with_unrolled(
    query: FlagUsageQuery, ranked: list[tuple[int, int]], unrolled: list[date], live: dict, span: tuple
) -> list[tuple[int, int]]:
    """The top of the ranking with the unrolled days counted from their raw evaluations.

    ``ranked`` is the top of the rolled ranking. Only licenses with raw
    evaluations on the unrolled days, or license days of theirs rolled up
    before, can change (and only upwards: a day's raw rows only grow), so
    the top of the whole ranking is among those and ``ranked``; every other
    license ranks below all of ``ranked``.
    """
    window = FlagLicenseDay.objects.filter(
        flag=query.flag, environment=query.environment, day__gte=query.date_from, day__lte=query.date_to
    )
    stale = dict(
        window.filter(day__in=unrolled)
        .values("license_id")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("license_id", "n")
    )
    raw: dict[int, int] = {}
    for (license_id, _), (n, _) in live.items():
        raw[license_id] = raw.get(license_id, 0) + n
    changed = set(stale) | set(raw)
    public_ids: dict[int, str] = {}
    rolled = _rolled_sums(query, changed, span, public_ids)
    counts = dict(ranked)
    for license_id in changed:
        counts[license_id] = rolled.get(license_id, 0) - stale.get(license_id, 0) + raw.get(license_id, 0)
    # The others' from their licenses; a license deleted since has neither and is left out.
    missing = [pk for pk in counts if pk not in public_ids]
    public_ids.update(License.objects.filter(pk__in=missing).values_list("pk", "public_id"))
    merged = [(pk, n) for pk, n in counts.items() if n > 0 and pk in public_ids]
    merged.sort(key=lambda row: (-row[1], public_ids[row[0]]))
    return merged


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
