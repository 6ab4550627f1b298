"""A bucket's counts name their bucket by its uuid, not by a foreign key to its surrogate ``id``.

The bucket's primary key becomes (environment, bucket id) in 0005, and
Django cannot point a foreign key at a composite key. Each count keeps the
bucket it came in as the bucket's uuid (its key within the environment, which
the count holds too). The retention that deleted counts through the foreign
key's cascade deletes them by day instead (``flags.rollup.delete_expired``).

Reversible: going back looks the surrogate id up again by (environment, uuid).
The foreign key is made nullable before it is removed so that, going back, it
can be added to a table with rows and filled before it is NOT NULL again.
"""

import django.db.models.deletion
from django.db import migrations, models


def uuids_from_bucket_ids(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE flags_evaluationbucketcount SET bucket_uuid = "
            "(SELECT b.bucket_id FROM flags_evaluationbucket b WHERE b.id = flags_evaluationbucketcount.bucket_id)"
        )


def bucket_ids_from_uuids(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE flags_evaluationbucketcount SET bucket_id = "
            "(SELECT b.id FROM flags_evaluationbucket b WHERE b.environment_id = flags_evaluationbucketcount.environment_id "
            "AND b.bucket_id = flags_evaluationbucketcount.bucket_uuid)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("flags", "0003_lean_exposure_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluationbucketcount",
            name="bucket_uuid",
            field=models.UUIDField(null=True),
        ),
        migrations.AlterField(
            model_name="evaluationbucketcount",
            name="bucket",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="counts",
                to="flags.evaluationbucket",
            ),
        ),
        migrations.RunPython(uuids_from_bucket_ids, bucket_ids_from_uuids),
        migrations.RemoveField(
            model_name="evaluationbucketcount",
            name="bucket",
        ),
        migrations.RenameField(
            model_name="evaluationbucketcount",
            old_name="bucket_uuid",
            new_name="bucket_id",
        ),
        migrations.AlterField(
            model_name="evaluationbucketcount",
            name="bucket_id",
            field=models.UUIDField(),
        ),
    ]
