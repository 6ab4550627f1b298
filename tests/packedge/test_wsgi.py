"""The production WSGI application routes machine endpoints through the short middleware stack."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from events.models import Event
from packedge.wsgi import application
from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db


def call(method: str, path: str, body: bytes = b"", **headers) -> tuple[int, dict, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": headers.pop("content_type", "application/json"),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {name.lower(): value for name, value in response_headers}

    with connections_kept_open():
        content = b"".join(application(environ, start_response))
    return captured["status"], captured["headers"], content


@contextmanager
def connections_kept_open():
    """As Django's test client does: a request must not close the test's transaction's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def view_middleware(handler) -> set[str]:
    return {method.__self__.__class__.__name__ for method in handler._view_middleware}


def test_machine_paths_skip_the_console_middleware():
    assert "CsrfViewMiddleware" in view_middleware(application.full)
    assert "CsrfViewMiddleware" not in view_middleware(application.machine)


def test_an_event_is_ingested_with_cors_through_the_short_stack(org):
    product = ProductFactory(organization=org)
    body = json.dumps({"public_key": product.public_key, "event": "export_pdf"}).encode()
    status, headers, content = call("POST", "/public/v1/event", body, origin="https://shop.example")
    assert (status, json.loads(content)) == (200, {"success": True})
    assert headers["content-length"] == str(len(content))
    assert headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in headers
    assert Event.objects.get(product=product).domain == "shop.example"


def test_the_preflight_answers_204_through_the_short_stack():
    status, headers, _ = call(
        "OPTIONS", "/public/v1/event", origin="https://shop.example", access_control_request_method="POST"
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"


def test_ofrep_still_requires_an_sdk_key():
    status, _, content = call("POST", "/ofrep/v1/evaluate/flags/anything", b'{"context": {}}')
    assert status == 401
    assert Event.objects.count() == 0


def test_the_console_keeps_the_full_stack(client):
    status, headers, _ = call("GET", "/login/")
    assert status == 200
    assert "csrftoken" in headers.get("set-cookie", "")
