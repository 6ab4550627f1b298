"""Exposure's structures, rebuilt by the rollup: key days, license days and reach points.

For a rolled-up day the rollup rewrites, in the same transaction as the usage rows:
- ``FlagKeyDay``: evaluations per (environment, flag, variant, targeting key, day);
- ``FlagLicenseDay``: the same per license, the license being the linked
  product's license whose key is the context's ``licenseKey``, else its
  ``targetingKey`` (resolved here, set-based, by two joins on the license key index);
- ``FlagReachPoint``: per (variant or every variant, day, previous day) the number
  of keys (licenses) served that day whose previous day served was that one.

Exact distinct counts over a window [a, b] are then ``SUM(count)`` over the
points with a <= day <= b and previous_day < a: a few thousand rows for 90 days
however many keys. The statements are plain SQL both SQLite and PostgreSQL run;
identifiers come from model metadata, quoted.
"""

from __future__ import annotations

from datetime import date

from django.db import connection

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


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _q(model._meta.db_table)


def _col(model, field: str) -> str:
    return _q(model._meta.get_field(field).column)


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def exposure_rebuild(days: list[date], *, points_from: date, points_until: date | None) -> None:
    """Rewrite the key and license days of ``days``, then the reach points of days in
    [points_from, points_until) (``None``: every later day, and the license totals).
    Run inside the rollup's transaction."""
    day_params = [_day(d) for d in days]
    marks = ", ".join(["%s"] * len(days))
    with connection.cursor() as cursor:
        for model in (FlagKeyDay, FlagLicenseDay):
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {_col(model, 'day')} IN ({marks})", day_params)
        cursor.execute(_key_days_sql(marks), day_params)
        cursor.execute(_license_days_sql(marks), day_params)
        _points_rebuild(cursor, points_from=points_from, points_until=points_until)
        if points_until is None:
            # The run's last chunk: once per run, not per chunk (it reads every kept license day).
            license_totals_rebuild(cursor)


def license_totals_rebuild(cursor) -> None:
    t, d = FlagLicenseTotal, FlagLicenseDay
    keys = ", ".join(_col(d, name) for name in ["environment", "flag", "variant", "license"])
    columns = ", ".join(
        _col(t, name)
        for name in ["environment", "flag", "variant", "license", "evaluations", "last_seen_at", "first_day", "last_day"]
    )
    day = _col(d, "day")
    cursor.execute(f"DELETE FROM {_table(t)}")
    cursor.execute(
        f"INSERT INTO {_table(t)} ({columns}) SELECT {keys}, SUM({_col(d, 'evaluations')}), "
        f"MAX({_col(d, 'last_seen_at')}), MIN({day}), MAX({day}) FROM {_table(d)} GROUP BY {keys}"
    )


def _raw_join() -> str:
    """Raw evaluations of flags and environments that still exist, with the project's product."""
    e, f, v, p = FlagEvaluation, Flag, Environment, Project
    return (
        f"FROM {_table(e)} e "
        f"JOIN {_table(f)} f ON f.{_col(f, 'id')} = e.{_col(e, 'flag')} "
        f"JOIN {_table(v)} v ON v.{_col(v, 'id')} = e.{_col(e, 'environment')} "
        f"JOIN {_table(p)} p ON p.{_col(p, 'id')} = v.{_col(v, 'project')} "
    )


def _key_days_sql(marks: str) -> str:
    e, k = FlagEvaluation, FlagKeyDay
    columns = ", ".join(_col(k, name) for name in ["environment", "flag", "variant", "targeting_key", "day", "evaluations"])
    group = f"e.{_col(e, 'environment')}, e.{_col(e, 'flag')}, e.{_col(e, 'variant')}, e.{_col(e, 'targeting_key')}, e.{_col(e, 'day')}"
    return (
        f"INSERT INTO {_table(k)} ({columns}) SELECT {group}, COUNT(*) {_raw_join()}"
        f"WHERE e.{_col(e, 'day')} IN ({marks}) AND e.{_col(e, 'variant')} IS NOT NULL "
        f"AND e.{_col(e, 'targeting_key')} <> '' GROUP BY {group}"
    )


