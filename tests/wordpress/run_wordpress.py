"""The PHP SDK inside a real WordPress: Debian's `wordpress` package, MariaDB, PHP's built-in server.

Steps (each bounded by a timeout; every process started here is stopped on exit):

1. a fresh PackEdge: a temporary SQLite database, migrated; an organization on a paid plan and its
   API key (`manage.py create_api_key`), a product and a license through the /v1 API; gunicorn
   on 127.0.0.1:PACKEDGE_PORT (8172);
2. a fresh MariaDB database and user (WP_DB, default wp_e2e_<pid>), a Debian host config
   /etc/wordpress/config-packedge-e2e-<pid>.php and a temporary wp-content holding the test plugin
   (tests/wordpress/plugin/, with a copy of sdk/php/src/PackEdge.php, as a vendor bundles it);
3. `php -S 127.0.0.1:WP_PORT (8171) -t /usr/share/wordpress`; the site installed over HTTP
   (wp-admin/install.php?step=2), an admin signed in, the plugin activated from the Plugins screen
   (product.installed);
4. page views that use known features, some without a license key, then the plugin deactivated
   through the feedback form's link with a reason and a text (product.uninstalled);
5. checks, through PackEdge's /v1 API: Feature Usage counts exactly the features the pages used
   (events, licenses and domains per feature, totals); the lifecycle events are stored with the
   site, the license, env {php, wp} and the plugin list (read with `manage.py shell`, since no
   /v1 endpoint lists raw events); when the server has Installs analytics (issue 21 item 1), its
   answer after the uninstall and after a re-activation (totals, reasons, feedback, time to
   uninstall, environment, sites per license);
6. the added time per page view (median of 9) with PackEdge up, down (connection refused) and slow
   (accepts, never answers), printed for docs/php-sdk.md.

Needs root (it writes /etc/wordpress), Debian's wordpress, php-cli, php-mysql, php-curl and a
MariaDB at 127.0.0.1:3306 answering root without a password (.ci/steps/41-wordpress.sh provides
them). Exit status 0 when every check holds. Not collected by pytest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
WP_PORT = int(os.environ.get("WP_PORT", "8171"))
PACKEDGE_PORT = int(os.environ.get("PACKEDGE_PORT", "8172"))
WP_DB = os.environ.get("WP_DB", f"wp_e2e_{os.getpid()}")
WP_ROOT = Path("/usr/share/wordpress")
WP_CONFIG_NAME = f"packedge-e2e-{os.getpid()}"
WP_CONFIG_FILE = Path(f"/etc/wordpress/config-{WP_CONFIG_NAME}.php")
# How to reach MariaDB as root (the CI step falls back to the socket when root needs it).
MYSQL = ["mysql", *os.environ.get("WP_MYSQL_ARGS", "-h 127.0.0.1 -P 3306 -u root").split()]
WP_URL = f"http://127.0.0.1:{WP_PORT}"
PACKEDGE_URL = f"http://127.0.0.1:{PACKEDGE_PORT}"
LICENSE_KEY = "E2EPLUGIN-0001-AAAA"
ADMIN_PASSWORD = "e2e-Admin-password-1"
TIMEOUT = 30  # seconds, any one HTTP request of this script
CHROMIUM = "/usr/bin/chromium"

# The page views: the features each one uses, and whether the site sends its license key.
# Hand-counted: export 5 (all licensed), import 3 (2 licensed: the 5th page has no key), pdf 1.
PAGES = [
    ("export", True),
    ("export,import", True),
    ("export,import,pdf", True),
    ("export", True),
    ("import", False),
    ("export", True),
]
EXPECTED_FEATURES = {
    "export": {"events": 5, "licenses": 1, "domains": 1},
    "import": {"events": 3, "licenses": 1, "domains": 1},
    "pdf": {"events": 1, "licenses": 1, "domains": 1},
}
EXPECTED_EVENTS = 9
REASON = "found_better"
FEEDBACK = "Missing a CSV export — switched to another plugin."


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def equal(self, what: str, actual, expected) -> None:
        if actual == expected:
            say(f"ok   {what}: {actual!r}")
        else:
            say(f"FAIL {what}: {actual!r} != expected {expected!r}")
            self.failures.append(what)


check = Checks()


# ---------------------------------------------------------------- processes


class Processes:
    """Everything this script starts, each in its own process group, stopped on exit."""

    def __init__(self, log: Path) -> None:
        self.running: dict[str, subprocess.Popen] = {}
        self.log = open(log, "ab")

    def start(self, name: str, argv: list[str], env: dict, cwd: Path = ROOT) -> None:
        self.running[name] = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)
        self.log.close()


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def run(argv: list[str], *, env: dict | None = None, input: str | None = None, timeout: float = 120) -> str:
    result = subprocess.run(
        argv, cwd=ROOT, env=env, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


# ---------------------------------------------------------------- PackEdge


def packedge_env(workdir: Path) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'packedge.sqlite3'}",
        "CACHE_URL": "locmemcache://wordpress-e2e",
        "CELERY_BROKER_URL": "",
        "SECRET_KEY": "wordpress-e2e-secret",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


def start_packedge(processes: Processes, env: dict) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(PYTHON).parent)) or "gunicorn"
    processes.start(
        "packedge",
        [gunicorn, "packedge.wsgi:application", "--bind", f"127.0.0.1:{PACKEDGE_PORT}", "--workers", "1"]
        + ["--worker-class", "gthread", "--threads", "4", "--log-level", "warning", "--graceful-timeout", "5"],
        env,
    )
    wait_for_port(PACKEDGE_PORT)


def setup_packedge(processes: Processes, workdir: Path) -> dict:
    env = packedge_env(workdir)
    run([PYTHON, "manage.py", "migrate", "--no-input", "-v0"], env=env, timeout=300)
    output = run([PYTHON, "manage.py", "create_api_key", "wordpress-e2e", "--create-org", "--plan", "pro"], env=env)
    api_key = output.strip().splitlines()[-1]
    start_packedge(processes, env)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_key}"
    product = api.post(f"{PACKEDGE_URL}/v1/products", json={"name": "E2E Plugin"}, timeout=TIMEOUT)
    product.raise_for_status()
    product = product.json()["data"]
    license_ = api.post(
        f"{PACKEDGE_URL}/v1/products/{product['id']}/licenses",
        json={"key": LICENSE_KEY, "customerEmail": "customer@example.com"},
        timeout=TIMEOUT,
    )
    license_.raise_for_status()
    say(f"PackEdge on {PACKEDGE_URL}: product {product['id']} ({product['publicKey']}), license {LICENSE_KEY}")
    return {"env": env, "api": api, "product": product, "license": license_.json()["data"]}


def lifecycle_events(env: dict, product_id: str) -> list[dict]:
    """The product's system events, read from the database (no /v1 endpoint lists raw events)."""
    code = (
        "import json\n"
        "from events.models import Event\n"
        f"rows = Event.objects.filter(product__public_id={product_id!r}, is_system=True).order_by('id')\n"
        "print(json.dumps([{'event': e.event, 'properties': e.properties, 'domain': e.domain,"
        " 'license': e.license.key if e.license_id else None, 'uuid': e.uuid} for e in rows]))\n"
    )
    output = run([PYTHON, "manage.py", "shell", "-c", code], env=env)
    return json.loads(output.strip().splitlines()[-1])


