"""Flag health, the 7-day activity of flags and the unknown flags (reads only).

All three read the live per-day counters (``FlagActivityDay``,
``UnknownFlagDay``) that every recorder flush and every SDK bucket add to, so
they are current within a flush, unlike the nightly usage report.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db.models import Max, Q, Sum
from django.utils import timezone

from flags.models import Environment, Flag, FlagActivityDay, UnknownFlagDay

NEW_DAYS = 7
RECENT_DAYS = 7
UNUSED_DAYS = 30
UNKNOWN_FLAGS_LIMIT = 100


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def flags_health(*, flags: list[Flag], environments: list[Environment], now: datetime | None = None) -> dict:
    """flag id -> environment public id -> {status, reason, lastEvaluatedAt, evaluations7d}."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    recent_from = today - timedelta(days=RECENT_DAYS - 1)
    window_from = today - timedelta(days=UNUSED_DAYS - 1)
    rows = (
        FlagActivityDay.objects.filter(flag__in=flags, environment__in=environments)
        .values("flag_id", "environment_id", "variant")
        .annotate(
            last=Max("last_evaluated_at"),
            in_window=Sum("evaluations", filter=Q(day__gte=window_from)),
            recent=Sum("evaluations", filter=Q(day__gte=recent_from)),
        )
        .order_by()
    )
    seen: dict[tuple[int, int], dict] = defaultdict(lambda: {"last": None, "recent": 0, "variants": set(), "any": 0})
    for row in rows:
        entry = seen[(row["flag_id"], row["environment_id"])]
        if entry["last"] is None or row["last"] > entry["last"]:
            entry["last"] = row["last"]
        entry["recent"] += row["recent"] or 0
        entry["any"] += row["in_window"] or 0
        if row["in_window"] and row["variant"]:
            entry["variants"].add(row["variant"])
    return {
        flag.pk: {
            environment.public_id: _status(flag, seen.get((flag.pk, environment.pk)), now=now)
            for environment in environments
        }
        for flag in flags
    }


def _status(flag: Flag, entry: dict | None, *, now: datetime) -> dict:
    last = entry["last"] if entry else None
    recent = entry["recent"] if entry else 0
    if last is None:
        if now - flag.created_at < timedelta(days=NEW_DAYS):
            status, reason = "new", "Created under 7 days ago and not evaluated yet."
        else:
            status, reason = "unused", "Never evaluated."
    elif not entry["any"]:
        status, reason = "unused", f"No evaluation in {UNUSED_DAYS} days; last on {last.astimezone(UTC).date()}."
    elif len(entry["variants"]) == 1:
        (only,) = entry["variants"]
        status, reason = "stale", f"Every evaluation of the last {UNUSED_DAYS} days served '{only}'."
    elif not entry["variants"]:
        status, reason = "active", f"Evaluated in the last {UNUSED_DAYS} days, every time with an error."
    else:
        served = ", ".join(f"'{name}'" for name in sorted(entry["variants"]))
        status, reason = "active", f"Served {served} in the last {UNUSED_DAYS} days."
    return {"status": status, "reason": reason, "lastEvaluatedAt": _iso(last), "evaluations7d": recent}


def flags_daily_evaluations(
    *, flags: list[Flag], environment: Environment, today: date, days: int = RECENT_DAYS
) -> dict:
    """flag id -> evaluations per UTC day for the ``days`` days ending today, zeros included."""
    first = today - timedelta(days=days - 1)
    series = {flag.pk: [0] * days for flag in flags}
    for flag_id, day, n in (
        FlagActivityDay.objects.filter(flag__in=flags, environment=environment, day__gte=first, day__lte=today)
        .values("flag_id", "day")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("flag_id", "day", "n")
    ):
        series[flag_id][(day - first).days] += n
    return series


def unknown_flags(*, environment: Environment, now: datetime | None = None) -> list[dict]:
    """Keys evaluated in the last 30 days that the project does not define, most evaluated first."""
    now = now or timezone.now()
    first = now.astimezone(UTC).date() - timedelta(days=UNUSED_DAYS - 1)
    defined = Flag.objects.filter(project_id=environment.project_id).values("key")
    rows = (
        UnknownFlagDay.objects.filter(environment=environment, day__gte=first)
        .exclude(key__in=defined)
        .values("key")
        .annotate(n=Sum("evaluations"), last=Max("last_seen_at"))
        .order_by("-n", "key")[:UNKNOWN_FLAGS_LIMIT]
    )
    return [{"key": row["key"], "evaluations": row["n"], "lastSeenAt": _iso(row["last"])} for row in rows]
