"""`make cluster-test`: PackEdge as several processes on loopback, one web server and one worker killed mid-run.

Starts Redis (unless one answers at CLUSTER_REDIS_URL), a fresh PostgreSQL
database, two gunicorn servers on two ports and two background workers
(`manage.py worker`, Celery, when the project has it; else `fold_events
--every 1`, the worker it had before). Then, through both servers:

1. a burst against one public key: the ingestion limit holds across both
   servers (at most the documented overshoot: 1 % of the allowance per process);
2. CLUSTER_SECONDS (20, at most 30) of single events, batches and OFREP
   evaluations from concurrent clients that retry a failed request on the
   other server with the same uuid, as an SDK would; the second server is
   killed (SIGKILL, whole process group) and later restarted, and one worker
   is killed.

Checks: acknowledged events == stored events, each exactly once; Feature Usage
through either server equals the naive oracle (tests/analytics/oracle.py) for
every product; after the servers stop gracefully, the flag rollup equals the
recorded evaluations (and never more were recorded than answered). Exit status
0 when every check holds. Not part of the pytest run (`make test`).

Knobs: CLUSTER_DB (default packedge_cluster_<pid>, dropped afterwards unless
CLUSTER_KEEP_DB=1), CLUSTER_PG_ADMIN_URL, CLUSTER_REDIS_URL (database 10 of the
local Redis by default; it is flushed), CLUSTER_PORTS (8611,8612), CLUSTER_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DB = os.environ.get("CLUSTER_DB", f"packedge_cluster_{os.getpid()}")
PG_ADMIN_URL = os.environ.get("CLUSTER_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"
REDIS_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/10")
PORTS = [int(port) for port in os.environ.get("CLUSTER_PORTS", "8611,8612").split(",")]
SECONDS = min(30.0, float(os.environ.get("CLUSTER_SECONDS", "20")))
CLIENTS = 24
PRODUCTS = 30
# Per public key and minute: high enough that the spread load never meets it, low enough to burst past.
INGEST_ALLOWED_PER_MINUTE = 1000
WEB_PROCESSES = 2 * len(PORTS)  # gunicorn workers per server × servers
BURST_REQUESTS = 1400
FLAGS = ["new-checkout", "dark-mode", "beta-banner"]
LOG = ROOT / "tests" / "artifacts" / "cluster.log"
sys.path.insert(0, str(ROOT))

from tests.live import servers  # noqa: E402


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- processes


class Processes:
    """Everything this script starts, each in its own process group, stopped on exit."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}
        self.log = open(LOG, "ab")

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children (a gunicorn master and its workers)."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, name: str, timeout: float = 20) -> None:
        """SIGTERM, as a deploy would: gunicorn workers flush their recordings first."""
        process = self.running.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name, timeout=10)
        self.log.close()


def base_env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "CACHE_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": "cluster-test-secret",
        "DEBUG": "0",
        "LOG_LEVEL": "ERROR",
        "INGEST_RATE_LIMIT": f"{INGEST_ALLOWED_PER_MINUTE}/min",
        "OFREP_RATE_LIMIT": "100000/s",
        "CONN_MAX_AGE": "60",
        # The other server must see a flag change or a new key within a second, not 30.
        "PRODUCT_CACHE_SECONDS": "1",
    }


def start_server(processes: Processes, port: int) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(PYTHON).parent)) or "gunicorn"
    processes.start(
        f"web:{port}",
        [
            gunicorn,
            "packedge.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "10",
        ],
        base_env(),
    )


def worker_argv(index: int) -> list[str]:
    if (ROOT / "analytics" / "management" / "commands" / "worker.py").exists():
        # Celery; one beat per deployment: the second worker runs without.
        extra = [] if index == 0 else ["--no-beat"]
        return [
            PYTHON,
            "manage.py",
            "worker",
            *extra,
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--hostname",
            f"cluster{index}@%h",
        ]
    return [PYTHON, "manage.py", "fold_events", "--every", "1"]


def wait_for_port(port: int) -> None:
    servers.wait_for_port(port, 60, see=str(LOG))


