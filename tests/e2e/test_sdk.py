"""The JS SDK in Debian's Chromium, on a page served from another origin than the API."""

from __future__ import annotations

import functools
import shutil
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from events.models import Event
from tests.core.factories import OrganizationFactory
from tests.events.factories import LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)
SDK_DIR = Path(__file__).resolve().parents[2] / "static" / "sdk"
EVENT_PATH = "/public/v1/event"


def paying_organization():
    return OrganizationFactory()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def site(tmp_path):
    """A customer's site: another origin (127.0.0.1, its own port) than the API's (localhost)."""
    shutil.copytree(SDK_DIR, tmp_path / "sdk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def page_url(name: str, html: str) -> str:
        (tmp_path / name).write_text(f"<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'></head><body>{html}</body></html>")
        return f"http://127.0.0.1:{server.server_address[1]}/{name}"

    yield page_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def product():
    product = ProductFactory(name="SDK test", organization=paying_organization())
    LicenseFactory(product=product, key="MYPLUGIN-AAAA-BBBB")
    return product


@pytest.fixture
def api_requests(page):
    """The resource type (beacon/ping or fetch) of every request the page sends to the event endpoint."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.resource_type) if request.url.endswith(EVENT_PATH) else None)
    return seen


def wait_for_events(product, count: int, timeout: float = 10.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(Event.objects.filter(product=product).order_by("id"))
        if len(events) >= count:
            return events
        time.sleep(0.1)
    return list(Event.objects.filter(product=product).order_by("id"))


def test_a_script_tag_page_tracks_through_send_beacon(page, live_server, site, product, api_requests):
    url = site(
        "beacon.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ licenseKey: "MYPLUGIN-AAAA-BBBB" }});
          window.sent = packedge.track("feature_used", {{ feature: "export", format: "pdf" }});
        </script>
        """,
    )
    page.goto(url)
    assert page.evaluate("window.sent") is True
    assert page.evaluate("typeof navigator.sendBeacon") == "function"
    events = wait_for_events(product, 1)
    assert len(events) == 1
    event = events[0]
    assert (event.event, event.feature, event.properties) == ("feature_used", "export", {"feature": "export", "format": "pdf"})
    assert event.domain == "127.0.0.1"  # the page's host, not the API's (localhost)
    assert event.license.key == "MYPLUGIN-AAAA-BBBB"
    assert event.uuid
    assert api_requests and all(kind in ("ping", "beacon") for kind in api_requests)
    assert page.errors == []


def test_without_send_beacon_it_falls_back_to_fetch(page, live_server, site, product, api_requests):
    url = site(
        "fetch.html",
        f"""
        <script>delete Navigator.prototype.sendBeacon;</script>
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          window.sent = packedge("{product.public_key}").track("bulk_edit", {{ rows: 12 }});
        </script>
        """,
    )
    page.goto(url)
    assert page.evaluate("typeof navigator.sendBeacon") == "undefined"
    assert page.evaluate("window.sent") is True
    events = wait_for_events(product, 1)
    assert [(e.event, e.domain, e.properties) for e in events] == [("bulk_edit", "127.0.0.1", {"rows": 12})]
    assert api_requests == ["fetch"]
    assert page.errors == []


def test_the_es_module_form_tracks_too(page, live_server, site, product):
    url = site(
        "module.html",
        f"""
        <script type="module">
          import packedge, {{ track }} from "./sdk/packedge.mjs";
          packedge.init("{product.public_key}", {{ endpoint: "{live_server.url}" }});
          window.sent = [packedge.track("module_default"), track("module_named")];
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_function("window.sent !== undefined")
    assert page.evaluate("window.sent") == [True, True]
    events = wait_for_events(product, 2)
    assert sorted((e.event, e.domain) for e in events) == [("module_default", "127.0.0.1"), ("module_named", "127.0.0.1")]
    assert page.errors == []


def test_with_the_api_down_the_page_shows_no_error(page, site, product):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # closed again before the page loads: nothing listens there
    url = site(
        "down.html",
        f"""
        <script src="./sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ endpoint: "http://127.0.0.1:{dead_port}" }});
          var results = [packedge.track("export_pdf"), packedge.track(), packedge.track(null, "x")];
          delete Navigator.prototype.sendBeacon;
          results.push(packedge.track("export_pdf", {{ circular: (function () {{ var o = {{}}; o.o = o; return o; }})() }}));
          results.push(packedge.track("export_pdf"));
          results.push(packedge(undefined).track("x"));
          window.results = results;
          window.finished = true;
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_function("window.finished === true")
    page.wait_for_timeout(1500)  # let the failed fetch settle
    assert page.evaluate("window.results") == [True, False, False, False, True, False]
    # Chromium itself logs each refused connection to the console; those lines are the
    # browser's network log, not errors of the page. Anything else (an uncaught exception) fails.
    network_log = [e for e in page.errors if e == "Failed to load resource: net::ERR_CONNECTION_REFUSED"]
    assert network_log, "the SDK should have tried to reach the API"
    assert [e for e in page.errors if e not in network_log] == []
    assert Event.objects.count() == 0
