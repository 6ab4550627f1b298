"""64-bit counts end to end, the bound on one bucket entry, and one tenant's bad row never stopping another's rollup."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from flags import recording, rollup
from flags.models import (
    EvaluationBucket,
    EvaluationBucketCount,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
    FlagUsageDay,
    Reason,
)
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D1, D2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite integers are 64-bit in any column; the overflow is PostgreSQL's"
)


@pytest.fixture
def tenants(org, other_org):
    """Two organizations, each with a flag in one environment, and evaluations on D1 and D2 with keys and licenses."""
    made = []
    for organization in (org, other_org):
        product = ProductFactory(organization=organization)
        LicenseFactory(product=product, key="LIC-A")
        project = ProjectFactory(organization=organization, product=product)
        environment = environment_with_key(project, "production")[0]
        flag = boolean_flag(project, "new-checkout")
        for day, hour, variant, key, license_key in [
            (D1, 9, "on", "u1", "LIC-A"),
            (D1, 10, "off", "u2", ""),
            (D2, 9, "on", "u1", "LIC-A"),
            (D2, 11, "on", "u3", ""),
        ]:
            recording.record(
                environment_id=environment.pk,
                flag_id=flag.pk,
                value="true" if variant == "on" else "false",
                reason=Reason.SPLIT,
                at=datetime.combine(day, time(hour), tzinfo=UTC),
                variant=variant,
                targeting_key=key,
                license_key=license_key,
            )
        made.append((environment, flag))
    recording.flush()
    return made


def stored_counts(environment, flag, *counts: int, day=D1) -> None:
    """Bucket entries as an earlier version (no bound, 32-bit rollup) could have accepted them."""
    bucket_id = uuid.uuid4()
    start = datetime.combine(day, time(10), tzinfo=UTC)
    EvaluationBucket.objects.create(
        environment=environment, bucket_id=bucket_id, start=start, end=start + timedelta(minutes=5), day=day
    )
    for i, count in enumerate(counts):
        EvaluationBucketCount.objects.create(
            bucket_id=bucket_id,
            environment=environment,
            flag=flag,
            day=day,
            variant=f"v{i}",
            value=f'"v{i}"',
            reason=Reason.DEFAULT,
            count=count,
        )


def usage(environment) -> dict:
    return dict(FlagUsageDay.objects.filter(environment=environment).values_list("date", "total_evaluations"))


def derived_tables() -> dict:
    return {
        model.__name__: sorted(
            tuple(row.values())
            for row in model.objects.values(*(f.attname for f in model._meta.concrete_fields if f.attname != "id"))
        )
        for model in (FlagKeyRecent, FlagLicenseDay, FlagLicenseTotal, FlagReachPoint)
    } | {
        "FlagUsageDay": sorted(
            FlagUsageDay.objects.values_list(
                "environment_id", "flag_id", "date", "total_evaluations", "value_distribution", "variant_distribution"
            )
        )
    }


def test_a_bucket_entry_over_a_million_is_refused_so_3e9_cannot_arrive_in_one_bucket(tenants):
    environment, flag = tenants[0]
    raw_key = environment_with_key(environment.project, "staging")[1]
    start = datetime.combine(D2, time(10), tzinfo=UTC)
    entry = {"flagKey": "new-checkout", "variant": "on", "value": True, "reason": "DEFAULT", "count": 10**9}
    body = {"id": str(uuid.uuid4()), "start": start.isoformat(), "end": start.isoformat(), "counts": [entry] * 3}
    response = Client().post(
        "/public/v1/flag-evaluations",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "counts[0].count: an integer from 1 to 1000000."
    assert not EvaluationBucket.objects.exists()
    body["counts"] = [{**entry, "count": 10**6}]
    assert Client().post(
        "/public/v1/flag-evaluations",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    ).json() == {"success": True, "accepted": 1}


def test_three_billion_stored_evaluations_of_one_flag_roll_up_exactly(tenants):
    environment, flag = tenants[0]
    stored_counts(environment, flag, 10**9, 10**9, 10**9)
    report = rollup_run(today=TODAY)
    assert report.skipped == []
    # 3e9 from the buckets + 2 recorded on D1: past 2^31 - 1 = 2,147,483,647
    assert usage(environment) == {D1: 3_000_000_002, D2: 2}
    assert rollup.days_pending(before=TODAY) == []


def test_one_environment_that_fails_is_skipped_and_every_other_rolls_up(tenants, monkeypatch, rollup_fallback_expected):
    (bad, _), (good, _) = tenants
    real = rollup._rollup_scope

    def failing_for_bad(days, *, environment_id, progress):
        if environment_id in (None, bad.pk):  # the all-environments pass holds the bad rows too
            raise ValueError("a row that cannot be counted")
        return real(days, environment_id=environment_id, progress=progress)

    monkeypatch.setattr(rollup, "_rollup_scope", failing_for_bad)
    report = rollup_run(today=TODAY)
    assert report.skipped == [bad.pk]
    assert usage(good) == {D1: 2, D2: 2}
    assert usage(bad) == {}
    assert (report.rows, report.evaluations) == (2, 4)
    # the bad environment's days stay pending: the next run, once it can, counts them
    monkeypatch.undo()
    assert rollup.days_pending(before=TODAY) == [D1, D2]
    assert rollup_run(today=TODAY).skipped == []
    assert usage(bad) == {D1: 2, D2: 2}


def test_the_environment_by_environment_pass_writes_what_the_all_environments_pass_writes(
    tenants, monkeypatch, rollup_fallback_expected, caplog
):
    rollup_run(today=TODAY)
    assert not [r for r in caplog.records if r.name == "flags.rollup"]  # the fast path wrote these
    expected = derived_tables()
    assert len(expected["FlagReachPoint"]) > 0 and len(expected["FlagLicenseTotal"]) > 0
    real = rollup._rollup_scope

    def only_apart(days, *, environment_id, progress):
        if environment_id is None:
            raise ValueError("force the fallback")
        return real(days, environment_id=environment_id, progress=progress)

    monkeypatch.setattr(rollup, "_rollup_scope", only_apart)
    # D2 alone (license totals taken away and added back), then both days (rebuilt from nothing)
    for days in ([D2], [D1, D2]):
        assert rollup_run(today=TODAY, days=days).skipped == []
        assert derived_tables() == expected


@postgresql_only
def test_a_real_overflowing_row_skips_its_environment_only(tenants, capsys, rollup_fallback_expected):
    (bad, bad_flag), (good, _) = tenants
    # each fits a bigint; their sum (1e19) does not: the usage row cannot be written
    stored_counts(bad, bad_flag, 5 * 10**18, 5 * 10**18)
    call_command("rollup_flag_usage")
    assert f"Skipped 1 environment(s) whose rows could not be rolled up (see the log): {bad.public_id}." in (
        capsys.readouterr().err
    )
    assert usage(good) == {D1: 2, D2: 2}
    assert usage(bad) == {}
    # it never heals by itself, but never again stops the others either
    assert rollup_run(today=TODAY).skipped == [bad.pk]
    assert usage(good) == {D1: 2, D2: 2}