# ---------------------------------------------------------------- WordPress


def setup_database() -> None:
    password = "e2e-db-password"
    statements = [
        f"DROP DATABASE IF EXISTS `{WP_DB}`",
        f"CREATE DATABASE `{WP_DB}` CHARACTER SET utf8mb4",
    ]
    for host in ("127.0.0.1", "localhost"):
        statements += [
            f"CREATE USER IF NOT EXISTS '{WP_DB}'@'{host}' IDENTIFIED BY '{password}'",
            f"GRANT ALL PRIVILEGES ON `{WP_DB}`.* TO '{WP_DB}'@'{host}'",
        ]
    run(MYSQL, input=";\n".join(statements) + ";\n", timeout=60)
    say(f"MariaDB database and user {WP_DB}")


def drop_database() -> None:
    statements = [f"DROP DATABASE IF EXISTS `{WP_DB}`"] + [
        f"DROP USER IF EXISTS '{WP_DB}'@'{host}'" for host in ("127.0.0.1", "localhost")
    ]
    subprocess.run(MYSQL, input=";\n".join(statements) + ";\n", text=True, timeout=60, check=False)


def setup_wordpress(workdir: Path, product: dict) -> Path:
    content = workdir / "wp-content"
    plugin = content / "plugins" / "packedge-e2e"
    plugin.mkdir(parents=True)
    (content / "uploads").mkdir()
    (content / "themes").symlink_to(WP_ROOT / "wp-content" / "themes")
    shutil.copy(ROOT / "tests" / "wordpress" / "plugin" / "packedge-e2e.php", plugin)
    shutil.copy(ROOT / "sdk" / "php" / "src" / "PackEdge.php", plugin)
    # Another plugin, active before ours: the `plugins` list of product.installed names it.
    other = content / "plugins" / "other-plugin"
    other.mkdir()
    (other / "other-plugin.php").write_text("<?php\n/**\n * Plugin Name: Other Plugin\n */\n")
    config = {
        "publicKey": product["publicKey"],
        "endpoint": PACKEDGE_URL,
        "licenseKey": LICENSE_KEY,
        "timingLog": str(workdir / "send-times.log"),
    }
    (plugin / "config.php").write_text("<?php\nreturn " + php_array(config) + ";\n")
    salts = "".join(
        f"define('{name}', '{os.urandom(24).hex()}');\n"
        for name in ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY")
        + ("AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")
    )
    WP_CONFIG_FILE.parent.mkdir(parents=True, exist_ok=True)
    WP_CONFIG_FILE.write_text(
        "<?php\n"
        f"define('DB_NAME', '{WP_DB}');\n"
        f"define('DB_USER', '{WP_DB}');\n"
        "define('DB_PASSWORD', 'e2e-db-password');\n"
        "define('DB_HOST', '127.0.0.1:3306');\n"
        f"define('WP_CONTENT_DIR', '{content}');\n"
        f"define('WP_HOME', '{WP_URL}');\n"
        f"define('WP_SITEURL', '{WP_URL}');\n"
        # No network on CI: WordPress may only call its own host (127.0.0.1, where PackEdge also is).
        "define('WP_HTTP_BLOCK_EXTERNAL', true);\n"
        # WP-Cron's loopback request would queue behind the page on the single-threaded server.
        "define('DISABLE_WP_CRON', true);\n"
        "define('AUTOMATIC_UPDATER_DISABLED', true);\n"
        "define('WP_DEBUG', true);\n"
        "define('WP_DEBUG_DISPLAY', false);\n"
        "define('WP_DEBUG_LOG', " + repr(str(workdir / "wp-debug.log")) + ");\n" + salts
    )
    return content


