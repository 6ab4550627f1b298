"""`make replica-test`: Feature Usage answered by a real PostgreSQL hot standby, exact at its replay point.

Starts two private PostgreSQL clusters on loopback ports under a temporary
directory: a primary and a streaming hot standby made from it with
``pg_basebackup -R``. Then two gunicorn servers (``DATABASE_URL`` the primary,
``DATABASE_REPLICA_URL`` the standby) and two background workers (Celery on
Redis), and for REPLICA_SECONDS (20, at most 30) concurrent clients send single
events and batches through both servers while a checker:

1. pauses the standby's WAL replay, so its state holds still; asks a server for
   a product's Feature Usage, which must come from the replica
   (``PackEdge-Read-Source: replica``) and equal the naive oracle computed on
   the paused standby itself, that is at the replica's replay point; resumes;
2. stops the standby mid-run: every read keeps answering 200, from the primary;
3. starts it again: reads return to the replica.

After the load: acknowledged events == stored events, each exactly once; once
the workers have folded everything and the standby has caught up, every
product's answer through both servers comes from the replica and equals the
oracle on the primary. Reports the replica lag seen under load. Exit status 0
when every check holds. Not part of the pytest run (`make test`).

Knobs: REPLICA_PORTS (primary, standby, web, web: 8621,8622,8623,8624),
REPLICA_REDIS_URL (database 5 of the local Redis; it is flushed), REPLICA_SECONDS.
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
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.live.servers import PG_BIN, PrivatePostgres, _as_postgres, wait_for_port  # noqa: E402

PYTHON = sys.executable
PRIMARY_PORT, STANDBY_PORT, *WEB_PORTS = (
    int(port) for port in os.environ.get("REPLICA_PORTS", "8621,8622,8623,8624").split(",")
)
REDIS_URL = os.environ.get("REPLICA_REDIS_URL", "redis://127.0.0.1:6379/5")
SECONDS = min(30.0, float(os.environ.get("REPLICA_SECONDS", "20")))
DB = "packedge_replica"
PRIMARY_URL = f"postgres://postgres@127.0.0.1:{PRIMARY_PORT}/{DB}"
STANDBY_URL = f"postgres://postgres@127.0.0.1:{STANDBY_PORT}/{DB}"
# A paused standby falls behind while it holds still: allow it that long before reads leave it.
MAX_LAG_SECONDS = 30
CLIENTS = 8
PRODUCTS = 6
LOG = ROOT / "tests" / "artifacts" / "replica.log"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- PostgreSQL: a primary and its standby


class Cluster(PrivatePostgres):
    """A private cluster (``PrivatePostgres``'s directory, port and stop) started with extra settings."""

    def start(self, *settings: str) -> None:
        options = " ".join(
            [
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory}",
                "-c fsync=off -c synchronous_commit=off",
                *settings,
            ]
        )
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.directory / "log")]
            )
            + ["-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )


STANDBY_SETTINGS = ("-c hot_standby=on", "-c hot_standby_feedback=on", "-c max_standby_streaming_delay=30s")


def make_clusters(root: Path) -> tuple[Cluster, Cluster]:
    for path in (root / "primary", root / "standby"):
        path.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
    primary, standby = Cluster(root / "primary", PRIMARY_PORT), Cluster(root / "standby", STANDBY_PORT)
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    primary.start("-c wal_level=replica", "-c max_wal_senders=5")
    subprocess.run(
        _as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres", DB]),
        check=True,
        capture_output=True,
    )
    # -R writes primary_conninfo and standby.signal: the copy starts as a streaming hot standby.
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", "postgres"]
            + ["-D", str(standby.data), "-R", "-X", "stream", "-c", "fast"]
        ),
        check=True,
        capture_output=True,
    )
    standby.start(*STANDBY_SETTINGS)
    say(f"primary on :{PRIMARY_PORT}, hot standby on :{STANDBY_PORT} (pg_basebackup -R)")
    return primary, standby


