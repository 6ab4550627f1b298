"""What every benchmark suite shares: a dedicated PostgreSQL database, a
production server (gunicorn), timing helpers, and the results table.

A suite is a module ``bench/<name>.py`` with ``run(ctx: BenchContext) -> list[Result]``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

# One harness for the benchmark, the live tests and the cluster tests (ports and processes).
from tests.live.servers import unused_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = ROOT / "bench" / "results.json"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@dataclass
class Result:
    id: str  # P1 … P9
    what: str
    target: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    ratio: float | None = None
    passed: bool = False
    note: str = ""


@dataclass
class BenchContext:
    events: int = int(os.environ.get("BENCH_EVENTS", "1000000"))
    database_name: str = os.environ.get("BENCH_DB", "packedge_bench")
    seed: int = int(os.environ.get("BENCH_SEED", "42"))
    workers: int = int(os.environ.get("BENCH_WORKERS", "4"))
    # gunicorn gthread threads per worker: BENCH_THREADS (4).
    database_url: str = ""
    extra: dict = field(default_factory=dict)

    def database_url_for(self, name: str) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def timed(fn, *, repeat: int) -> list[float]:
    """Milliseconds for each of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def recreate_database(ctx: BenchContext) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{ctx.database_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{ctx.database_name}"')
    ctx.database_url = ctx.database_url_for(ctx.database_name)
    return ctx.database_url


def setup_django(ctx: BenchContext) -> None:
    os.environ["DATABASE_URL"] = ctx.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def free_port() -> int:
    if os.environ.get("BENCH_PORT"):  # a shared machine may assign each user a port range
        return int(os.environ["BENCH_PORT"])
    return unused_port()


@contextmanager
def server(
    ctx: BenchContext,
    *,
    workers: int | None = None,
    threads: int | None = None,
    env: dict | None = None,
    label: str = "server",
):
    """Gunicorn serving the app on a free port; yields its base URL.

    On exit it records the peak resident memory of its processes in
    ``ctx.extra["rss_peaks"]`` (label → MB), which P9 reads.
    """
    port = free_port()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    process_env = _server_env(ctx, env)
    log = open(ROOT / "bench" / "server.log", "ab")
    process = subprocess.Popen(
        [
            gunicorn,
            "packedge.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers or ctx.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads or os.environ.get("BENCH_THREADS", "4")),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=process_env,
        stdout=log,
        stderr=log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, see="bench/server.log")
        ctx.extra["server_pids"] = _worker_pids(process.pid)
        yield base_url
    finally:
        _stop(ctx, process, label)
        log.close()


@contextmanager
def capture_server(ctx: BenchContext, *, workers: int, env: dict | None = None, label: str = "capture"):
    """The capture server (``packedge.capture`` on uvicorn, httptools, uvloop) on a free port; yields its base URL.

    It serves ``POST /public/v1/event`` only. Like :func:`server`, it records its processes
    in ``ctx.extra["server_pids"]`` (the CPU meter reads them) and its peak memory.
    """
    port = free_port()
    process_env = _server_env(ctx, env)
    log_path = ROOT / "bench" / "capture.log"
    log = open(log_path, "wb")
    command = [sys.executable, "manage.py", "capture", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers), "--log-level", "info"],
        cwd=ROOT,
        env=process_env,
        stdout=log,
        stderr=log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        # uvicorn's supervisor listens before its workers have imported Django: wait for each
        # worker's start-up, so that P4's window (and its CPU per request) holds no boot.
        deadline = time.monotonic() + 120
        while log_path.read_bytes().count(b"Application startup complete") < workers:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the capture server's workers did not start (see bench/capture.log)")
            time.sleep(0.2)
        wait_for_port(port, see="bench/capture.log")
        ctx.extra["server_pids"] = _worker_pids(process.pid)
        yield base_url
    finally:
        _stop(ctx, process, label)
        log.close()


def _server_env(ctx: BenchContext, env: dict | None) -> dict:
    """A bench server's environment: the bench database, production settings, the bench's cache."""
    return {
        **os.environ,
        "DATABASE_URL": ctx.database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret"),
        "DEBUG": "0",
        "CONN_MAX_AGE": "600",
        **_cache_env(),
        **(env or {}),
    }


def _stop(ctx: BenchContext, process: subprocess.Popen, label: str) -> None:
    """Record the server's peak resident memory under ``label`` (P9 reads it), then stop it."""
    peak = max_rss_mb(_worker_pids(process.pid))
    peaks = ctx.extra.setdefault("rss_peaks", {})
    peaks[label] = max(peak, peaks.get(label, 0.0))
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# The README's production setting: Redis shares rate limits across the server's processes.
DEFAULT_BENCH_CACHE_URL = "redis://127.0.0.1:6379/0"


def bench_cache_url() -> str:
    """BENCH_CACHE_URL ('' or 'none': each process its own cache); by default local Redis when it answers."""
    url = os.environ.get("BENCH_CACHE_URL")
    if url is not None:
        return "" if url in ("", "none") else url
    try:
        import redis

        redis.Redis.from_url(DEFAULT_BENCH_CACHE_URL, socket_timeout=1).ping()
    except Exception:
        print(f"  (no Redis at {DEFAULT_BENCH_CACHE_URL}: the servers use per-process caches)")
        return ""
    return DEFAULT_BENCH_CACHE_URL


def _cache_env() -> dict:
    url = bench_cache_url()
    return {"CACHE_URL": url} if url else {}


def _worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return [master_pid, *map(int, children.read_text().split())]
    except OSError:
        return [master_pid]


def max_rss_mb(pids: list[int]) -> float:
    """The largest resident set among ``pids``, in MB (from /proc, VmHWM = peak)."""
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def print_table(results: list[Result]) -> None:
    header = f"{'#':<4} {'what':<52} {'target':<26} {'figure':>14} {'baseline':>14} {'ratio':>9}  result"
    print(header)
    print("-" * len(header))
    for r in results:
        figure = f"{r.figure:,.1f} {r.unit}"
        baseline = f"{r.baseline:,.1f}" if r.baseline is not None else "-"
        ratio = f"{r.ratio:,.1f}x" if r.ratio is not None else "-"
        print(
            f"{r.id:<4} {r.what[:52]:<52} {r.target[:26]:<26} {figure:>14} {baseline:>14} {ratio:>9}  {'PASS' if r.passed else 'FAIL'}"
        )
        if r.note:
            print(f"     {r.note}")


def write_results(ctx: BenchContext, results: list[Result]) -> None:
    payload = {
        "events": ctx.events,
        "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wallSeconds": ctx.extra.get("wall_seconds", {}),
        "results": [asdict(r) for r in results],
    }
    RESULTS_PATH.write_text(json.dumps(payload, indent=2))


def server_pids(ctx: BenchContext) -> list[int]:
    # Read now, not at start-up: gunicorn may still have been forking workers when its port opened.
    return _worker_pids(ctx.extra["server_pids"][0])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the server processes: a figure the other tenants of the machine cannot inflate."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return total
