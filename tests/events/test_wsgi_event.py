"""The lean single-event path (events/wsgi_event.py) answers exactly as the Django machine handler does.

Each case sends the same request to both, through WSGI, and compares status,
headers and body: the machine handler (the short middleware stack) is the
reference the other tests of POST /public/v1/event check through Django's test
client.
"""

from __future__ import annotations

import io
import json

import pytest
from django.db import OperationalError
from django.test import override_settings

from events import group_commit, wsgi_event
from events.models import Event
from packedge.wsgi import MachineWSGIHandler, application
from tests.events.factories import ProductFactory
from tests.packedge.test_wsgi import connections_kept_open

pytestmark = pytest.mark.django_db
PATH = "/public/v1/event"


def environ_for(body: bytes, *, content_type: str = "application/json", scheme: str = "http", **headers) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": scheme,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }


def answer(handler, body: bytes, **options) -> tuple[str, list[tuple[str, str]], bytes]:
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"], captured["headers"] = status, response_headers

    with connections_kept_open():
        result = handler(environ_for(body, **options), start_response)
        content = b"".join(result)
        result.close()
    return captured["status"], captured["headers"], content


def both(body: bytes, **options):
    """(lean answer, Django's answer) to the same request."""
    return answer(application.single_event, body, **options), answer(application.machine, body, **options)


@pytest.fixture
def product(org):
    return ProductFactory(organization=org)


def event_body(product, **fields) -> bytes:
    return json.dumps({"public_key": product.public_key, "event": "export_pdf", **fields}).encode()


def test_the_machine_stack_is_the_one_the_lean_path_mirrors():
    # A middleware added to MACHINE_MIDDLEWARE must be mirrored in events/wsgi_event.py (or it turns the path off).
    assert wsgi_event.mirrored_settings()


def test_post_event_is_routed_to_the_lean_path(product, monkeypatch):
    seen = []
    monkeypatch.setattr(application, "single_event", lambda environ, start_response: seen.append(environ) or [])
    application(environ_for(event_body(product)), lambda *args: None)
    assert [environ["PATH_INFO"] for environ in seen] == [PATH]


@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "https://shop.example"}, {"referer": "https://blog.example/post"}, {"origin": "null"}],
    ids=["no origin", "origin", "referer", "null origin"],
)
def test_an_accepted_event_answers_alike(product, headers):
    lean = answer(application.single_event, event_body(product, uuid="lean"), **headers)
    django = answer(application.machine, event_body(product, uuid="django"), **headers)
    assert lean == django
    assert lean[0] == "200 OK" and json.loads(lean[2]) == {"success": True}
    assert Event.objects.filter(product=product).count() == 2
    names = [name.lower() for name, _ in lean[1]]
    assert {"content-length", "vary", "x-content-type-options", "referrer-policy"} <= set(names)
    assert ("access-control-allow-origin" in names) == ("origin" in headers)


@pytest.mark.parametrize(
    ("body", "options", "status"),
    [
        (b"", {}, "400 Bad Request"),
        (b"{not json", {}, "400 Bad Request"),
        (b"[1]", {}, "400 Bad Request"),
        (b'{"public_key": "pk_nope", "event": "x"}', {}, "401 Unauthorized"),
        (b'{"event": "x"}', {}, "400 Bad Request"),
        (b'{"public_key": "x"}' + b" " * (65 * 1024), {}, "413 Request Entity Too Large"),
        (b'{"properties": ' + b"[" * 50_000, {}, "400 Bad Request"),
        (b'{"public_key": "x"}', {"content_type": "application/xml"}, "415 Unsupported Media Type"),
    ],
    ids=[
        "empty",
        "not json",
        "not an object",
        "unknown key",
        "no key",
        "too large",
        "nested too deeply",
        "not json type",
    ],
)
def test_a_refused_request_answers_alike(body, options, status):
    lean, django = both(body, origin="https://shop.example", **options)
    assert lean == django
    assert lean[0] == status
    assert json.loads(lean[2])["success"] is False


@pytest.mark.parametrize(
    "fields",
    [{"event": "export\u0000pdf"}, {"properties": {"note": "a\u0000b"}}, {"event": 7}],
    ids=["NUL in the name", "NUL in a property", "name not a string"],
)
def test_hostile_events_are_refused_alike_and_store_nothing(product, fields):
    lean, django = both(event_body(product, **fields), origin="https://shop.example")
    assert lean == django
    assert lean[0] == "400 Bad Request"
    assert json.loads(lean[2])["success"] is False
    assert Event.objects.count() == 0


def test_a_bad_event_answers_alike(product):
    lean, django = both(event_body(product, event=""), origin="https://shop.example")
    assert lean == django
    assert lean[0] == "400 Bad Request"


def test_rate_limited_answers_alike(product, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ingest": "1/day"}
    assert answer(application.machine, event_body(product, uuid="first"))[0] == "200 OK"
    lean, django = both(event_body(product, uuid="second"), origin="https://shop.example")
    assert lean[0] == django[0] == "429 Too Many Requests"
    # Retry-After counts down to the end of the day: the two may be a second apart.
    assert [h for h in lean[1] if h[0] != "Retry-After"] == [h for h in django[1] if h[0] != "Retry-After"]
    assert "Retry-After" in dict(lean[1]) and lean[2] == django[2]


def test_an_unreachable_database_answers_alike(product, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(group_commit, "event_store", unreachable)
    lean, django = both(event_body(product), origin="https://shop.example")
    assert lean == django
    assert lean[0] == "503 Service Unavailable" and dict(lean[1])["Retry-After"] == "5"
    assert json.loads(lean[2])["error"]["code"] == "database_unavailable"


def test_an_unexpected_error_is_djangos_500(product, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(group_commit, "event_store", broken)
    lean, django = both(event_body(product), origin="https://shop.example")
    assert lean == django
    assert lean[0] == "500 Internal Server Error"


def test_a_host_not_allowed_is_djangos_400(product):
    lean, django = both(event_body(product), host="evil.example")
    assert lean == django
    assert lean[0] == "400 Bad Request"
    assert not Event.objects.exists()


def built_now():
    """A machine handler and its lean path built under the current settings (SecurityMiddleware reads them once)."""
    machine = MachineWSGIHandler()
    return wsgi_event.SingleEventApplication(machine), machine


@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_as_django_does(product):
    lean_path, machine = built_now()
    lean, django = answer(lean_path, event_body(product)), answer(machine, event_body(product))
    assert lean == django
    assert lean[0] == "301 Moved Permanently"
    assert not Event.objects.exists()


@override_settings(SECURE_HSTS_SECONDS=31_536_000, SECURE_HSTS_PRELOAD=True)
def test_https_gets_hsts_as_from_django(product):
    lean_path, machine = built_now()
    lean = answer(lean_path, event_body(product, uuid="lean"), scheme="https")
    django = answer(machine, event_body(product, uuid="django"), scheme="https")
    assert lean == django
    assert dict(lean[1])["Strict-Transport-Security"] == "max-age=31536000; preload"


def test_other_settings_send_every_request_to_django(product, settings):
    settings.CORS_ALLOW_CREDENTIALS = True
    assert not wsgi_event.mirrored_settings()
    lean, django = both(event_body(product), origin="https://shop.example")
    assert lean[0] == django[0] == "200 OK"
    # django-cors-headers echoes the origin when credentials are allowed: the lean path did not answer.
    assert dict(lean[1])["access-control-allow-origin"] == "https://shop.example"
