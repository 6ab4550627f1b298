"""Flag exposure's SQL: the nightly reach structures (key days, license days and totals, reach
points) and the unrolled days' distinct subjects, PostgreSQL unless a builder says otherwise.

Identifiers come from model metadata and are quoted by ``lib.sql`` (``table``, ``column``);
the generic upserts and locks stay there.
"""

from __future__ import annotations

from django.db.models import Model

from lib.sql import column, qn, table


def _one_environment(model: type[Model], alias: str = "", *, per_environment: bool) -> str:
    """`` AND environment = %s`` when a statement is run for one environment (the rollup's fallback,
    which isolates a tenant whose rows fail): always the last condition, so its parameter comes last."""
    if not per_environment:
        return ""
    return f" AND {alias + '.' if alias else ''}{column(model, 'environment')} = %s"


def delete_days_sql(
    model: type[Model], *, days: int, per_environment: bool = False, flag=None, environment=None
) -> str:
    """``DELETE … WHERE day IN (%s, …)`` for ``days`` days [and one environment].

    With ``flag`` and ``environment`` (models), only the rows of existing (flag, environment)
    pairs, so that an index led by (flag, environment, day) finds a night's rows by seeks
    instead of a scan of every kept day (``_existing_pairs``)."""
    return (
        f"DELETE FROM {table(model)} WHERE {column(model, 'day')} IN ({', '.join(['%s'] * days)})"
        + (_existing_pairs(model, "", flag, environment) if flag is not None else "")
        + _one_environment(model, per_environment=per_environment)
    )


def _existing_pairs(model, alias: str, flag, environment) -> str:
    """`` AND (flag, environment) IN (every flag with every environment of its project)``: a
    semi-join PostgreSQL drives from the few pairs into the (flag, environment, day) index.
    Rows of a deleted flag or environment are deleted with it (Django's cascade), and never read."""
    f, v, prefix = flag, environment, f"{alias}." if alias else ""
    return (
        f" AND ({prefix}{column(model, 'flag')}, {prefix}{column(model, 'environment')}) IN "
        f"(SELECT f.{column(f, 'id')}, v.{column(v, 'id')} FROM {table(f)} f "
        f"JOIN {table(v)} v ON v.{column(v, 'project')} = f.{column(f, 'project')})"
    )


def delete_day_range_sql(model: type[Model], *, bounded: bool, per_environment: bool = False) -> str:
    """``DELETE … WHERE day >= %s [AND day < %s] [AND environment = %s]``."""
    day = column(model, "day")
    return (
        f"DELETE FROM {table(model)} WHERE {day} >= %s"
        + (f" AND {day} < %s" if bounded else "")
        + _one_environment(model, per_environment=per_environment)
    )


def _raw_evaluations_join(evaluation, flag, environment, project) -> str:
    """Raw evaluations of flags and environments that still exist, with the project (and its product)."""
    e, f, v, p = evaluation, flag, environment, project
    return (
        f"FROM {table(e)} e "
        f"JOIN {table(f)} f ON f.{column(f, 'id')} = e.{column(e, 'flag')} "
        f"JOIN {table(v)} v ON v.{column(v, 'id')} = e.{column(e, 'environment')} "
        f"JOIN {table(p)} p ON p.{column(p, 'id')} = v.{column(v, 'project')} "
    )


def key_days_insert_sql(
    *, days: int, evaluation, key_day, flag, environment, project, per_environment: bool = False
) -> str:
    """Evaluations per (environment, flag, variant, targeting key, day) of ``days`` days, errors and keyless left out."""
    e, k = evaluation, key_day
    columns = ", ".join(column(k, n) for n in ["environment", "flag", "variant", "targeting_key", "day", "evaluations"])
    group = ", ".join(f"e.{column(e, n)}" for n in ["environment", "flag", "variant", "targeting_key", "day"])
    return (
        f"INSERT INTO {table(k)} ({columns}) SELECT {group}, COUNT(*) "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND e.{column(e, 'targeting_key')} <> ''{_one_environment(e, 'e', per_environment=per_environment)} "
        f"GROUP BY {group} ORDER BY {_key_order(e, 'targeting_key')}"
    )


