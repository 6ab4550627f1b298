"""The JS SDK (built from sdk/js) in Debian's Chromium, on a page of another origin than the API."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from events.models import Event
from tests.events.factories import LicenseFactory, ProductFactory
from tests.tenancy.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)
SDK_DIR = Path(__file__).resolve().parents[2] / "static" / "sdk"
BATCH_PATH = "/public/v1/events"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def html_page(body: str) -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'></head><body>{body}</body></html>"


@pytest.fixture
def site(tmp_path):
    """A customer's site: another origin (127.0.0.1, its own port) than the API's (localhost)."""
    shutil.copytree(SDK_DIR, tmp_path / "sdk")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def page_url(name: str, html: str) -> str:
        (tmp_path / name).write_text(html_page(html))
        return f"http://127.0.0.1:{server.server_address[1]}/{name}"

    yield page_url
    server.shutdown()
    server.server_close()


@pytest.fixture
def product():
    product = ProductFactory(name="SDK test", organization=OrganizationFactory())
    LicenseFactory(product=product, key="MYPLUGIN-AAAA-BBBB")
    return product


@pytest.fixture
def api_requests(page):
    """The resource type (fetch, or ping for sendBeacon) of every request the page sends to the batch endpoint."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.resource_type) if request.url.endswith(BATCH_PATH) else None)
    return seen