def php_array(values: dict) -> str:
    items = ", ".join(f"{json.dumps(key)} => {json.dumps(value)}" for key, value in values.items())
    return f"[{items}]"


def start_wordpress(processes: Processes) -> None:
    env = {**os.environ, "WORDPRESS_CONFIG": WP_CONFIG_NAME}
    router = ROOT / "tests" / "wordpress" / "router.php"
    processes.start("wordpress", ["php", "-S", f"127.0.0.1:{WP_PORT}", "-t", str(WP_ROOT), str(router)], env)
    wait_for_port(WP_PORT)


def install_wordpress() -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{WP_URL}/wp-admin/install.php", timeout=TIMEOUT)
    page.raise_for_status()
    done = browser.post(
        f"{WP_URL}/wp-admin/install.php?step=2",
        data={
            "weblog_title": "PackEdge E2E",
            "user_name": "admin",
            "admin_password": ADMIN_PASSWORD,
            "admin_password2": ADMIN_PASSWORD,
            "pw_weak": "1",
            "admin_email": "admin@example.com",
            "blog_public": "0",
            "language": "",
            "Submit": "Install WordPress",
        },
        timeout=120,
    )
    done.raise_for_status()
    if "Success!" not in done.text:
        raise RuntimeError(f"WordPress install did not succeed: {done.text[:2000]}")
    browser.get(f"{WP_URL}/wp-login.php", timeout=TIMEOUT)  # sets the test cookie
    signed_in = browser.post(
        f"{WP_URL}/wp-login.php",
        data={"log": "admin", "pwd": ADMIN_PASSWORD, "wp-submit": "Log In", "testcookie": "1"}
        | {"redirect_to": f"{WP_URL}/wp-admin/"},
        timeout=TIMEOUT,
    )
    signed_in.raise_for_status()
    if not any(cookie.name.startswith("wordpress_logged_in_") for cookie in browser.cookies):
        raise RuntimeError(f"could not sign in to WordPress: {signed_in.text[:1000]}")
    say(f"WordPress installed and signed in at {WP_URL}")
    return browser


