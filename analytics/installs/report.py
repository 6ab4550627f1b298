"""The Installs answer: the folded rows plus the lifecycle events not folded yet (the tail).

Read-only and exact at any moment of the fold: the rows and the tail are read in one
snapshot, and the tail is applied to the stored state of its sites with the same rules
the fold applies (``lifecycle.apply_event``), in memory. No fold, no lock, no write.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, Sum
from rest_framework import status

from analytics.feature_usage.query import FeatureUsageQuery, days_in_window, parse_feature_usage_query
from analytics.installs.fold import apply_events, as_lifecycle_events, lifecycle_events, uninstall_day_counts
from analytics.installs.lifecycle import UninstallRow
from analytics.installs.models import (
    UNKNOWN_AGE,
    InstallActiveCount,
    InstallDay,
    InstallState,
    Uninstall,
    UninstallDayCount,
)
from events.models import License, Product
from lib.errors import ApiError
from lib.snapshot import read_snapshot
from lib.text import has_control_characters

TOP_VALUES = 20
TOP_LICENSES = 50
FEEDBACK_PAGE_SIZE = 50
MAX_PAGE = 200  # 10,000 uninstalls a window: beyond, narrow the window or search (q=)
QUERY_MAX_LENGTH = 200
# Days from install to uninstall, as the distribution's buckets: [low, high) days, None = open.
AGE_BUCKETS = ((0, 1), (1, 7), (7, 30), (30, 90), (90, 365), (365, None))
RECOUNTING_RETRY_AFTER_SECONDS = 5
UNKNOWN = "unknown"


class InstallsRecounting(ApiError):
    """503 while the installs are recounted in the product's new time zone: never an answer in the old zone's days."""

    def __init__(self):
        super().__init__(
            "Installs are being recounted in the product's new time zone; retry shortly.",
            code="analytics_recounting",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        self.wait = RECOUNTING_RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class FeedbackQuery:
    window: FeatureUsageQuery
    q: str | None = None
    page: int = 1


def parse_installs_query(*, product: Product, params: Mapping[str, str], today: date | None = None):
    """The window of the API, validated exactly as Feature Usage validates it."""
    window = {name: params[name] for name in ("from", "to") if name in params}
    return parse_feature_usage_query(product=product, params=window, today=today)


def parse_feedback_query(*, product: Product, params: Mapping[str, str], today: date | None = None) -> FeedbackQuery:
    window = parse_installs_query(product=product, params=params, today=today)
    q = (params.get("q") or "").strip() or None
    if q is not None and len(q) > QUERY_MAX_LENGTH:
        raise ApiError(f"q: at most {QUERY_MAX_LENGTH} characters.")
    if q is not None and has_control_characters(q):
        raise ApiError("q: must not contain control characters.")
    raw_page = params.get("page") or "1"
    if not raw_page.isascii() or not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise ApiError(f"page: must be a whole number from 1 to {MAX_PAGE}.", code="invalid_page")
    return FeedbackQuery(window=window, q=q, page=int(raw_page))


class _Read:
    """The folded rows' source and the tail's changes, read in the caller's snapshot."""

    def __init__(self, query: FeatureUsageQuery):
        product = Product.objects.only("timezone").get(pk=query.product.pk)
        state = InstallState.objects.filter(product=product).first()
        if state is not None and state.timezone != product.timezone and state.folded_through:
            raise InstallsRecounting()
        self.product = product
        self.query = query
        through = state.folded_through if state is not None else 0
        self.without_site = state.without_site if state is not None else 0
        tail = list(as_lifecycle_events(lifecycle_events(product=product).filter(id__gt=through)))
        _, self.changes = apply_events(product=product, events=tail, zone=zoneinfo.ZoneInfo(product.timezone))
        self.without_site += self.changes.without_site

    def in_window(self, day: date) -> bool:
        return self.query.date_from <= day <= self.query.date_to

    def tail_uninstalls(self) -> list[UninstallRow]:
        return [row for row in self.changes.uninstalls if self.in_window(row.day)]

    def folded_uninstalls(self):
        return Uninstall.objects.filter(product=self.product, day__range=(self.query.date_from, self.query.date_to))