def _key_order(evaluation, subject: str) -> str:
    """The order of the key and license days' primary key (flag, environment, subject, variant, day):
    rows inserted in it append to the index's right edge instead of dirtying pages at random."""
    e = evaluation
    return ", ".join(f"e.{column(e, n)}" for n in ["flag", "environment", subject, "variant", "day"])


def license_days_insert_sql(
    *, days: int, evaluation, license_day, license, flag, environment, project, per_environment: bool = False
) -> str:
    """Evaluations per (environment, flag, variant, license, day): the license of the project's product
    whose key is the evaluation's license key, else its targeting key (two joins on the license key index)."""
    e, ld, lic, p = evaluation, license_day, license, project
    columns = ", ".join(
        column(ld, n) for n in ["environment", "flag", "variant", "license", "day", "evaluations", "last_seen_at"]
    )
    license_id = f"COALESCE(by_license.{column(lic, 'id')}, by_target.{column(lic, 'id')})"
    group = (
        f"e.{column(e, 'environment')}, e.{column(e, 'flag')}, e.{column(e, 'variant')}, {license_id}, "
        f"e.{column(e, 'day')}"
    )
    return (
        f"INSERT INTO {table(ld)} ({columns}) SELECT {group}, COUNT(*), MAX(e.{column(e, 'evaluated_at')}) "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"LEFT JOIN {table(lic)} by_license ON by_license.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_license.{column(lic, 'key')} = e.{column(e, 'license_key')} AND e.{column(e, 'license_key')} <> '' "
        f"LEFT JOIN {table(lic)} by_target ON by_target.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_target.{column(lic, 'key')} = e.{column(e, 'targeting_key')} "
        f"AND e.{column(e, 'targeting_key')} <> '' "
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND p.{column(p, 'product')} IS NOT NULL AND {license_id} IS NOT NULL"
        f"{_one_environment(e, 'e', per_environment=per_environment)} GROUP BY {group} "
        f"ORDER BY e.{column(e, 'flag')}, e.{column(e, 'environment')}, {license_id}, e.{column(e, 'variant')}, "
        f"e.{column(e, 'day')}"
    )


def license_totals_add_sql(
    *,
    total,
    license_day,
    license,
    per_variant: bool,
    sign: int,
    days: int | None,
    per_environment: bool = False,
    flag=None,
    environment=None,
) -> str:
    """Add (``sign`` 1) or take away (-1) the license days of ``days`` days (``None``: the days before
    one date) to the per-license totals, per variant or over every variant (''); an additive upsert.

    Parameters: the days (or the one date). The later ``last_seen_at`` is kept:
    taking a day away never makes it later, so it stays exact while the row counts.
    """
    t, d, lic = total, license_day, license
    variant = f"d.{column(d, 'variant')}" if per_variant else "''"
    group = ", ".join(
        f"d.{column(d, n)}"
        for n in (["environment", "flag", "variant", "license"] if per_variant else ["environment", "flag", "license"])
    )
    columns = [
        column(t, n)
        for n in ["environment", "flag", "variant", "license", "license_public_id", "evaluations", "last_seen_at"]
    ]
    evaluations, latest, key = (
        columns[5],
        columns[6],
        [column(t, n) for n in ["flag", "environment", "license", "variant"]],
    )
    # the conflict key's order: the upserts walk the primary key's index left to right
    order = ", ".join(
        f"d.{column(d, n)}" for n in (["flag", "environment", "license"] + (["variant"] if per_variant else []))
    )
    day = f"d.{column(d, 'day')}"
    when = f"{day} IN ({', '.join(['%s'] * days)})" if days is not None else f"{day} < %s"
    return (
        f"INSERT INTO {table(t)} ({', '.join(columns)}) "
        f"SELECT d.{column(d, 'environment')}, d.{column(d, 'flag')}, {variant}, d.{column(d, 'license')}, "
        f"MAX(l.{column(lic, 'public_id')}), {sign} * SUM(d.{column(d, 'evaluations')}), MAX(d.{column(d, 'last_seen_at')}) "
        f"FROM {table(d)} d JOIN {table(lic)} l ON l.{column(lic, 'id')} = d.{column(d, 'license')} "
        f"WHERE {when}{_existing_pairs(d, 'd', flag, environment) if flag is not None else ''}"
        f"{_one_environment(d, 'd', per_environment=per_environment)} GROUP BY {group} ORDER BY {order} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {evaluations} = {table(t)}.{evaluations} + excluded.{evaluations}, "
        f"{latest} = CASE WHEN excluded.{latest} > {table(t)}.{latest} THEN excluded.{latest} ELSE {table(t)}.{latest} END"
    )