def plugin_link(browser: requests.Session, action: str, plugin: str = "packedge-e2e") -> tuple[str, str]:
    """The Plugins screen's activate/deactivate link for a plugin (the test plugin), and the screen's HTML."""
    page = browser.get(f"{WP_URL}/wp-admin/plugins.php", timeout=TIMEOUT)
    page.raise_for_status()
    for href in re.findall(r'href="([^"]+)"', page.text):
        href = href.replace("&amp;", "&")
        if f"action={action}&" in href and f"plugin={plugin}%2F{plugin}.php" in href:
            return urllib.parse.urljoin(f"{WP_URL}/wp-admin/", href), page.text
    raise RuntimeError(f"no {action} link for {plugin} on the Plugins screen")


def wp_version() -> str:
    source = (WP_ROOT / "wp-includes" / "version.php").read_text()
    return re.search(r"\$wp_version = '([^']+)'", source).group(1)


def php_version() -> str:
    return run(["php", "-r", "echo PHP_VERSION;"]).strip()


def deactivate_with_feedback(browser: requests.Session, artifacts: Path) -> None:
    """Deactivate the plugin through its feedback form: in Chromium when there is one, else as its script would."""
    link, screen = plugin_link(browser, "deactivate")
    check.equal("the feedback form is on the Plugins screen", 'name="packedge_feedback"' in screen, True)
    if not Path(CHROMIUM).exists():
        say(f"(no {CHROMIUM}: deactivating through the link the form's script builds)")
        link += "&" + urllib.parse.urlencode({"packedge_reason": REASON, "packedge_feedback": FEEDBACK})
        deactivated = browser.get(link, timeout=TIMEOUT)
        deactivated.raise_for_status()
        check.equal("plugin deactivated", "Plugin deactivated." in deactivated.text, True)
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT * 1000)
            page.goto(f"{WP_URL}/wp-login.php")
            page.fill("#user_login", "admin")
            page.fill("#user_pass", ADMIN_PASSWORD)
            page.click("#wp-submit")
            page.wait_for_url("**/wp-admin/**")
            page.goto(f"{WP_URL}/wp-admin/plugins.php")
            page.click('tr[data-plugin="packedge-e2e/packedge-e2e.php"] .deactivate a')
            dialog = page.locator("[id^=packedge-feedback-] form")
            dialog.wait_for(state="visible")
            dialog.locator(f"input[value={REASON}]").check()
            dialog.locator("textarea[name=packedge_feedback]").fill(FEEDBACK)
            page.screenshot(path=str(artifacts / "wordpress-feedback-form.png"))
            dialog.locator("button[type=submit]").click()
            page.wait_for_url("**/plugins.php?deactivate=true*")
            check.equal(
                "plugin deactivated (through the form, in Chromium)", "Plugin deactivated." in page.content(), True
            )
        finally:
            chromium.close()


