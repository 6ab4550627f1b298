"""What the rollup has not counted yet, read from the raw evaluations and added exactly (reads only).

``FlagActivityDay`` counts every evaluation in the transaction that writes its
raw row (recording.py, buckets.py); the rollup's ``FlagUsageDay`` counts a
day's raw rows as they were when it ran. A day whose live count is above its
rolled total therefore holds evaluations the rollup has not seen: today,
always; yesterday until the night's run; a past day an SDK bucket reported
late. Such a day is read whole from its raw rows, in place of its rollup, by
the same aggregation the rollup runs (``usage_totals``): each day comes from
one source or the other, never both, so a read just before the rollup and one
just after it give the same numbers.

Distinct counts (targeting keys, licenses) cannot be replaced day by day; they
add the subjects of the unrolled days that no rolled day of the window has.
A rolled day's subjects are a subset of its raw rows' (raw rows are only ever
added), so the union is exact even when an unrolled day was rolled up before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connections
from django.db.models import Count, Max, Sum

from events import sql as events_sql
from events.models import License
from flags import sql as flags_sql
from flags.models import (
    EvaluationBucketCount,
    Flag,
    FlagActivityDay,
    FlagEvaluation,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    FlagUsageDay,
    Reason,
)
from lib.replica import current_read_alias

RULE_MATCH = {Reason.TARGETING_MATCH, Reason.SPLIT}
DEFAULTED = {Reason.DEFAULT, Reason.STATIC, Reason.DISABLED}
ANY_VARIANT = ""


def unrolled_days(*, flag_id: int, environment_id: int, date_from: date, date_to: date) -> list[date]:
    """Days of the window with evaluations the rollup has not counted: two reads of flags × days rows."""
    live = dict(
        FlagActivityDay.objects.filter(
            flag_id=flag_id, environment_id=environment_id, day__gte=date_from, day__lte=date_to
        )
        .values("day")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("day", "n")
    )
    if not live:
        return []
    rolled = dict(
        FlagUsageDay.objects.filter(flag_id=flag_id, environment_id=environment_id, date__in=list(live)).values_list(
            "date", "total_evaluations"
        )
    )
    # Above, not different: days written before the live counters existed (or by hand) have
    # fewer live counts than rolled ones, and their rollup is all there is to trust.
    return sorted(day for day, n in live.items() if n > rolled.get(day, 0))


def usage_totals(
    *,
    days: list[date],
    flag_id: int | None = None,
    environment_id: int | None = None,
    ids: tuple[int, int | None] | None = None,
) -> dict:
    """The rollup's usage figures per (day, environment id, flag id), from the raw evaluations and SDK buckets.

    One function for the nightly rollup (every flag), for reads (one flag, its unrolled days)
    and for the worker's fold (flags/fold.py): with ``ids`` (above, through; None: no upper
    bound), only the raw evaluations with an id in that range, and no SDK bucket.
    """
    raw = FlagEvaluation.objects.filter(flag_id__in=Flag.objects.values("pk"))
    sdk = EvaluationBucketCount.objects.filter(day__in=days)
    if ids is not None:
        # The days are kept below, not filtered on: with the id range the primary key finds the
        # few rows, where a day condition made PostgreSQL AND in the day index (all of today's rows).
        above, through = ids
        raw, sdk = raw.filter(id__gt=above), sdk.none()
        if through is not None:
            raw = raw.filter(id__lte=through)
    else:
        raw = raw.filter(day__in=days)
    if flag_id is not None:
        raw, sdk = raw.filter(flag_id=flag_id), sdk.filter(flag_id=flag_id)
    if environment_id is not None:
        raw, sdk = raw.filter(environment_id=environment_id), sdk.filter(environment_id=environment_id)
    groups = (
        raw.values("day", "environment_id", "flag_id", "reason", "value")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("day", "environment_id", "flag_id", "reason", "value", "variant", "n")
    )
    sdk_counts = (
        sdk.values("day", "environment_id", "flag_id", "reason", "value", "variant")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("day", "environment_id", "flag_id", "reason", "value", "variant", "n")
    )
    totals: dict[tuple, dict] = defaultdict(new_usage)
    for rows in (groups, sdk_counts):
        for day, environment, flag, reason, value, variant, n in rows:
            add_usage(totals[(day, environment, flag)], reason, value, variant, n)
    wanted = set(days)
    return {key: row for key, row in totals.items() if key[0] in wanted}


def new_usage() -> dict:
    """One (day, environment, flag)'s usage figures before any evaluation is counted."""
    return {"total": 0, "rule": 0, "default": 0, "error": 0, "values": defaultdict(int), "variants": defaultdict(int)}


