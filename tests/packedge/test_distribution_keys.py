"""Citus-ready keys: a table to be distributed carries its distribution column in every primary and unique key.

Citus can only enforce a primary or unique key whose columns include the
distribution column, and only routes a query to one shard when it filters on
it. docs/SCALING.md has the plan; these tests read the models' keys (and, on
PostgreSQL, the database's) and hold every table listed as distributed to it.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import CompositePrimaryKey, Model, UniqueConstraint

# table → distribution column: the per-product leaf tables, co-located by product.
DISTRIBUTED = {
    "events_event": "product_id",
    "events_eventuuid": "product_id",
    # the Feature Usage counters (analytics): keyed by their natural key, led by the product
    "events_counterstate": "product_id",
    "events_featurehourcounter": "product_id",
    "events_featuredaycounter": "product_id",
    "events_dayhourcounter": "product_id",
    "events_featurereachcounter": "product_id",
    "events_licenseblockcounter": "product_id",
    "events_domainblockcounter": "product_id",
    "events_licensetotalblock": "product_id",
    "events_domaintotalblock": "product_id",
    "analytics_licensedayhours": "product_id",
    "events_licensedomainblockcounter": "product_id",
    # Installs analytics (analytics/installs): one state row, sites, days, active counts, uninstalls
    "analytics_installstate": "product_id",
    "analytics_installsite": "product_id",
    "analytics_installday": "product_id",
    "analytics_installactivecount": "product_id",
    "analytics_uninstall": "product_id",
    "analytics_uninstalldaycount": "product_id",
    # Flags' per-environment leaf tables, co-located by environment.
    "flags_flagevaluation": "environment_id",
    "flags_evaluationbucketcount": "environment_id",
    "flags_flagusageday": "environment_id",
    "flags_evaluationbucket": "environment_id",
    "flags_flagactivityday": "environment_id",
    "flags_unknownflagday": "environment_id",
    "flags_flagkeyrecent": "environment_id",
    "flags_flaglicenseday": "environment_id",
    "flags_flaglicensetotal": "environment_id",
    "flags_flagreachpoint": "environment_id",
    # the worker's fold of today (flags/fold.py, flags.0013)
    "flags_flagfoldstate": "environment_id",
    "flags_flagfoldkey": "environment_id",
    "flags_flagfoldpoint": "environment_id",
    "flags_flagfoldlicense": "environment_id",
}

# Small, shared by every shard (joined from any of them): replicated as Citus reference tables.
REFERENCE = {
    "packedge_plan",
    "packedge_organization",
    "packedge_membership",
    "packedge_apikey",
    "packedge_invitation",
    "auth_user",
    "events_product",
    "events_license",
    "flags_project",
    "flags_environment",
    "flags_sdkkey",
    "flags_flag",
    "flags_flagenvironment",
    # the audit log (issue 12): written only when configuration changes, read per organization
    "packedge_auditentry",
}


def model_of(table: str) -> type[Model] | None:
    return next((model for model in apps.get_models() if model._meta.db_table == table), None)


def model_keys(model: type[Model]) -> list[tuple[str, ...]]:
    """The column sets of a model's primary key and of each of its unique keys."""
    meta = model._meta
    if isinstance(meta.pk, CompositePrimaryKey):
        primary = tuple(field.column for field in meta.pk.fields)
    elif hasattr(model, "DATABASE_KEY"):  # the key the database holds (Event: partitioned on PostgreSQL)
        primary = tuple(meta.get_field(name).column for name in model.DATABASE_KEY)
    else:
        primary = (meta.pk.column,)
    keys = [primary]
    keys += [(field.column,) for field in meta.local_fields if field.unique and not field.primary_key]
    keys += [tuple(meta.get_field(name).column for name in fields) for fields in meta.unique_together]
    keys += [
        tuple(meta.get_field(name).column for name in constraint.fields)
        for constraint in meta.constraints
        if isinstance(constraint, UniqueConstraint) and constraint.fields
    ]
    return keys


def database_keys(table: str) -> list[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [tuple(c["columns"]) for c in constraints.values() if c["primary_key"] or c["unique"]]


@pytest.mark.parametrize("table", sorted(DISTRIBUTED))
def test_every_key_of_a_distributed_table_holds_its_distribution_column(table):
    model = model_of(table)
    assert model is not None, f"no model for {table}"
    column = DISTRIBUTED[table]
    for key in model_keys(model):
        assert column in key, f"{table}: key {key} lacks {column}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue")
@pytest.mark.parametrize("table", sorted(DISTRIBUTED))
def test_the_database_enforces_those_keys(db, table):
    keys = database_keys(table)
    assert keys, f"{table} has no primary key"
    for key in keys:
        assert DISTRIBUTED[table] in key, f"{table}: database key {key} lacks {DISTRIBUTED[table]}"


def test_every_table_is_in_the_plan():
    planned = set(DISTRIBUTED) | set(REFERENCE)
    ours = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in ("packedge", "events", "analytics", "flags")
    }
    assert ours - planned == set(), "place every new table in docs/SCALING.md's plan and in this test"


def foreign_keys(model: type[Model]) -> list[tuple[str, str]]:
    """(column, referenced table) of each of a model's foreign keys."""
    return [
        (field.column, field.related_model._meta.db_table)
        for field in model._meta.local_fields
        if field.is_relation and field.many_to_one
    ]


@pytest.mark.parametrize("table", sorted(DISTRIBUTED))
def test_a_distributed_table_references_only_reference_tables(table):
    # Citus enforces a foreign key from a distributed table to a reference table on every
    # shard; one between distributed tables only when it holds the distribution column,
    # which a single-column Django foreign key cannot, so none may exist.
    for column, target in foreign_keys(model_of(table)):
        assert target in REFERENCE, f"{table}.{column} -> {target}: only reference tables may be referenced"


@pytest.mark.parametrize("table", sorted(REFERENCE))
def test_a_reference_table_never_references_a_distributed_one(table):
    # Citus refuses a foreign key from a reference table to a distributed table.
    model = model_of(table)
    assert model is not None, f"no model for {table}"
    for column, target in foreign_keys(model):
        assert target not in DISTRIBUTED, f"{table}.{column} -> {target}: a reference table cannot point at a shard"