def installs_answer(api: requests.Session, product_id: str, ready) -> dict | None:
    """The Installs answer once `ready(answer)` holds (sends are non-blocking), or None without the endpoint."""
    deadline = time.monotonic() + 30
    while True:
        response = api.get(f"{PACKEDGE_URL}/v1/products/{product_id}/analytics/installs", timeout=TIMEOUT)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        answer = response.json()["data"]
        if ready(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def check_installs_after_uninstall(api: requests.Session, product_id: str) -> bool:
    """Installs analytics (issue 21 item 1), when this server has it: one install, then its uninstall."""
    answer = installs_answer(api, product_id, lambda data: data["totals"]["uninstalls"] >= 1)
    if answer is None:
        say("(no Installs endpoint on this server: lifecycle events checked in the database only)")
        return False
    check.equal(
        "Installs: active now",
        (answer["activeInstalls"], answer["activeLicensed"], answer["activeUnlicensed"]),
        (0, 0, 0),
    )
    check.equal(
        "Installs: totals",
        answer["totals"],
        {"installs": 1, "licensedInstalls": 1, "unlicensedInstalls": 0, "uninstalls": 1, "net": 0},
    )
    check.equal(
        "Installs: uninstall reasons",
        answer["uninstallReasons"],
        [{"reason": REASON, "uninstalls": 1, "withFeedback": 1}],
    )
    check.equal(
        "Installs: time to uninstall",
        {key: answer["timeToUninstall"][key] for key in ("uninstalls", "installSeen", "medianDays")},
        {"uninstalls": 1, "installSeen": 1, "medianDays": 0},
    )
    feedback = api.get(f"{PACKEDGE_URL}/v1/products/{product_id}/analytics/installs/feedback", timeout=TIMEOUT)
    feedback.raise_for_status()
    check.equal(
        "Installs: the feedback",
        [
            (row["site"], row["licenseKey"], row["reason"], row["feedback"], row["daysInstalled"])
            for row in feedback.json()["data"]["results"]
        ],
        [("127.0.0.1", LICENSE_KEY, REASON, FEEDBACK, 0)],
    )
    return True


def check_installs_after_reinstall(api: requests.Session, world: dict) -> None:
    answer = installs_answer(api, world["product"]["id"], lambda data: data["activeInstalls"] >= 1)
    check.equal("Installs after re-activation: active now", answer["activeInstalls"], 1)
    check.equal(
        "Installs after re-activation: totals",
        answer["totals"],
        {"installs": 2, "licensedInstalls": 2, "unlicensedInstalls": 0, "uninstalls": 1, "net": 1},
    )
    check.equal(
        "Installs: environment of the active install",
        answer["environment"],
        {
            "php": [{"version": php_version(), "sites": 1}],
            "wp": [{"version": wp_version(), "sites": 1}],
            "plugins": [{"plugin": "other-plugin", "sites": 1}],
        },
    )
    check.equal(
        "Installs: sites per license",
        [(row["licenseKey"], row["sites"]) for row in answer["licenses"]],
        [(LICENSE_KEY, 1)],
    )


# ---------------------------------------------------------------- timing


class SilentServer:
    """Accepts connections and never answers: a PackEdge too slow to matter."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while not self.stopped:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for connection in self.held:
            connection.close()


def page_time(url: str, runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        requests.get(url, timeout=TIMEOUT).raise_for_status()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def send_time(log: Path, runs: int = 9) -> float:
    """The SDK's send inside WordPress, timed by the test plugin around `send()` (median)."""
    log.write_text("")
    for _ in range(runs):
        requests.get(f"{WP_URL}/?packedge_features=export&packedge_measure=1", timeout=TIMEOUT).raise_for_status()
    return statistics.median(float(line) for line in log.read_text().split())


def measure(processes: Processes, workdir: Path) -> dict:
    """Seconds: the send alone (timed inside WordPress) and whole page views, PackEdge up, down and slow."""
    log = workdir / "send-times.log"
    with_sdk = f"{WP_URL}/?packedge_features=export"
    without = f"{WP_URL}/?packedge_none=1"
    page_time(without, runs=2)  # warm up
    figures = {"send": {"up": send_time(log)}, "page": {"baseline": page_time(without), "up": page_time(with_sdk)}}
    processes.stop("packedge")
    figures["send"]["down"] = send_time(log)
    figures["page"]["down"] = page_time(with_sdk)
    silent = SilentServer(PACKEDGE_PORT)
    try:
        figures["send"]["slow"] = send_time(log)
        figures["page"]["slow"] = page_time(with_sdk)
    finally:
        silent.close()
    page = figures["page"]
    say(
        "the SDK's send inside WordPress (median of 9): "
        + ", ".join(f"PackEdge {name} {seconds * 1000:.2f} ms" for name, seconds in figures["send"].items())
    )
    say(
        f"whole page views (median of 9): {page['baseline'] * 1000:.0f} ms without tracking; with it: "
        + ", ".join(f"PackEdge {name} {page[name] * 1000:.0f} ms" for name in ("up", "down", "slow"))
    )
    return figures


# ---------------------------------------------------------------- the test


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: this writes /etc/wordpress/config-*.php", file=sys.stderr)
        return 2
    for port in (WP_PORT, PACKEDGE_PORT):
        if not port_free(port):
            print(f"port {port} is in use", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="packedge-wp-"))
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    processes = Processes(artifacts / "wordpress.log")
    try:
        world = setup_packedge(processes, workdir)
        product_id = world["product"]["id"]
        setup_database()
        setup_wordpress(workdir, world["product"])
        start_wordpress(processes)
        browser = install_wordpress()

        link, _ = plugin_link(browser, "activate", "other-plugin")
        browser.get(link, timeout=TIMEOUT).raise_for_status()
        link, _ = plugin_link(browser, "activate")
        activated = browser.get(link, timeout=TIMEOUT)
        activated.raise_for_status()
        check.equal("plugin activated", "Plugin activated." in activated.text, True)

        for features, licensed in PAGES:
            query = {"packedge_features": features} | ({} if licensed else {"packedge_license": "0"})
            requests.get(f"{WP_URL}/?{urllib.parse.urlencode(query)}", timeout=TIMEOUT).raise_for_status()
        requests.get(f"{WP_URL}/", timeout=TIMEOUT).raise_for_status()  # no feature: no event
        say(f"{len(PAGES)} page views with features, one without")

        deactivate_with_feedback(browser, artifacts)

        # Sends are non-blocking: wait (bounded) until every event has arrived.
        api = world["api"]
        usage_url = f"{PACKEDGE_URL}/v1/products/{product_id}/analytics/feature-usage"
        deadline = time.monotonic() + 30
        while True:
            usage = api.get(usage_url, timeout=TIMEOUT)
            usage.raise_for_status()
            usage = usage.json()["data"]
            events = lifecycle_events(world["env"], product_id)
            if (usage["totals"]["events"] >= EXPECTED_EVENTS and len(events) >= 2) or time.monotonic() > deadline:
                break
            time.sleep(0.5)

        check.equal(
            "Feature Usage per feature",
            {
                row["name"]: {"events": row["events"], "licenses": row["licenses"], "domains": row["domains"]}
                for row in usage["topFeatures"]
            },
            EXPECTED_FEATURES,
        )
        check.equal(
            "Feature Usage totals",
            usage["totals"],
            {"events": 9, "uniqueFeatures": 3, "uniqueLicenses": 1, "uniqueDomains": 1, "activeLicenses": 1},
        )
        check.equal(
            "adoption per feature (the one active license uses all three)",
            {row["name"]: row["adoptionPct"] for row in usage["topFeatures"]},
            {"export": 100.0, "import": 100.0, "pdf": 100.0},
        )
        check.equal("top domains", usage["topDomains"], [{"domain": "127.0.0.1", "events": 9}])
        check.equal(
            "top licenses",
            [(row["customerEmail"], row["events"], row["features"]) for row in usage["topLicenses"]],
            [("customer@example.com", 8, 3)],
        )

        check.equal(
            "lifecycle events", [event["event"] for event in events], ["product.installed", "product.uninstalled"]
        )
        if len(events) == 2:
            installed, uninstalled = events
            env = {
                "php": php_version(),
                "wp": wp_version(),
                "sdk": installed["properties"]["env"].get("sdk"),
                "plugin": "1.0.0",
            }
            check.equal("installed: env", installed["properties"]["env"], env)
            check.equal("installed: plugins", installed["properties"]["plugins"], ["other-plugin"])
            check.equal(
                "installed: site and license", (installed["domain"], installed["license"]), ("127.0.0.1", LICENSE_KEY)
            )
            check.equal(
                "uninstalled: reason and feedback",
                (uninstalled["properties"].get("reason"), uninstalled["properties"].get("feedback")),
                (REASON, FEEDBACK),
            )
            check.equal("uninstalled: env", uninstalled["properties"]["env"], env)
            check.equal(
                "uninstalled: site and license",
                (uninstalled["domain"], uninstalled["license"]),
                ("127.0.0.1", LICENSE_KEY),
            )
        has_installs = check_installs_after_uninstall(api, product_id)

        # The timing runs last: it stops PackEdge. The plugin is re-activated for it.
        link, _ = plugin_link(browser, "activate")
        browser.get(link, timeout=TIMEOUT).raise_for_status()
        if has_installs:
            check_installs_after_reinstall(api, world)
        figures = measure(processes, workdir)
        (artifacts / "wordpress-timing.json").write_text(json.dumps(figures, indent=2))
        check.equal("PackEdge down: the send takes under 0.5 s", figures["send"]["down"] < 0.5, True)
        # Under the 1 s that WordPress's cURL transport would wait at least: the send did not wait.
        check.equal("PackEdge slow: the send takes under 0.9 s", figures["send"]["slow"] < 0.9, True)
    finally:
        processes.stop_all()
        WP_CONFIG_FILE.unlink(missing_ok=True)
        if os.environ.get("WP_KEEP") != "1":
            drop_database()
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"kept {workdir} and database {WP_DB}")
    if check.failures:
        say(f"FAILED: {', '.join(check.failures)}")
        return 1
    say("WordPress end-to-end: every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
