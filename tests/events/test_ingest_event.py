"""POST /public/v1/event through the real middleware stack (Django's test client)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from events.models import Event
from tests.events.factories import LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db
URL = "/public/v1/event"


@pytest.fixture
def product(org):
    return ProductFactory(organization=org, name="SEO Booster")


def post(client, body, content_type="application/json", **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **headers)


def test_it_stores_a_feature_used_event_under_its_feature(client, product):
    license = LicenseFactory(product=product, key="MYPLUGIN-AAAA-BBBB")
    body = {
        "public_key": product.public_key,
        "event": "feature_used",
        "properties": {"feature": "export", "format": "csv"},
        "license_key": "MYPLUGIN-AAAA-BBBB",
        "site": "customer.example.com",
    }
    response = post(client, body)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get()
    assert (event.event, event.feature, event.is_system) == ("feature_used", "export", False)
    assert event.properties == {"feature": "export", "format": "csv"}
    assert event.license_id == license.id and event.license_key == "MYPLUGIN-AAAA-BBBB"
    assert event.domain == "customer.example.com"
    assert event.product_id == product.id


@pytest.mark.parametrize(
    ("name", "properties", "feature"),
    [
        ("export_pdf", {}, "export_pdf"),
        ("export_pdf", {"feature": "ignored: not feature_used"}, "export_pdf"),
        ("feature_used", {"feature": "bulk_edit"}, "bulk_edit"),
        ("feature_used", {"feature": ""}, "feature_used"),
        ("feature_used", {"feature": "   "}, "feature_used"),
        ("feature_used", {"feature": 42}, "feature_used"),
        ("feature_used", {}, "feature_used"),
    ],
)
def test_it_derives_the_feature_from_the_event(client, product, name, properties, feature):
    assert post(client, {"public_key": product.public_key, "event": name, "properties": properties}).status_code == 200
    assert Event.objects.get().feature == feature


@pytest.mark.parametrize(
    ("name", "is_system"),
    [
        ("product.installed", True),
        ("product.uninstalled", True),
        ("license.activated", True),
        ("update.checked", True),
        ("release.published", True),
        ("site.added", True),
        ("Product.Installed", True),
        ("products.installed", False),
        ("my.product.installed", False),
        ("settings_changed", False),
    ],
)
def test_it_stores_reserved_events_marked_as_system(client, product, name, is_system):
    response = post(client, {"public_key": product.public_key, "event": name, "properties": {"env": {"php": "8.3"}}})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get()
    assert (event.event, event.is_system) == (name, is_system)


def test_an_unknown_license_key_is_kept_as_text_and_the_event_accepted(client, product, other_org):
    # A key of another product must not attribute either.
    LicenseFactory(product=ProductFactory(organization=other_org), key="THEIRS-1")
    for key in ("NOT-A-REAL-KEY", "THEIRS-1"):
        response = post(client, {"public_key": product.public_key, "event": "export_pdf", "license_key": key})
        assert response.json() == {"success": True}
    rows = list(Event.objects.order_by("id").values_list("license_id", "license_key"))
    assert rows == [(None, "NOT-A-REAL-KEY"), (None, "THEIRS-1")]


@pytest.mark.parametrize(
    ("site", "domain"),
    [
        ("customer.example.com", "customer.example.com"),
        ("Customer.EXAMPLE.com", "customer.example.com"),
        ("https://customer.example.com", "customer.example.com"),
        ("http://customer.example.com:8080/wp-admin/?page=x", "customer.example.com"),
        ("customer.example.com.", "customer.example.com"),
        ("customer.example.com:443", "customer.example.com"),
        ("HTTPS://Shop.Example.com.:8443/cart#top", "shop.example.com"),
        ("  customer.example.com  ", "customer.example.com"),
        ("localhost", "localhost"),
        ("192.168.1.10:8000", "192.168.1.10"),
    ],
)
def test_it_normalizes_the_site(client, product, site, domain):
    assert post(client, {"public_key": product.public_key, "event": "x", "site": site}).status_code == 200
    assert Event.objects.get().domain == domain


def test_without_a_site_it_takes_the_origin_then_the_referer_then_none(client, product):
    key = product.public_key
    post(client, {"public_key": key, "event": "a"}, HTTP_ORIGIN="https://Shop.Example.org:8443")
    post(client, {"public_key": key, "event": "b"}, HTTP_REFERER="https://blog.example.net/post/1?x=2")
    post(client, {"public_key": key, "event": "c"}, HTTP_ORIGIN="null", HTTP_REFERER="https://ref.example.net/")
    post(client, {"public_key": key, "event": "d"})
    post(client, {"public_key": key, "event": "e", "site": "given.example"}, HTTP_ORIGIN="https://origin.example")
    post(client, {"public_key": key, "event": "f", "site": None}, HTTP_ORIGIN="https://origin.example")
    rows = dict(Event.objects.values_list("event", "domain"))
    assert rows == {
        "a": "shop.example.org",
        "b": "blog.example.net",
        "c": "ref.example.net",
        "d": "",
        "e": "given.example",
        "f": "origin.example",
    }


def test_it_keeps_a_client_timestamp_in_utc(client, product):
    moment = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    local = moment.astimezone(timezone.get_fixed_timezone(120)).isoformat()  # "+02:00"
    assert post(client, {"public_key": product.public_key, "event": "x", "timestamp": local}).status_code == 200
    assert Event.objects.get().occurred_at == moment


def test_a_timestamp_without_offset_is_read_as_utc(client, product):
    moment = (timezone.now() - timedelta(hours=5)).replace(microsecond=0)
    naive = moment.replace(tzinfo=None).isoformat()
    post(client, {"public_key": product.public_key, "event": "x", "timestamp": naive})
    assert Event.objects.get().occurred_at == moment


def test_a_z_suffixed_timestamp_from_to_iso_string_is_accepted(client, product):
    moment = (timezone.now() - timedelta(minutes=30)).replace(microsecond=123000)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    post(client, {"public_key": product.public_key, "event": "x", "timestamp": text})
    assert Event.objects.get().occurred_at == moment


def test_without_a_timestamp_the_event_occurred_when_received(client, product):
    before = timezone.now()
    post(client, {"public_key": product.public_key, "event": "x"})
    event = Event.objects.get()
    assert before <= event.occurred_at == event.received_at <= timezone.now()


def test_a_timestamp_more_than_ten_minutes_ahead_becomes_the_time_received(client, product):
    key = product.public_key
    soon = timezone.now() + timedelta(minutes=9)
    late = timezone.now() + timedelta(minutes=11)
    post(client, {"public_key": key, "event": "soon", "timestamp": soon.isoformat()})
    post(client, {"public_key": key, "event": "late", "timestamp": late.isoformat()})
    soon_row = Event.objects.get(event="soon")
    late_row = Event.objects.get(event="late")
    assert soon_row.occurred_at == soon
    assert late_row.occurred_at == late_row.received_at < late


def test_a_timestamp_of_365_days_ago_is_accepted_and_367_refused(client, product):
    key = product.public_key
    ok = timezone.now() - timedelta(days=365)
    old = timezone.now() - timedelta(days=367)
    assert post(client, {"public_key": key, "event": "x", "timestamp": ok.isoformat()}).status_code == 200
    response = post(client, {"public_key": key, "event": "y", "timestamp": old.isoformat()})
    assert response.status_code == 400
    assert "timestamp" in response.json()["error"]["message"]
    assert list(Event.objects.values_list("event", flat=True)) == ["x"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/plain;charset=UTF-8"])
def test_it_accepts_json_sent_as_json_or_as_plain_text(client, product, content_type):
    body = json.dumps({"public_key": product.public_key, "event": "export_pdf"})
    response = client.post(URL, data=body, content_type=content_type)
    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_the_same_uuid_twice_is_acknowledged_and_stored_once(client, product):
    body = {"public_key": product.public_key, "event": "export_pdf", "uuid": "4a1f0c1e-5b8e-4d55-9e0f-6c1f3a9e2b71"}
    assert post(client, body).json() == {"success": True}
    assert post(client, body).json() == {"success": True}
    assert Event.objects.count() == 1


def test_the_same_uuid_in_two_products_is_two_events(client, product, org):
    other = ProductFactory(organization=org)
    for key in (product.public_key, other.public_key):
        post(client, {"public_key": key, "event": "export_pdf", "uuid": "same"})
    assert Event.objects.count() == 2


def test_an_unknown_public_key_is_401_and_stores_nothing(client, product):
    for key in ("pk_doesnotexist", "sk_not_a_public_key", "pk_" + "x" * 100):
        response = post(client, {"public_key": key, "event": "x"})
        assert response.status_code == 401
        assert response.json() == {
            "error": {"code": "invalid_public_key", "message": "public_key: unknown public key."},
            "success": False,
        }
    assert Event.objects.count() == 0


def test_it_costs_one_lookup_then_one_insert_per_event(client, product, django_assert_num_queries):
    LicenseFactory(product=product, key="K-1")
    with django_assert_num_queries(2):  # the product, then the insert
        post(client, {"public_key": product.public_key, "event": "x", "license_key": "K-1"})
    with django_assert_num_queries(1):  # the product comes from the in-process cache
        post(client, {"public_key": product.public_key, "event": "y", "license_key": "K-1", "properties": {"a": 1}})
    assert Event.objects.filter(license__key="K-1").count() == 2


def test_browsers_of_any_origin_may_call_it(client, product):
    preflight = client.options(
        URL,
        HTTP_ORIGIN="https://customer.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "content-type" in preflight["Access-Control-Allow-Headers"]
    response = post(
        client, {"public_key": product.public_key, "event": "x"}, HTTP_ORIGIN="https://customer.example.com"
    )
    assert response["Access-Control-Allow-Origin"] == "*"


def test_it_needs_no_csrf_token(product):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        URL, data=json.dumps({"public_key": product.public_key, "event": "x"}), content_type="text/plain"
    )
    assert response.status_code == 200


def test_it_rate_limits_per_public_key(client, product, org, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ingest": "3/h"}
    other = ProductFactory(organization=org)
    answers = [post(client, {"public_key": product.public_key, "event": f"e{n}"}) for n in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert limited.json()["success"] is False
    assert limited.json()["error"]["code"] == "rate_limited"
    assert post(client, {"public_key": other.public_key, "event": "x"}).status_code == 200
    assert Event.objects.filter(product=product).count() == 3


def test_an_unreachable_database_is_503_with_retry_after(client, product, settings):
    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    with connection.execute_wrapper(refuse):
        cold = post(client, {"public_key": product.public_key, "event": "x"})
    assert cold.status_code == 503
    assert cold["Retry-After"] == str(settings.DATABASE_RETRY_AFTER_SECONDS)
    assert cold.json()["success"] is False
    assert cold.json()["error"]["code"] == "database_unavailable"
    post(client, {"public_key": product.public_key, "event": "warm"})  # the product is now cached
    with connection.execute_wrapper(refuse):
        warm = post(client, {"public_key": product.public_key, "event": "y"})
    assert warm.status_code == 503
    assert list(Event.objects.values_list("event", flat=True)) == ["warm"]


def test_other_methods_are_405(client, product):
    response = client.get(URL)
    assert response.status_code == 405
    assert response.json()["success"] is False
    assert "POST" in response["Allow"]


def test_an_event_far_in_the_past_is_not_refused_by_daylight_arithmetic(client, product):
    # 366 days is measured in exact hours, whatever the server's zone does.
    moment = datetime.now(UTC) - timedelta(days=366) + timedelta(minutes=1)
    assert (
        post(client, {"public_key": product.public_key, "event": "x", "timestamp": moment.isoformat()}).status_code
        == 200
    )


def test_the_openapi_schema_describes_both_endpoints(client):
    paths = client.get("/v1/openapi.json").json()["paths"]
    assert paths["/public/v1/event"]["post"]["requestBody"]["content"]["text/plain"]
    assert set(paths["/public/v1/events"]["post"]["responses"]) >= {"200", "400", "401", "413", "429", "503"}
    assert "/v1/products" in paths


def test_an_accepted_event_shows_in_feature_usage_on_the_next_request(client, api, product):
    license = LicenseFactory(product=product, key="K-1")
    for name, properties in (("feature_used", {"feature": "export"}), ("export", {}), ("product.installed", {})):
        body = {"public_key": product.public_key, "event": name, "properties": properties, "license_key": "K-1"}
        assert post(client, body, HTTP_ORIGIN="https://shop.example.com").status_code == 200
    report = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage").json()["data"]
    assert report["totals"]["events"] == 2  # the system event does not count
    assert report["totals"]["uniqueFeatures"] == 1
    assert [(f["name"], f["events"]) for f in report["topFeatures"]] == [("export", 2)]
    assert report["topLicenses"][0]["licenseId"] == license.public_id
    assert report["topDomains"] == [{"domain": "shop.example.com", "events": 2}]
