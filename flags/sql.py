"""Flag exposure's SQL: the nightly reach structures (license days and totals, reach points, each
key's recent days) and the unrolled days' distinct subjects, PostgreSQL unless a builder says otherwise.

Identifiers come from model metadata and are quoted by ``lib.sql`` (``table``, ``column``);
the generic upserts and locks stay there.
"""

from __future__ import annotations

from django.db.models import Model

from lib.sql import BYTE_ORDER, column, qn, table


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


def _raw_evaluations_join(evaluation, flag, environment, project) -> str:
    """Raw evaluations of flags and environments that still exist, with the project (and its product)."""
    e, f, v, p = evaluation, flag, environment, project
    return (
        f"FROM {table(e)} e "
        f"JOIN {table(f)} f ON f.{column(f, 'id')} = e.{column(e, 'flag')} "
        f"JOIN {table(v)} v ON v.{column(v, 'id')} = e.{column(e, 'environment')} "
        f"JOIN {table(p)} p ON p.{column(p, 'id')} = v.{column(v, 'project')} "
    )


def license_days_insert_sql(
    *,
    days: int,
    evaluation,
    license_day,
    license,
    flag,
    environment,
    project,
    per_environment: bool = False,
    byte_order: bool = False,
) -> str:
    """Evaluations per (environment, flag, variant, license, day): the license of the project's product
    whose key is the evaluation's license key, else its targeting key (two joins on the license key index).
    ``byte_order``: the variants grouped and sorted by ``BYTE_ORDER`` (PostgreSQL)."""
    e, ld, lic, p = evaluation, license_day, license, project
    columns = ", ".join(
        column(ld, n) for n in ["environment", "flag", "variant", "license", "day", "evaluations", "last_seen_at"]
    )
    license_id = f"COALESCE(by_license.{column(lic, 'id')}, by_target.{column(lic, 'id')})"
    variant = f"e.{column(e, 'variant')}{BYTE_ORDER if byte_order else ''}"
    group = f"e.{column(e, 'environment')}, e.{column(e, 'flag')}, {variant}, {license_id}, e.{column(e, 'day')}"
    # Grouped first, then sorted into the primary key's order: the raw rows are hashed into
    # license days and only those (half as many in the bench's shape) are sorted, where one
    # sort of every joined raw row fed the grouping and the order both (10M, EXPLAIN ANALYZE,
    # load ~7-9: 8,819,877 rows sorted in 92 s of a 140 s SELECT; hashed, then 4,441,561 sorted, 85 s).
    grouped = (
        f"SELECT e.{column(e, 'environment')} AS env_id, e.{column(e, 'flag')} AS flag_id, {variant} AS variant_name, "
        f"{license_id} AS license_id, e.{column(e, 'day')} AS seen_day, "
        f"COUNT(*) AS evaluations, MAX(e.{column(e, 'evaluated_at')}) AS last_seen_at "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"LEFT JOIN {table(lic)} by_license ON by_license.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_license.{column(lic, 'key')} = e.{column(e, 'license_key')} AND e.{column(e, 'license_key')} <> '' "
        f"LEFT JOIN {table(lic)} by_target ON by_target.{column(lic, 'product')} = p.{column(p, 'product')} "
        f"AND by_target.{column(lic, 'key')} = e.{column(e, 'targeting_key')} "
        f"AND e.{column(e, 'targeting_key')} <> '' "
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND p.{column(p, 'product')} IS NOT NULL AND {license_id} IS NOT NULL"
        f"{_one_environment(e, 'e', per_environment=per_environment)} GROUP BY {group}"
    )
    return (
        f"WITH license_days AS MATERIALIZED ({grouped}) "
        f"INSERT INTO {table(ld)} ({columns}) SELECT * FROM license_days "
        "ORDER BY flag_id, env_id, license_id, variant_name, seen_day"
    )


def planner_sorts_sql(*, enabled: bool) -> str:
    """PostgreSQL: whether the planner may sort to group, for the rest of the transaction. At 10M
    it sorts the license days' raw rows to group them although hashing them is faster (above):
    its estimate of the groups is the rows' (9.7M for 4.4M)."""
    return f"SET LOCAL enable_sort = {'on' if enabled else 'off'}"


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


