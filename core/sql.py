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