def add_usage(row: dict, reason: int, value: str | None, variant: str | None, n: int) -> None:
    """Count ``n`` evaluations of one (reason, value, variant) into a usage row (``new_usage``)."""
    row["total"] += n
    if reason in RULE_MATCH:
        row["rule"] += n
    elif reason in DEFAULTED:
        row["default"] += n
    else:
        row["error"] += n
    if reason != Reason.ERROR and value is not None:
        row["values"][value] += n
    if reason != Reason.ERROR and variant is not None:
        row["variants"][variant] += n


def value_distribution(values: dict[str, int]) -> dict[str, int]:
    """Largest first, then by value: the order the rollup stores."""
    return dict(sorted(values.items(), key=lambda item: (-item[1], item[0])))


# Keys per IN list: well under SQLite's 32,766 parameters and PostgreSQL's 65,535.
CHUNK = 10_000


@dataclass
class Subjects:
    """The unrolled days' served evaluations, grouped by subject, and what the window's rolled days lack."""

    new_keys: dict[str, int]  # variant ("" = any) -> targeting keys no rolled day of the window has
    new_licenses: dict[str, int]  # the same for licenses
    license_evaluations: dict[tuple[int, str], tuple[int, datetime]]  # (license id, variant) -> (n, last)
    # The window's distinct keys per variant counted from its raw rows instead, when the
    # window ends before a key's last rolled day (see ``subjects``); None otherwise.
    window_keys: dict[str, int] | None = None
    # When some ``license_evaluations`` have no last evaluation (None: the worker's fold leaves it
    # out), the last per (license, variant) of the given licenses (flags/fold.py).
    last_seen: Callable[[set[int]], dict[tuple[int, str], datetime]] | None = None


def subjects(
    *,
    flag_id: int,
    environment_id: int,
    product_id: int | None,
    days: list[date],
    date_from: date,
    date_to: date,
    totals_cover_window: bool = False,
    folded=None,
) -> Subjects:
    """One grouped read of the unrolled days' raw rows, then what the rolled part of the window lacks.

    A key was served on a rolled day of the window when its ``FlagKeyRecent`` row's last
    day is on or after ``date_from``, given that no key of the flag was rolled up for a
    day after ``date_to`` (else: ``window_keys``). A license, when the window's license
    days have it. On PostgreSQL one statement does it all in the database
    (``flags_sql.unrolled_subjects_sql``); ``totals_cover_window`` (the window holds every
    kept license day of the flag) lets it read the per-license totals instead of probing
    the license days. Elsewhere by IN lists of distinct subjects (``_new_subjects``).
    With ``folded`` (the worker's fold of the only unrolled day, flags/fold.py): the fold
    plus the raw rows above its watermark, in place of every raw row of the day.
    """
    window_keys = None
    if _keys_rolled_after(flag_id=flag_id, environment_id=environment_id, day=date_to):
        # ``FlagKeyRecent`` tells whether a key was served from date_from on, not whether that was
        # before date_to: a window ending before a rolled day is counted from its raw rows (rare:
        # a late SDK report of a past day, read with a window ending before yesterday).
        window_keys = keys_in_window(
            flag_id=flag_id, environment_id=environment_id, date_from=date_from, date_to=date_to
        )
    if folded is not None:
        from flags import fold

        found = fold.subjects(
            folded,
            product_id=product_id,
            date_from=date_from,
            date_to=date_to,
            totals_cover_window=totals_cover_window,
        )
        found.window_keys = window_keys
        return found
    found = _subjects(
        flag_id=flag_id,
        environment_id=environment_id,
        product_id=product_id,
        days=days,
        date_from=date_from,
        date_to=date_to,
        totals_cover_window=totals_cover_window,
    )
    found.window_keys = window_keys
    return found