def _license_days_sql(marks: str) -> str:
    e, ld, lic, p = FlagEvaluation, FlagLicenseDay, License, Project
    columns = ", ".join(
        _col(ld, name) for name in ["environment", "flag", "variant", "license", "day", "evaluations", "last_seen_at"]
    )
    license_id = f"COALESCE(by_license.{_col(lic, 'id')}, by_target.{_col(lic, 'id')})"
    group = f"e.{_col(e, 'environment')}, e.{_col(e, 'flag')}, e.{_col(e, 'variant')}, {license_id}, e.{_col(e, 'day')}"
    return (
        f"INSERT INTO {_table(ld)} ({columns}) SELECT {group}, COUNT(*), MAX(e.{_col(e, 'evaluated_at')}) "
        f"{_raw_join()}"
        f"LEFT JOIN {_table(lic)} by_license ON by_license.{_col(lic, 'product')} = p.{_col(p, 'product')} "
        f"AND by_license.{_col(lic, 'key')} = e.{_col(e, 'license_key')} AND e.{_col(e, 'license_key')} <> '' "
        f"LEFT JOIN {_table(lic)} by_target ON by_target.{_col(lic, 'product')} = p.{_col(p, 'product')} "
        f"AND by_target.{_col(lic, 'key')} = e.{_col(e, 'targeting_key')} AND e.{_col(e, 'targeting_key')} <> '' "
        f"WHERE e.{_col(e, 'day')} IN ({marks}) AND e.{_col(e, 'variant')} IS NOT NULL "
        f"AND p.{_col(p, 'product')} IS NOT NULL AND {license_id} IS NOT NULL GROUP BY {group}"
    )


def _points_rebuild(cursor, *, points_from: date, points_until: date | None) -> None:
    r = FlagReachPoint
    bounds = f"{_col(r, 'day')} >= %s" + (f" AND {_col(r, 'day')} < %s" if points_until else "")
    params = [_day(points_from)] + ([_day(points_until)] if points_until else [])
    cursor.execute(f"DELETE FROM {_table(r)} WHERE {bounds}", params)
    # The subquery's "earlier than the bounds" comes first in the statement's text.
    params = [_day(points_from), *params]
    for kind, model, subject in [
        (FlagReachPoint.Kind.TARGETING_KEY, FlagKeyDay, "targeting_key"),
        (FlagReachPoint.Kind.LICENSE, FlagLicenseDay, "license"),
    ]:
        for per_variant in (True, False):
            cursor.execute(_points_sql(kind, model, subject, per_variant=per_variant, bounded=bool(points_until)), params)


def _points_sql(kind: str, model, subject: str, *, per_variant: bool, bounded: bool) -> str:
    """Each subject's (day, previous day) pairs in the bounds, summed into points.

    Inside the bounds the previous day is the row before (LAG); only a
    subject's first day in the bounds looks further back, with one index seek
    (COALESCE evaluates its second argument only when the first is NULL).
    """
    r, m = FlagReachPoint, model
    env, flag, variant, day, subj = (_col(m, n) for n in ["environment", "flag", "variant", "day", subject])
    same_variant = f"AND p.{variant} = l.variant_name " if per_variant else ""
    earlier = (
        f"(SELECT MAX(p.{day}) FROM {_table(m)} p WHERE p.{flag} = l.flag_id AND p.{env} = l.env_id "
        f"{same_variant}AND p.{subj} = l.subject_id AND p.{day} < %s)"
    )
    variant_expr = f"k.{variant}" if per_variant else "''"
    bounds = f"k.{day} >= %s" + (f" AND k.{day} < %s" if bounded else "")
    distinct = "" if per_variant else "DISTINCT "
    rows = (
        f"SELECT {distinct}k.{env} AS env_id, k.{flag} AS flag_id, {variant_expr} AS variant_name, "
        f"k.{subj} AS subject_id, k.{day} AS seen_day FROM {_table(m)} k WHERE {bounds}"
    )
    lagged = (
        "SELECT env_id, flag_id, variant_name, subject_id, seen_day, LAG(seen_day) OVER "
        f"(PARTITION BY env_id, flag_id, variant_name, subject_id ORDER BY seen_day) AS lag_day FROM ({rows}) r"
    )
    no_previous = NO_PREVIOUS_DAY.isoformat()
    points = (
        f"SELECT env_id, flag_id, variant_name, seen_day, COALESCE(lag_day, {earlier}, '{no_previous}') AS prev_day "
        f"FROM ({lagged}) l"
    )
    columns = ", ".join(_col(r, n) for n in ["environment", "flag", "kind", "variant", "day", "previous_day", "count"])
    return (
        f"INSERT INTO {_table(r)} ({columns}) SELECT env_id, flag_id, '{kind}', variant_name, seen_day, prev_day, "
        f"COUNT(*) FROM ({points}) pts GROUP BY env_id, flag_id, variant_name, seen_day, prev_day"
    )


def exposure_delete_before(cutoff: date) -> None:
    deleted = 0
    for model in (FlagKeyDay, FlagLicenseDay, FlagReachPoint):
        deleted += model.objects.filter(day__lt=cutoff).delete()[0]
    if deleted:
        with connection.cursor() as cursor:
            license_totals_rebuild(cursor)
