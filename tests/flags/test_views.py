from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from flags import selectors, services
from flags.models import Reason
from flags.rollup import rollup_days
from tests.flags.factories import ProjectFactory, boolean_flag, evaluation

pytestmark = pytest.mark.django_db


def today():
    return selectors.utc_today()


def at(day, hour=12):
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def flag(project, production, staging):
    return boolean_flag(
        project, "new-checkout", environments={production.public_id: {"enabled": True, "defaultVariant": "off"}}
    )


@pytest.fixture
def evaluations(production, staging, flag):
    """Three days ago: 3 served true by a rule, 1 default false, 1 error; yesterday: 2 defaults; 20 days ago: 4."""
    d3, d1, d20 = today() - timedelta(days=3), today() - timedelta(days=1), today() - timedelta(days=20)
    for _ in range(3):
        evaluation(production, flag, at=at(d3), value="true", reason=Reason.TARGETING_MATCH)
    evaluation(production, flag, at=at(d3), value="false", reason=Reason.DEFAULT)
    evaluation(production, flag, at=at(d3), value=None, reason=Reason.ERROR)
    evaluation(production, flag, at=at(d1), value="false", reason=Reason.DISABLED)
    evaluation(production, flag, at=at(d1), value="false", reason=Reason.DEFAULT)
    for _ in range(4):
        evaluation(production, flag, at=at(d20), value="true", reason=Reason.SPLIT)
    evaluation(staging, flag, at=at(d1), value="false", reason=Reason.DEFAULT)
    rollup_days([d3, d1, d20])


def usage_url(org, project, key="new-checkout"):
    return f"/o/{org.slug}/projects/{project.public_id}/flags/{key}/"


def api_usage(api, project, params):
    response = api.get(f"/v1/projects/{project.public_id}/flags/new-checkout/usage", params)
    assert response.status_code == 200, response.content
    body = response.json()
    body.pop("countedThrough")  # the moment of each read: the page shows its own
    return body


