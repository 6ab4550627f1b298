"""SQLite: the reach points get the unique key the fold's upsert names (issue 18, item 6).

On PostgreSQL (product, kind, day, feature, previous_day) is the table's primary key
(0005). SQLite's table kept its surrogate ``id``, and the unique index 0005 replaced was
PostgreSQL's ``INCLUDE`` index, which Django does not make on SQLite: the table had no
key at all, which the Python fold did not need (it deleted and reinserted every point
it changed) and the one fold's ``INSERT … ON CONFLICT (those columns) DO UPDATE`` does.
The other counter tables already have their natural key as a unique constraint there.
"""

from django.db import migrations

COLUMNS = "product_id, kind, day, feature, previous_day"


def add_key(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS feature_reach_key ON events_featurereachcounter ({COLUMNS})"
        )


def drop_key(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP INDEX IF EXISTS feature_reach_key")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0008_uninstall_day_counts")]

    operations = [migrations.RunPython(add_key, drop_key, elidable=False)]