# A backlog's totals, the scope's emptied first: every (license, variant) of the kept license
# days, then every license over every variant ('') summed from those (a tenth of the rows),
# in the primary key's order ('' first within a license); plain inserts, where the additive
# upsert twice (one read of the license days each) cost 8.9 + 4.5 s at 1M, load ~6.
LICENSE_TOTALS_REBUILD = """
WITH per_variant AS (
    SELECT d.{d_environment} AS env_id, d.{d_flag} AS flag_id, d.{d_license} AS license_id,
           d.{d_variant} AS variant, SUM(d.{d_evaluations}) AS evaluations, MAX(d.{d_last_seen_at}) AS last_seen_at
    FROM {license_day} d
    WHERE d.{d_day} IN ({days}){existing_pairs}{one_environment}
    GROUP BY d.{d_flag}, d.{d_environment}, d.{d_license}, d.{d_variant}
)
INSERT INTO {total} ({t_environment}, {t_flag}, {t_variant}, {t_license}, {t_license_public_id}, {t_evaluations},
                     {t_last_seen_at})
SELECT c.env_id, c.flag_id, c.variant, c.license_id, l.{l_public_id}, c.evaluations, c.last_seen_at
FROM (
    SELECT env_id, flag_id, variant, license_id, evaluations, last_seen_at FROM per_variant
    UNION ALL
    SELECT env_id, flag_id, '', license_id, SUM(evaluations), MAX(last_seen_at)
    FROM per_variant GROUP BY flag_id, env_id, license_id
) c
JOIN {license} l ON l.{l_id} = c.license_id
ORDER BY c.flag_id, c.env_id, c.license_id, c.variant"""


def license_totals_rebuild_sql(
    *, total, license_day, license, days: int, flag, environment, per_environment: bool = False
) -> str:
    """The per-license totals of ``days`` days (every kept license day of the scope, whose totals
    were deleted), per variant and over every variant, in one statement. Parameters: the days
    [, the environment]."""
    t, d, lic = total, license_day, license
    names = {"total": table(t), "license_day": table(d), "license": table(lic)}
    names |= _columns("t", t, ["environment", "flag", "variant", "license", "license_public_id", "evaluations"])
    names |= _columns("t", t, ["last_seen_at"]) | _columns("l", lic, ["id", "public_id"])
    names |= _columns("d", d, ["environment", "flag", "license", "variant", "day", "evaluations", "last_seen_at"])
    return LICENSE_TOTALS_REBUILD.format(
        days=", ".join(["%s"] * days),
        existing_pairs=_existing_pairs(d, "d", flag, environment),
        one_environment=_one_environment(d, "d", per_environment=per_environment),
        **names,
    ).strip()


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


# Each subject day in the bounds with its previous day on its variant (``variant_lag``) and
# over every variant (``any_lag``), from one read of the subject days: the first window
# follows the primary key (flag, environment, subject, variant, day), so the rows come in
# its order, and an incremental sort of each subject's rows feeds the second. A subject
# has one row a (variant, day), so several a day over every variant: the repeats get their
# own day as ``any_lag`` and are left out (no DISTINCT, a sort of every subject day).
REACH_RUNS = """
runs AS (
    SELECT env_id, flag_id, subject_id, variant, day,
           LAG(day) OVER (PARTITION BY flag_id, env_id, subject_id, variant ORDER BY day) AS variant_lag,
           LAG(day) OVER (PARTITION BY flag_id, env_id, subject_id ORDER BY day) AS any_lag
    FROM (
        SELECT k.{m_environment} AS env_id, k.{m_flag} AS flag_id, k.{m_subject} AS subject_id,
               k.{m_variant} AS variant, k.{m_day} AS day
        FROM {subject_days} k
        WHERE k.{m_day} >= %(points_from)s{until}{existing_pairs}{one_environment}
    ) subject_days_in_bounds
)"""

# A subject's first day in the bounds looks further back, by one index seek (COALESCE
# evaluates its second argument only when the first is NULL).
REACH_SEEK = (
    "(SELECT MAX(p.{m_day}) FROM {subject_days} p WHERE p.{m_flag} = runs.flag_id AND p.{m_environment} = runs.env_id"
    "{same_variant} AND p.{m_subject} = runs.subject_id AND p.{m_day} < %(points_from)s), "
)

