"""The stock OpenFeature web SDK and OFREP web provider in Debian's Chromium, from another origin.

The packages (tests/openfeature/web, exact versions in its package-lock.json)
are bundled by esbuild into a page served on one loopback port while the API
answers on another: every request is cross-origin and goes through CORS. The
page evaluates targeting, the rollout split, every type, an unknown and a
disabled flag; then a flag is changed through /v1 twice while the provider
polls, and Playwright's response events count the 304s between the changes.
"""

from __future__ import annotations

import functools
import json
import subprocess
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.openfeature.live import HERE, PORT_BASE, expected_rollout, npm_ci, seeded_server

WEB_DIR = HERE / "web"
POLL_MS = 300
BULK_PATH = "/ofrep/v1/evaluate/flags"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with seeded_server(tmp_path_factory.mktemp("openfeature-web"), PORT_BASE + 1) as live:
        yield live


@pytest.fixture(scope="module")
def customer_origin():
    """The bundle and its page on another port of 127.0.0.1: another origin than the API."""
    npm_ci(WEB_DIR)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=WEB_DIR, check=True, timeout=120)
    handler = functools.partial(QuietHandler, directory=str(WEB_DIR))
    httpd = ThreadingHTTPServer(("127.0.0.1", PORT_BASE + 2), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{PORT_BASE + 2}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def customer_page(browser, customer_origin):
    context = browser.new_context()
    page = context.new_page()
    page.failures = []
    page.on("pageerror", lambda exc: page.failures.append(str(exc)))
    # Every answer to the bulk endpoint, in order: (method, status).
    page.bulk = []
    page.on(
        "response",
        lambda response: page.bulk.append((response.request.method, response.status))
        if response.url.endswith(BULK_PATH)
        else None,
    )
    page.goto(f"{customer_origin}/index.html")
    page.wait_for_function("window.openfeature !== undefined")
    yield page
    context.close()


def put_settings(server, flag_key: str, settings: dict) -> None:
    request = urllib.request.Request(
        server.flag_environment_url(flag_key),
        data=json.dumps(settings).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


START = """async ([baseUrl, key, pollInterval]) => {
  const { OpenFeature, OFREPWebProvider } = window.openfeature;
  await OpenFeature.setContext({ targetingKey: 'u-1', plan: 'pro' });
  await OpenFeature.setProviderAndWait(new OFREPWebProvider({
    baseUrl, headers: [['Authorization', `Bearer ${key}`]], pollInterval, cacheMode: 'disabled',
  }));
  window.client = OpenFeature.getClient();
}"""

DETAILS = """([kind, flag, fallback]) => {
  const d = window.client[`get${kind}Details`](flag, fallback);
  return { value: d.value, variant: d.variant ?? null, reason: d.reason, errorCode: d.errorCode ?? null };
}"""


def details(page, kind: str, flag: str, fallback) -> dict:
    return page.evaluate(DETAILS, [kind, flag, fallback])


def test_the_web_sdk_evaluates_every_case_from_another_origin_and_polls_changes_with_304s(server, customer_page):
    page = customer_page
    page.evaluate(START, [server.url, server.sdk_key, POLL_MS])

    # Targeting on a context attribute; a new context is a new bulk evaluation.
    assert details(page, "Boolean", "new-checkout", False) == {
        "value": True,
        "variant": "on",
        "reason": "TARGETING_MATCH",
        "errorCode": None,
    }
    page.evaluate("() => window.openfeature.OpenFeature.setContext({ targetingKey: 'u-1', plan: 'free' })")
    assert details(page, "Boolean", "new-checkout", True) == {
        "value": False,
        "variant": "off",
        "reason": "DEFAULT",
        "errorCode": None,
    }

    # The rollout: each fixed key is served what the server's bucketing gives it.
    served = page.evaluate(
        """async (keys) => {
          const served = {};
          for (const key of keys) {
            await window.openfeature.OpenFeature.setContext({ targetingKey: key });
            const d = window.client.getStringDetails('checkout-theme', 'none');
            served[key] = d.reason === 'SPLIT' ? d.value : `${d.reason}:${d.errorCode}`;
          }
          return served;
        }""",
        list(expected_rollout()),
    )
    assert served == expected_rollout()

    # Every type, the unknown flag and the disabled one, for one fixed context.
    page.evaluate("() => window.openfeature.OpenFeature.setContext({ targetingKey: 'u-1' })")
    assert details(page, "Number", "max-seats", 0) == {
        "value": 50,
        "variant": "many",
        "reason": "STATIC",
        "errorCode": None,
    }
    assert details(page, "Number", "discount", -1)["value"] == 12.5
    assert details(page, "Object", "limits", {})["value"] == {"projects": 100, "sso": True}
    assert details(page, "String", "checkout-theme", "")["value"] in {"classic-blue", "fresh-green"}
    assert details(page, "Boolean", "max-seats", False) == {
        "value": False,
        "variant": None,
        "reason": "ERROR",
        "errorCode": "TYPE_MISMATCH",
    }
    assert details(page, "Boolean", "no-such-flag", True) == {
        "value": True,
        "variant": None,
        "reason": "ERROR",
        "errorCode": "FLAG_NOT_FOUND",
    }
    assert details(page, "String", "search-engine", "caller-default") == {
        "value": "legacy-search",
        "variant": "legacy",
        "reason": "DISABLED",
        "errorCode": None,
    }
    assert details(page, "Boolean", "live-banner", True)["value"] is False

    # Polling: unchanged flags answer 304 until a change; the page then sees it.
    def polls_since(mark: int) -> list[int]:
        return [status for method, status in page.bulk[mark:] if method == "POST"]

    def wait_for_304s(mark: int, count: int) -> None:
        deadline = time.monotonic() + 20
        while polls_since(mark).count(304) < count:
            assert time.monotonic() < deadline, f"no {count} 304s: {polls_since(mark)}"
            page.wait_for_timeout(POLL_MS)

    # Counted from the first 304: a poll already in flight during the last context change may
    # still carry the previous context's ETag and get a full answer.
    wait_for_304s(0, page.bulk.count(("POST", 304)) + 1)
    mark = len(page.bulk)
    wait_for_304s(mark, 3)
    before_change = polls_since(mark)
    assert set(before_change) == {304}, before_change  # nothing changed: not one 200

    for value in (True, False):
        mark = len(page.bulk)
        changed_at = time.monotonic()
        put_settings(server, "live-banner", {"enabled": True, "defaultVariant": "on" if value else "off"})
        page.wait_for_function(
            "(value) => window.client.getBooleanValue('live-banner', !value) === value", arg=value, timeout=15_000
        )
        seen_after = time.monotonic() - changed_at
        assert seen_after < 10, seen_after
        wait_for_304s(mark, 3)
        after_change = polls_since(mark)
        # Exactly one full answer carries the change; every other re-poll is a 304.
        assert after_change.count(200) == 1, after_change
        assert set(after_change) == {200, 304}, after_change
        assert details(page, "Boolean", "live-banner", not value)["reason"] == "STATIC"
        print(f"live-banner -> {value}: seen after {seen_after:.2f} s; bulk answers since the change {after_change}")
    print(f"re-polls before any change: {before_change}")
    assert page.failures == []


def test_the_web_sdk_with_a_revoked_key_serves_the_callers_defaults(server, customer_page):
    page = customer_page
    started = page.evaluate(
        """async ([baseUrl, key]) => {
          const { OpenFeature, OFREPWebProvider } = window.openfeature;
          await OpenFeature.setContext({ targetingKey: 'u-1', plan: 'pro' });
          try {
            await OpenFeature.setProviderAndWait(new OFREPWebProvider({
              baseUrl, headers: [['Authorization', `Bearer ${key}`]], pollInterval: 0, cacheMode: 'disabled',
            }));
          } catch (error) {
            window.client = OpenFeature.getClient();
            return String(error && (error.name || error.message));
          }
          window.client = OpenFeature.getClient();
          return 'ready';
        }""",
        [server.url, server.revoked_sdk_key],
    )
    # The 403 is an authorization error: the provider fails fatally instead of retrying.
    assert started == "ProviderFatalError"
    assert [status for method, status in page.bulk if method == "POST"] == [403]
    for kind, flag, fallback in [
        ("Boolean", "new-checkout", False),
        ("String", "search-engine", "caller-default"),
        ("Number", "max-seats", -1),
        ("Object", "limits", {"none": True}),
    ]:
        result = details(page, kind, flag, fallback)
        assert (result["value"], result["reason"]) == (fallback, "ERROR"), (flag, result)
        print(f"revoked key, {flag}: {result}; setProviderAndWait: {started}")
        assert result["errorCode"] == "PROVIDER_FATAL", result
