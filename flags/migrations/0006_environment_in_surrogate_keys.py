"""Raw evaluations, SDK bucket counts and the daily rollup: on PostgreSQL the primary key is (environment_id, id).

Evaluations and bucket counts are append-only rows without a natural key, and
the rollup's rows are listed by the admin, which needs a single-column key: so
Django keeps ``id`` as their primary key (still unique, from the identity
sequence), and the database's key is the models' ``DATABASE_KEY``, as for
``events.Event``: the environment in it, so the tables could be distributed by
environment (docs/SCALING.md). The unique key of the rollup holds the
environment already.

PostgreSQL only: the key is swapped in place, which builds one index over each
table under a lock (recording waits meanwhile; a large raw-evaluation table
makes that the cost of this migration). SQLite keeps ``id`` as its rowid key:
nothing is distributed there, and its schema still matches the models, whose
key is ``id``. Reversible.
"""

from django.db import migrations

TABLES = ["flags_flagevaluation", "flags_evaluationbucketcount", "flags_flagusageday"]


def _primary_key(schema_editor, columns: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    qn = schema_editor.quote_name
    for table in TABLES:
        key = qn(f"{table}_pkey")
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} DROP CONSTRAINT {key}, ADD CONSTRAINT {key} PRIMARY KEY ({columns})"
        )


def key_with_environment(apps, schema_editor):
    _primary_key(schema_editor, "environment_id, id")


def key_on_id(apps, schema_editor):
    _primary_key(schema_editor, "id")


class Migration(migrations.Migration):
    dependencies = [
        ("flags", "0005_natural_primary_keys"),
    ]

    operations = [
        migrations.RunPython(key_with_environment, key_on_id),
    ]