REACH_POINTS = """
WITH {runs}
INSERT INTO {point} ({p_environment}, {p_flag}, {p_kind}, {p_variant}, {p_day}, {p_previous_day}, {p_count})
SELECT env_id, flag_id, %(kind)s, variant, day, previous_day, COUNT(*)
FROM (
    SELECT env_id, flag_id, variant, day, COALESCE(variant_lag, {variant_seek}%(no_previous)s) AS previous_day
    FROM runs
    UNION ALL
    SELECT env_id, flag_id, '', day, COALESCE(any_lag, {any_seek}%(no_previous)s)
    FROM runs WHERE any_lag IS NULL OR any_lag <> day
) points
GROUP BY env_id, flag_id, variant, day, previous_day"""


def reach_points_insert_sql(
    *,
    point,
    subject_days,
    subject: str,
    bounded: bool,
    flag,
    environment,
    seek_earlier: bool = True,
    per_environment: bool = False,
) -> str:
    """Each subject's (day, previous day) pairs in the bounds, per variant and over every variant
    (''), summed into reach points: one statement, one read of the subject days (two, one per
    form, read every license day twice: 6.0 + 5.3 s at 1M, load ~6).

    Inside the bounds the previous day is the row before (LAG); without ``seek_earlier`` (no
    subject day can precede the bounds: a backlog rolled up from its first day) there is no
    seek (~1 µs per subject, 700,000 of them per form at 1M evaluations). The subject days of
    existing (flag, environment) pairs: a night's are then read by the (flag, environment, day)
    index, where ``day >= …`` alone read all 4.4M license days at 10M (1.2 s); a backlog's still
    come in the primary key's order.
    Named parameters: ``points_from`` [, ``points_until``], ``kind``, ``no_previous`` [, ``environment``].
    """
    m = subject_days
    names = {"subject_days": table(m), "point": table(point)} | _point_names(point)
    names |= {f"m_{n}": column(m, n) for n in ["environment", "flag", "variant", "day"]} | {
        "m_subject": column(m, subject)
    }
    until = f" AND k.{names['m_day']} < %(points_until)s" if bounded else ""
    one = f" AND k.{names['m_environment']} = %(environment)s" if per_environment else ""
    pairs = _existing_pairs(m, "k", flag, environment)
    runs = REACH_RUNS.format(until=until, existing_pairs=pairs, one_environment=one, **names).strip()

    def seek(same_variant: str) -> str:
        return REACH_SEEK.format(same_variant=same_variant, **names) if seek_earlier else ""

    same_variant = f" AND p.{names['m_variant']} = runs.variant"
    return REACH_POINTS.format(runs=runs, variant_seek=seek(same_variant), any_seek=seek(""), **names).strip()


# ---------------------------------------------------------------- targeting keys (issues 19, 22)
#
# No table per (key, day): the key reach points are drawn from the raw evaluations (kept as
# long as the points), and ``FlagKeyRecent`` keeps each (flag, environment, key, variant)'s
# last two days served. A backlog sorts the window's raw rows once (``KEY_RUNS``); a night
# reads yesterday's raw rows and seeks each of its keys in ``FlagKeyRecent``. One template
# each, identifiers named and quoted from model metadata at render; values are named
# parameters (``%(last_day)s``). PostgreSQL and SQLite.

# Every served row with a targeting key up to %(last_day)s, each with its previous row's day
# per variant (``variant_lag``) and over every variant (``key_lag``), and the variant's last
# day. Rows are not grouped by day first: a repeat of a (key, variant, day) has its own day
# as ``variant_lag`` (one of a (key, day) as ``key_lag``) and is left out by the consumers,
# so the window's raw rows are sorted once by (flag, environment, key, variant, day) and then,
# by an incremental sort of each key's rows, by (flag, environment, key, day).
KEY_RUNS = """
served AS (
    SELECT e.{e_environment} AS environment_id, e.{e_flag} AS flag_id,
           e.{e_targeting_key}{byte_order} AS targeting_key, e.{e_variant}{byte_order} AS variant, e.{e_day} AS day
    FROM {evaluation} e
    JOIN {flag} f ON f.{f_id} = e.{e_flag}
    JOIN {environment} v ON v.{v_id} = e.{e_environment}
    WHERE e.{e_day} <= %(last_day)s AND e.{e_variant} IS NOT NULL AND e.{e_targeting_key} <> ''{one_environment}
),
runs AS (
    SELECT environment_id, flag_id, targeting_key, variant, day,
           LAG(day) OVER per_variant AS variant_lag,
           MAX(day) OVER (PARTITION BY flag_id, environment_id, targeting_key, variant) AS variant_last,
           LAG(day) OVER (PARTITION BY flag_id, environment_id, targeting_key ORDER BY day) AS key_lag
    FROM served
    WINDOW per_variant AS (PARTITION BY flag_id, environment_id, targeting_key, variant ORDER BY day)
)"""

