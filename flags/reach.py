"""Exposure's structures, rebuilt by the rollup: license days, reach points, license totals, key recent days.

For a rolled-up day the rollup rewrites, in the same transaction as the usage rows:
- ``FlagKeyRecent``: per (environment, flag, targeting key, variant) the last two days served;
- ``FlagLicenseDay``: the same per license, the license being the linked
  product's license whose key is the context's ``licenseKey``, else its
  ``targetingKey`` (resolved set-based, by two joins on the license key index);
- ``FlagReachPoint``: per (variant or every variant, day, previous day) the number
  of keys (licenses) served that day whose previous day served was that one;
- ``FlagLicenseTotal``: the license days summed over every kept day, kept by
  adding the days written and taking away the days rewritten or expired.

Exact distinct counts over a window [a, b] are then ``SUM(count)`` over the
points with a <= day <= b and previous_day < a: a few thousand rows for 90 days
however many keys. The statements are in ``flags/sql.py``.

The targeting keys' points are drawn from the raw evaluations, not from a table per
(key, day) (one row per evaluation in the bench's shape, 9.5M at 10M: writing it cost
what a copy of the raw table costs). A backlog (or a re-rolled day older than the last
rolled one) sorts the kept raw rows once and writes every key point and ``FlagKeyRecent``;
a night reads yesterday's raw rows and finds each key's previous day by one seek in
``FlagKeyRecent`` (``_keys_rebuild``).
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import Max

from events.models import License
from flags import sql as flags_sql
from flags.models import (
    Environment,
    Flag,
    FlagEvaluation,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    FlagUsageDay,
    Project,
)
from lib import sql

NO_PREVIOUS_DAY = date.min
# The rewritten days' license days as they were, for the totals' change (a temporary table).
LICENSE_DAYS_BEFORE = "flag_license_days_before"
# Licenses' points are drawn from the license days (the license table needs them anyway).
SUBJECTS = [(FlagReachPoint.Kind.LICENSE, FlagLicenseDay, "license")]
# A night's key points by seeks while at most this many days are rolled up at once and none
# is older than the last rolled one; otherwise one sort of the kept raw rows (a backlog).
NIGHT_DAYS = 3
# The keys served on the day a night rolls up (a temporary table).
KEYS_SERVED = "flag_keys_served"


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def exposure_rebuild(
    days: list[date], *, points_from: date, points_until: date | None, environment_id: int | None = None
) -> None:
    """Rewrite the key and license days of ``days``, then the reach points of days in
    [points_from, points_until) (``None``: every later day, and the license totals), of every
    environment or of ``environment_id`` alone. Run inside the rollup's transaction."""
    one = environment_id is not None
    scope = [environment_id] if one else []
    day_params = [_day(d) for d in days]
    models = {"evaluation": FlagEvaluation, "flag": Flag, "environment": Environment, "project": Project}
    # Rewriting every kept license day (a backlog): the totals are rebuilt from nothing
    # rather than taken away and added back row by row (measured: 9 of 48 s at 1M).
    scoped = {"environment_id": environment_id} if one else {}
    rewrites_all = not FlagLicenseDay.objects.filter(**scoped).exclude(day__in=days).exists()
    with connection.cursor() as cursor:
        pairs = {"flag": Flag, "environment": Environment, "per_environment": one}
        if rewrites_all:
            FlagLicenseTotal.objects.filter(**scoped).delete()
        else:
            cursor.execute(sql.drop_table_sql(LICENSE_DAYS_BEFORE), [])
            cursor.execute(
                flags_sql.license_days_snapshot_sql(
                    license_day=FlagLicenseDay, snapshot=LICENSE_DAYS_BEFORE, days=len(days), **pairs
                ),
                day_params + scope,
            )
        cursor.execute(
            flags_sql.delete_days_sql(
                FlagLicenseDay, days=len(days), per_environment=one, flag=Flag, environment=Environment
            ),
            day_params + scope,
        )
        postgresql = connection.vendor == "postgresql"
        if postgresql:
            cursor.execute(flags_sql.planner_sorts_sql(enabled=False), [])
        cursor.execute(
            flags_sql.license_days_insert_sql(
                days=len(days),
                license_day=FlagLicenseDay,
                license=License,
                per_environment=one,
                byte_order=postgresql,
                **models,
            ),
            day_params + scope,
        )
        if postgresql:
            cursor.execute(flags_sql.planner_sorts_sql(enabled=True), [])
        if rewrites_all:
            statement = flags_sql.license_totals_rebuild_sql(
                total=FlagLicenseTotal, license_day=FlagLicenseDay, license=License, days=len(days), **pairs
            )
            cursor.execute(statement, day_params + scope)
        else:
            for per_variant in (True, False):
                statement = flags_sql.license_totals_delta_sql(
                    total=FlagLicenseTotal,
                    license_day=FlagLicenseDay,
                    license=License,
                    snapshot=LICENSE_DAYS_BEFORE,
                    per_variant=per_variant,
                    days=len(days),
                    **pairs,
                )
                cursor.execute(statement, day_params + scope)
            cursor.execute(sql.drop_table_sql(LICENSE_DAYS_BEFORE), [])
            # A (license, variant) whose rows went (its flag's license days deleted meanwhile).
            FlagLicenseTotal.objects.filter(evaluations__lte=0).delete()
        _points_rebuild(cursor, points_from=points_from, points_until=points_until, environment_id=environment_id)
        _keys_rebuild(cursor, days, environment_id=environment_id)


