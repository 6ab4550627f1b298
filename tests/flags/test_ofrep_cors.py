"""CORS on /ofrep/*: an OpenFeature web provider on another origin can start, poll and read errors."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import OperationalError

from flags import ofrep_auth
from tests.flags.factories import boolean_flag, environment_with_key
from tests.packedge.test_wsgi import call

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"


@pytest.fixture
def key(project):
    environment, secret = environment_with_key(project, "production")
    boolean_flag(project, "new-checkout", {environment.public_id: {"enabled": True, "defaultVariant": "on"}})
    return secret


def preflight(client, path, method="POST", headers="authorization,content-type,if-none-match"):
    return client.options(
        path,
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def bulk(client, key, **extra):
    return client.post(
        "/ofrep/v1/evaluate/flags",
        data='{"context": {"targetingKey": "u1"}}',
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )


def assert_cors(response):
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Expose-Headers"] == "ETag, Retry-After"
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize(
    "path", ["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/new-checkout", "/ofrep/v1/configuration"]
)
def test_a_preflight_is_answered_204_without_a_key(client, path):
    response = preflight(client, path)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == "Authorization, X-API-Key, Content-Type, If-None-Match"
    assert response["Access-Control-Max-Age"] == "86400"
    assert response.content == b""


def test_a_bulk_evaluation_and_its_304_carry_the_cors_headers(client, key):
    first = bulk(client, key)
    assert first.status_code == 200
    assert_cors(first)
    again = bulk(client, key, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert_cors(again)
    assert again["ETag"] == first["ETag"]


def test_single_and_configuration_answers_carry_the_cors_headers(client, key):
    single = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout", data="{}", content_type="application/json", HTTP_X_API_KEY=key
    )
    assert single.status_code == 200
    assert_cors(single)
    configuration = client.get("/ofrep/v1/configuration", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert configuration.status_code == 200
    assert_cors(configuration)


def test_errors_carry_the_cors_headers_so_the_script_can_read_them(client, key, settings):
    unknown_key = bulk(client, "sdk_nope")
    assert unknown_key.status_code == 401
    assert_cors(unknown_key)
    missing = client.post(
        "/ofrep/v1/evaluate/flags/ghost", data="{}", content_type="application/json", HTTP_X_API_KEY=key
    )
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "FLAG_NOT_FOUND")
    assert_cors(missing)
    nowhere = client.get("/ofrep/v2/anything")
    assert (nowhere.status_code, nowhere["Content-Type"]) == (404, "application/json")
    assert_cors(nowhere)
    cache.clear()
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ofrep": "1/min"}
    assert bulk(client, key).status_code == 200
    limited = bulk(client, key)
    assert limited.status_code == 429
    assert limited["Retry-After"]
    assert_cors(limited)


def test_a_server_error_and_a_database_outage_carry_the_cors_headers(client, key, monkeypatch):
    import flags.ofrep_apis

    monkeypatch.setattr(flags.ofrep_apis, "evaluate", lambda flag, context: 1 / 0)
    broken = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout", data="{}", content_type="application/json", HTTP_X_API_KEY=key
    )
    assert broken.status_code == 500
    assert_cors(broken)
    monkeypatch.undo()

    def down(digest, **kwargs):
        raise OperationalError("connection refused (test outage)")

    monkeypatch.setattr(ofrep_auth, "_sdk_key_row", down)
    outage = bulk(client, key)
    assert outage.status_code == 503
    assert outage["Retry-After"]
    assert_cors(outage)


def test_the_console_and_v1_get_no_ofrep_cors_headers(client, api):
    for response in (
        client.get("/login/"),
        preflight(client, "/v1/projects", method="GET", headers="authorization"),
        api.get("/v1/projects", HTTP_ORIGIN=ORIGIN),
    ):
        assert "Access-Control-Allow-Origin" not in response


def test_the_production_short_stack_answers_preflights_and_adds_the_headers(key):
    status, headers, content = call(
        "OPTIONS", "/ofrep/v1/evaluate/flags", origin=ORIGIN, access_control_request_method="POST"
    )
    assert (status, content) == (204, b"")
    assert headers["access-control-allow-headers"] == "Authorization, X-API-Key, Content-Type, If-None-Match"
    body = json.dumps({"context": {"targetingKey": "u1"}}).encode()
    status, headers, content = call(
        "POST", "/ofrep/v1/evaluate/flags", body, origin=ORIGIN, authorization=f"Bearer {key}"
    )
    assert status == 200
    assert (headers["access-control-allow-origin"], headers["access-control-expose-headers"]) == (
        "*",
        "ETag, Retry-After",
    )