# A (key, variant, day)'s first row: one point per variant; a (key, day)'s first: one over every variant.
KEY_POINTS_FROM_RUNS = """
INSERT INTO {point} ({p_environment}, {p_flag}, {p_kind}, {p_variant}, {p_day}, {p_previous_day}, {p_count})
SELECT environment_id, flag_id, %(kind)s, variant, day, previous_day, COUNT(*)
FROM (
    SELECT environment_id, flag_id, variant, day, COALESCE(variant_lag, %(no_previous)s) AS previous_day
    FROM runs WHERE variant_lag IS NULL OR variant_lag <> day
    UNION ALL
    SELECT environment_id, flag_id, '', day, COALESCE(key_lag, %(no_previous)s)
    FROM runs WHERE key_lag IS NULL OR key_lag <> day
) points
GROUP BY environment_id, flag_id, variant, day, previous_day"""

# A (key, variant)'s last day's first row: its last day, and the day before it.
KEY_RECENT_FROM_RUNS = """
INSERT INTO {recent} ({r_flag}, {r_environment}, {r_targeting_key}, {r_variant}, {r_last_day}, {r_previous_day})
SELECT flag_id, environment_id, targeting_key, variant, day, COALESCE(variant_lag, %(no_previous)s)
FROM runs
WHERE day = variant_last AND (variant_lag IS NULL OR variant_lag <> day)"""

KEY_POINTS_FROM_RAW = "WITH {runs}{points}"
KEY_RECENT_FROM_RAW = "WITH {runs}{recent}"
# PostgreSQL: both from one sort of the raw rows (a data-modifying WITH runs whether read or not).
KEY_POINTS_AND_RECENT_FROM_RAW = "WITH {runs},\nrecent AS ({recent}\n){points}"


def _columns(prefix: str, model: type[Model], fields: list[str]) -> dict[str, str]:
    """``{prefix_field: quoted column}`` for a template's named identifiers."""
    return {f"{prefix}_{name}": column(model, name) for name in fields}


def _raw_key_names(evaluation, flag, environment, *, per_environment: bool) -> dict[str, str]:
    """The identifiers of a read of raw served rows with a targeting key, of existing flags and environments."""
    e = evaluation
    return {
        "evaluation": table(e),
        "flag": table(flag),
        "environment": table(environment),
        "f_id": column(flag, "id"),
        "v_id": column(environment, "id"),
        "one_environment": f" AND e.{column(e, 'environment')} = %(environment)s" if per_environment else "",
    } | _columns("e", e, ["environment", "flag", "targeting_key", "variant", "day"])


def _point_names(point) -> dict[str, str]:
    return {"point": table(point)} | _columns(
        "p", point, ["environment", "flag", "kind", "variant", "day", "previous_day", "count"]
    )


def _recent_names(recent) -> dict[str, str]:
    return {"recent": table(recent)} | _columns(
        "r", recent, ["flag", "environment", "targeting_key", "variant", "last_day", "previous_day"]
    )