def license_days_snapshot_sql(
    *, license_day, snapshot: str, days: int, flag, environment, per_environment: bool = False
) -> str:
    """``CREATE TEMP TABLE snapshot AS`` the license days of ``days`` days about to be rewritten:
    what ``license_totals_delta_sql`` takes away from the totals. Parameters: the days [, the environment]."""
    d = license_day
    columns = ", ".join(f"d.{column(d, n)}" for n in ["environment", "flag", "variant", "license", "evaluations"])
    return (
        f"CREATE TEMP TABLE {qn(snapshot)} AS SELECT {columns} FROM {table(d)} d "
        f"WHERE d.{column(d, 'day')} IN ({', '.join(['%s'] * days)})"
        f"{_existing_pairs(d, 'd', flag, environment)}{_one_environment(d, 'd', per_environment=per_environment)}"
    )


def license_totals_delta_sql(
    *,
    total,
    license_day,
    license,
    snapshot: str,
    per_variant: bool,
    days: int,
    flag,
    environment,
    per_environment: bool = False,
) -> str:
    """Rewritten days into the per-license totals in one additive upsert: the days' new license days
    minus their ``snapshot`` (taken before the rewrite), per variant or over every variant ('').

    Rows whose change is zero are not written: raw evaluations are only ever added, so a
    (license, variant) with as many evaluations as before has the same last evaluation too.
    A night that re-rolls a day rewrites only what changed, where taking the old day away
    and adding the new one back updated every (license, variant) of the day twice (measured:
    the four upserts were most of a night). Parameters: the days [, the environment].
    """
    t, d, lic = total, license_day, license
    keys = ["environment", "flag", "variant", "license"]
    select = ", ".join(f"d.{column(d, n)}" for n in keys)
    new = (
        f"SELECT {select}, d.{column(d, 'evaluations')} AS delta, d.{column(d, 'last_seen_at')} AS last "
        f"FROM {table(d)} d WHERE d.{column(d, 'day')} IN ({', '.join(['%s'] * days)})"
        f"{_existing_pairs(d, 'd', flag, environment)}{_one_environment(d, 'd', per_environment=per_environment)}"
    )
    old = (
        f"SELECT {', '.join(f's.{column(d, n)}' for n in keys)}, -s.{column(d, 'evaluations')}, NULL "
        f"FROM {qn(snapshot)} s"
    )
    variant = f"c.{column(d, 'variant')}" if per_variant else "''"
    group = ", ".join(
        f"c.{column(d, n)}"
        for n in (["environment", "flag", "variant", "license"] if per_variant else ["environment", "flag", "license"])
    )
    order = ", ".join(
        f"c.{column(d, n)}" for n in (["flag", "environment", "license"] + (["variant"] if per_variant else []))
    )
    columns = [
        column(t, n)
        for n in ["environment", "flag", "variant", "license", "license_public_id", "evaluations", "last_seen_at"]
    ]
    evaluations, latest = columns[5], columns[6]
    conflict = ", ".join(column(t, n) for n in ["flag", "environment", "license", "variant"])
    return (
        f"INSERT INTO {table(t)} ({', '.join(columns)}) "
        f"SELECT c.{column(d, 'environment')}, c.{column(d, 'flag')}, {variant}, c.{column(d, 'license')}, "
        # A (license, variant) only taken away (its license's key changed meanwhile) has no last
        # evaluation: the epoch, never later than the total's, which is deleted if it reaches 0.
        f"MAX(l.{column(lic, 'public_id')}), SUM(c.delta), COALESCE(MAX(c.last), '1970-01-01 00:00:00+00:00') "
        f"FROM ({new} UNION ALL {old}) c JOIN {table(lic)} l ON l.{column(lic, 'id')} = c.{column(d, 'license')} "
        f"WHERE TRUE GROUP BY {group} HAVING SUM(c.delta) <> 0 ORDER BY {order} "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {evaluations} = {table(t)}.{evaluations} + excluded.{evaluations}, "
        f"{latest} = CASE WHEN excluded.{latest} > {table(t)}.{latest} THEN excluded.{latest} ELSE {table(t)}.{latest} END"
    )