def installs(query: FeatureUsageQuery) -> dict:
    """The ``data`` object of ``GET /v1/products/{id}/analytics/installs`` (docs/installs.md)."""
    with read_snapshot():
        read = _Read(query)
        days = _days(read)
        active = days.pop("active_now")
        licensed = _counts(read, "licensed", ["yes", "no"])
        uninstall_counts = _uninstall_counts(read)
        return {
            "from": query.date_from.isoformat(),
            "to": query.date_to.isoformat(),
            "timezone": read.product.timezone,
            "activeInstalls": active,
            "activeLicensed": licensed.get("yes", 0),
            "activeUnlicensed": licensed.get("no", 0),
            "totals": days["totals"],
            "days": days["days"],
            "uninstallReasons": _reasons(read, uninstall_counts),
            "timeToUninstall": _time_to_uninstall(read, uninstall_counts),
            "environment": {
                "php": [{"version": v or UNKNOWN, "sites": n} for v, n in _top(read, "php", TOP_VALUES)],
                "wp": [{"version": v or UNKNOWN, "sites": n} for v, n in _top(read, "wp", TOP_VALUES)],
                "plugins": [{"plugin": v, "sites": n} for v, n in _top(read, "plugin", TOP_VALUES)],
            },
            "licenses": _licenses(read),
            "eventsWithoutSite": read.without_site,
        }


def installs_feedback(query: FeedbackQuery, *, page_size: int = FEEDBACK_PAGE_SIZE) -> dict:
    """One page of the uninstalls of the window, newest first, with their reason and feedback.

    ``page_size``: the CSV export reads its rows as one page of 10,000.
    """
    with read_snapshot():
        read = _Read(query.window)
        folded = read.folded_uninstalls()
        tail = read.tail_uninstalls()
        if query.q is not None:
            needle = query.q.casefold()
            folded = folded.filter(search_text__contains=needle)
            tail = [row for row in tail if needle in row.search_text]
        start = (query.page - 1) * page_size
        end = start + page_size
        rows = [
            UninstallRow(
                event_id=row.event_id,
                domain=row.domain,
                day=row.day,
                occurred_at=row.occurred_at,
                reason=row.reason,
                feedback=row.feedback,
                license_id=row.license_id,
                license_key=row.license_key,
                days_installed=row.days_installed,
            )
            for row in folded.order_by("-occurred_at", "-event_id")[:end]
        ]
        rows = sorted([*rows, *tail], key=lambda row: (row.occurred_at, row.event_id), reverse=True)[start:end]
        licenses = _license_ids({row.license_id for row in rows if row.license_id is not None})
        return {
            "from": query.window.date_from.isoformat(),
            "to": query.window.date_to.isoformat(),
            "q": query.q or "",
            "page": query.page,
            "pageSize": page_size,
            "total": folded.count() + len(tail),
            "results": [
                {
                    "occurredAt": row.occurred_at.isoformat().replace("+00:00", "Z"),
                    "site": row.domain,
                    "licenseId": licenses.get(row.license_id),
                    "licenseKey": row.license_key,
                    "reason": row.reason,
                    "feedback": row.feedback,
                    "daysInstalled": row.days_installed,
                }
                for row in rows
            ],
        }


def _days(read: _Read) -> dict:
    query, changes = read.query, read.changes
    rows = {
        row["day"]: [row["installs"], row["installs_licensed"], row["uninstalls"], row["active_change"]]
        for row in InstallDay.objects.filter(product=read.product, day__range=(query.date_from, query.date_to)).values(
            "day", "installs", "installs_licensed", "uninstalls", "active_change"
        )
    }
    sums = InstallDay.objects.filter(product=read.product).aggregate(
        before=Sum("active_change", filter=Q(day__lt=query.date_from)), all=Sum("active_change")
    )
    active_before = sums["before"] or 0
    active_now = sums["all"] or 0
    for day, values in changes.days.items():
        active_now += values[3]
        if day < query.date_from:
            active_before += values[3]
        elif day <= query.date_to:
            row = rows.setdefault(day, [0, 0, 0, 0])
            for index, value in enumerate(values):
                row[index] += value
    out, running = [], active_before
    totals = {"installs": 0, "licensedInstalls": 0, "unlicensedInstalls": 0, "uninstalls": 0, "net": 0}
    for day in days_in_window(query):
        installs_, licensed, uninstalls, change = rows.get(day, (0, 0, 0, 0))
        running += change
        out.append(
            {
                "date": day.isoformat(),
                "activeInstalls": running,
                "installs": installs_,
                "uninstalls": uninstalls,
                "net": installs_ - uninstalls,
            }
        )
        totals["installs"] += installs_
        totals["licensedInstalls"] += licensed
        totals["unlicensedInstalls"] += installs_ - licensed
        totals["uninstalls"] += uninstalls
    totals["net"] = totals["installs"] - totals["uninstalls"]
    return {"days": out, "totals": totals, "active_now": active_now}