def key_reach_from_raw_sql(
    *,
    evaluation,
    flag,
    environment,
    point,
    recent,
    output: str,
    per_environment: bool = False,
    byte_order: bool = False,
) -> str:
    """A backlog's key structures from the raw evaluations up to ``%(last_day)s``: the reach points
    (``output`` "points"), ``FlagKeyRecent`` ("recent"), or both from one sort ("both", PostgreSQL).

    Named parameters: ``last_day``, ``kind``, ``no_previous`` [, ``environment``].
    Replaces the per-(key, day) table the points were drawn from: one row per evaluation
    in the bench's shape, so writing it cost what a copy of the raw table costs.
    ``byte_order``: the keys sorted by ``BYTE_ORDER`` (PostgreSQL).
    """
    names = _raw_key_names(evaluation, flag, environment, per_environment=per_environment)
    names |= _point_names(point) | _recent_names(recent) | {"byte_order": BYTE_ORDER if byte_order else ""}
    runs = KEY_RUNS.format(**names).strip()
    points = KEY_POINTS_FROM_RUNS.format(**names)
    recent_insert = KEY_RECENT_FROM_RUNS.format(**names)
    if output == "points":
        return KEY_POINTS_FROM_RAW.format(runs=runs, points=points)
    if output == "recent":
        return KEY_RECENT_FROM_RAW.format(runs=runs, recent=recent_insert)
    return KEY_POINTS_AND_RECENT_FROM_RAW.format(runs=runs, recent=recent_insert.replace("\n", "\n    "), points=points)


KEYS_SERVED_TABLE = """
CREATE TEMPORARY TABLE {served} AS
SELECT DISTINCT e.{e_flag} AS flag_id, e.{e_environment} AS environment_id, e.{e_targeting_key} AS targeting_key,
       e.{e_variant} AS variant
FROM {evaluation} e
JOIN {flag} f ON f.{f_id} = e.{e_flag}
JOIN {environment} v ON v.{v_id} = e.{e_environment}
WHERE e.{e_day} = %(day)s AND e.{e_variant} IS NOT NULL AND e.{e_targeting_key} <> ''{one_environment}
ORDER BY 1, 2, 3, 4"""


def keys_served_table_sql(*, evaluation, flag, environment, served: str, per_environment: bool = False) -> str:
    """A night: a temporary table of the (flag, environment, key, variant)s served on ``%(day)s``
    (one read of the day's raw rows by the day index), in ``FlagKeyRecent``'s key order: the night's
    seeks then walk that index left to right, each leaf page read once (measured at 10M, load ~9:
    the 121,342 seeks took 6.3–9.8 s in hash order). Named parameters: ``day`` [, ``environment``]."""
    names = _raw_key_names(evaluation, flag, environment, per_environment=per_environment)
    return KEYS_SERVED_TABLE.format(served=qn(served), **names).strip()


# A key's previous day before %(day)s on a variant is its recent row's last day, or the day
# before that when %(day)s is re-rolled; over every variant, the latest of its variants'.
# Valid while no key was served later than %(day)s (reach.py checks it by the points).
KEY_POINTS_OF_A_NIGHT = """
WITH seen AS (
    SELECT s.environment_id, s.flag_id, s.targeting_key, s.variant,
           MAX(CASE WHEN r.{r_variant} = s.variant THEN {before_day} END) AS variant_before,
           MAX({before_day}) AS key_before
    FROM {served} s
    LEFT JOIN {recent} r ON r.{r_flag} = s.flag_id AND r.{r_environment} = s.environment_id
         AND r.{r_targeting_key} = s.targeting_key
    GROUP BY s.environment_id, s.flag_id, s.targeting_key, s.variant
)
INSERT INTO {point} ({p_environment}, {p_flag}, {p_kind}, {p_variant}, {p_day}, {p_previous_day}, {p_count})
SELECT environment_id, flag_id, %(kind)s, variant, %(day)s, previous_day, COUNT(*)
FROM (
    SELECT environment_id, flag_id, variant, COALESCE(variant_before, %(no_previous)s) AS previous_day FROM seen
    UNION ALL
    SELECT environment_id, flag_id, '', COALESCE(MAX(key_before), %(no_previous)s)
    FROM seen GROUP BY environment_id, flag_id, targeting_key
) points
GROUP BY environment_id, flag_id, variant, previous_day"""

BEFORE_DAY = "CASE WHEN r.{r_last_day} = %(day)s THEN r.{r_previous_day} ELSE r.{r_last_day} END"


def key_points_of_a_night_sql(*, point, recent, served: str) -> str:
    """The key reach points of one day from its ``served`` table and ``FlagKeyRecent``: one seek per
    (key, variant) served reads the key's rows of every variant, which give its previous day on
    that variant and over every variant (two seeks each, one per form, took twice as long).

    Named parameters: ``day``, ``kind``, ``no_previous``."""
    names = _point_names(point) | _recent_names(recent)
    before_day = BEFORE_DAY.format(**names)
    return KEY_POINTS_OF_A_NIGHT.format(served=qn(served), before_day=before_day, **names).strip()


