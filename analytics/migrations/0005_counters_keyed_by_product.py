"""Citus-ready counters: each counter table's primary key is its natural key, led by the product.

The surrogate ``id`` goes: the unique key every fold upserts by becomes the primary key
(one index fewer per written row), and the product, the distribution column of
docs/SCALING.md, is in every key. CounterState is keyed by its product. The product's
own foreign-key index goes too: every key leads with the product.

Django does not migrate a table to a composite primary key, so the database work is
written here. PostgreSQL alters the tables in place (dropping ``id`` rewrites nothing;
the new key's index is built once). SQLite cannot alter a primary key: each table is
rebuilt from the new model and its rows copied, as Django's own SQLite alterations do.
"""

from django.db import migrations, models
import django.db.models.deletion

# table -> (its unique constraint before, the key's columns, whether PostgreSQL's key index includes ``count``)
KEYED_TABLES = {
    "events_counterstate": ("events_counterstate_product_id_key", ("product_id",), False),
    "events_featurehourcounter": ("feature_hour_key", ("product_id", "day", "hour", "event", "feature"), False),
    "events_featuredaycounter": ("feature_day_key", ("product_id", "day", "event", "feature"), False),
    "events_dayhourcounter": ("day_hour_key", ("product_id", "day", "hour"), False),
    "events_licensehourcounter": ("license_hour_key", ("product_id", "license_id", "day", "hour"), False),
    "events_licenseblockcounter": (
        "license_block_key",
        ("product_id", "block", "license_id", "event", "feature"),
        False,
    ),
    "events_domainblockcounter": ("domain_block_key", ("product_id", "block", "domain", "event", "feature"), False),
    "events_licensetotalblock": ("license_total_key", ("product_id", "block", "license_id"), False),
    "events_domaintotalblock": ("domain_total_key", ("product_id", "block", "domain"), False),
    "events_licensedomainblockcounter": (
        "license_domain_block_key",
        ("product_id", "license_id", "block", "domain", "event", "feature"),
        False,
    ),
    # a window is answered from the index alone (it was the unique constraint's INCLUDE)
    "events_featurereachcounter": (
        "feature_reach_key",
        ("product_id", "kind", "day", "feature", "previous_day"),
        True,
    ),
}


def _models_by_table(state):
    return {
        model._meta.db_table: model
        for model in state.apps.get_app_config("analytics").get_models()
        if model._meta.db_table in KEYED_TABLES
    }


