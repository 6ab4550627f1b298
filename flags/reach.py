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
from flags.models import Environment, Flag, FlagEvaluation, FlagKeyDay, FlagLicenseDay, FlagReachPoint, Project

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
    [points_from, points_until) (``None``: every later day). Run inside the rollup's transaction."""
    day_params = [_day(d) for d in days]
    marks = ", ".join(["%s"] * len(days))
    with connection.cursor() as cursor:
        for model in (FlagKeyDay, FlagLicenseDay):
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {_col(model, 'day')} IN ({marks})", day_params)
        cursor.execute(_key_days_sql(marks), day_params)
        cursor.execute(_license_days_sql(marks), day_params)
        _points_rebuild(cursor, points_from=points_from, points_until=points_until)


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
    for kind, model, subject in [
        (FlagReachPoint.Kind.TARGETING_KEY, FlagKeyDay, "targeting_key"),
        (FlagReachPoint.Kind.LICENSE, FlagLicenseDay, "license"),
    ]:
        for per_variant in (True, False):
            cursor.execute(_points_sql(kind, model, subject, per_variant=per_variant, bounded=bool(points_until)), params)


def _points_sql(kind: str, model, subject: str, *, per_variant: bool, bounded: bool) -> str:
    """Each subject's (day, previous day) pairs in the bounds, summed into points.

    The previous day is one index seek per (subject, day) — on the unique key
    per variant, on (flag, environment, subject, day) across variants — so a
    nightly run costs the keys of one day, not of the whole history.
    """
    r, m = FlagReachPoint, model
    env, flag, variant, day, subj = (_col(m, n) for n in ["environment", "flag", "variant", "day", subject])
    same_variant = f"AND p.{variant} = k.{variant} " if per_variant else ""
    previous = (
        f"(SELECT MAX(p.{day}) FROM {_table(m)} p WHERE p.{flag} = k.{flag} AND p.{env} = k.{env} "
        f"{same_variant}AND p.{subj} = k.{subj} AND p.{day} < k.{day})"
    )
    variant_expr = f"k.{variant}" if per_variant else "''"
    bounds = f"k.{day} >= %s" + (f" AND k.{day} < %s" if bounded else "")
    columns = ", ".join(
        _col(r, n) for n in ["environment", "flag", "kind", "variant", "day", "previous_day", "count"]
    )
    no_previous = connection.ops.adapt_datefield_value(NO_PREVIOUS_DAY)
    return (
        f"INSERT INTO {_table(r)} ({columns}) "
        f"SELECT env_id, flag_id, '{kind}', variant_name, seen_day, COALESCE(prev_day, '{no_previous}'), COUNT(*) "
        f"FROM (SELECT DISTINCT k.{env} AS env_id, k.{flag} AS flag_id, {variant_expr} AS variant_name, "
        f"k.{subj} AS subject_id, k.{day} AS seen_day, {previous} AS prev_day FROM {_table(m)} k WHERE {bounds}"
        f") points GROUP BY env_id, flag_id, variant_name, seen_day, COALESCE(prev_day, '{no_previous}')"
    )


def exposure_delete_before(cutoff: date) -> None:
    for model in (FlagKeyDay, FlagLicenseDay, FlagReachPoint):
        model.objects.filter(day__lt=cutoff).delete()
