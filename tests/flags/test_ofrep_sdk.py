"""The stock OpenFeature SDK and OFREP provider against the live server, then the rollup and the usage report."""

from __future__ import annotations

import json
from io import StringIO
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.core.management import call_command
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason as SdkReason

from flags import recording, services
from flags.selectors import utc_today
from tests.conftest import api_client_for
from tests.flags.factories import ProjectFactory, environment_with_key

pytestmark = pytest.mark.django_db(transaction=True)

DOMAIN = "packedge-live-test"


@pytest.fixture
def setup(org):
    project = ProjectFactory(organization=org, name="Shop")
    environment, raw_key = environment_with_key(project, "production")
    env = environment.public_id
    services.flag_create(
        project=project,
        key="new-checkout",
        type="boolean",
        variants={"on": True, "off": False},
        environments={
            env: {
                "enabled": True,
                "defaultVariant": "off",
                "rules": [
                    {
                        "conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}],
                        "variant": "on",
                    },
                ],
            }
        },
    )
    services.flag_create(
        project=project,
        key="banner-text",
        type="string",
        variants={"short": "Hi", "long": "Hello there"},
        environments={
            env: {
                "enabled": True,
                "defaultVariant": "short",
                "rules": [
                    {
                        "conditions": [{"attribute": "country", "operator": "eq", "value": "FR"}],
                        "rollout": [{"variant": "short", "weight": 50}, {"variant": "long", "weight": 50}],
                    },
                ],
            }
        },
    )
    services.flag_create(
        project=project,
        key="discount",
        type="number",
        variants={"none": 0.0, "some": 12.5},
        environments={
            env: {
                "enabled": True,
                "defaultVariant": "none",
                "rules": [
                    {"conditions": [{"attribute": "age", "operator": "gte", "value": 65}], "variant": "some"},
                ],
            }
        },
    )
    services.flag_create(
        project=project,
        key="max-seats",
        type="number",
        variants={"few": 3, "many": 50},
        environments={env: {"enabled": True, "defaultVariant": "few"}},
    )
    services.flag_create(
        project=project,
        key="limits",
        type="object",
        variants={"basic": {"projects": 3}, "big": {"projects": 100, "sso": True}},
        environments={env: {"enabled": False, "defaultVariant": "basic", "offVariant": "big"}},
    )
    return project, environment, raw_key


@pytest.fixture
def client(live_server, setup):
    _, _, raw_key = setup
    provider = OFREPProvider(live_server.url, headers_factory=lambda: {"Authorization": f"Bearer {raw_key}"})
    openfeature.set_provider(provider, DOMAIN)
    yield openfeature.get_client(DOMAIN)
    openfeature.clear_providers()


def ctx(key: str | None = "user-1", **attributes) -> EvaluationContext:
    return EvaluationContext(targeting_key=key, attributes=attributes)