def standby_sql(sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(
        f"postgresql://postgres@127.0.0.1:{STANDBY_PORT}/{DB}", autocommit=True, connect_timeout=5
    ) as c:
        return c.execute(sql).fetchall()


def pause_replay() -> None:
    standby_sql("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + 10
    while standby_sql("SELECT pg_get_wal_replay_pause_state()")[0][0] != "paused":
        if time.monotonic() > deadline:
            raise RuntimeError("the standby did not pause its replay within 10 s")
        time.sleep(0.05)


def resume_replay() -> None:
    standby_sql("SELECT pg_wal_replay_resume()")


def wait_for_standby(world: dict) -> None:
    """Until the standby has replayed the world's products: a replay point paused before that has none to read."""
    pks = ", ".join(str(int(p["pk"])) for p in world["products"])
    deadline = time.monotonic() + 30
    while standby_sql(f"SELECT count(*) FROM events_product WHERE id IN ({pks})")[0][0] < len(world["products"]):
        if time.monotonic() > deadline:
            raise RuntimeError("the standby did not replay the test's products within 30 s")
        time.sleep(0.1)


def replay_lag_seconds() -> float:
    """How far the standby's replay is behind the primary's WAL, as time since the last replayed commit (0: caught up)."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{PRIMARY_PORT}/{DB}", autocommit=True) as c:
        primary_lsn = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    caught_up, behind = standby_sql(
        f"SELECT pg_last_wal_replay_lsn() >= '{primary_lsn}'::pg_lsn,"
        " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
    )[0]
    return 0.0 if caught_up else float(behind or 0)


# ---------------------------------------------------------------- PackEdge processes


class Processes:
    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}
        self.log = open(LOG, "ab")  # noqa: SIM115 - closed in stop_all

    def start(self, name: str, argv: list[str], env: dict) -> None:
        self.running[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def stop_all(self) -> None:
        for process in self.running.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.running.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.log.close()


def base_env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": PRIMARY_URL,
        "DATABASE_REPLICA_URL": STANDBY_URL,
        "REPLICA_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS),
        "CACHE_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "SECRET_KEY": "replica-test-secret",
        "DEBUG": "0",
        "LOG_LEVEL": "ERROR",
        "INGEST_RATE_LIMIT": "100000/s",
        "CONN_MAX_AGE": "60",
    }


def start_servers(processes: Processes) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(PYTHON).parent)) or "gunicorn"
    for port in WEB_PORTS:
        argv = [gunicorn, "packedge.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        argv += ["--worker-class", "gthread", "--threads", "4", "--log-level", "warning"]
        processes.start(f"web:{port}", argv, base_env())
    for index in range(2):
        extra = [] if index == 0 else ["--no-beat"]  # one beat per deployment
        argv = [PYTHON, "manage.py", "worker", *extra, "--concurrency", "1", "--loglevel", "WARNING"]
        processes.start(f"worker{index}", [*argv, "--hostname", f"replica{index}@%h"], base_env())
    for port in WEB_PORTS:
        wait_for_port(port, timeout=60)
    say(f"servers on {WEB_PORTS}, two workers")


def setup_world() -> dict:
    os.environ.update({key: value for key, value in base_env().items() if key != "LOG_LEVEL"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "packedge.settings"
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=base_env(), check=True)
    import django
    import redis

    django.setup()
    redis.Redis.from_url(REDIS_URL).flushdb()
    from events import services as events
    from tenancy import services as tenancy
    from tenancy.models import Plan

    organization = tenancy.organization_create(name="Replica", slug="replica", plan=Plan.objects.get(slug="pro"))
    _, api_key = tenancy.api_key_create(organization=organization)
    products = []
    for n in range(PRODUCTS):
        product = events.product_create(organization=organization, name=f"Product {n}")
        licenses = [events.license_create(product=product, key=f"KEY-{n}-{k}").key for k in range(8)]
        products.append({"id": product.public_id, "pk": product.pk, "key": product.public_key, "licenses": licenses})
    return {"api_key": api_key, "products": products}


# ---------------------------------------------------------------- load and reads


class Load:
    def __init__(self, world: dict) -> None:
        self.world = world
        self.acknowledged: set[str] = set()
        self.errors = 0

    def event_body(self, product: dict) -> dict:
        body = {
            "event": random.choice(["export_pdf", "bulk_edit", "search", "feature_used"]),
            "uuid": uuid.uuid4().hex,
            "site": random.choice(["a.example.com", "b.example.com", "c.example.com"]),
        }
        if body["event"] == "feature_used":
            body["properties"] = {"feature": random.choice(["seo_audit", "image_compress"])}
        if random.random() < 0.8:
            body["license_key"] = random.choice(product["licenses"])
        if random.random() < 0.3:  # some days back, so the answer spans several days and blocks
            body["timestamp"] = (datetime.now(UTC) - timedelta(hours=random.randint(0, 70))).isoformat()
        return body

    async def client(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.monotonic() < until:
            product = random.choice(self.world["products"])
            port = random.choice(WEB_PORTS)
            if random.random() < 0.8:
                body = {"public_key": product["key"], **self.event_body(product)}
                path, uuids = "/public/v1/event", [body["uuid"]]
            else:
                events = [self.event_body(product) for _ in range(20)]
                body = {"public_key": product["key"], "events": events}
                path, uuids = "/public/v1/events", [event["uuid"] for event in events]
            try:
                async with session.post(f"http://127.0.0.1:{port}{path}", json=body) as response:
                    if response.status == 200:
                        self.acknowledged.update(uuids)
                    else:
                        self.errors += 1
            except (TimeoutError, aiohttp.ClientError):
                self.errors += 1


def window() -> tuple:
    today = datetime.now(UTC).date()
    return today - timedelta(days=6), today


def feature_usage_through(port: int, world: dict, product: dict) -> tuple[int, str, dict]:
    date_from, date_to = window()
    url = f"http://127.0.0.1:{port}/v1/products/{product['id']}/analytics/feature-usage?from={date_from}&to={date_to}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {world['api_key']}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("PackEdge-Read-Source", ""), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("PackEdge-Read-Source", ""), {}


def oracle(product: dict, *, on: str) -> dict:
    """The naive answer, computed from the raw rows of ``on`` ("replica" or "primary")."""
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import transaction

    from events.models import Product
    from lib.replica import REPLICA_ALIAS, _read_alias
    from tests.analytics.oracle import naive_feature_usage

    date_from, date_to = window()
    token = _read_alias.set(REPLICA_ALIAS if on == "replica" else None)
    try:
        with transaction.atomic(using=REPLICA_ALIAS if on == "replica" else "default"):
            naive = naive_feature_usage(
                product=Product.objects.get(pk=product["pk"]), date_from=date_from, date_to=date_to
            )
    finally:
        _read_alias.reset(token)
    return json.loads(json.dumps(naive, cls=DjangoJSONEncoder))


class Checker:
    """Reads while the load runs: answers at paused replay points, then through a standby outage."""

    def __init__(self, world: dict, standby: Cluster, until: float) -> None:
        self.world, self.standby, self.until = world, standby, until
        self.failures: list[str] = []
        self.compared = 0
        self.sources: dict[str, int] = {}
        self.lags: list[float] = []
        self.outage_reads = 0
        self.counted_at_replay = 0

    def read(self, product: dict) -> tuple[int, str, dict]:
        status, source, body = feature_usage_through(random.choice(WEB_PORTS), self.world, product)
        self.sources[source] = self.sources.get(source, 0) + 1
        if status != 200:
            self.failures.append(f"a read of {product['id']} answered {status} ({source})")
        return status, source, body

    def at_replay_point(self) -> None:
        product = random.choice(self.world["products"])
        self.lags.append(replay_lag_seconds())
        pause_replay()
        try:
            replayed = standby_sql("SELECT pg_last_xact_replay_timestamp()")[0][0]
            status, source, body = self.read(product)
            expected = oracle(product, on="replica")
        finally:
            resume_replay()
        if source != "replica":
            self.failures.append(f"with a fresh standby, {product['id']} was answered by the {source}")
        elif body.get("data") != expected:
            self.failures.append(f"{product['id']}: the replica's answer differs from the oracle at its replay point")
        else:
            self.check_counted_through(body, replayed)
        self.compared += 1

    def check_counted_through(self, body: dict, replayed: datetime) -> None:
        """Paused under load, the standby is behind: the answer is counted through its last replayed commit."""
        from lib.freshness import iso_utc

        through = body.get("countedThrough")
        if through == iso_utc(replayed):
            self.counted_at_replay += 1
        elif through is None or datetime.fromisoformat(through) < replayed:
            # Only a standby that had caught up before the pause may say more (the primary's clock then).
            self.failures.append(f"countedThrough {through} is before the replay point {iso_utc(replayed)}")

    def through_outage(self) -> None:
        say("stopping the standby")
        self.standby.stop()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            _, source, _ = self.read(random.choice(self.world["products"]))
            self.outage_reads += 1
            if source != "primary":
                self.failures.append(f"with the standby down a read came from the {source}")
        say(f"standby down: {self.outage_reads} reads, all from the primary; starting it again")
        self.standby.start(*STANDBY_SETTINGS)
        from django.db import connections

        connections["replica"].close()  # the oracle's connection died with the standby
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.read(random.choice(self.world["products"]))[1] == "replica":
                say("reads are back on the standby")
                return
            time.sleep(0.2)
        self.failures.append("reads did not return to the standby within 30 s of its restart")

    def run(self) -> None:
        try:
            halfway = time.monotonic() + SECONDS / 2
            while time.monotonic() < halfway:
                self.at_replay_point()
                time.sleep(0.2)
            self.through_outage()
            while time.monotonic() < self.until:
                self.at_replay_point()
                time.sleep(0.2)
        except Exception as error:  # the checker's own failure fails the run, not silently the thread
            self.failures.append(f"checker stopped: {error!r}")


async def run_load(load: Load, until: float) -> None:
    connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(load.client(session, until) for _ in range(CLIENTS)))


# ---------------------------------------------------------------- after the load


def check_events(load: Load) -> list[str]:
    from django.db.models import Count

    from events.models import Event

    stored = Event.objects.exclude(uuid=None)
    copies = stored.values("product_id", "uuid").annotate(n=Count("id")).filter(n__gt=1).count()
    stored_uuids = set(stored.values_list("uuid", flat=True))
    say(f"events: {len(load.acknowledged):,} acknowledged, {len(stored_uuids):,} stored, {copies} stored twice")
    failures = []
    if copies:
        failures.append(f"{copies} events stored more than once")
    if not load.acknowledged <= stored_uuids:
        failures.append(f"{len(load.acknowledged - stored_uuids)} acknowledged events not stored")
    return failures


def wait_until_settled(world: dict) -> None:
    """Every event folded on the primary, and the standby replayed it all."""
    from analytics.counters import unfolded_events
    from events.models import Product

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not any(unfolded_events(product=Product.objects.get(pk=p["pk"])).exists() for p in world["products"]):
            if replay_lag_seconds() == 0.0:
                return
        time.sleep(0.5)
    raise RuntimeError("the workers did not fold everything, or the standby did not catch up, within 120 s")


def check_settled_answers(world: dict) -> list[str]:
    failures = []
    for product in world["products"]:
        expected = oracle(product, on="primary")
        for port in WEB_PORTS:
            status, source, body = feature_usage_through(port, world, product)
            if status != 200 or source != "replica" or body.get("data") != expected:
                failures.append(f"settled answer of {product['id']} through :{port}: {status} from {source}")
    say(f"settled: {len(world['products']) * len(WEB_PORTS)} answers from the replica compared with the oracle")
    return failures


def main() -> int:
    if not (PG_BIN / "pg_basebackup").exists():
        say(f"no PostgreSQL binaries in {PG_BIN}")
        return 1
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_bytes(b"")
    root = Path(tempfile.mkdtemp(prefix="packedge-replica-"))
    root.chmod(0o755)
    clusters: tuple[Cluster, ...] = ()
    processes = None
    failures: list[str] = []
    try:
        clusters = make_clusters(root)
        primary, standby = clusters
        world = setup_world()
        wait_for_standby(world)
        processes = Processes()
        start_servers(processes)
        load = Load(world)
        until = time.monotonic() + SECONDS
        checker = Checker(world, standby, until)
        thread = threading.Thread(target=checker.run)
        thread.start()
        asyncio.run(run_load(load, until))
        thread.join()
        say(
            f"load done: {len(load.acknowledged):,} events acknowledged, {load.errors} ingestion errors; "
            f"{checker.compared} replica answers compared at paused replay points "
            f"({checker.counted_at_replay} counted through exactly the replayed commit time); "
            f"reads by source {checker.sources}; "
            f"replica lag before each pause: max {max(checker.lags, default=0):.3f} s, "
            f"median {sorted(checker.lags)[len(checker.lags) // 2] if checker.lags else 0:.3f} s"
        )
        failures += checker.failures
        if load.errors:
            failures.append(f"{load.errors} ingestion requests failed")
        if checker.compared < 5:
            failures.append(f"only {checker.compared} answers compared at replay points (at least 5 expected)")
        failures += check_events(load)
        wait_until_settled(world)
        failures += check_settled_answers(world)
    except Exception as error:
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        if processes:
            processes.stop_all()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        for cluster in reversed(clusters):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        say("FAILED:\n  " + "\n  ".join(failures[:30]))
        return 1
    say("replica test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