def _license_totals_add(cursor, *, sign: int, before: date, environment_id: int | None = None) -> None:
    scope = [] if environment_id is None else [environment_id]
    for per_variant in (True, False):
        statement = flags_sql.license_totals_add_sql(
            total=FlagLicenseTotal,
            license_day=FlagLicenseDay,
            license=License,
            per_variant=per_variant,
            sign=sign,
            days=None,
            per_environment=environment_id is not None,
            flag=Flag,
            environment=Environment,
        )
        cursor.execute(statement, [_day(before)] + scope)
    if sign < 0:
        FlagLicenseTotal.objects.filter(evaluations__lte=0).delete()


def _points_rebuild(cursor, *, points_from: date, points_until: date | None, environment_id: int | None) -> None:
    one = environment_id is not None
    bounded = points_until is not None
    scoped = {"environment_id": environment_id} if one else {}
    old = FlagReachPoint.objects.filter(kind=FlagReachPoint.Kind.LICENSE, day__gte=points_from, **scoped)
    (old.filter(day__lt=points_until) if bounded else old).delete()
    # License days before the bounds exist only for days rolled up before, which
    # left usage rows (kept at least as long): without any, no subject has an earlier day.
    seek_earlier = FlagUsageDay.objects.filter(date__lt=points_from, **scoped).exists()
    params = {"points_from": _day(points_from), "no_previous": _day(NO_PREVIOUS_DAY)}
    params |= {"points_until": _day(points_until)} if bounded else {}
    params |= {"environment": environment_id} if one else {}
    for kind, model, subject in SUBJECTS:
        statement = flags_sql.reach_points_insert_sql(
            point=FlagReachPoint,
            subject_days=model,
            subject=subject,
            bounded=bounded,
            flag=Flag,
            environment=Environment,
            seek_earlier=seek_earlier,
            per_environment=one,
        )
        cursor.execute(statement, params | {"kind": kind.value})


def _keys_rebuild(cursor, days: list[date], *, environment_id: int | None) -> None:
    """The targeting keys' reach points and ``FlagKeyRecent`` after ``days`` were rolled up.

    A night (a few days, none before the last day a key was rolled up for) walks its
    days in order, each one read of that day's raw rows and a seek per key served;
    anything else (a backlog, a re-rolled older day) rewrites every key point and recent
    row from the raw evaluations of every rolled day, one sort of them.
    """
    one = environment_id is not None
    scoped = {"environment_id": environment_id} if one else {}
    scope = {"environment": environment_id} if one else {}
    kind = FlagReachPoint.Kind.TARGETING_KEY
    key_points = FlagReachPoint.objects.filter(kind=kind, **scoped)
    latest = key_points.aggregate(latest=Max("day"))["latest"]
    constants = {"kind": kind.value, "no_previous": _day(NO_PREVIOUS_DAY)}
    raw = {"evaluation": FlagEvaluation, "flag": Flag, "environment": Environment, "per_environment": one}
    if latest is not None and len(days) <= NIGHT_DAYS and latest <= days[0]:
        for day in days:
            key_points.filter(day__gte=day).delete()
            cursor.execute(sql.drop_table_sql(KEYS_SERVED), [])
            params = {"day": _day(day), **constants, **scope}
            cursor.execute(flags_sql.keys_served_table_sql(served=KEYS_SERVED, **raw), params)
            cursor.execute(
                flags_sql.key_points_of_a_night_sql(point=FlagReachPoint, recent=FlagKeyRecent, served=KEYS_SERVED),
                params,
            )
            cursor.execute(flags_sql.key_recent_of_a_night_sql(recent=FlagKeyRecent, served=KEYS_SERVED), params)
            cursor.execute(sql.drop_table_sql(KEYS_SERVED), [])
        return
    key_points.delete()
    FlagKeyRecent.objects.filter(**scoped).delete()
    # Every rolled day (the raw rows of a rolled day are what it was rolled up from); never
    # today's, which reads add from the raw rows themselves.
    last_day = FlagUsageDay.objects.filter(**scoped).aggregate(last=Max("date"))["last"]
    if last_day is None:
        return
    params = {"last_day": _day(last_day), **constants, **scope}
    postgresql = connection.vendor == "postgresql"
    models = {"point": FlagReachPoint, "recent": FlagKeyRecent, "byte_order": postgresql, **raw}
    for output in ["both"] if postgresql else ["points", "recent"]:
        cursor.execute(flags_sql.key_reach_from_raw_sql(output=output, **models), params)


def exposure_delete_before(cutoff: date) -> None:
    with connection.cursor() as cursor:
        _license_totals_add(cursor, sign=-1, before=cutoff)
    for model in (FlagLicenseDay, FlagReachPoint):
        model.objects.filter(day__lt=cutoff).delete()
    # A key not served since the cutoff; an older previous day is below every window's first day.
    FlagKeyRecent.objects.filter(last_day__lt=cutoff).delete()