def test_the_pages_need_a_login(client, org, project, flag):
    for url in (f"/o/{org.slug}/projects/{project.public_id}/", usage_url(org, project)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_another_organizations_project_or_an_unknown_flag_answers_404(client, owner, org, other_org, flag, project):
    foreign = ProjectFactory(organization=other_org)
    boolean_flag(foreign, "their-flag")
    client.force_login(owner)
    assert client.get(f"/o/{org.slug}/projects/{foreign.public_id}/").status_code == 404
    assert client.get(f"/o/{other_org.slug}/projects/{foreign.public_id}/").status_code == 404
    assert client.get(usage_url(org, foreign, "their-flag")).status_code == 404
    assert client.get(usage_url(org, project, "nope")).status_code == 404


def test_the_project_page_lists_flags_with_their_state_per_environment(client, teammate, org, project, flag):
    boolean_flag(project, "dark-mode")
    client.force_login(teammate)
    response = client.get(f"/o/{org.slug}/projects/{project.public_id}/")
    assert response.status_code == 200
    assert [(item["flag"].key, item["states"]) for item in response.context["flags"]] == [
        ("dark-mode", [False, False]),
        ("new-checkout", [True, False]),
    ]
    assert usage_url(org, project).encode() in response.content


def test_the_organization_home_lists_its_projects(client, owner, org, project, other_org):
    ProjectFactory(organization=other_org, name="Globex Flags")
    client.force_login(owner)
    body = client.get(f"/o/{org.slug}/").content
    assert b"Checkout" in body and b"Globex Flags" not in body


def test_the_usage_page_shows_the_apis_report_and_the_totals_by_hand(
    client, owner, org, api, project, production, evaluations
):
    client.force_login(owner)
    response = client.get(usage_url(org, project), {"days": "7"})
    assert response.status_code == 200
    usage = response.context["usage"]
    params = {
        "environmentId": production.public_id,
        "from": (today() - timedelta(days=6)).isoformat(),
        "to": today().isoformat(),
    }
    assert usage == api_usage(api, project, params)
    assert response.context["totals"] == {
        "totalEvaluations": 7,
        "ruleMatchCount": 3,
        "defaultCount": 3,
        "errorCount": 1,
    }
    html = response.content.decode()
    assert 'data-total="totalEvaluations">7<' in html
    assert 'data-total="errorCount">1<' in html
    d3 = (today() - timedelta(days=3)).isoformat()
    # "false" and "true" both served 3 in the window: the tie goes by name.
    assert f"<title>{d3}: 5 evaluations (false 1, true 3, error 1)</title>" in html
    assert "clamped-note" not in html


def test_the_default_window_and_environment_are_the_apis_defaults(
    client, owner, org, api, project, production, evaluations
):
    client.force_login(owner)
    response = client.get(usage_url(org, project))
    assert response.context["usage"] == api_usage(api, project, {"environmentId": production.public_id})
    assert response.context["totals"]["totalEvaluations"] == 11


def test_the_environment_picker_switches_the_report(client, owner, org, api, project, staging, evaluations):
    client.force_login(owner)
    response = client.get(usage_url(org, project), {"environmentId": staging.public_id, "days": "90"})
    params = {
        "environmentId": staging.public_id,
        "from": (today() - timedelta(days=89)).isoformat(),
        "to": today().isoformat(),
    }
    assert response.context["usage"] == api_usage(api, project, params)
    assert response.context["totals"]["totalEvaluations"] == 1
    active = [item["environment"].name for item in response.context["environments"] if item["active"]]
    assert active == ["staging"]


def test_a_free_plan_window_is_clamped_with_a_note(
    client, owner, org, free_plan, api, project, production, evaluations
):
    org.plan = free_plan
    org.save()
    client.force_login(owner)
    response = client.get(usage_url(org, project), {"days": "30"})
    usage = response.context["usage"]
    assert usage["clampedFrom"] is True
    assert usage["from"] == (today() - timedelta(days=6)).isoformat()
    assert usage == api_usage(api, project, {"environmentId": production.public_id})
    html = response.content.decode()
    assert 'id="clamped-note"' in html and "keeps 7 days" in html
    assert response.context["totals"]["totalEvaluations"] == 7  # the day 20 days ago is outside


@pytest.mark.parametrize(
    "params, status, message",
    [
        ({"from": "2026-02-30"}, 400, "from: &#x27;2026-02-30&#x27; is not a date"),
        ({"from": "2026-01-01", "to": "2026-06-01"}, 400, "over 90 days"),
        ({"environmentId": "env_nope"}, 404, "no environment &#x27;env_nope&#x27;"),
    ],
)
def test_bad_parameters_answer_with_the_apis_status_and_message(
    client, owner, org, project, flag, params, status, message
):
    client.force_login(owner)
    response = client.get(usage_url(org, project), params)
    assert response.status_code == status
    assert message in response.content.decode()
    assert response.context.get("usage") is None


def test_a_project_without_environments_says_so(client, owner, org):
    bare = ProjectFactory(organization=org)
    boolean_flag(bare, "lonely")
    client.force_login(owner)
    response = client.get(usage_url(org, bare, "lonely"))
    assert response.status_code == 200
    assert b"no environment yet" in response.content


def test_an_object_flags_values_are_named_by_their_variant(client, owner, org, api, project, production):
    services.flag_create(
        project=project,
        key="checkout-config",
        type="object",
        variants={"compact": {"steps": 1}, "full": {"wallets": ["card"], "steps": 3}},
        environments={},
    )
    flag = selectors.flag_get(project=project, flag_key="checkout-config")
    day = today() - timedelta(days=2)
    evaluation(production, flag, at=at(day), value='{"steps":3,"wallets":["card"]}', reason=Reason.DEFAULT)
    evaluation(production, flag, at=at(day), value='{"steps":1}', reason=Reason.TARGETING_MATCH)
    evaluation(production, flag, at=at(day), value='{"steps":1}', reason=Reason.TARGETING_MATCH)
    rollup_days([day])
    client.force_login(owner)
    response = client.get(usage_url(org, project, "checkout-config"))
    html = response.content.decode()
    assert f"<title>{day.isoformat()}: 3 evaluations (compact 2, full 1)</title>" in html
    assert 'title="{&quot;steps&quot;:3,&quot;wallets&quot;:[&quot;card&quot;]}">full</span>' in html
    assert response.context["usage"]["rows"][0]["valueDistribution"] == {
        '{"steps":1}': 2,
        '{"steps":3,"wallets":["card"]}': 1,
    }