def reach_points_insert_sql(
    *,
    point,
    subject_days,
    kind: str,
    subject: str,
    per_variant: bool,
    bounded: bool,
    no_previous: str,
    seek_earlier: bool = True,
    per_environment: bool = False,
) -> str:
    """Each subject's (day, previous day) pairs in the bounds, summed into reach points.

    Inside the bounds the previous day is the row before (LAG); only a
    subject's first day in the bounds looks further back, with one index seek
    (COALESCE evaluates its second argument only when the first is NULL).
    Parameters: the bounds' first day (for the seek), then the bounds. Without
    ``seek_earlier`` (no subject day can precede the bounds: a backlog rolled up
    from its first day), no seek and no first parameter: the seek was ~1 µs per
    subject, 700,000 of them per statement at 1M evaluations.
    ``per_variant`` False counts a subject once over every variant ('').
    """
    r, m = point, subject_days
    env, flag, variant, day, subj = (column(m, n) for n in ["environment", "flag", "variant", "day", subject])
    same_variant = f"AND p.{variant} = l.variant_name " if per_variant else ""
    earlier = (
        f"(SELECT MAX(p.{day}) FROM {table(m)} p WHERE p.{flag} = l.flag_id AND p.{env} = l.env_id "
        f"{same_variant}AND p.{subj} = l.subject_id AND p.{day} < %s)"
    )
    variant_expr = f"k.{variant}" if per_variant else "''"
    bounds = (
        f"k.{day} >= %s"
        + (f" AND k.{day} < %s" if bounded else "")
        + _one_environment(m, "k", per_environment=per_environment)
    )
    # Over every variant a subject may have several rows a day (one per variant): no DISTINCT
    # (a sort of every key day); the repeats get their own day as LAG and are left out below.
    # The window's partition follows the primary key (flag, environment, subject, variant,
    # day), so the rows come in its order instead of being sorted (measured: 4.8 → 1.6 s at 1M).
    rows = (
        f"SELECT k.{env} AS env_id, k.{flag} AS flag_id, {variant_expr} AS variant_name, "
        f"k.{subj} AS subject_id, k.{day} AS seen_day FROM {table(m)} k WHERE {bounds}"
    )
    lagged = (
        "SELECT env_id, flag_id, variant_name, subject_id, seen_day, LAG(seen_day) OVER "
        f"(PARTITION BY flag_id, env_id, subject_id, variant_name ORDER BY seen_day) AS lag_day FROM ({rows}) r"
    )
    points = (
        f"SELECT env_id, flag_id, variant_name, seen_day, "
        f"COALESCE(lag_day, {earlier + ', ' if seek_earlier else ''}'{no_previous}') AS prev_day "
        f"FROM ({lagged}) l" + ("" if per_variant else " WHERE lag_day IS NULL OR lag_day <> seen_day")
    )
    columns = ", ".join(
        column(r, n) for n in ["environment", "flag", "kind", "variant", "day", "previous_day", "count"]
    )
    return (
        f"INSERT INTO {table(r)} ({columns}) SELECT env_id, flag_id, '{kind}', variant_name, seen_day, prev_day, "
        f"COUNT(*) FROM ({points}) pts GROUP BY env_id, flag_id, variant_name, seen_day, prev_day"
    )


