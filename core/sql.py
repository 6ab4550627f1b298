"""The database-specific SQL of PackEdge, in one place.

The ORM writes everything else. What is here is what the ORM cannot say
cheaply: the ingestion insert (one statement over a JSON array, licenses found
by a join, duplicate uuids skipped), plain multi-row inserts for the recorders,
additive upserts and advisory locks. Identifiers always come from model
metadata and are quoted here; no other module builds SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection
from django.db.models import Model

# PostgreSQL types of the JSON fields an INSERT … SELECT reads (SQLite reads them with json_extract).
_PG_TYPES = {"text": "text", "boolean": "boolean", "jsonb": "jsonb", "timestamptz": "timestamptz", "bigint": "bigint"}


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model: type[Model]) -> str:
    return qn(model._meta.db_table)


def column(model: type[Model], field_name: str) -> str:
    return qn(model._meta.get_field(field_name).column)


def insert_values_sql(model: type[Model], field_names: Sequence[str]) -> str:
    """``INSERT INTO t (a, b) VALUES (%s, %s)``, for ``executemany`` of plain tuples."""
    columns = ", ".join(column(model, name) for name in field_names)
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(field_names))})"


def json_rows_source(vendor: str, fields: Mapping[str, str]) -> str:
    """A row source ``v(field, …)`` over one JSON array parameter of objects.

    psycopg splits a query's placeholders in Python, which for 1,000 rows × 10
    placeholders costs more than the insert itself: one JSON parameter does not.
    """
    if vendor == "postgresql":
        typed = ", ".join(f"{qn(name)} {_PG_TYPES[kind]}" for name, kind in fields.items())
        return f"json_to_recordset(%s::json) AS v({typed})"
    extracted = ", ".join(f"json_extract(j.value, '$.{name}') AS {qn(name)}" for name in fields)
    return f"(SELECT {extracted} FROM json_each(%s) AS j) AS v"


def insert_json_rows_with_license_sql(
    vendor: str,
    *,
    model: type[Model],
    owner_field: str,
    json_fields: Mapping[str, str],
    license_model: type[Model],
    license_field: str,
    json_key_field: str,
    license_key_field: str,
) -> str:
    """The ingestion insert: ``INSERT … SELECT`` over a JSON array, one join resolving license keys.

    Parameters: the owner's id, the JSON array, the owner's id again (for the
    license join). ``ON CONFLICT DO NOTHING`` makes a retried uuid a no-op
    even when two copies race: the unique constraint decides.
    """
    columns = [column(model, owner_field), *(column(model, name) for name in json_fields), column(model, license_field)]
    values = ", ".join(f"v.{qn(name)}" for name in json_fields)
    license_owner = license_model._meta.get_field(owner_field).column
    return (
        f"INSERT INTO {table(model)} ({', '.join(columns)}) "
        f"SELECT %s, {values}, l.{qn(license_model._meta.pk.column)} FROM {json_rows_source(vendor, json_fields)} "
        f"LEFT JOIN {table(license_model)} AS l ON v.{qn(json_key_field)} <> '' "
        f"AND l.{qn(license_owner)} = %s AND l.{column(license_model, license_key_field)} = v.{qn(json_key_field)} "
        # SQLite needs a WHERE before ON CONFLICT in an INSERT … SELECT to read it as an upsert.
        "WHERE true ON CONFLICT DO NOTHING"
    )


def without_synchronous_commit(statement: str) -> str:
    """PostgreSQL: the statement in its own transaction that does not wait for the WAL flush."""
    return f"BEGIN; SET LOCAL synchronous_commit TO off; {statement}; COMMIT"


def advisory_xact_lock_sql() -> str:
    """PostgreSQL: a lock held until the transaction ends; one bigint parameter names it."""
    return "SELECT pg_advisory_xact_lock(%s)"


def jit_off_sql() -> str:
    """PostgreSQL: no JIT compilation for the rest of the transaction."""
    return "SET LOCAL jit = off"


def additive_upsert_sql(model: type[Model], *, key_fields: Sequence[str], count_field: str, latest_field: str) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE``: the count added, the later time kept.

    The same text runs on SQLite (3.24+) and PostgreSQL; the CASE is what both
    read for "the greater of two" (GREATEST and MAX(a, b) differ). Parameters:
    the key fields, the count, the time.
    """
    columns = [column(model, name) for name in (*key_fields, count_field, latest_field)]
    keys, count, latest, t = columns[: len(key_fields)], columns[-2], columns[-1], table(model)
    return (
        f"INSERT INTO {t} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {count} = {t}.{count} + excluded.{count}, "
        f"{latest} = CASE WHEN excluded.{latest} > {t}.{latest} THEN excluded.{latest} ELSE {t}.{latest} END"
    )


# Flag exposure (flags.reach): plain SQL both databases run, over the raw evaluations.


def delete_days_sql(model: type[Model], *, days: int) -> str:
    """``DELETE … WHERE day IN (%s, …)`` for ``days`` days."""
    return f"DELETE FROM {table(model)} WHERE {column(model, 'day')} IN ({', '.join(['%s'] * days)})"