def _keys_rolled_after(*, flag_id: int, environment_id: int, day: date) -> bool:
    """Whether a targeting key of the flag was rolled up for a day after ``day``: one seek on the points' key."""
    return FlagReachPoint.objects.filter(
        flag_id=flag_id, environment_id=environment_id, kind=FlagReachPoint.Kind.TARGETING_KEY, day__gt=day
    ).exists()


def keys_in_window(*, flag_id: int, environment_id: int, date_from: date, date_to: date) -> dict[str, int]:
    """Distinct targeting keys served per variant and over every variant (""), from the window's raw rows."""
    served = FlagEvaluation.objects.filter(
        flag_id=flag_id, environment_id=environment_id, day__gte=date_from, day__lte=date_to, variant__isnull=False
    ).exclude(targeting_key="")
    counts = dict(
        served.values("variant")
        .annotate(n=Count("targeting_key", distinct=True))
        .order_by()
        .values_list("variant", "n")
    )
    counts[ANY_VARIANT] = served.values("targeting_key").distinct().order_by().count()
    return counts


def _subjects(
    *,
    flag_id: int,
    environment_id: int,
    product_id: int | None,
    days: list[date],
    date_from: date,
    date_to: date,
    totals_cover_window: bool,
) -> Subjects:
    connection = connections[current_read_alias()]
    if connection.vendor == "postgresql":
        return _subjects_in_database(
            connection,
            flag_id=flag_id,
            environment_id=environment_id,
            product_id=product_id,
            days=days,
            date_from=date_from,
            date_to=date_to,
            totals_cover_window=totals_cover_window,
        )
    served = list(
        FlagEvaluation.objects.filter(
            flag_id=flag_id, environment_id=environment_id, day__in=days, variant__isnull=False
        )
        .values("variant", "targeting_key", "license_key")
        .annotate(n=Count("id"), last=Max("evaluated_at"))
        .order_by()
        .values_list("variant", "targeting_key", "license_key", "n", "last")
    )
    window = {"flag_id": flag_id, "environment_id": environment_id, "day__gte": date_from, "day__lte": date_to}
    keys = {(variant, key) for variant, key, _, _, _ in served if key}
    # Served from date_from on (the window ends after every key's last rolled day: ``subjects``).
    recent = FlagKeyRecent.objects.filter(flag_id=flag_id, environment_id=environment_id, last_day__gte=date_from)
    result = Subjects(new_keys=_new_subjects(recent, "targeting_key", keys), new_licenses={}, license_evaluations={})
    if not product_id:
        return result
    # As the rollup resolves them: the license whose key is the licenseKey, else the targetingKey.
    license_of = licenses_by_key(product_id, {key for _, tk, lk, _, _ in served for key in (tk, lk) if key})
    evaluations: dict[tuple[int, str], tuple[int, datetime]] = {}
    for variant, tk, lk, n, last in served:
        license_id = (license_of.get(lk) if lk else None) or (license_of.get(tk) if tk else None)
        if license_id is None:
            continue
        before = evaluations.get((license_id, variant))
        evaluations[(license_id, variant)] = (n, last) if before is None else (before[0] + n, max(before[1], last))
    license_days = FlagLicenseDay.objects.filter(**window)
    result.new_licenses = _new_subjects(license_days, "license_id", {(v, pk) for pk, v in evaluations})
    result.license_evaluations = evaluations
    return result


