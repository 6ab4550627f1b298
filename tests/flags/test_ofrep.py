from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from flags import recording, services
from flags.models import FlagEvaluation, Reason, UnknownFlagDay
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyed(project):
    return environment_with_key(project, "production")


@pytest.fixture
def environment(keyed):
    return keyed[0]


@pytest.fixture
def sdk(keyed) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keyed[1]}")
    return client


def evaluate(client, key, context=None, **extra):
    body = {} if context is None else {"context": context}
    return client.post(f"/ofrep/v1/evaluate/flags/{key}", body, format="json", **extra)


@pytest.fixture
def checkout(project, environment):
    return boolean_flag(
        project,
        "new-checkout",
        {
            environment.public_id: {
                "enabled": True,
                "defaultVariant": "off",
                "rules": [
                    {
                        "conditions": [{"attribute": "email", "operator": "ends_with", "value": "@acme.test"}],
                        "variant": "on",
                    },
                    {
                        "conditions": [{"attribute": "plan", "operator": "eq", "value": "beta"}],
                        "rollout": [{"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}],
                    },
                ],
            }
        },
    )


def test_it_serves_each_reason_and_records_each_evaluation(sdk, checkout, environment, project):
    matched = evaluate(sdk, "new-checkout", {"targetingKey": "u1", "email": "a@acme.test"})
    assert matched.status_code == 200
    assert matched.json() == {
        "key": "new-checkout",
        "value": True,
        "variant": "on",
        "reason": "TARGETING_MATCH",
        "metadata": {},
    }
    split = evaluate(sdk, "new-checkout", {"targetingKey": "u1", "plan": "beta"}).json()
    assert split["reason"] == "SPLIT" and split["variant"] in {"on", "off"}
    assert evaluate(sdk, "new-checkout", {"targetingKey": "u1"}).json()["reason"] == "DEFAULT"
    services.flag_environment_set(
        flag=checkout, environment=environment, settings={"enabled": False, "defaultVariant": "on"}
    )
    disabled = evaluate(sdk, "new-checkout", {"email": "a@acme.test"}).json()
    # off means off: the default variant "on" is not what a disabled flag serves
    assert (disabled["reason"], disabled["value"], disabled["variant"]) == ("DISABLED", False, "off")
    assert recording.flush() == 4
    rows = FlagEvaluation.objects.order_by("pk").values_list("environment_id", "flag_id", "value", "reason")
    assert list(rows) == [
        (environment.pk, checkout.pk, "true", Reason.TARGETING_MATCH),
        (environment.pk, checkout.pk, "true" if split["value"] else "false", Reason.SPLIT),
        (environment.pk, checkout.pk, "false", Reason.DEFAULT),
        (environment.pk, checkout.pk, "false", Reason.DISABLED),
    ]


def test_a_rollout_without_a_targeting_key_is_an_error_and_is_recorded(sdk, checkout):
    response = evaluate(sdk, "new-checkout", {"plan": "beta"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "TARGETING_KEY_MISSING"
    assert response.json()["key"] == "new-checkout"
    assert response.json()["errorDetails"]
    recording.flush()
    assert list(FlagEvaluation.objects.values_list("value", "reason")) == [(None, Reason.ERROR)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "PARSE_ERROR"),
        ("[1, 2]", "PARSE_ERROR"),
        ('{"context": "user-1"}', "INVALID_CONTEXT"),
        ('{"context": null}', "INVALID_CONTEXT"),  # the spec's context is an object; omit it for none
        ('{"context": {"targetingKey": 42}}', "INVALID_CONTEXT"),
        ('{"context": {"email": 42}}', "INVALID_CONTEXT"),
    ],
)
def test_bad_requests_answer_the_ofrep_error_codes(sdk, checkout, body, code):
    response = sdk.post("/ofrep/v1/evaluate/flags/new-checkout", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "key": "new-checkout",
        "errorCode": code,
        "errorDetails": response.json()["errorDetails"],
    }
    recording.flush()
    assert list(FlagEvaluation.objects.values_list("reason", flat=True)) == [Reason.ERROR]


def test_an_unknown_flag_is_flag_not_found_and_counted_only_as_an_unknown_flag(sdk, checkout):
    response = evaluate(sdk, "nope", {"targetingKey": "u1"})
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"
    assert response.json()["key"] == "nope"
    recording.flush()
    assert not FlagEvaluation.objects.exists()
    assert list(UnknownFlagDay.objects.values_list("key", "evaluations")) == [("nope", 1)]


def test_a_flag_of_another_project_is_not_found(sdk, org, checkout):
    other = ProjectFactory(organization=org)
    environment_with_key(other, "production")
    boolean_flag(other, "elsewhere")
    assert evaluate(sdk, "elsewhere").status_code == 404


def test_it_accepts_the_key_in_x_api_key(keyed, checkout):
    client = APIClient()
    response = evaluate(client, "new-checkout", {"targetingKey": "u"}, HTTP_X_API_KEY=keyed[1])
    assert response.status_code == 200


def test_two_different_keys_are_refused_and_the_same_key_twice_is_accepted(keyed, checkout):
    client = APIClient()
    good = keyed[1]
    for bearer, api_key in [(good, "sdk_other"), ("sdk_other", good)]:
        response = evaluate(client, "new-checkout", HTTP_AUTHORIZATION=f"Bearer {bearer}", HTTP_X_API_KEY=api_key)
        assert response.status_code == 401
        assert response.json() == {
            "key": "new-checkout",
            "errorCode": "GENERAL",
            "errorDetails": "Authorization and X-API-Key name different keys; send one SDK key.",
        }
    same = evaluate(
        client, "new-checkout", {"targetingKey": "u"}, HTTP_AUTHORIZATION=f"Bearer {good}", HTTP_X_API_KEY=good
    )
    assert same.status_code == 200
    # Another scheme in Authorization (a proxy's Basic) leaves X-API-Key the key.
    proxied = evaluate(
        client, "new-checkout", {"targetingKey": "u"}, HTTP_AUTHORIZATION="Basic abc", HTTP_X_API_KEY=good
    )
    assert proxied.status_code == 200
    assert recording.flush() == 2


@pytest.mark.parametrize("header", [None, "Bearer sdk_unknown", "Bearer sk_something", "Basic abc"])
def test_it_refuses_missing_or_unknown_keys_with_401(checkout, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = evaluate(client, "new-checkout")
    assert response.status_code == 401
    assert "errorDetails" in response.json()
    assert client.post("/ofrep/v1/evaluate/flags", {}, format="json").status_code == 401
    assert recording.flush() == 0


def test_a_revoked_key_is_refused_with_403(sdk, keyed, checkout, environment):
    from tenancy import keys

    services.sdk_key_revoke(environment=environment, prefix=keys.display_prefix(keyed[1]))
    assert evaluate(sdk, "new-checkout").status_code == 403
    assert sdk.post("/ofrep/v1/evaluate/flags", {}, format="json").status_code == 403


def test_a_changed_flag_is_served_on_the_next_request(sdk, checkout, environment):
    assert evaluate(sdk, "new-checkout", {"targetingKey": "u"}).json()["value"] is False
    services.flag_environment_set(
        flag=checkout, environment=environment, settings={"enabled": True, "defaultVariant": "on"}
    )
    assert evaluate(sdk, "new-checkout", {"targetingKey": "u"}).json()["value"] is True
    services.flag_update(flag=checkout, variants={"on": False, "off": False})
    assert evaluate(sdk, "new-checkout", {"targetingKey": "u"}).json()["value"] is False
    services.flag_delete(flag=checkout)
    assert evaluate(sdk, "new-checkout", {"targetingKey": "u"}).status_code == 404


def test_bulk_evaluates_every_flag_with_an_etag_and_answers_304(sdk, project, environment, checkout):
    services.flag_create(
        project=project,
        key="banner",
        type="string",
        variants={"a": "Hello", "b": "Hi"},
        environments={environment.public_id: {"enabled": True, "defaultVariant": "b"}},
    )
    response = sdk.post("/ofrep/v1/evaluate/flags", {"context": {"plan": "beta"}}, format="json")
    assert response.status_code == 200
    etag = response["ETag"]
    assert response.json() == {
        "flags": [
            {"key": "banner", "value": "Hi", "variant": "b", "reason": "STATIC", "metadata": {}},
            {
                "key": "new-checkout",
                "errorCode": "TARGETING_KEY_MISSING",
                "errorDetails": response.json()["flags"][1]["errorDetails"],
            },
        ]
    }
    assert recording.flush() == 2
    again = sdk.post("/ofrep/v1/evaluate/flags", {"context": {"plan": "beta"}}, format="json", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert recording.flush() == 0
    other = sdk.post(
        "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "u"}}, format="json", HTTP_IF_NONE_MATCH=etag
    )
    assert other.status_code == 200 and other["ETag"] != etag
    assert (
        sdk.post("/ofrep/v1/evaluate/flags", "{bad", content_type="application/json").json()["errorCode"]
        == "PARSE_ERROR"
    )


def test_it_answers_429_with_retry_after_past_the_rate(sdk, checkout, settings):
    cache.clear()
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ofrep": "3/min"}
    statuses = [evaluate(sdk, "new-checkout", {"targetingKey": "u"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = evaluate(sdk, "new-checkout")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert recording.flush() == 3


def test_another_workers_change_is_seen_within_the_cache_period(sdk, keyed, checkout, settings):
    import time

    from flags.models import SdkKey

    settings.FLAG_CONFIG_CACHE_SECONDS = 0.2
    assert evaluate(sdk, "new-checkout").status_code == 200
    # Revoked behind this process's back, as another worker would do it.
    SdkKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert evaluate(sdk, "new-checkout").status_code == 200
    time.sleep(0.25)
    assert evaluate(sdk, "new-checkout").status_code == 403


def test_an_oversized_body_is_refused_without_a_500(sdk, checkout, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"context": {"targetingKey": "u", "note": "%s"}}' % ("x" * 2000)
    response = sdk.post("/ofrep/v1/evaluate/flags/new-checkout", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["errorCode"] == "PARSE_ERROR"


def test_a_warm_evaluation_does_not_touch_the_database(sdk, checkout, django_assert_num_queries):
    evaluate(sdk, "new-checkout", {"targetingKey": "u"})
    with django_assert_num_queries(0):
        assert evaluate(sdk, "new-checkout", {"targetingKey": "u", "plan": "beta"}).json()["reason"] == "SPLIT"
    assert recording.flush() == 2


def test_a_bug_in_evaluation_answers_a_json_500_and_is_recorded_as_an_error(sdk, checkout, monkeypatch):
    import flags.ofrep_apis

    def broken(flag, context):
        raise ZeroDivisionError

    monkeypatch.setattr(flags.ofrep_apis, "evaluate", broken)
    response = evaluate(sdk, "new-checkout", {"targetingKey": "u"})
    assert response.status_code == 500
    assert response.json()["errorCode"] == "GENERAL"
    recording.flush()
    assert list(FlagEvaluation.objects.values_list("reason", flat=True)) == [Reason.ERROR]