# A key served again on a later day moves its last day to the previous one; a re-rolled day
# (the same last day) keeps both. Rows in the key's order: appends to the index's right edge.
KEY_RECENT_OF_A_NIGHT = """
INSERT INTO {recent} ({r_flag}, {r_environment}, {r_targeting_key}, {r_variant}, {r_last_day}, {r_previous_day})
SELECT flag_id, environment_id, targeting_key, variant, %(day)s, %(no_previous)s
FROM {served}
WHERE TRUE
ORDER BY flag_id, environment_id, targeting_key, variant
ON CONFLICT ({r_flag}, {r_environment}, {r_targeting_key}, {r_variant}) DO UPDATE SET
    {r_previous_day} = CASE WHEN {recent}.{r_last_day} = excluded.{r_last_day}
                            THEN {recent}.{r_previous_day} ELSE {recent}.{r_last_day} END,
    {r_last_day} = excluded.{r_last_day}"""


def key_recent_of_a_night_sql(*, recent, served: str) -> str:
    """``FlagKeyRecent`` after one day's ``served`` table, an upsert. Named parameters: ``day``, ``no_previous``."""
    names = _recent_names(recent)
    return KEY_RECENT_OF_A_NIGHT.format(served=qn(served), **names).strip()


def unrolled_subjects_sql(
    *, evaluation, key_recent, license_day, license_total, license, totals_cover_window: bool
) -> str:
    """PostgreSQL: what the unrolled days add to a window's distinct subjects, in one statement.

    The unrolled days' served raw rows are grouped by (variant, targeting key,
    license key) and never leave the database (shipping them out and the keys
    back as arrays was most of the read at 10M evaluations). It answers rows of
    three kinds: ``key`` and ``license`` (a variant, or '' for every variant, and
    how many of the days' subjects no rolled subject day of the window has), and
    ``row`` (license id, variant, evaluations, last evaluation: the license table's).

    A key was served on a rolled day of the window when one of its ``FlagKeyRecent``
    rows (the variant's, or any, over every variant) has its last day on or after the
    window's first: exact while the window ends on or after every key's last rolled
    day, which the caller checks (``tail.subjects``). Today's keys are joined to the
    flag's rows of that table once (the planner merges or seeks, by their numbers),
    where a probe per (variant, key) of a table per key day cost ~33 µs each. Licenses resolve as the rollup resolves them (the
    licenseKey's license, else the targetingKey's). Whether a rolled day of the
    window has a license is an index seek on the license days, or, when the
    window holds every kept license day (``totals_cover_window``), a join to the
    flag's per-license totals, whose rows are exactly those licenses and variants.

    Named parameters: flag, environment, product, date_from, date_to, days (an array).
    """
    e, kr, ld, lt, lic = evaluation, key_recent, license_day, license_total, license

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
    # every recent row of each (variant, key) served: whether the variant's, and any, was served since date_from;
    # the pairs in the index's order, so that the seeks walk it left to right (10M: 971-1,163 ms → 657-854 ms)
    key_pairs = (
        "SELECT s.variant, s.subject, "
        f"COALESCE(bool_or({col(kr, 'variant', 'r')} = s.variant AND {col(kr, 'last_day', 'r')} >= %(date_from)s), "
        "FALSE) AS on_variant, "
        f"COALESCE(bool_or({col(kr, 'last_day', 'r')} >= %(date_from)s), FALSE) AS at_all "
        "FROM (SELECT DISTINCT targeting_key AS subject, variant FROM served WHERE targeting_key <> '' "
        "ORDER BY 1, 2) s "
        f"LEFT JOIN {table(kr)} r ON {col(kr, 'flag', 'r')} = %(flag)s AND {col(kr, 'environment', 'r')} = %(environment)s "
        f"AND {col(kr, 'targeting_key', 'r')} = s.subject GROUP BY s.variant, s.subject"
    )
    keys = "SELECT k.subject, bool_or(k.at_all) AS at_all FROM key_pairs k GROUP BY k.subject"
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