def _subjects_in_database(connection, *, totals_cover_window: bool, **params) -> Subjects:
    statement = flags_sql.unrolled_subjects_sql(
        evaluation=FlagEvaluation,
        key_recent=FlagKeyRecent,
        license_day=FlagLicenseDay,
        license_total=FlagLicenseTotal,
        license=License,
        totals_cover_window=totals_cover_window,
    )
    params = {
        "flag": params["flag_id"],
        "environment": params["environment_id"],
        "product": params["product_id"],
        "date_from": params["date_from"],
        "date_to": params["date_to"],
        "days": list(params["days"]),
    }
    result = Subjects(new_keys={}, new_licenses={}, license_evaluations={})
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        for kind, variant, license_id, n, last in cursor.fetchall():
            if kind == "key":
                result.new_keys[variant] = n
            elif kind == "license":
                result.new_licenses[variant] = n
            else:
                result.license_evaluations[(license_id, variant)] = (n, last)
    return result


def _chunks(values) -> list[list]:
    ordered = sorted(values)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


def licenses_by_key(product_id: int, names: set[str]) -> dict[str, int]:
    # Raw SQL on the database the answer reads (a replica inside on_replica), like its ORM reads.
    connection = connections[current_read_alias()]
    found: dict[str, int] = {}
    for chunk in _chunks(names):
        if connection.vendor == "postgresql":
            # One array parameter: an IN list of thousands of parameters costs more to plan than to run.
            with connection.cursor() as cursor:
                cursor.execute(events_sql.licenses_by_key_sql(), [product_id, chunk])
                found.update(cursor.fetchall())
        else:
            found.update(License.objects.filter(product_id=product_id, key__in=chunk).values_list("key", "pk"))
    return found


def _new_subjects(rows, field: str, pairs: set[tuple[str, object]]) -> dict[str, int]:
    """Per variant and over every variant (""), the subjects of ``pairs`` (variant, subject) that
    ``rows`` (the window's rolled rows of the subject, a queryset with ``variant`` and ``field``) lack.

    By IN lists of distinct subjects (an index seek each on the primary keys), not a
    correlated EXISTS per raw row: a busy day has many evaluations per key. (PostgreSQL
    answers all of it in one statement instead: ``_subjects_in_database``.)"""
    seen_on_variant: set[tuple[str, object]] = set()
    seen_at_all: set[object] = set()
    for chunk in _chunks(pairs):
        found = (
            rows.filter(**{f"{field}__in": [s for _, s in chunk]}).values_list("variant", field).distinct().order_by()
        )
        for variant, value in found:
            seen_on_variant.add((variant, value))
            seen_at_all.add(value)
    counts: dict[str, int] = {}
    for variant, _ in pairs - seen_on_variant:
        counts[variant] = counts.get(variant, 0) + 1
    counts[ANY_VARIANT] = len({value for _, value in pairs} - seen_at_all)
    return counts


def first_unrolled_day(*, product_id: int, date_from: date, date_to: date) -> date | None:
    """The first day of the window on which a flag of the product's linked projects has evaluations not rolled up.

    What reads only the rollup (a license's flags) is complete up to that day's start.
    """
    live = (
        FlagActivityDay.objects.filter(flag__project__product_id=product_id, day__gte=date_from, day__lte=date_to)
        .values("flag_id", "environment_id", "day")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("flag_id", "environment_id", "day", "n")
    )
    live = {(flag_id, environment_id, day): n for flag_id, environment_id, day, n in live}
    if not live:
        return None
    rolled = {
        (flag_id, environment_id, day): n
        for flag_id, environment_id, day, n in FlagUsageDay.objects.filter(
            flag__project__product_id=product_id, date__gte=date_from, date__lte=date_to
        ).values_list("flag_id", "environment_id", "date", "total_evaluations")
    }
    return min((key[2] for key, n in live.items() if n > rolled.get(key, 0)), default=None)