def ensure_redis(processes: Processes) -> None:
    global REDIS_URL
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError(f"no Redis at {REDIS_URL} and no redis-server to start") from None
        port = int(os.environ.get("CLUSTER_REDIS_PORT", "8690"))
        processes.start("redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], dict(os.environ))
        wait_for_port(port)
        REDIS_URL = f"redis://127.0.0.1:{port}/0"
    redis.Redis.from_url(REDIS_URL).flushdb()
    say(f"Redis at {REDIS_URL} (flushed)")


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=base_env(), check=True)
    say(f"database {DB} created and migrated")


def drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


# ---------------------------------------------------------------- the world


def setup_world() -> dict:
    os.environ.update(
        {
            key: value
            for key, value in base_env().items()
            if key not in os.environ or key in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "SECRET_KEY")
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from events import services as events
    from flags import services as flags
    from tenancy import services as tenancy
    from tenancy.models import Plan

    organization = tenancy.organization_create(name="Cluster", slug="cluster", plan=Plan.objects.get(slug="pro"))
    _, api_key = tenancy.api_key_create(organization=organization)
    products = []
    for n in range(PRODUCTS):
        product = events.product_create(organization=organization, name=f"Product {n}")
        licenses = [events.license_create(product=product, key=f"KEY-{n}-{k}").key for k in range(5)]
        products.append({"id": product.public_id, "pk": product.pk, "key": product.public_key, "licenses": licenses})
    limited = events.product_create(organization=organization, name="Limited")
    project = flags.project_create(organization=organization, name="Cluster")
    environment, sdk_key = flags.environment_create(project=project, name="production")
    for key in FLAGS:
        flags.flag_create(
            project=project,
            key=key,
            type="boolean",
            variants={"on": True, "off": False},
            environments={
                environment.public_id: {
                    "enabled": True,
                    "defaultVariant": "off",
                    "rules": [
                        {
                            "conditions": [],
                            "rollout": [{"variant": "on", "weight": 30}, {"variant": "off", "weight": 70}],
                        }
                    ],
                }
            },
        )
    return {
        "api_key": api_key,
        "products": products,
        "limited": limited.public_key,
        "sdk_key": sdk_key,
        "environment_pk": environment.pk,
    }


# ---------------------------------------------------------------- load


class Load:
    def __init__(self, world: dict) -> None:
        self.world = world
        self.acknowledged: set[str] = set()
        self.answered: Counter[str] = Counter()  # flag key → evaluations answered
        self.failovers = 0
        self.statuses: Counter[int | str] = Counter()
        self.down: set[int] = set()

    def servers(self) -> list[int]:
        return [port for port in PORTS if port not in self.down] or PORTS

    async def send(self, session: aiohttp.ClientSession, method_path: str, body: dict, headers: dict) -> dict | None:
        """POST to one server, then the other on failure, until answered (same body: same uuids)."""
        start = random.randrange(len(PORTS))
        for attempt in range(60):
            alive = self.servers()
            port = alive[(start + attempt) % len(alive)]
            try:
                async with session.post(f"http://127.0.0.1:{port}{method_path}", json=body, headers=headers) as r:
                    self.statuses[r.status] += 1
                    if r.status == 200:
                        return await r.json()
                    if r.status == 429:
                        return None
                    if r.status < 500:
                        raise RuntimeError(f"{method_path} answered {r.status}: {await r.text()}")
            except (TimeoutError, aiohttp.ClientError) as error:
                self.statuses[type(error).__name__] += 1
            self.failovers += 1
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{method_path}: no server answered in 60 attempts")

    async def event(self, session, public_key: str, product: dict | None = None) -> bool:
        event_uuid = uuid.uuid4().hex
        body = {
            "public_key": public_key,
            "event": random.choice(["export_pdf", "bulk_edit", "feature_used"]),
            "uuid": event_uuid,
            "site": random.choice(["a.example.com", "b.example.com", ""]),
        }
        if body["event"] == "feature_used":
            body["properties"] = {"feature": random.choice(["seo_audit", "image_compress"])}
        if product and random.random() < 0.7:
            body["license_key"] = random.choice(product["licenses"])
        if random.random() < 0.3:
            body["timestamp"] = (datetime.now(UTC) - timedelta(hours=random.randint(0, 40))).isoformat()
        if not body["site"]:
            del body["site"]
        answer = await self.send(session, "/public/v1/event", body, {})
        if answer is not None:
            self.acknowledged.add(event_uuid)
            return True
        return False

    async def batch(self, session, product: dict) -> None:
        events = [
            {
                "event": "export_pdf",
                "uuid": uuid.uuid4().hex,
                "license_key": random.choice(product["licenses"]),
                "site": "c.example.com",
            }
            for _ in range(20)
        ]
        answer = await self.send(session, "/public/v1/events", {"public_key": product["key"], "events": events}, {})
        if answer is not None:
            self.acknowledged.update(event["uuid"] for event in events)

    async def evaluate(self, session) -> None:
        key = random.choice(FLAGS)
        body = {"context": {"targetingKey": f"user-{random.randrange(10_000)}"}}
        headers = {"Authorization": f"Bearer {self.world['sdk_key']}"}
        answer = await self.send(session, f"/ofrep/v1/evaluate/flags/{key}", body, headers)
        if answer is not None:
            self.answered[key] += 1

    async def client(self, session, until: float) -> None:
        products = self.world["products"]
        while time.monotonic() < until:
            roll = random.random()
            product = random.choice(products)
            if roll < 0.55:
                await self.event(session, product["key"], product)
            elif roll < 0.65:
                await self.batch(session, product)
            else:
                await self.evaluate(session)


async def burst(load: Load) -> int:
    """BURST_REQUESTS single events to one key, alternating servers, inside one minute window."""
    while datetime.now(UTC).second > 40:  # the whole burst must fall into one fixed window
        await asyncio.sleep(1)
    accepted = 0
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        semaphore = asyncio.Semaphore(32)

        async def one() -> None:
            nonlocal accepted
            async with semaphore:
                if await load.event(session, load.world["limited"]):
                    accepted += 1

        await asyncio.gather(*(one() for _ in range(BURST_REQUESTS)))
    return accepted


async def sustained(load: Load, processes: Processes, workers: list[str]) -> None:
    victim = PORTS[-1]
    start = time.monotonic()
    until = start + SECONDS
    connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        tasks = [asyncio.create_task(load.client(session, until)) for _ in range(CLIENTS)]
        await asyncio.sleep(SECONDS * 0.35)
        say(f"killing web server :{victim} (SIGKILL to its master and workers)")
        processes.kill(f"web:{victim}")
        load.down.add(victim)
        await asyncio.sleep(SECONDS * 0.1)
        say(f"killing worker {workers[-1]}")
        processes.kill(workers[-1])
        await asyncio.sleep(SECONDS * 0.2)
        say(f"restarting web server :{victim}")
        start_server(processes, victim)
        await asyncio.to_thread(wait_for_port, victim)
        load.down.discard(victim)
        await asyncio.gather(*tasks)
    say(
        f"load done in {time.monotonic() - start:.1f}s: {len(load.acknowledged):,} events acknowledged, "
        f"{sum(load.answered.values()):,} evaluations answered, {load.failovers} failovers, statuses {dict(load.statuses)}"
    )


# ---------------------------------------------------------------- checks


def check_events(load: Load) -> list[str]:
    from django.db.models import Count

    from events.models import Event

    failures = []
    stored = Event.objects.exclude(uuid=None)
    copies = stored.values("product_id", "uuid").annotate(n=Count("id")).filter(n__gt=1).count()
    stored_uuids = set(stored.values_list("uuid", flat=True))
    say(f"events: {len(load.acknowledged):,} acknowledged, {stored.count():,} stored, {copies} stored twice")
    if copies:
        failures.append(f"{copies} events stored more than once")
    if stored_uuids != load.acknowledged:
        failures.append(
            f"stored != acknowledged: {len(load.acknowledged - stored_uuids)} acknowledged but not stored, "
            f"{len(stored_uuids - load.acknowledged)} stored but never acknowledged"
        )
    return failures


def _get_json(url: str, headers: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def check_feature_usage_through_both_servers(world: dict) -> list[str]:
    from django.core.serializers.json import DjangoJSONEncoder

    from events.models import Product
    from tests.analytics.oracle import naive_feature_usage

    failures = []
    today = datetime.now(UTC).date()
    date_from = today - timedelta(days=2)
    headers = {"Authorization": f"Bearer {world['api_key']}"}
    checked = 0
    for product in world["products"]:
        naive = naive_feature_usage(product=Product.objects.get(pk=product["pk"]), date_from=date_from, date_to=today)
        expected = json.loads(json.dumps(naive, cls=DjangoJSONEncoder))
        for port in PORTS:
            url = (
                f"http://127.0.0.1:{port}/v1/products/{product['id']}/analytics/feature-usage"
                f"?from={date_from}&to={today}"
            )
            status, body = _get_json(url, headers)
            if status != 200 or body.get("data") != expected:
                failures.append(f"Feature Usage of {product['id']} through :{port} ({status}) differs from the oracle")
            checked += 1
    say(f"Feature Usage: {checked} answers compared with the naive oracle, {len(failures)} differ")
    return failures


def check_flag_rollup(world: dict, load: Load) -> list[str]:
    from django.core.management import call_command
    from django.db.models import Count, Sum

    from flags.models import Flag, FlagEvaluation, FlagUsageDay

    failures = []
    days = sorted(set(FlagEvaluation.objects.values_list("day", flat=True)))
    for day in days:
        call_command("rollup_flag_usage", "--date", day.isoformat(), stdout=open(os.devnull, "w"))
    recorded = dict(FlagEvaluation.objects.values_list("flag_id").annotate(n=Count("id")).values_list("flag_id", "n"))
    rolled = dict(
        FlagUsageDay.objects.values_list("flag_id").annotate(n=Sum("total_evaluations")).values_list("flag_id", "n")
    )
    keys = dict(Flag.objects.values_list("id", "key"))
    for flag_id, key in keys.items():
        answered = load.answered.get(key, 0)
        say(
            f"flag {key}: {answered:,} answered, {recorded.get(flag_id, 0):,} recorded, {rolled.get(flag_id, 0):,} rolled up"
        )
        if rolled.get(flag_id, 0) != recorded.get(flag_id, 0):
            failures.append(f"flag {key}: rollup {rolled.get(flag_id, 0)} != recorded {recorded.get(flag_id, 0)}")
        if recorded.get(flag_id, 0) > answered:
            failures.append(f"flag {key}: recorded {recorded.get(flag_id, 0)} > answered {answered}")
    return failures


def check_rate_limit(accepted: int) -> list[str]:
    allowed = INGEST_ALLOWED_PER_MINUTE
    bound = allowed + WEB_PROCESSES * max(1, allowed // 100)
    say(f"rate limit: {accepted} of {BURST_REQUESTS} accepted through both servers (allowed {allowed}, bound {bound})")
    if not allowed <= accepted <= bound:
        return [f"rate limit: {accepted} accepted, expected {allowed}..{bound}"]
    return []


# ---------------------------------------------------------------- main


def main() -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_bytes(b"")
    processes = Processes()
    failures: list[str] = []
    try:
        ensure_redis(processes)
        recreate_database()
        world = setup_world()
        for port in PORTS:
            start_server(processes, port)
        workers = []
        for index in range(2):
            name = f"worker{index}"
            processes.start(name, worker_argv(index), base_env())
            workers.append(name)
        say(f"servers on {PORTS}, workers: {' '.join(worker_argv(0)[1:3])}")
        for port in PORTS:
            wait_for_port(port)
        load = Load(world)
        # Warm-up: every worker process loads Django before the clock starts.
        asyncio.run(_warm(load))
        accepted = asyncio.run(burst(load))
        failures += check_rate_limit(accepted)
        asyncio.run(sustained(load, processes, workers))
        failures += check_events(load)
        failures += check_feature_usage_through_both_servers(world)
        for port in PORTS:
            processes.stop(f"web:{port}")  # graceful: buffered evaluations are written
        failures += check_flag_rollup(world, load)
    finally:
        processes.stop_all()
        if os.environ.get("CLUSTER_KEEP_DB") != "1":
            try:
                from django.db import connections

                connections.close_all()
            except Exception:
                pass
            drop_database()
    if failures:
        say("FAILED:\n  " + "\n  ".join(failures))
        return 1
    say("cluster test passed")
    return 0


async def _warm(load: Load) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(load.evaluate(session) for _ in range(16)))


if __name__ == "__main__":
    sys.exit(main())