def wait_for_events(product, count: int, timeout: float = 10.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(Event.objects.filter(product=product).order_by("id"))
        if len(events) >= count:
            return events
        time.sleep(0.1)
    return list(Event.objects.filter(product=product).order_by("id"))


def test_a_script_tag_page_batches_its_events_into_one_request(page, live_server, site, product, api_requests):
    url = site(
        "script.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ licenseKey: "MYPLUGIN-AAAA-BBBB", flushInterval: 300 }});
          window.sent = [
            packedge.track("feature_used", {{ feature: "export", format: "pdf" }}),
            packedge.track("bulk_edit", {{ rows: 12 }}),
            packedge("{product.public_key}").track("one_liner"),
          ];
        </script>
        """,
    )
    page.goto(url)
    assert page.evaluate("window.sent") == [True, True, True]
    events = wait_for_events(product, 3)
    assert [(e.event, e.feature, e.properties) for e in events] == [
        ("feature_used", "export", {"feature": "export", "format": "pdf"}),
        ("bulk_edit", "bulk_edit", {"rows": 12}),
        ("one_liner", "one_liner", {}),
    ]
    assert {e.domain for e in events} == {"127.0.0.1"}  # the page's host, not the API's (localhost)
    assert [e.license.key if e.license else None for e in events] == ["MYPLUGIN-AAAA-BBBB"] * 2 + [None]
    assert len({e.uuid for e in events}) == 3
    page.wait_for_function("packedge.stats().queued === 0")
    assert api_requests == ["fetch"]  # one batch for the three events
    assert page.errors == []


def test_leaving_the_page_sends_the_queue_with_send_beacon(page, live_server, site, product):
    url = site(
        "leave.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ flushInterval: 60000 }});
          packedge.track("export_pdf");
          packedge.track("export_csv");
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_timeout(300)
    assert Event.objects.count() == 0  # still waiting for the time threshold
    page.evaluate(
        """() => {
          const send = navigator.sendBeacon.bind(navigator);
          navigator.sendBeacon = (url, body) => { localStorage.setItem("beaconed", url); return send(url, body); };
        }"""
    )
    page.goto("about:blank")  # pagehide; the minute of flushInterval is far off: only the beacon can send
    events = wait_for_events(product, 2)
    assert sorted(e.event for e in events) == ["export_csv", "export_pdf"]
    page.goto(url.replace("leave.html", "sdk/packedge.js"))  # back on the site's origin, to read its localStorage
    assert page.evaluate("localStorage.getItem('beaconed')") == f"{live_server.url}{BATCH_PATH}"
    assert page.evaluate("Object.keys(localStorage).filter((key) => key.startsWith('packedge:queue'))") == []


def with_cors(route):
    # pytest-django's live server serves /static/ with Django's own static handler, in front
    # of WhiteNoise, so without the Access-Control-Allow-Origin WhiteNoise adds in production
    # (tests/events/test_sdk_static.py checks that one). Add it, as production would.
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "access-control-allow-origin": "*"})


def test_the_es_module_forms_track_too(page, live_server, site, product):
    page.context.route(f"{live_server.url}/static/sdk/packedge.mjs", with_cors)
    url = site(
        "module.html",
        f"""
        <script type="module">
          // Straight from the server, which it then sends to; and a copy on the site, told where to send.
          import served from "{live_server.url}/static/sdk/packedge.mjs";
          import copy, {{ track }} from "./sdk/packedge.mjs";
          served.init("{product.public_key}", {{ flushInterval: 100 }});
          const fromServed = served.track("module_served");
          copy.init("{product.public_key}", {{ endpoint: "{live_server.url}", flushInterval: 100 }});
          window.sent = [fromServed, copy.track("module_default"), track("module_named")];
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_function("window.sent !== undefined", timeout=5000)
    assert page.evaluate("window.sent") == [True, True, True]
    events = wait_for_events(product, 3)
    assert sorted((e.event, e.domain) for e in events) == [
        ("module_default", "127.0.0.1"),
        ("module_named", "127.0.0.1"),
        ("module_served", "127.0.0.1"),
    ]
    assert page.errors == []


def test_events_tracked_offline_survive_a_reload_and_are_counted_once_back_online(page, live_server, site, product):
    sdk_url = f"{live_server.url}/static/sdk/packedge.js"
    context = page.context
    body = f"""
        <script src="{sdk_url}"></script>
        <script>packedge.init("{product.public_key}", {{ flushInterval: 200 }});</script>
    """
    url = site("offline.html", body)
    # Playwright hands over the page and the script (a real browser would have them cached),
    # so that the page can reload while the browser is offline.
    html = html_page(body)
    # A page Playwright fulfils has no address, so Chromium treats it as public and asks
    # before it reaches the loopback API (Local Network Access); a customer's public site
    # calling a public PackEdge server needs no such permission.
    context.grant_permissions(["local-network-access"])
    context.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    context.route(sdk_url, lambda route: route.fulfill(path=SDK_DIR / "packedge.js", content_type="text/javascript"))
    page.goto(url)

    context.set_offline(True)
    assert page.evaluate("navigator.onLine") is False
    assert page.evaluate("[1, 2, 3].map((n) => packedge.track('offline_' + n, {n: n}))") == [True, True, True]
    page.wait_for_timeout(600)
    page.reload()  # pagehide while offline: nothing beaconed, the queue stays in localStorage
    page.wait_for_function("packedge.stats().queued === 3")  # adopted by the new page
    assert page.evaluate("packedge.track('offline_4')") is True
    page.wait_for_timeout(600)
    assert Event.objects.count() == 0

    context.set_offline(False)  # the `online` event resumes the sending
    wait_for_events(product, 4)
    page.wait_for_function("packedge.stats().queued === 0")
    page.wait_for_timeout(500)
    events = list(Event.objects.filter(product=product).order_by("id"))
    assert sorted(e.event for e in events) == ["offline_1", "offline_2", "offline_3", "offline_4"]
    assert len({e.uuid for e in events}) == 4
    assert [e.domain for e in events] == ["127.0.0.1"] * 4
    assert page.errors == []


def test_a_batch_whose_answer_was_lost_is_sent_again_and_counted_once(page, live_server, site, product):
    """The first request reaches the server and is stored, but the page sees a network error."""
    attempts: list[str] = []

    def lose_first_answer(route):
        attempts.append(route.request.post_data or "")
        response = route.fetch()  # the server stores the batch...
        if len(attempts) == 1:
            route.abort("connectionreset")  # ...and the answer never reaches the page
        else:
            route.fulfill(response=response)

    page.context.route(f"{live_server.url}{BATCH_PATH}", lose_first_answer)
    url = site(
        "retry.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ flushInterval: 100, retryBaseDelay: 200 }});
          packedge.track("export_pdf");
          packedge.track("export_csv");
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_function("packedge.stats().queued === 0", timeout=10000)
    assert len(attempts) == 2
    assert attempts[0] == attempts[1]  # the same events, the same uuids
    events = list(Event.objects.filter(product=product))
    assert sorted(e.event for e in events) == ["export_csv", "export_pdf"]


def test_a_rate_limited_page_waits_for_retry_after_and_each_event_is_stored_once(
    page, live_server, site, product, settings
):
    # One request per 3 s: of three requests sent within a moment, two share a window, so one is refused.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ingest": "1/3s"}
    statuses: list[int] = []
    page.on(
        "response", lambda response: statuses.append(response.status) if response.url.endswith(BATCH_PATH) else None
    )
    url = site(
        "limited.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ maxBatchEvents: 1 }});  // one request per event
          ["first", "second", "third"].forEach((name) => packedge.track(name));
        </script>
        """,
    )
    page.goto(url)
    page.wait_for_function("packedge.stats().queued === 0", timeout=20000)
    assert 429 in statuses
    # Written only when the SDK could read the header: the server exposes it to other origins.
    assert page.evaluate("Number(localStorage.getItem('packedge:retry-at:v1'))") > 0
    events = list(Event.objects.filter(product=product))
    assert sorted(e.event for e in events) == ["first", "second", "third"]


def test_two_tabs_sharing_the_queue_send_each_event_once(page, live_server, site, product):
    url = site(
        "tabs.html",
        f"""
        <script src="{live_server.url}/static/sdk/packedge.js"></script>
        <script>packedge.init("{product.public_key}", {{ flushInterval: 300 }});</script>
        """,
    )
    requests: list[str] = []
    page.context.on("request", lambda r: requests.append(r.post_data or "") if r.url.endswith(BATCH_PATH) else None)
    first = page
    second = page.context.new_page()
    first.goto(url)
    second.goto(url)
    first.evaluate("for (let i = 0; i < 5; i++) packedge.track('first_tab_' + i)")
    second.evaluate("for (let i = 0; i < 5; i++) packedge.track('second_tab_' + i)")
    events = wait_for_events(product, 10)
    first.wait_for_function("packedge.stats().queued === 0")
    first.wait_for_timeout(1000)  # room for a double send to show up
    assert len(Event.objects.filter(product=product)) == 10
    sent_uuids = [uuid for body in requests for uuid in _uuids(body)]
    assert len(sent_uuids) == len(set(sent_uuids)) == 10  # no event went out twice
    assert len(events) == 10


def _uuids(body: str) -> list[str]:
    return [event["uuid"] for event in json.loads(body)["events"]]


def test_with_the_api_down_the_page_shows_no_error(page, site, product):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # closed again before the page loads: nothing listens there
    url = site(
        "down.html",
        f"""
        <script src="./sdk/packedge.js"></script>
        <script>
          packedge.init("{product.public_key}", {{ endpoint: "http://127.0.0.1:{dead_port}", flushInterval: 50 }});
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
    page.wait_for_timeout(1500)  # the first send and its first retry fail
    assert page.evaluate("window.results") == [True, False, False, False, True, False]
    assert page.evaluate("packedge.stats().queued") == 2  # kept for later, not lost
    # Chromium itself logs each refused connection to the console; those lines are the
    # browser's network log, not errors of the page. Anything else (an uncaught exception) fails.
    network_log = [e for e in page.errors if e == "Failed to load resource: net::ERR_CONNECTION_REFUSED"]
    assert network_log, "the SDK should have tried to reach the API"
    assert [e for e in page.errors if e not in network_log] == []
    assert Event.objects.count() == 0
