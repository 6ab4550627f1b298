"""Events lose their per-row fold mark: consumers keep a watermark on ids (analytics 0003 set it).

The partial index on unfolded rows becomes a plain (product, id) index: "this
product's events after id N" is what a consumer reads. Not on PostgreSQL's
partitioned table: its primary key (product_id, id, occurred_at) already serves it,
and every index is paid for by every insert.
"""

from django.db import migrations, models

PRODUCT_ID_INDEX = models.Index(fields=["product", "id"], name="event_product_id")


def _partitioned(schema_editor, table: str) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        # The statement as it stood when this migration was written (a migration does not follow later code).
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
        return cursor.fetchone() is not None


def add_product_id_index(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    if not _partitioned(schema_editor, Event._meta.db_table):
        schema_editor.add_index(Event, PRODUCT_ID_INDEX)


def remove_product_id_index(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    if not _partitioned(schema_editor, Event._meta.db_table):
        schema_editor.remove_index(Event, PRODUCT_ID_INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0009_partitioned_events"),
        ("analytics", "0003_counterstate_folded_through"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="event", name="event_pending_rollup"),
        migrations.RemoveField(model_name="event", name="rollup_batch"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="event", index=PRODUCT_ID_INDEX)],
            database_operations=[migrations.RunPython(add_product_id_index, remove_product_id_index)],
        ),
    ]