def test_the_stock_sdk_evaluates_every_type_and_reason_and_the_usage_report_counts_them(client, setup, org):
    project, environment, _ = setup

    on = client.get_boolean_details("new-checkout", False, ctx(plan="pro"))
    assert (on.value, on.variant, on.reason) == (True, "on", SdkReason.TARGETING_MATCH)
    off = client.get_boolean_details("new-checkout", True, ctx(plan="free"))
    assert (off.value, off.variant, off.reason) == (False, "off", SdkReason.DEFAULT)

    split = client.get_string_details("banner-text", "?", ctx("user-1", country="FR"))
    assert split.reason == SdkReason.SPLIT and split.value in {"Hi", "Hello there"}
    assert client.get_string_value("banner-text", "?", ctx("user-1", country="FR")) == split.value
    missing_key = client.get_string_details("banner-text", "fallback", ctx(None, country="FR"))
    assert (missing_key.value, missing_key.reason, missing_key.error_code) == (
        "fallback",
        SdkReason.ERROR,
        ErrorCode.TARGETING_KEY_MISSING,
    )

    senior = client.get_float_details("discount", -1.0, ctx(age=70))
    assert (senior.value, senior.reason) == (12.5, SdkReason.TARGETING_MATCH)
    wrong_type = client.get_float_details("discount", -1.0, ctx(age="seventy"))
    assert (wrong_type.value, wrong_type.reason, wrong_type.error_code) == (
        -1.0,
        SdkReason.ERROR,
        ErrorCode.INVALID_CONTEXT,
    )
    seats = client.get_integer_details("max-seats", 0, ctx())
    assert (seats.value, seats.reason) == (3, SdkReason.STATIC)  # no rules

    limits = client.get_object_details("limits", {}, ctx())
    assert (limits.value, limits.variant, limits.reason) == ({"projects": 100, "sso": True}, "big", SdkReason.DISABLED)

    unknown = client.get_boolean_details("no-such-flag", False, ctx())
    assert (unknown.value, unknown.reason, unknown.error_code) == (False, SdkReason.ERROR, ErrorCode.FLAG_NOT_FOUND)

    # What the server recorded, rolled up and reported, flag by flag.
    recording.flush()
    today = utc_today().isoformat()
    out = StringIO()
    call_command("rollup_flag_usage", "--date", today, stdout=out)
    assert "Rolled up 1 day(s): 9 evaluations into 5 rows" in out.getvalue()
    api = api_client_for(org)

    def usage(flag_key: str) -> dict:
        response = api.get(
            f"/v1/projects/{project.public_id}/flags/{flag_key}/usage?environmentId={environment.public_id}"
        )
        assert response.status_code == 200
        body = response.json()
        assert body["rows"][0]["date"] == today and len(body["rows"]) == 1
        row = body["rows"][0]
        assert row["ruleMatchCount"] + row["defaultCount"] + row["errorCount"] == row["totalEvaluations"]
        return row

    assert usage("new-checkout") == {
        "date": today,
        "totalEvaluations": 2,
        "valueDistribution": {"false": 1, "true": 1},
        "ruleMatchCount": 1,
        "defaultCount": 1,
        "errorCount": 0,
    }
    banner = usage("banner-text")
    assert banner["totalEvaluations"] == 3
    assert banner["valueDistribution"] == {split.value: 2}
    assert (banner["ruleMatchCount"], banner["defaultCount"], banner["errorCount"]) == (2, 0, 1)
    assert usage("discount") == {
        "date": today,
        "totalEvaluations": 2,
        "valueDistribution": {"12.5": 1},
        "ruleMatchCount": 1,
        "defaultCount": 0,
        "errorCount": 1,
    }
    assert usage("max-seats")["valueDistribution"] == {"3": 1}
    assert usage("limits") == {
        "date": today,
        "totalEvaluations": 1,
        "valueDistribution": {'{"projects":100,"sso":true}': 1},
        "ruleMatchCount": 0,
        "defaultCount": 1,
        "errorCount": 0,
    }
    response = api.get(
        f"/v1/projects/{project.public_id}/flags/no-such-flag/usage?environmentId={environment.public_id}"
    )
    assert response.status_code == 404
    # The SDK's FLAG_NOT_FOUND is what the unknown-flags list shows.
    unknown = api.get(f"/v1/projects/{project.public_id}/unknown-flags?environmentId={environment.public_id}").json()
    assert [(row["key"], row["evaluations"]) for row in unknown["data"]] == [("no-such-flag", 1)]


def test_the_configuration_answers_plain_http_with_an_etag(live_server, setup):
    _, _, raw_key = setup
    url = f"{live_server.url}/ofrep/v1/configuration"
    with urlopen(Request(url, headers={"Authorization": f"Bearer {raw_key}"})) as response:
        body = json.load(response)
        etag = response.headers["ETag"]
    assert body == {
        "name": "PackEdge",
        "capabilities": {
            "cacheInvalidation": {"polling": {"enabled": True, "minPollingIntervalMs": 30000}},
            "flagEvaluation": {"supportedTypes": ["boolean", "string", "int", "float", "object"]},
        },
    }
    with pytest.raises(HTTPError) as not_modified:
        urlopen(Request(url, headers={"X-API-Key": raw_key, "If-None-Match": etag}))
    assert not_modified.value.code == 304
    with pytest.raises(HTTPError) as unauthorized:
        urlopen(url)
    assert unauthorized.value.code == 401


def test_the_stock_sdk_is_refused_with_a_revoked_key(client, setup):
    from tenancy import keys

    _, environment, raw_key = setup
    services.sdk_key_revoke(environment=environment, prefix=keys.display_prefix(raw_key))
    details = client.get_boolean_details("new-checkout", False, ctx(plan="pro"))
    assert (details.value, details.reason, details.error_code) == (False, SdkReason.ERROR, ErrorCode.GENERAL)