def _product_index(schema_editor, table):
    """The single-column index Django made for the ``product`` foreign key, if any."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return next(
        (
            name
            for name, c in constraints.items()
            if c["index"] and not c["unique"] and not c["primary_key"] and c["columns"] == ["product_id"]
        ),
        None,
    )


def _rebuild(schema_editor, table, model):
    """A new table made from ``model``, the rows copied, the old table dropped (SQLite, and the way back)."""
    quote = schema_editor.quote_name
    connection = schema_editor.connection
    old = f"{table}__before_keys"
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    for name, c in constraints.items():
        # index and key names are per schema: the old table's would collide with the new one's
        if c["primary_key"] or name.startswith("sqlite_autoindex"):
            continue
        if c["index"]:
            schema_editor.execute(f"DROP INDEX {quote(name)}")
        elif c["unique"] and connection.vendor == "postgresql":  # SQLite's go with their table
            schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
    if connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(table + '_pkey')}")
    schema_editor.execute(f"ALTER TABLE {quote(table)} RENAME TO {quote(old)}")
    schema_editor.create_model(model)
    columns = ", ".join(quote(field.column) for field in model._meta.local_concrete_fields if field.column != "id")
    schema_editor.execute(f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {quote(old)}")
    schema_editor.execute(f"DROP TABLE {quote(old)}")


class KeyCountersByProduct(migrations.operations.base.Operation):
    """The database half: needs the models after the change (SQLite's rebuild), which RunPython does not see."""

    reversible = True

    def state_forwards(self, app_label, state):
        pass  # the state half is the operations beside this one

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        quote = schema_editor.quote_name
        new_models = _models_by_table(to_state)
        for table, (unique, key, include_count) in KEYED_TABLES.items():
            if schema_editor.connection.vendor != "postgresql":
                _rebuild(schema_editor, table, new_models[table])
                continue
            # In place: dropping ``id`` rewrites nothing; the key's index is built once.
            product_index = _product_index(schema_editor, table)
            if product_index:
                schema_editor.execute(f"DROP INDEX {quote(product_index)}")
            if include_count:  # Django made that unique key an index (INCLUDE), not a constraint
                schema_editor.execute(f"DROP INDEX {quote(unique)}")
                drop_unique, include = "", " INCLUDE (count)"
            else:
                drop_unique, include = f"DROP CONSTRAINT {quote(unique)}, ", ""
            schema_editor.execute(
                f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(table + '_pkey')}, DROP COLUMN id, {drop_unique}"
                f"ADD CONSTRAINT {quote(table + '_pkey')} PRIMARY KEY ({', '.join(map(quote, key))}){include}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        old_models = _models_by_table(to_state)
        for table in KEYED_TABLES:
            _rebuild(schema_editor, table, old_models[table])

    def describe(self):
        return "Key the Feature Usage counters by their natural key, led by the product"


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_counters_without_database_foreign_keys"),
        ("events", "0010_event_watermark"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name='dayhourcounter',
                    name='day_hour_key',
                ),
                migrations.RemoveConstraint(
                    model_name='domainblockcounter',
                    name='domain_block_key',
                ),
                migrations.RemoveConstraint(
                    model_name='domaintotalblock',
                    name='domain_total_key',
                ),
                migrations.RemoveConstraint(
                    model_name='featuredaycounter',
                    name='feature_day_key',
                ),
                migrations.RemoveConstraint(
                    model_name='featurehourcounter',
                    name='feature_hour_key',
                ),
                migrations.RemoveConstraint(
                    model_name='featurereachcounter',
                    name='feature_reach_key',
                ),
                migrations.RemoveConstraint(
                    model_name='licenseblockcounter',
                    name='license_block_key',
                ),
                migrations.RemoveConstraint(
                    model_name='licensedomainblockcounter',
                    name='license_domain_block_key',
                ),
                migrations.RemoveConstraint(
                    model_name='licensehourcounter',
                    name='license_hour_key',
                ),
                migrations.RemoveConstraint(
                    model_name='licensetotalblock',
                    name='license_total_key',
                ),
                migrations.RemoveField(
                    model_name='counterstate',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='dayhourcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='domainblockcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='domaintotalblock',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='featuredaycounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='featurehourcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='featurereachcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='licenseblockcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='licensedomainblockcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='licensehourcounter',
                    name='id',
                ),
                migrations.RemoveField(
                    model_name='licensetotalblock',
                    name='id',
                ),
                migrations.AddField(
                    model_name='dayhourcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'day', 'hour', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='domainblockcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'block', 'domain', 'event', 'feature', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='domaintotalblock',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'block', 'domain', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='featuredaycounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'day', 'event', 'feature', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='featurehourcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'day', 'hour', 'event', 'feature', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='featurereachcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'kind', 'day', 'feature', 'previous_day', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='licenseblockcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'block', 'license', 'event', 'feature', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='licensedomainblockcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'license', 'block', 'domain', 'event', 'feature', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='licensehourcounter',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'license', 'day', 'hour', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AddField(
                    model_name='licensetotalblock',
                    name='pk',
                    field=models.CompositePrimaryKey('product', 'block', 'license', blank=True, editable=False, primary_key=True, serialize=False),
                ),
                migrations.AlterField(
                    model_name='counterstate',
                    name='product',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='counter_state', serialize=False, to='events.product'),
                ),
                migrations.AlterField(
                    model_name='dayhourcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='domainblockcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='domaintotalblock',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='featuredaycounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='featurehourcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='featurereachcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='licenseblockcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='licensedomainblockcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='licensehourcounter',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
                migrations.AlterField(
                    model_name='licensetotalblock',
                    name='product',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.product'),
                ),
            ],
            database_operations=[KeyCountersByProduct()],
        ),
    ]
