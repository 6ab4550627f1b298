"""Exposure's structures, rebuilt by the rollup: key days, license days, reach points, license totals.

For a rolled-up day the rollup rewrites, in the same transaction as the usage rows:
- ``FlagKeyDay``: evaluations per (environment, flag, variant, targeting key, day);
- ``FlagLicenseDay``: the same per license, the license being the linked
  product's license whose key is the context's ``licenseKey``, else its
  ``targetingKey`` (resolved set-based, by two joins on the license key index);
- ``FlagReachPoint``: per (variant or every variant, day, previous day) the number
  of keys (licenses) served that day whose previous day served was that one;
- ``FlagLicenseTotal``: the license days summed over every kept day, kept by
  adding the days written and taking away the days rewritten or expired.

Exact distinct counts over a window [a, b] are then ``SUM(count)`` over the
points with a <= day <= b and previous_day < a: a few thousand rows for 90 days
however many keys. The statements are in ``core.sql``.
"""

from __future__ import annotations

from datetime import date

from django.db import connection

from core import sql
from events.models import License
from flags.models import (
    Environment,
    Flag,
    FlagEvaluation,
    FlagKeyDay,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    Project,
)

NO_PREVIOUS_DAY = date.min
SUBJECTS = [
    (FlagReachPoint.Kind.TARGETING_KEY, FlagKeyDay, "targeting_key"),
    (FlagReachPoint.Kind.LICENSE, FlagLicenseDay, "license"),
]


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def exposure_rebuild(days: list[date], *, points_from: date, points_until: date | None) -> None:
    """Rewrite the key and license days of ``days``, then the reach points of days in
    [points_from, points_until) (``None``: every later day, and the license totals).
    Run inside the rollup's transaction."""
    day_params = [_day(d) for d in days]
    models = {"evaluation": FlagEvaluation, "flag": Flag, "environment": Environment, "project": Project}
    with connection.cursor() as cursor:
        _license_totals_add(cursor, sign=-1, days=day_params)  # what these days counted until now
        for model in (FlagKeyDay, FlagLicenseDay):
            cursor.execute(sql.delete_days_sql(model, days=len(days)), day_params)
        cursor.execute(sql.key_days_insert_sql(days=len(days), key_day=FlagKeyDay, **models), day_params)
        cursor.execute(
            sql.license_days_insert_sql(days=len(days), license_day=FlagLicenseDay, license=License, **models),
            day_params,
        )
        _license_totals_add(cursor, sign=1, days=day_params)
        _points_rebuild(cursor, points_from=points_from, points_until=points_until)


def _license_totals_add(cursor, *, sign: int, days: list | None = None, before: date | None = None) -> None:
    for per_variant in (True, False):
        statement = sql.license_totals_add_sql(
            total=FlagLicenseTotal,
            license_day=FlagLicenseDay,
            license=License,
            per_variant=per_variant,
            sign=sign,
            days=None if days is None else len(days),
        )
        cursor.execute(statement, days if days is not None else [_day(before)])
    if sign < 0:
        FlagLicenseTotal.objects.filter(evaluations__lte=0).delete()


def _points_rebuild(cursor, *, points_from: date, points_until: date | None) -> None:
    bounded = points_until is not None
    bounds = [_day(points_from)] + ([_day(points_until)] if bounded else [])
    cursor.execute(sql.delete_day_range_sql(FlagReachPoint, bounded=bounded), bounds)
    for kind, model, subject in SUBJECTS:
        for per_variant in (True, False):
            statement = sql.reach_points_insert_sql(
                point=FlagReachPoint,
                subject_days=model,
                kind=kind,
                subject=subject,
                per_variant=per_variant,
                bounded=bounded,
                no_previous=NO_PREVIOUS_DAY.isoformat(),
            )
            cursor.execute(statement, [_day(points_from), *bounds])


def exposure_delete_before(cutoff: date) -> None:
    with connection.cursor() as cursor:
        _license_totals_add(cursor, sign=-1, before=cutoff)
    for model in (FlagKeyDay, FlagLicenseDay, FlagReachPoint):
        model.objects.filter(day__lt=cutoff).delete()
