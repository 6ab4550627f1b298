from __future__ import annotations

from datetime import date, timedelta

import pytest

from flags.models import FlagUsageDay
from flags.selectors import FlagUsageQuery, flag_usage, parse_flag_usage_query, utc_today
from lib.errors import ApiError, NotFound
from tests.flags.factories import ProjectFactory, environment_with_key

pytestmark = pytest.mark.django_db


def day_row(flag, environment, day: date, *, rule=0, default=0, error=0, values=None) -> FlagUsageDay:
    return FlagUsageDay.objects.create(
        flag=flag,
        environment=environment,
        date=day,
        total_evaluations=rule + default + error,
        rule_match_count=rule,
        default_count=default,
        error_count=error,
        value_distribution=values or {},
    )


def get(api, project, environment_id: str | None = None, flag_key: str = "new-checkout", **params):
    query = {**({"environmentId": environment_id} if environment_id else {}), **params}
    return api.get(f"/v1/projects/{project.public_id}/flags/{flag_key}/usage", query)


def test_it_answers_seed_002s_shape_with_rows_ascending_and_empty_days_omitted(api, world):
    project, production, staging, flag = world
    today = utc_today()
    day_row(flag, production, today - timedelta(days=1), rule=7200, default=7623, values={"true": 7200, "false": 7623})
    day_row(flag, production, today - timedelta(days=5), default=3, error=1, values={"false": 3})
    day_row(flag, staging, today - timedelta(days=1), default=99, values={"false": 99})
    day_row(flag, production, today - timedelta(days=40), default=5, values={"false": 5})  # before the default window
    response = get(api, project, production.public_id)
    assert response.status_code == 200
    body = response.json()
    assert body.pop("countedThrough")  # tests/packedge/test_freshness.py has its value
    assert body == {
        "flagKey": "new-checkout",
        "environmentId": production.public_id,
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
        "rows": [
            {
                "date": (today - timedelta(days=5)).isoformat(),
                "totalEvaluations": 4,
                "valueDistribution": {"false": 3},
                "ruleMatchCount": 0,
                "defaultCount": 3,
                "errorCount": 1,
            },
            {
                "date": (today - timedelta(days=1)).isoformat(),
                "totalEvaluations": 14823,
                "valueDistribution": {"true": 7200, "false": 7623},
                "ruleMatchCount": 7200,
                "defaultCount": 7623,
                "errorCount": 0,
            },
        ],
    }
    assert list(response.json()) == ["flagKey", "environmentId", "from", "to", "rows"]


def test_from_and_to_bound_the_rows_inclusively(api, world):
    project, production, _, flag = world
    today = utc_today()
    for back in range(6):
        day_row(flag, production, today - timedelta(days=back), default=back + 1)
    body = get(
        api,
        project,
        production.public_id,
        **{"from": (today - timedelta(days=4)).isoformat(), "to": (today - timedelta(days=2)).isoformat()},
    ).json()
    assert [row["totalEvaluations"] for row in body["rows"]] == [5, 4, 3]


@pytest.mark.parametrize(
    ("plan", "back", "clamped", "effective_back"),
    [
        ("free", 6, False, 6),  # the oldest day free keeps (7 days, today included)
        ("free", 7, True, 6),
        ("free", 29, True, 6),  # the default window on free
        ("pro", 89, False, 89),
        ("pro", 29, False, 29),
        ("enterprise", 89, False, 89),
    ],
)
def test_from_is_clamped_to_the_plans_retention(api, org, world, plan, back, clamped, effective_back):
    from tenancy.models import Plan

    org.plan = Plan.objects.get(slug=plan)
    org.save()
    project, production, _, flag = world
    today = utc_today()
    day_row(flag, production, today - timedelta(days=effective_back), default=1)
    day_row(flag, production, today - timedelta(days=effective_back + 1), default=1)  # outside the window
    body = get(api, project, production.public_id, **{"from": (today - timedelta(days=back)).isoformat()}).json()
    assert body["from"] == (today - timedelta(days=effective_back)).isoformat()
    assert body.get("clampedFrom") is (True if clamped else None)
    assert "clampedFrom" in body if clamped else "clampedFrom" not in body
    assert [row["date"] for row in body["rows"]] == [(today - timedelta(days=effective_back)).isoformat()]


