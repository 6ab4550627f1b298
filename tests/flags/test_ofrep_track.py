"""POST /ofrep/v1/track: OpenFeature tracking events stored by the same ingestion as track()."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from events.models import Event
from flags import services
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, environment_with_key

pytestmark = pytest.mark.django_db

URL = "/ofrep/v1/track"


@pytest.fixture
def shop(org):
    product = ProductFactory(organization=org, name="Shop plugin")
    licenses = {
        "a": LicenseFactory(product=product, key="LIC-A"),
        "b": LicenseFactory(product=product, key="user-2"),
    }
    project = ProjectFactory(organization=org, product=product)
    environment, key = environment_with_key(project, "production")
    return product, licenses, environment, key


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def post(client, body, **extra):
    return client.post(URL, json.dumps(body), content_type="application/json", **extra)


def test_it_stores_tracking_events_attributed_by_license_key_then_targeting_key(shop):
    product, licenses, _, key = shop
    body = {
        "events": [
            # licenseKey names a license: it wins over the targetingKey
            {"trackingEventName": "export_csv", "context": {"targetingKey": "u1", "licenseKey": "LIC-A"}},
            # no licenseKey: the targetingKey is a license key
            {
                "trackingEventName": "export_csv",
                "context": {"targetingKey": "user-2"},
                "trackingEventDetails": {"value": 3},
            },
            # a licenseKey no license has, and a targetingKey that is one: the targetingKey's license
            {"trackingEventName": "bulk_edit", "context": {"targetingKey": "user-2", "licenseKey": "LIC-NOPE"}},
            # a targetingKey that is no license key (a user id) is not stored as a license key
            {"trackingEventName": "bulk_edit", "context": {"targetingKey": "person-77"}},
        ]
    }
    response = post(client_for(key), body, HTTP_ORIGIN="https://shop.example.com")
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 4}
    rows = list(
        Event.objects.filter(product=product)
        .order_by("id")
        .values_list("feature", "license_id", "license_key", "domain")
    )
    assert rows == [
        ("export_csv", licenses["a"].pk, "LIC-A", "shop.example.com"),
        ("export_csv", licenses["b"].pk, "user-2", "shop.example.com"),
        ("bulk_edit", licenses["b"].pk, "user-2", "shop.example.com"),
        ("bulk_edit", None, "", "shop.example.com"),
    ]
    assert Event.objects.get(feature="export_csv", license=licenses["b"]).properties == {"value": 3}


def test_a_retried_id_is_stored_once(shop):
    product, _, _, key = shop
    event = {"trackingEventName": "export_csv", "id": "6f1c-1", "context": {"licenseKey": "LIC-A"}}
    client = client_for(key)
    assert post(client, {"events": [event]}).status_code == 200
    assert post(client, {"events": [event, {**event, "id": "6f1c-2"}]}).json() == {"accepted": 2}
    assert Event.objects.filter(product=product).count() == 2


def test_feature_used_with_a_feature_property_counts_as_that_feature(shop):
    product, _, _, key = shop
    body = {"events": [{"trackingEventName": "feature_used", "trackingEventDetails": {"feature": "reports"}}]}
    assert post(client_for(key), body).status_code == 200
    assert Event.objects.get(product=product).feature == "reports"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, "events: required"),
        ({"events": []}, "events: must hold 1 to 1000 events, not 0."),
        ({"events": "x"}, "events: must be a list"),
        ({"events": [{"trackingEventName": "ok"}, {"context": {}}]}, "events[1].trackingEventName: required."),
        ({"events": [{"trackingEventName": "  "}]}, "events[0].trackingEventName: must not be blank."),
        ({"events": [{"trackingEventName": "a" * 201}]}, "events[0].trackingEventName: at most 200 characters."),
        ({"events": [{"trackingEventName": "x", "trackingEventDetails": [1]}]}, "events[0].trackingEventDetails: must"),
        ({"events": [{"trackingEventName": "x", "context": []}]}, "events[0].context: must be a JSON object"),
        ({"events": [{"trackingEventName": "x", "context": {"targetingKey": 7}}]}, "events[0].context.targetingKey"),
        ({"events": [{"trackingEventName": "x", "id": ""}]}, "events[0].id: must not be empty."),
        ({"events": [{"trackingEventName": "x", "timestamp": "yesterday"}]}, "events[0].timestamp: must be an ISO"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(shop, body, details):
    product, _, _, key = shop
    response = post(client_for(key), body)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "PARSE_ERROR"
    assert response.json()["errorDetails"].startswith(details), response.json()
    assert not Event.objects.filter(product=product).exists()


def test_a_batch_is_all_or_nothing(shop):
    product, _, _, key = shop
    body = {"events": [{"trackingEventName": "fine"}, {"trackingEventName": "x", "trackingEventDetails": "no"}]}
    assert post(client_for(key), body).status_code == 400
    assert Event.objects.filter(product=product).count() == 0


def test_it_refuses_a_body_that_is_not_json(shop):
    _, _, _, key = shop
    response = client_for(key).post(URL, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"errorCode": "PARSE_ERROR", "errorDetails": "body: not valid JSON."}
    response = client_for(key).post(URL, "a=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_it_needs_a_live_sdk_key(shop):
    product, _, environment, key = shop
    event = {"events": [{"trackingEventName": "x"}]}
    assert post(APIClient(), event).status_code == 401
    assert post(client_for("sdk_made_up_key_000000000000"), event).status_code == 401
    prefix = environment.sdk_keys.get().prefix
    services.sdk_key_revoke(environment=environment, prefix=prefix)
    response = post(client_for(key), event)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "GENERAL"
    assert not Event.objects.filter(product=product).exists()


def test_a_project_without_a_product_is_a_409(org):
    _, key = environment_with_key(ProjectFactory(organization=org), "production")
    response = post(client_for(key), {"events": [{"trackingEventName": "x"}]})
    assert response.status_code == 409
    assert "linked to no product" in response.json()["errorDetails"]


def test_it_answers_cors_for_browsers(shop):
    _, _, _, key = shop
    preflight = APIClient().options(
        URL, HTTP_ORIGIN="https://shop.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    response = post(client_for(key), {"events": [{"trackingEventName": "x"}]}, HTTP_ORIGIN="https://shop.example.com")
    assert response["Access-Control-Allow-Origin"] == "*"


def test_get_is_refused(shop):
    _, _, _, key = shop
    assert client_for(key).get(URL).status_code == 405


def test_it_answers_429_with_retry_after_past_the_keys_rate(shop, settings):
    product, _, _, key = shop
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ofrep": "2/min"}
    client = client_for(key)
    responses = [post(client, {"events": [{"trackingEventName": f"e{n}"}]}) for n in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2]["Retry-After"]) > 0
    assert Event.objects.filter(product=product).count() == 2


def test_a_text_plain_body_is_json_too(shop):
    """sendBeacon sends text/plain (no preflight): the body is read as JSON, as ingestion does."""
    product, licenses, _, key = shop
    body = json.dumps({"events": [{"trackingEventName": "export_csv", "context": {"targetingKey": "LIC-A"}}]})
    response = client_for(key).post(URL, body, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200
    assert Event.objects.get(product=product).license == licenses["a"]


def test_a_body_over_1_mib_is_a_413_and_stores_nothing(shop):
    product, _, _, key = shop
    big = {"events": [{"trackingEventName": "x", "trackingEventDetails": {"pad": "a" * 30_000}}] * 40}
    response = post(client_for(key), big)
    assert response.status_code == 413
    assert response.json()["errorCode"] == "PARSE_ERROR"
    assert not Event.objects.filter(product=product).exists()
