"""The Citus-ready key migrations (flags 0004 on) keep the rows of tables that already hold some, both ways."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from flags import activity, buckets
from flags.models import (
    EvaluationBucket,
    EvaluationBucketCount,
    FlagActivityDay,
    FlagEvaluation,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    FlagUsageDay,
    UnknownFlagDay,
)
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

BEFORE = [("flags", "0003_lean_exposure_indexes")]
DAY = date(2026, 11, 30)
AT = datetime(2026, 11, 30, 12, tzinfo=UTC)
BUCKET = uuid.UUID("0f8e2a3c-5b1d-4c7e-9a2b-3c4d5e6f7a8b")
TABLES = [
    EvaluationBucket,
    EvaluationBucketCount,
    FlagActivityDay,
    FlagEvaluation,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    FlagUsageDay,
    UnknownFlagDay,
]


def insert(table: str, **values) -> None:
    ops = connection.ops
    params = [
        ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime)
        else ops.adapt_datefield_value(value)
        if isinstance(value, date)
        else value
        for value in values.values()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(map(ops.quote_name, values))}) "
            f"VALUES ({', '.join(['%s'] * len(values))})",
            params,
        )


def rows_as_main_stored_them(environment_id: int, flag_id: int, license_id: int) -> None:
    """One row in each table, as the tables were before 0004 (surrogate ids, the bucket's foreign key)."""
    scope = {"environment_id": environment_id, "flag_id": flag_id}
    insert(
        "flags_evaluationbucket",
        environment_id=environment_id,
        bucket_id=BUCKET.hex,
        start=AT,
        end=AT + timedelta(minutes=5),
        day=DAY,
        received_at=AT,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM flags_evaluationbucket")
        (bucket_pk,) = cursor.fetchone()
    insert(
        "flags_evaluationbucketcount",
        bucket_id=bucket_pk,
        **scope,
        day=DAY,
        variant="on",
        value="true",
        reason=1,
        count=5,
    )
    insert(
        "flags_flagevaluation",
        **scope,
        value="true",
        reason=1,
        evaluated_at=AT,
        day=DAY,
        variant="on",
        targeting_key="u1",
        license_key="",
    )
    insert(
        "flags_flagusageday",
        **scope,
        date=DAY,
        total_evaluations=6,
        rule_match_count=6,
        default_count=0,
        error_count=0,
        value_distribution='{"true": 6}',
        variant_distribution='{"on": 6}',
        rolled_up_at=AT,
    )
    insert("flags_flagactivityday", **scope, day=DAY, variant="on", evaluations=6, last_evaluated_at=AT)
    insert("flags_unknownflagday", environment_id=environment_id, key="ghost", day=DAY, evaluations=2, last_seen_at=AT)
    insert("flags_flagkeyday", **scope, variant="on", targeting_key="u1", day=DAY, evaluations=1)
    insert(
        "flags_flaglicenseday", **scope, variant="on", license_id=license_id, day=DAY, evaluations=1, last_seen_at=AT
    )
    insert(
        "flags_flaglicensetotal",
        **scope,
        variant="",
        license_id=license_id,
        license_public_id="lic_1",
        evaluations=1,
        last_seen_at=AT,
    )
    insert("flags_flagreachpoint", **scope, kind="key", variant="", day=DAY, previous_day=date.min, count=1)


def table_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def migrate(targets) -> None:
    MigrationExecutor(connection).migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_rows_stored_before_the_new_keys_are_kept_and_still_written_to(org):
    project = ProjectFactory(organization=org, product=ProductFactory(organization=org))
    environment, _ = environment_with_key(project, "production")
    flag = boolean_flag(project, "new-checkout")
    license = LicenseFactory(product=project.product)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(BEFORE)
    try:
        rows_as_main_stored_them(environment.pk, flag.pk, license.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT MAX(id) FROM flags_flagevaluation")
            (last_evaluation_id,) = cursor.fetchone()
    finally:
        migrate(latest)

    assert {model.__name__: model.objects.count() for model in TABLES} == {model.__name__: 1 for model in TABLES}
    assert EvaluationBucketCount.objects.get().bucket_id == BUCKET
    # The upserts find the old rows by their key, and a retried bucket still counts once.
    activity.activity_add({(environment.pk, flag.pk, DAY, "on"): (4, AT)})
    assert FlagActivityDay.objects.get().evaluations == 10
    retried = buckets.Bucket(id=BUCKET, start=AT, end=AT + timedelta(minutes=5), entries=[])
    assert buckets.bucket_store(environment_id=environment.pk, flag_ids={}, bucket=retried, now=AT) is False
    # Raw evaluations keep drawing ids after the ones already stored.
    later = FlagEvaluation.objects.create(
        environment=environment, flag=flag, value="true", reason=1, evaluated_at=AT, day=DAY
    )
    assert later.id > last_evaluation_id


@pytest.mark.django_db(transaction=True)
def test_going_back_before_the_new_keys_keeps_the_rows(org):
    project = ProjectFactory(organization=org, product=ProductFactory(organization=org))
    environment, _ = environment_with_key(project, "production")
    flag = boolean_flag(project, "new-checkout")
    license = LicenseFactory(product=project.product)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(BEFORE)
    try:
        rows_as_main_stored_them(environment.pk, flag.pk, license.pk)
        migrate(latest)
        migrate(BEFORE)
        # Every row kept but the key's: its recent days (flags.0012) go back as empty key days,
        # which rollup_flag_usage --days redraws.
        kept = [model._meta.db_table for model in TABLES if model is not FlagKeyRecent]
        assert {table: table_rows(table) for table in kept} == {table: 1 for table in kept}
        assert table_rows("flags_flagkeyday") == 0
        with connection.cursor() as cursor:
            # the count found its bucket's surrogate id again
            cursor.execute(
                "SELECT COUNT(*) FROM flags_evaluationbucketcount c JOIN flags_evaluationbucket b ON b.id = c.bucket_id"
            )
            assert cursor.fetchone() == (1,)
    finally:
        migrate(latest)