def test_pro_clamps_a_from_outside_90_days_and_free_the_default_window(api, org, world, free_plan):
    project, production, _, _ = world
    today = utc_today()
    body = get(
        api,
        project,
        production.public_id,
        **{"from": (today - timedelta(days=95)).isoformat(), "to": (today - timedelta(days=10)).isoformat()},
    ).json()
    assert (body["from"], body["clampedFrom"]) == ((today - timedelta(days=89)).isoformat(), True)
    org.plan = free_plan
    org.save()
    body = get(api, project, production.public_id).json()
    assert (body["from"], body["to"], body["clampedFrom"]) == (
        (today - timedelta(days=6)).isoformat(),
        today.isoformat(),
        True,
    )


def test_a_90_day_range_is_allowed_and_91_is_not(api, world):
    project, production, _, _ = world
    today = utc_today()
    ok = get(api, project, production.public_id, **{"from": (today - timedelta(days=89)).isoformat()})
    assert ok.status_code == 200 and "clampedFrom" not in ok.json()
    too_long = get(api, project, production.public_id, **{"from": (today - timedelta(days=90)).isoformat()})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["message"].startswith("to:")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"from": "26-01-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ],
)
def test_it_rejects_bad_dates(api, world, params, field):
    project, production, _, _ = world
    response = get(api, project, production.public_id, **params)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{field}:")


def test_it_requires_environment_id(api, world):
    project, *_ = world
    for response in (get(api, project), get(api, project, environmentId="")):
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("environmentId:")


def test_an_environment_of_another_project_or_organization_is_not_found(api, org, other_org, world):
    project, *_ = world
    sibling = environment_with_key(ProjectFactory(organization=org), "production")[0]
    foreign = environment_with_key(ProjectFactory(organization=other_org), "production")[0]
    for environment in (sibling, foreign):
        response = get(api, project, environment.public_id)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert get(api, project, "env_nope").status_code == 404


def test_a_foreign_project_or_unknown_flag_is_not_found(api, outsider_api, world):
    project, production, *_ = world
    assert get(outsider_api, project, production.public_id).status_code == 404
    assert get(api, project, production.public_id, flag_key="nope").status_code == 404


def test_the_console_gets_the_same_answer_from_the_selectors(world):
    project, production, _, flag = world
    today = date(2026, 5, 10)
    query = parse_flag_usage_query(
        project=project, flag=flag, params={"environmentId": production.public_id}, today=today
    )
    assert query == FlagUsageQuery(project, flag, production, date(2026, 4, 11), date(2026, 5, 10), False)
    day_row(flag, production, date(2026, 5, 1), rule=2, values={"true": 2})
    assert flag_usage(query)["rows"][0]["totalEvaluations"] == 2
    with pytest.raises(ApiError):
        parse_flag_usage_query(project=project, flag=flag, params={}, today=today)
    with pytest.raises(NotFound):
        parse_flag_usage_query(project=project, flag=flag, params={"environmentId": "env_x"}, today=today)


def test_a_range_wholly_before_retention_is_clamped_to_no_rows(api, org, world, free_plan):
    org.plan = free_plan
    org.save()
    project, production, _, flag = world
    today = utc_today()
    day_row(flag, production, today - timedelta(days=20), default=4)
    body = get(
        api,
        project,
        production.public_id,
        **{"from": (today - timedelta(days=25)).isoformat(), "to": (today - timedelta(days=15)).isoformat()},
    ).json()
    # Only `from` moves (seed 002); the data before the window is not served.
    assert (body["from"], body["to"], body["clampedFrom"], body["rows"]) == (
        (today - timedelta(days=6)).isoformat(),
        (today - timedelta(days=15)).isoformat(),
        True,
        [],
    )


def test_unknown_project_and_unknown_flag_are_told_apart(api, world):
    project, production, *_ = world
    response = api.get(f"/v1/projects/proj_nope/flags/new-checkout/usage?environmentId={production.public_id}")
    assert response.status_code == 404 and "project" in response.json()["error"]["message"]
    response = get(api, project, production.public_id, flag_key="nope")
    assert response.status_code == 404 and "flag" in response.json()["error"]["message"]