def subjects_seen_sql(*, subject_days, subject: str, subject_type: str) -> str:
    """PostgreSQL: for each (variant, subject) of two parallel arrays, whether the window's subject days
    have it on that variant and on any variant: an index probe each, stopping at the first day found.

    Parameters: flag, environment, first day, last day (twice), then the variants and the subjects arrays.
    """
    d = subject_days
    window = (
        f"d.{column(d, 'flag')} = %s AND d.{column(d, 'environment')} = %s AND d.{column(d, subject)} = w.subject "
        f"AND d.{column(d, 'day')} >= %s AND d.{column(d, 'day')} <= %s"
    )
    return (
        f"SELECT w.variant, w.subject, "
        f"EXISTS (SELECT 1 FROM {table(d)} d WHERE {window} AND d.{column(d, 'variant')} = w.variant), "
        f"EXISTS (SELECT 1 FROM {table(d)} d WHERE {window}) "
        f"FROM unnest(%s::text[], %s::{subject_type}[]) AS w(variant, subject)"
    )


def unrolled_subjects_sql(
    *, evaluation, key_day, license_day, license_total, license, totals_cover_window: bool
) -> str:
    """PostgreSQL: what the unrolled days add to a window's distinct subjects, in one statement.

    The unrolled days' served raw rows are grouped by (variant, targeting key,
    license key) and never leave the database (shipping them out and the keys
    back as arrays was most of the read at 10M evaluations). It answers rows of
    three kinds: ``key`` and ``license`` (a variant, or '' for every variant, and
    how many of the days' subjects no rolled subject day of the window has), and
    ``row`` (license id, variant, evaluations, last evaluation: the license table's).

    A key is probed once per variant it was served, and over every variant
    only when none of those found it (CASE evaluates lazily): in a long window
    nearly every key of today was seen before, so one index seek per (variant,
    key) instead of two. Licenses resolve as the rollup resolves them (the
    licenseKey's license, else the targetingKey's). Whether a rolled day of the
    window has a license is an index seek on the license days, or, when the
    window holds every kept license day (``totals_cover_window``), a join to the
    flag's per-license totals, whose rows are exactly those licenses and variants.

    Named parameters: flag, environment, product, date_from, date_to, days (an array).
    """
    e, kd, ld, lt, lic = evaluation, key_day, license_day, license_total, license

    def col(model, name: str, alias: str) -> str:
        return f"{alias}.{column(model, name)}"

    def in_window(model, subject: str, value: str, variant: str | None) -> str:
        same_variant = f" AND {col(model, 'variant', 'd')} = {variant}" if variant else ""
        return (
            f"EXISTS (SELECT 1 FROM {table(model)} d WHERE {col(model, 'flag', 'd')} = %(flag)s "
            f"AND {col(model, 'environment', 'd')} = %(environment)s AND {col(model, subject, 'd')} = {value}"
            f"{same_variant} AND {col(model, 'day', 'd')} >= %(date_from)s AND {col(model, 'day', 'd')} <= %(date_to)s)"
        )

    served = (
        f"SELECT {col(e, 'variant', 'e')} AS variant, {col(e, 'targeting_key', 'e')} AS targeting_key, "
        f"{col(e, 'license_key', 'e')} AS license_key, COUNT(*) AS n, MAX({col(e, 'evaluated_at', 'e')}) AS last "
        f"FROM {table(e)} e WHERE {col(e, 'flag', 'e')} = %(flag)s AND {col(e, 'environment', 'e')} = %(environment)s "
        f"AND {col(e, 'day', 'e')} = ANY(%(days)s) AND {col(e, 'variant', 'e')} IS NOT NULL GROUP BY 1, 2, 3"
    )
    key_pairs = (
        f"SELECT s.variant, s.subject, {in_window(kd, 'targeting_key', 's.subject', 's.variant')} AS on_variant "
        "FROM (SELECT DISTINCT variant, targeting_key AS subject FROM served WHERE targeting_key <> '') s"
    )
    keys = (
        "SELECT k.subject, CASE WHEN bool_or(k.on_variant) THEN TRUE ELSE "
        f"{in_window(kd, 'targeting_key', 'k.subject', None)} END AS at_all FROM key_pairs k GROUP BY k.subject"
    )
    license_id = f"COALESCE({col(lic, 'id', 'by_license')}, {col(lic, 'id', 'by_target')})"
    licensed = (
        f"SELECT {license_id} AS license_id, s.variant, SUM(s.n)::bigint AS n, MAX(s.last) AS last FROM served s "
        f"LEFT JOIN {table(lic)} by_license ON {col(lic, 'product', 'by_license')} = %(product)s "
        f"AND {col(lic, 'key', 'by_license')} = s.license_key AND s.license_key <> '' "
        f"LEFT JOIN {table(lic)} by_target ON {col(lic, 'product', 'by_target')} = %(product)s "
        f"AND {col(lic, 'key', 'by_target')} = s.targeting_key AND s.targeting_key <> '' "
        f"WHERE {license_id} IS NOT NULL GROUP BY 1, 2"
    )
    if totals_cover_window:
        # The totals' (license, variant) rows, '' among them: the licenses of the kept license days.
        totals = (
            f"SELECT {col(lt, 'license', 't')} AS license_id, {col(lt, 'variant', 't')} AS variant FROM {table(lt)} t "
            f"WHERE {col(lt, 'flag', 't')} = %(flag)s AND {col(lt, 'environment', 't')} = %(environment)s"
        )
        licenses_seen = (
            f"totals AS MATERIALIZED ({totals}), "
            "license_pairs AS (SELECT l.variant, l.license_id, t.license_id IS NOT NULL AS on_variant "
            "FROM licensed l LEFT JOIN totals t ON t.license_id = l.license_id AND t.variant = l.variant), "
            "licenses AS (SELECT l.license_id, t.license_id IS NOT NULL AS at_all "
            "FROM (SELECT DISTINCT license_id FROM licensed) l "
            "LEFT JOIN totals t ON t.license_id = l.license_id AND t.variant = '') "
        )
    else:
        licenses_seen = (
            f"license_pairs AS (SELECT l.variant, l.license_id, {in_window(ld, 'license', 'l.license_id', 'l.variant')} "
            "AS on_variant FROM licensed l), "
            f"licenses AS (SELECT l.license_id, {in_window(ld, 'license', 'l.license_id', None)} AS at_all "
            "FROM (SELECT DISTINCT license_id FROM licensed) l) "
        )
    return (
        f"WITH served AS MATERIALIZED ({served}), key_pairs AS MATERIALIZED ({key_pairs}), keys AS ({keys}), "
        f"licensed AS MATERIALIZED ({licensed}), {licenses_seen}"
        "SELECT 'key', variant, NULL::bigint, COUNT(*) FILTER (WHERE NOT on_variant), NULL::timestamptz "
        "FROM key_pairs GROUP BY variant "
        "UNION ALL SELECT 'key', '', NULL, COUNT(*) FILTER (WHERE NOT at_all), NULL FROM keys "
        "UNION ALL SELECT 'license', variant, NULL, COUNT(*) FILTER (WHERE NOT on_variant), NULL "
        "FROM license_pairs GROUP BY variant "
        "UNION ALL SELECT 'license', '', NULL, COUNT(*) FILTER (WHERE NOT at_all), NULL FROM licenses "
        "UNION ALL SELECT 'row', variant, license_id, n, last FROM licensed"
    )