def _counts(read: _Read, kind: str, values: list[str]) -> dict[str, int]:
    counts = dict(
        InstallActiveCount.objects.filter(product=read.product, kind=kind, value__in=values).values_list(
            "value", "sites"
        )
    )
    for (tail_kind, value), delta in read.changes.counts.items():
        if tail_kind == kind and value in values:
            counts[value] = counts.get(value, 0) + delta
    return counts


def _top(read: _Read, kind: str, limit: int) -> list[tuple[str, int]]:
    """The ``limit`` values of ``kind`` with the most active sites (ties by value), tail included.

    A value the tail does not touch keeps its folded count, so the answer is among the
    folded top ``limit`` + (values touched) and the touched values themselves.
    """
    touched = {value: delta for (tail_kind, value), delta in read.changes.counts.items() if tail_kind == kind and delta}
    stored = InstallActiveCount.objects.filter(product=read.product, kind=kind)
    counts = dict(stored.order_by("-sites", "value").values_list("value", "sites")[: limit + len(touched)])
    if touched:
        counts.update(stored.filter(value__in=list(touched)).values_list("value", "sites"))
        for value, delta in touched.items():
            counts[value] = counts.get(value, 0) + delta
    ranked = sorted(((value, n) for value, n in counts.items() if n > 0), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]


def _uninstall_counts(read: _Read) -> dict[tuple[str, int], list[int]]:
    """The window's counted uninstalls per (reason, days installed or UNKNOWN_AGE): [uninstalls, with feedback]."""
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    grouped = (
        UninstallDayCount.objects.filter(product=read.product, day__range=(read.query.date_from, read.query.date_to))
        .order_by()
        .values_list("reason", "days_installed")
        .annotate(n=Sum("uninstalls"), f=Sum("with_feedback"))
    )
    for reason, age, n, with_feedback in grouped:
        counts[(reason, age)][0] += n
        counts[(reason, age)][1] += with_feedback
    for (_, reason, age), (n, with_feedback) in uninstall_day_counts(read.tail_uninstalls()).items():
        counts[(reason, age)][0] += n
        counts[(reason, age)][1] += with_feedback
    return counts


def _reasons(read: _Read, counts: dict) -> list[dict]:
    reasons: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (reason, _), (n, with_feedback) in counts.items():
        reasons[reason][0] += n
        reasons[reason][1] += with_feedback
    ranked = sorted(((r, v) for r, v in reasons.items() if v[0]), key=lambda item: (-item[1][0], item[0]))
    return [{"reason": reason, "uninstalls": n, "withFeedback": f} for reason, (n, f) in ranked]


def _time_to_uninstall(read: _Read, counts: dict) -> dict:
    ages: dict[int, int] = defaultdict(int)
    for (_, age), (n, _) in counts.items():
        ages[age] += n
    unknown = ages.pop(UNKNOWN_AGE, 0)
    ages = {age: n for age, n in ages.items() if n}
    known = sum(ages.values())
    return {
        "uninstalls": known + unknown,
        "installSeen": known,
        "installNotSeen": unknown,
        "medianDays": _median(ages, known),
        "buckets": [
            {
                "fromDays": low,
                "toDays": high,  # exclusive; None: no upper bound
                "uninstalls": sum(n for days, n in ages.items() if days >= low and (high is None or days < high)),
            }
            for low, high in AGE_BUCKETS
        ],
    }


def _median(ages: dict[int, int], total: int) -> float | None:
    if total == 0:
        return None
    middle = ((total - 1) // 2, total // 2)  # the two middle ranks (equal when the count is odd)
    values, seen = [], 0
    for days in sorted(ages):
        for rank in middle:
            if seen <= rank < seen + ages[days]:
                values.append(days)
        seen += ages[days]
    return sum(values) / 2


def _licenses(read: _Read) -> list[dict]:
    top = _top(read, "license", TOP_LICENSES)
    ids = [int(value) for value, _ in top]
    licenses = License.objects.in_bulk(ids)
    has_max = any(field.name == "max_sites" for field in License._meta.get_fields())
    rows = []
    for value, sites in top:
        license = licenses.get(int(value))
        if license is None:
            continue  # deleted since: its sites count as unlicensed from the next install event on
        row = {"licenseId": license.public_id, "licenseKey": license.key, "sites": sites}
        if has_max:
            row["maxSites"] = license.max_sites
        rows.append(row)
    return rows


def _license_ids(pks: set[int]) -> dict[int, str]:
    return dict(License.objects.filter(pk__in=pks).values_list("pk", "public_id"))