def delete_day_range_sql(model: type[Model], *, bounded: bool) -> str:
    """``DELETE … WHERE day >= %s [AND day < %s]``."""
    day = column(model, "day")
    return f"DELETE FROM {table(model)} WHERE {day} >= %s" + (f" AND {day} < %s" if bounded else "")


def _raw_evaluations_join(evaluation, flag, environment, project) -> str:
    """Raw evaluations of flags and environments that still exist, with the project (and its product)."""
    e, f, v, p = evaluation, flag, environment, project
    return (
        f"FROM {table(e)} e "
        f"JOIN {table(f)} f ON f.{column(f, 'id')} = e.{column(e, 'flag')} "
        f"JOIN {table(v)} v ON v.{column(v, 'id')} = e.{column(e, 'environment')} "
        f"JOIN {table(p)} p ON p.{column(p, 'id')} = v.{column(v, 'project')} "
    )


def key_days_insert_sql(*, days: int, evaluation, key_day, flag, environment, project) -> str:
    """Evaluations per (environment, flag, variant, targeting key, day) of ``days`` days, errors and keyless left out."""
    e, k = evaluation, key_day
    columns = ", ".join(column(k, n) for n in ["environment", "flag", "variant", "targeting_key", "day", "evaluations"])
    group = ", ".join(f"e.{column(e, n)}" for n in ["environment", "flag", "variant", "targeting_key", "day"])
    return (
        f"INSERT INTO {table(k)} ({columns}) SELECT {group}, COUNT(*) "
        f"{_raw_evaluations_join(evaluation, flag, environment, project)}"
        f"WHERE e.{column(e, 'day')} IN ({', '.join(['%s'] * days)}) AND e.{column(e, 'variant')} IS NOT NULL "
        f"AND e.{column(e, 'targeting_key')} <> '' GROUP BY {group}"
    )


def license_days_insert_sql(*, days: int, evaluation, license_day, license, flag, environment, project) -> str:
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
        f"AND p.{column(p, 'product')} IS NOT NULL AND {license_id} IS NOT NULL GROUP BY {group}"
    )


def license_totals_add_sql(*, total, license_day, license, per_variant: bool, sign: int, days: int | None) -> str:
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
    day = f"d.{column(d, 'day')}"
    when = f"{day} IN ({', '.join(['%s'] * days)})" if days is not None else f"{day} < %s"
    return (
        f"INSERT INTO {table(t)} ({', '.join(columns)}) "
        f"SELECT d.{column(d, 'environment')}, d.{column(d, 'flag')}, {variant}, d.{column(d, 'license')}, "
        f"MAX(l.{column(lic, 'public_id')}), {sign} * SUM(d.{column(d, 'evaluations')}), MAX(d.{column(d, 'last_seen_at')}) "
        f"FROM {table(d)} d JOIN {table(lic)} l ON l.{column(lic, 'id')} = d.{column(d, 'license')} "
        f"WHERE {when} GROUP BY {group} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {evaluations} = {table(t)}.{evaluations} + excluded.{evaluations}, "
        f"{latest} = CASE WHEN excluded.{latest} > {table(t)}.{latest} THEN excluded.{latest} ELSE {table(t)}.{latest} END"
    )


def reach_points_insert_sql(
    *, point, subject_days, kind: str, subject: str, per_variant: bool, bounded: bool, no_previous: str
) -> str:
    """Each subject's (day, previous day) pairs in the bounds, summed into reach points.

    Inside the bounds the previous day is the row before (LAG); only a
    subject's first day in the bounds looks further back, with one index seek
    (COALESCE evaluates its second argument only when the first is NULL).
    Parameters: the bounds' first day (for the seek), then the bounds.
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
    bounds = f"k.{day} >= %s" + (f" AND k.{day} < %s" if bounded else "")
    distinct = "" if per_variant else "DISTINCT "
    rows = (
        f"SELECT {distinct}k.{env} AS env_id, k.{flag} AS flag_id, {variant_expr} AS variant_name, "
        f"k.{subj} AS subject_id, k.{day} AS seen_day FROM {table(m)} k WHERE {bounds}"
    )
    lagged = (
        "SELECT env_id, flag_id, variant_name, subject_id, seen_day, LAG(seen_day) OVER "
        f"(PARTITION BY env_id, flag_id, variant_name, subject_id ORDER BY seen_day) AS lag_day FROM ({rows}) r"
    )
    points = (
        f"SELECT env_id, flag_id, variant_name, seen_day, COALESCE(lag_day, {earlier}, '{no_previous}') AS prev_day "
        f"FROM ({lagged}) l"
    )
    columns = ", ".join(
        column(r, n) for n in ["environment", "flag", "kind", "variant", "day", "previous_day", "count"]
    )
    return (
        f"INSERT INTO {table(r)} ({columns}) SELECT env_id, flag_id, '{kind}', variant_name, seen_day, prev_day, "
        f"COUNT(*) FROM ({points}) pts GROUP BY env_id, flag_id, variant_name, seen_day, prev_day"
    )
