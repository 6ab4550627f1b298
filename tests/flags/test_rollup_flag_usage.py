from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from flags import services
from flags.models import FlagEvaluation, FlagUsageDay, Reason
from flags.selectors import utc_today
from tests.flags.factories import boolean_flag, evaluation

pytestmark = pytest.mark.django_db


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def rollup(*args: str) -> str:
    out = StringIO()
    call_command("rollup_flag_usage", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    return list(
        FlagUsageDay.objects.order_by("date", "environment_id", "flag_id").values_list(
            "date",
            "environment_id",
            "flag_id",
            "total_evaluations",
            "rule_match_count",
            "default_count",
            "error_count",
            "value_distribution",
        )
    )


def test_it_counts_each_day_environment_and_flag_by_reason_and_value(world):
    project, production, staging, flag = world
    yesterday = utc_today() - timedelta(days=1)
    before = yesterday - timedelta(days=1)
    for reason, value, n in [
        (Reason.TARGETING_MATCH, "true", 3),
        (Reason.SPLIT, "false", 2),
        (Reason.DEFAULT, "false", 4),
        (Reason.DISABLED, "true", 1),
        (Reason.ERROR, None, 2),
    ]:
        for _ in range(n):
            evaluation(production, flag, at=at(yesterday), value=value, reason=reason)
    evaluation(staging, flag, at=at(yesterday, 0), value="true", reason=Reason.DEFAULT)
    evaluation(production, flag, at=at(before, 23), value="true", reason=Reason.DEFAULT)
    evaluation(production, flag, at=at(utc_today(), 0), value="true", reason=Reason.DEFAULT)  # today: not yet
    output = rollup()
    assert "2 day(s) with evaluations not yet rolled up." in output
    assert "Rolled up 2 day(s): 14 evaluations into 3 rows" in output
    assert snapshot() == [
        (before, production.pk, flag.pk, 1, 0, 1, 0, {"true": 1}),
        (yesterday, production.pk, flag.pk, 12, 5, 5, 2, {"false": 6, "true": 4}),
        (yesterday, staging.pk, flag.pk, 1, 0, 1, 0, {"true": 1}),
    ]


def test_running_it_twice_changes_nothing(world):
    _, production, _, flag = world
    yesterday = utc_today() - timedelta(days=1)
    for hour in range(5):
        evaluation(production, flag, at=at(yesterday, hour), value="true", reason=Reason.TARGETING_MATCH)
    rollup()
    first = snapshot()
    ids = list(FlagUsageDay.objects.values_list("pk", flat=True))
    assert "0 day(s) with evaluations not yet rolled up." in rollup()
    assert snapshot() == first
    assert list(FlagUsageDay.objects.values_list("pk", flat=True)) == ids
    rollup("--date", yesterday.isoformat())  # a forced recompute gives the same numbers
    assert snapshot() == first


def test_a_late_evaluation_is_folded_into_a_day_already_rolled_up(world):
    _, production, _, flag = world
    day = utc_today() - timedelta(days=3)
    evaluation(production, flag, at=at(day), value="true", reason=Reason.DEFAULT)
    rollup()
    assert snapshot()[0][3] == 1
    evaluation(production, flag, at=at(day, 23), value="false", reason=Reason.ERROR)
    evaluation(production, flag, at=at(day, 22), value="false", reason=Reason.DEFAULT)
    output = rollup()
    assert "1 day(s) with evaluations not yet rolled up." in output
    assert snapshot() == [(day, production.pk, flag.pk, 3, 0, 2, 1, {"false": 1, "true": 1})]


def test_days_and_date_recompute_chosen_days_only(world):
    _, production, _, flag = world
    today = utc_today()
    for back in (1, 2, 3):
        evaluation(production, flag, at=at(today - timedelta(days=back)), reason=Reason.DEFAULT)
    rollup("--days", "2")
    assert [row[0] for row in snapshot()] == [today - timedelta(days=2), today - timedelta(days=1)]
    rollup("--date", (today - timedelta(days=3)).isoformat())
    assert len(snapshot()) == 3


@pytest.mark.parametrize(
    "args",
    [["--date", "2026-13-01"], ["--date", "yesterday"], ["--days", "0"], ["--days", "2", "--date", "2026-01-01"]],
)
def test_it_refuses_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("rollup_flag_usage", *args, stdout=StringIO())


def test_it_deletes_raw_evaluations_past_the_longest_retention_after_rolling_them_up(world):
    _, production, _, flag = world
    today = utc_today()
    oldest_kept = today - timedelta(days=89)  # pro and enterprise keep 90 days, today included
    evaluation(production, flag, at=at(oldest_kept), reason=Reason.DEFAULT)
    evaluation(production, flag, at=at(oldest_kept - timedelta(days=1)), reason=Reason.DEFAULT)
    output = rollup()
    assert f"deleted 1 raw evaluations before {oldest_kept}" in output
    assert list(FlagEvaluation.objects.values_list("day", flat=True)) == [oldest_kept]
    assert [row[0] for row in snapshot()] == [oldest_kept - timedelta(days=1), oldest_kept]
    rollup()
    assert len(snapshot()) == 2  # a rolled-up day whose raw rows are gone keeps its row


def test_evaluations_of_a_deleted_flag_are_skipped(world):
    project, production, _, flag = world
    other = boolean_flag(project, "other")
    yesterday = utc_today() - timedelta(days=1)
    evaluation(production, flag, at=at(yesterday), reason=Reason.DEFAULT)
    evaluation(production, other, at=at(yesterday), reason=Reason.DEFAULT)
    services.flag_delete(flag=other)
    rollup()
    assert [(row[2], row[3]) for row in snapshot()] == [(flag.pk, 1)]
    assert "0 day(s)" in rollup()
