"""Real servers for the tests that need them: a private PostgreSQL cluster and gunicorn, on loopback ports 8400-8499.

The shared PostgreSQL is never stopped: a fault test starts its own cluster
(initdb + pg_ctl under a temporary directory, as the ``postgres`` user when
run as root, because initdb refuses root) and may stop and start it at will.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def unused_port() -> int:
    """A port nothing listens on now, chosen by the kernel: two test runs on one machine never share one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, *, see: str = "") -> None:
    """Until something listens on 127.0.0.1:``port``; ``see`` names the log to read when nothing does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_free(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s" + (f" (see {see})" if see else ""))


def redis_available(url: str) -> bool:
    """Whether a Redis answers at ``url`` within a second (tests that need one skip without it)."""
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


class PrivatePostgres:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.data = directory / "data"
        self.url = f"postgres://postgres@127.0.0.1:{port}/packedge_fault"

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "packedge_fault"]
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} -c fsync=off"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.directory / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )


@contextmanager
def private_postgres(port: int) -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        import pytest

        pytest.skip(f"no PostgreSQL binaries in {PG_BIN}")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="packedge-pg-"))
    directory.chmod(0o755)
    cluster = PrivatePostgres(directory / "cluster", port)
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def private_redis(port: int, directory: Path) -> Iterator[str]:
    """A redis-server of its own on ``port`` (nothing kept on disk), stopped on exit; yields its URL.

    Skips the test when redis-server is missing or the port is taken (never someone else's Redis).
    """
    import pytest

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    if not port_free(port):
        pytest.skip(f"port {port} is taken")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def celery_publishing_to(broker_url: str, **conf) -> Iterator[None]:
    """This process sends tasks to ``broker_url`` (not in-process) for a while, with ``conf`` overrides.

    Afterwards the app's configuration is restored and its connection pools are dropped, not
    only closed, so the next test that publishes opens fresh ones on the restored broker
    (a closed kombu pool refuses every later acquire).
    """
    from kombu import pools

    from packedge.celery import app

    overrides = {"task_always_eager": False, "broker_url": broker_url, **conf}
    saved = {name: app.conf[name] for name in overrides}
    app.conf.update(overrides)
    try:
        yield
    finally:
        app.conf.update(saved)
        pools.reset()
        app._pool = None  # noqa: SLF001
        app.amqp._producer_pool = None  # noqa: SLF001


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    )
    return result.stdout


def migrate(env: dict) -> None:
    """``manage.py migrate`` for a server's database; a SQLite file copies the suite's migrated template
    when a test run made one (tests/sqlite_template.py), which costs a file copy instead of 9 s of CPU."""
    from tests import sqlite_template

    url = env.get("DATABASE_URL", "")
    template = sqlite_template.template_path()
    if url.startswith("sqlite:///") and template.exists() and not Path(url.removeprefix("sqlite://")).exists():
        shutil.copyfile(template, url.removeprefix("sqlite://"))
        return
    manage(env, "migrate", "--no-input", "-v0")


def django_script(env: dict, code: str) -> str:
    """Run Python code with Django set up against ``env``'s database; returns what it printed."""
    prelude = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'packedge.settings'); django.setup()\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", prelude + code], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    )
    return result.stdout


@contextmanager
def gunicorn(env: dict, port: int, *, workers: int = 2, threads: int = 4) -> Iterator[subprocess.Popen]:
    log = open(Path(env.get("GUNICORN_LOG", os.devnull)), "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "packedge.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--graceful-timeout",
            "10",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def capture(env: dict, port: int, *, workers: int = 2) -> Iterator[subprocess.Popen]:
    """The capture server (``manage.py capture``: uvicorn, one event loop per worker process) on ``port``."""
    log = open(Path(env.get("CAPTURE_LOG", os.devnull)), "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [PYTHON, "manage.py", "capture", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
NGINX_SITE = ROOT / "deploy" / "nginx.conf"


def nginx_site(*, port: int, upstream_port: int, capture_port: int | None = None) -> str:
    """deploy/nginx.conf as shipped, listening on loopback ``port`` in front of gunicorn on ``upstream_port``.

    ``capture_port``: the capture server's; by default gunicorn's, which answers ``POST /public/v1/event`` alike.
    """
    site = NGINX_SITE.read_text()
    for shipped, here in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("server 127.0.0.1:8000 backup;", f"server 127.0.0.1:{upstream_port} backup;"),
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{capture_port or upstream_port};"),
    ):
        if site.count(shipped) != 1:
            raise ValueError(f"{NGINX_SITE} no longer has exactly one '{shipped}'")
        site = site.replace(shipped, here)
    return site


@contextmanager
def nginx(
    directory: Path, port: int, *, upstream_port: int, capture_port: int | None = None
) -> Iterator[subprocess.Popen]:
    """nginx (not as a daemon, files under ``directory``) serving deploy/nginx.conf; its log is ``directory``/error.log."""
    (directory / "packedge.conf").write_text(
        nginx_site(port=port, upstream_port=upstream_port, capture_port=capture_port)
    )
    temp = "\n".join(
        f"  {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as nobody, who cannot enter a private temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
        f"http {{\n  access_log off;\n{temp}\n  include {directory / 'packedge.conf'};\n}}\n"
    )
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(directory / "error.log")]
    subprocess.run([*command, "-t", "-q"], check=True, capture_output=True, timeout=30)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, see=str(directory / "error.log"))
        yield process
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_env(**overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update({"SECRET_KEY": "live-test-secret", "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost"})
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env
