"""Feature Usage read throughput: primary only, primary + 1 streaming replica, primary + 2 (docs/SCALING.md).

`python bench/replica_reads.py` builds, on loopback, the replica harness's clusters
(tests/cluster/replica_test.py: a primary and a hot standby from ``pg_basebackup -R``)
plus a second standby made the same way, fills six products with events over the
last week (posted through the batch endpoint, then folded, plus an unfolded tail),
and then, for each setting in turn — primary, 1 replica, 2 replicas, and primary
every setting once more (ROUNDS=2), the same-run check of drift — starts one gunicorn (2 workers × 4 threads)
with ``DATABASE_REPLICA_URL(S)`` set accordingly and lets CLIENTS closed-loop
clients read Feature Usage for DURATION seconds. Reports requests/s, p50/p95
latency, errors, and how many read transactions each database served
(``pg_stat_database.xact_commit``).

Everything runs on the one machine (2 cores here): the clients, gunicorn and the
three PostgreSQL servers share the CPUs, so what a replica adds is bounded by the
CPU the web workers leave; the figures measure that, not a deployment with a
machine per database.

Knobs (environment): BENCH_REPLICA_PORTS (primary, standby, standby 2, web:
18221,18222,18225,18223), BENCH_REDIS_URL (db 2, flushed), DURATION (10 s),
CLIENTS (8), EVENTS (30,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PRIMARY, STANDBY, STANDBY_2, WEB = (
    int(port) for port in os.environ.get("BENCH_REPLICA_PORTS", "18221,18222,18225,18223").split(",")
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
# The harness reads its ports and Redis at import.
os.environ["REPLICA_PORTS"] = f"{PRIMARY},{STANDBY},{WEB},{WEB + 1}"
os.environ["REPLICA_REDIS_URL"] = REDIS_URL

import aiohttp  # noqa: E402

from tests.cluster import replica_test as harness  # noqa: E402
from tests.live.servers import PG_BIN, _as_postgres, wait_for_port  # noqa: E402

DURATION = float(os.environ.get("DURATION", "10"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
EVENTS = int(os.environ.get("EVENTS", "30000"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))  # the three settings, this many times over (drift shows)
STANDBY_2_URL = f"postgres://postgres@127.0.0.1:{STANDBY_2}/{harness.DB}"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def second_standby(root: Path) -> harness.Cluster:
    path = root / "standby2"
    path.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    standby = harness.Cluster(path, STANDBY_2)
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(PRIMARY), "-U", "postgres"]
            + ["-D", str(standby.data), "-R", "-X", "stream", "-c", "fast"]
        ),
        check=True,
        capture_output=True,
    )
    standby.start(*harness.STANDBY_SETTINGS)
    say(f"second hot standby on :{STANDBY_2}")
    return standby


def fill(world: dict) -> None:
    """EVENTS events over the last 6 days through the batch endpoint, folded but for a tail of the last 5 %."""
    import urllib.request

    from analytics.counters import counters_fold_all

    processes = harness.Processes()
    env = {**harness.base_env(), "DATABASE_REPLICA_URL": ""}
    start_web(processes, env)
    now = datetime.now(UTC)
    sent = 0
    tail_from = int(EVENTS * 0.95)
    while sent < EVENTS:
        product = random.choice(world["products"])
        events = []
        for _ in range(200):
            event = random.choice(["export_pdf", "bulk_edit", "search", "seo_audit", "schema"])
            events.append(
                {
                    "event": event,
                    "uuid": uuid.uuid4().hex,
                    "site": f"site{random.randint(1, 40)}.example.com",
                    "license_key": random.choice(product["licenses"]),
                    "timestamp": (now - timedelta(minutes=random.randint(0, 6 * 24 * 60))).isoformat(),
                }
            )
        body = json.dumps({"public_key": product["key"], "events": events}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{WEB}/public/v1/events", body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        sent += len(events)
        if sent >= tail_from and sent - len(events) < tail_from:
            counters_fold_all()
    processes.stop_all()
    say(f"{sent:,} events stored, all but the last {EVENTS - tail_from:,} folded")


def start_web(processes: harness.Processes, env: dict) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(harness.PYTHON).parent)) or "gunicorn"
    argv = [gunicorn, "packedge.wsgi:application", "--bind", f"127.0.0.1:{WEB}", "--workers", "2"]
    argv += ["--worker-class", "gthread", "--threads", "4", "--log-level", "warning"]
    processes.start("web", argv, env)
    wait_for_port(WEB, timeout=60)


def cpu_seconds(cluster) -> float:
    """CPU used so far by a cluster: its postmaster, its reaped children and the live ones (/proc, clock ticks)."""
    tick = os.sysconf("SC_CLK_TCK")
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])

    def fields(p: int) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    own = fields(pid)
    total = sum(int(own[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            mine = fields(int(child))
        except FileNotFoundError:
            continue
        total += int(mine[11]) + int(mine[12])
    return total / tick


def commits() -> dict[str, int]:
    import psycopg

    out = {}
    for name, port in (("primary", PRIMARY), ("standby", STANDBY), ("standby 2", STANDBY_2)):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/{harness.DB}", autocommit=True) as c:
            out[name] = c.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", [harness.DB]
            ).fetchone()[0]
    return out


async def read_for(world: dict, seconds: float) -> dict:
    date_to = datetime.now(UTC).date()
    query = f"from={date_to - timedelta(days=6)}&to={date_to}"
    latencies: list[float] = []
    sources: dict[str, int] = {}
    errors = 0
    headers = {"Authorization": f"Bearer {world['api_key']}"}

    async def client(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal errors
        while time.monotonic() < until:
            product = random.choice(world["products"])
            url = f"http://127.0.0.1:{WEB}/v1/products/{product['id']}/analytics/feature-usage?{query}"
            started = time.perf_counter()
            try:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                    source = response.headers.get("PackEdge-Read-Source", "")
                    sources[source] = sources.get(source, 0) + 1
            except (TimeoutError, aiohttp.ClientError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(client(session, time.monotonic() + 2) for _ in range(CLIENTS)))  # warm-up
        latencies.clear()
        sources.clear()
        errors = 0
        begun = time.monotonic()
        await asyncio.gather(*(client(session, begun + seconds) for _ in range(CLIENTS)))
        elapsed = time.monotonic() - begun
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)] if latencies else 0.0,
        "errors": errors,
        "sources": sources,
    }


def main() -> int:
    harness.LOG.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="packedge-replica-bench-"))
    root.chmod(0o755)
    clusters: list = []
    failures = []
    try:
        primary, standby = harness.make_clusters(root)
        clusters += [primary, standby]
        clusters.append(second_standby(root))
        world = harness.setup_world()
        fill(world)
        time.sleep(2)  # both standbys replay the fill
        settings = [
            ("primary only", {"DATABASE_REPLICA_URL": "", "DATABASE_REPLICA_URLS": ""}),
            ("primary + 1 replica", {"DATABASE_REPLICA_URL": harness.STANDBY_URL, "DATABASE_REPLICA_URLS": ""}),
            (
                "primary + 2 replicas",
                {"DATABASE_REPLICA_URL": "", "DATABASE_REPLICA_URLS": f"{harness.STANDBY_URL},{STANDBY_2_URL}"},
            ),
        ]
        rows = []
        for name, extra in settings * ROUNDS:
            processes = harness.Processes()
            start_web(processes, {**harness.base_env(), **extra, "REPLICA_MAX_LAG_SECONDS": "10"})
            before, cpu_before = commits(), [cpu_seconds(c) for c in clusters]
            result = asyncio.run(read_for(world, DURATION))
            after, cpu_after = commits(), [cpu_seconds(c) for c in clusters]
            processes.stop_all()
            served = {db: after[db] - before[db] for db in after}
            # Includes the 2 s warm-up.
            result["cpu"] = [b - a for a, b in zip(cpu_before, cpu_after, strict=True)]
            rows.append((name, result, served))
            say(
                f"{name}: {result['rps']:.1f} req/s, p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
                f"{result['errors']} errors, sources {result['sources']}, transactions {served}, "
                f"database CPU s {[round(c, 1) for c in result['cpu']]}"
            )
            if result["errors"]:
                failures.append(f"{name}: {result['errors']} errors")
        print()
        print(
            f"| setting ({CLIENTS} clients, {DURATION:.0f} s, one gunicorn 2×4) | req/s | p50 ms | p95 ms | answers by source"
            " | transactions: primary / standby / standby 2 | database CPU s (with warm-up): primary / standby / standby 2 |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, result, served in rows:
            print(
                f"| {name} | {result['rps']:.1f} | {result['p50_ms']:.0f} | {result['p95_ms']:.0f} | "
                f"{result['sources']} | {served['primary']:,} / {served['standby']:,} / {served['standby 2']:,} | "
                + " / ".join(f"{c:.1f}" for c in result["cpu"])
                + " |"
            )
    except Exception as error:
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        for cluster in reversed(clusters):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
