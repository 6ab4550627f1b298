"""Every malformed ingestion request answers 4xx in the error shape and stores nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event

pytestmark = pytest.mark.django_db
PK = "__PK__"  # replaced by the product's public key


def _old() -> str:
    return (timezone.now() - timedelta(days=400)).isoformat()


def _ok(**extra) -> dict:
    return {"public_key": PK, "event": "export_pdf", **extra}


def _batch(events) -> dict:
    return {"public_key": PK, "events": events}


def _fill(value, key: str):
    if isinstance(value, dict):
        return {k: _fill(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, key) for v in value]
    return key if value == PK else value


# (url, body (dict → JSON, str/bytes sent as is), status, a word the message must contain)
SINGLE = "/public/v1/event"
BATCH = "/public/v1/events"
CASES = [
    pytest.param(SINGLE, b"", 400, "body", id="empty body"),
    pytest.param(SINGLE, b"{not json", 400, "JSON", id="bad json"),
    pytest.param(SINGLE, b'{"public_key": "x", "event": "a"', 400, "JSON", id="truncated json"),
    pytest.param(SINGLE, b"\xff\xfe\x00garbage", 400, "JSON", id="not utf-8"),
    pytest.param(SINGLE, b"[1, 2, 3]", 400, "object", id="body is a list"),
    pytest.param(SINGLE, b'"just a string"', 400, "object", id="body is a string"),
    pytest.param(SINGLE, b"null", 400, "object", id="body is null"),
    pytest.param(SINGLE, b"[" * 70000, 413, "bytes", id="deep nesting over the size limit"),
    pytest.param(SINGLE, b"[" * 20000 + b"]" * 20000, 400, "JSON", id="deep nesting under the limit"),
    pytest.param(SINGLE, {"event": "x"}, 400, "public_key", id="missing public_key"),
    pytest.param(SINGLE, {"public_key": 123, "event": "x"}, 400, "public_key", id="public_key not a string"),
    pytest.param(SINGLE, {"public_key": "pk_nope", "event": "x"}, 401, "public_key", id="unknown public_key"),
    pytest.param(SINGLE, {"public_key": PK}, 400, "event", id="missing event"),
    pytest.param(SINGLE, _ok(event=""), 400, "event", id="empty event"),
    pytest.param(SINGLE, _ok(event="   "), 400, "event", id="blank event"),
    pytest.param(SINGLE, _ok(event=42), 400, "event", id="event is a number"),
    pytest.param(SINGLE, _ok(event=["a"]), 400, "event", id="event is a list"),
    pytest.param(SINGLE, _ok(event="e" * 201), 400, "event", id="event of 201 characters"),
    pytest.param(SINGLE, _ok(event="export\npdf"), 400, "event", id="event with a newline"),
    pytest.param(SINGLE, _ok(event="export\x00pdf"), 400, "event", id="event with NUL"),
    pytest.param(SINGLE, _ok(event="bad\ud800"), 400, "event", id="event with a lone surrogate"),
    pytest.param(SINGLE, _ok(properties=[1, 2]), 400, "properties", id="properties is a list"),
    pytest.param(SINGLE, _ok(properties="feature=export"), 400, "properties", id="properties is a string"),
    pytest.param(SINGLE, _ok(properties={"big": "x" * 33000}), 400, "properties", id="properties over 32 KiB"),
    pytest.param(SINGLE, _ok(properties={"text": "nul\x00here"}), 400, "properties", id="properties with NUL"),
    pytest.param(SINGLE, '{"public_key": "__PK__", "event": "x", "properties": {"n": NaN}}', 400, "JSON", id="NaN"),
    pytest.param(
        SINGLE,
        '{"public_key": "__PK__", "event": "x", "properties": {"n": 1e999}}',
        400,
        "properties",
        id="infinite number",
    ),
    pytest.param(SINGLE, _ok(properties={"f": "\ud800"}), 400, "properties", id="properties with a lone surrogate"),
    pytest.param(SINGLE, _ok(properties={"\ud800": 1}), 400, "properties", id="a property name with a lone surrogate"),
    pytest.param(SINGLE, _ok(license_key="LIC-\udc00"), 400, "license_key", id="license key with a lone surrogate"),
    pytest.param(SINGLE, _ok(site="a\ud800.example.com"), 400, "site", id="site with a lone surrogate"),
    pytest.param(SINGLE, _ok(uuid="u-\ud800"), 400, "uuid", id="uuid with a lone surrogate"),
    pytest.param(SINGLE, _ok(timestamp="2026-05-01\ud800"), 400, "timestamp", id="timestamp with a lone surrogate"),
    pytest.param(
        SINGLE,
        _ok(event="feature_used", properties={"feature": "f" * 201}),
        400,
        "properties.feature",
        id="feature over 200",
    ),
    pytest.param(SINGLE, _ok(license_key=12345), 400, "license_key", id="license_key is a number"),
    pytest.param(SINGLE, _ok(license_key="k" * 201), 400, "license_key", id="license_key too long"),
    pytest.param(SINGLE, _ok(site=7), 400, "site", id="site is a number"),
    pytest.param(SINGLE, _ok(site="not a domain!"), 400, "site", id="site with spaces"),
    pytest.param(SINGLE, _ok(site="https://"), 400, "site", id="site without a host"),
    pytest.param(SINGLE, _ok(site="http://[::1"), 400, "site", id="site with a broken IPv6"),
    pytest.param(SINGLE, _ok(site="a" * 300 + ".com"), 400, "site", id="site too long"),
    pytest.param(SINGLE, _ok(timestamp="yesterday"), 400, "timestamp", id="timestamp in words"),
    pytest.param(SINGLE, _ok(timestamp="2026-13-45T10:00:00Z"), 400, "timestamp", id="timestamp impossible date"),
    pytest.param(SINGLE, _ok(timestamp=1767225600), 400, "timestamp", id="timestamp as epoch number"),
    pytest.param(SINGLE, _ok(timestamp=""), 400, "timestamp", id="timestamp empty"),
    pytest.param(SINGLE, _ok(timestamp="0001-01-01T00:00:00+01:00"), 400, "timestamp", id="timestamp year one"),
    pytest.param(SINGLE, _ok(timestamp=_old()), 400, "timestamp", id="timestamp older than 366 days"),
    pytest.param(SINGLE, _ok(uuid=""), 400, "uuid", id="empty uuid"),
    pytest.param(SINGLE, _ok(uuid=123), 400, "uuid", id="uuid is a number"),
    pytest.param(SINGLE, _ok(uuid="u" * 65), 400, "uuid", id="uuid too long"),
    pytest.param(
        SINGLE, {"public_key": PK, "event": "x", "pad": "p" * 70000}, 413, "bytes", id="single body over 64 KiB"
    ),
    pytest.param(BATCH, {"public_key": PK}, 400, "events", id="batch without events"),
    pytest.param(BATCH, _batch([]), 400, "events", id="empty batch"),
    pytest.param(BATCH, _batch({"event": "x"}), 400, "events", id="events is an object"),
    pytest.param(BATCH, _batch([{"event": "x"}] * 1001), 400, "1001", id="1001 events"),
    pytest.param(
        BATCH, _batch([{"event": "ok"}, {"event": "ok"}, {"event": ""}]), 400, "events[2].event", id="one bad event"
    ),
    pytest.param(BATCH, _batch([{"event": "ok"}, "export_pdf"]), 400, "events[1]", id="an event that is a string"),
    pytest.param(
        BATCH, _batch([{"event": "ok", "timestamp": "nope"}]), 400, "events[0].timestamp", id="batch bad timestamp"
    ),
    pytest.param(
        BATCH,
        _batch([{"event": "ok"}] * 2 + [{"event": "x", "properties": 3}]),
        400,
        "events[2].properties",
        id="batch bad properties",
    ),
    pytest.param(BATCH, _batch([{"event": "x", "pad": "p" * 1100}] * 1000), 413, "bytes", id="batch body over 1 MiB"),
    pytest.param(
        BATCH, {"public_key": "pk_unknown", "events": [{"event": "x"}]}, 401, "public_key", id="batch unknown key"
    ),
]


@pytest.mark.parametrize(("url", "body", "status", "word"), CASES)
def test_it_rejects_malformed_requests_and_stores_nothing(client, product, url, body, status, word):
    if isinstance(body, dict):
        body = json.dumps(_fill(body, product.public_key))
    elif isinstance(body, str):
        body = body.replace(PK, product.public_key)
    response = client.post(url, data=body, content_type="application/json")
    assert response.status_code == status
    payload = response.json()
    assert payload["success"] is False
    assert set(payload["error"]) == {"code", "message"}
    assert word in payload["error"]["message"]
    assert Event.objects.count() == 0


def test_it_answers_415_for_a_form_body(client, product):
    response = client.post(SINGLE, data={"public_key": product.public_key, "event": "x"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert Event.objects.count() == 0


def test_it_trusts_the_real_body_size_over_a_smaller_content_length(client, product):
    body = json.dumps({"public_key": product.public_key, "event": "x", "pad": "p" * 70000}).encode()
    # The declared length says 100 bytes: only those are read, which are not a whole JSON object.
    response = client.generic("POST", SINGLE, body, content_type="application/json", CONTENT_LENGTH="100")
    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_a_declared_length_over_the_limit_is_refused_before_reading(client, product):
    body = json.dumps({"public_key": product.public_key, "event": "x"}).encode()
    response = client.generic("POST", SINGLE, body, content_type="application/json", CONTENT_LENGTH=str(64 * 1024 + 1))
    assert response.status_code == 413
    assert Event.objects.count() == 0
