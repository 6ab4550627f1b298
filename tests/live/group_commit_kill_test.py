"""Group commit survives ``kill -9``: acknowledged ⊆ stored, and no uuid stored twice.

Run as a script (``.ci/steps/50-group-commit.sh``; not part of the pytest run):
a fresh PostgreSQL database, gunicorn (2 workers × 4 threads, the group commit
on) from tests/live/servers.py, and concurrent clients that send single events,
each with its own uuid, retrying a failed request with the same uuid as the
SDKs do. Mid-load one worker process (a child of the gunicorn master) is
SIGKILLed, twice, with requests waiting in its batches; gunicorn starts a new
one and the load goes on.

Checks, by uuid: every acknowledged event (200, ``success: true``) is stored;
every stored event was sent; none is stored twice. Exit status 0 when they hold.

``GC_KILL_SERVER=capture`` runs the same load against the capture server
(``manage.py capture``: 2 uvicorn worker processes, group commit in each event
loop) and SIGKILLs its worker processes instead; uvicorn starts new ones.

Knobs: GC_KILL_PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres),
GC_KILL_PORT (8203), GC_KILL_SECONDS (12, at most 60), GC_KILL_CLIENTS (16),
GC_KILL_SERVER (gunicorn, or capture).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.live.servers import capture, django_script, gunicorn, manage, server_env  # noqa: E402

PG_ADMIN_URL = os.environ.get("GC_KILL_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB = f"packedge_gc_kill_{os.getpid()}"
DATABASE_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"
PORT = int(os.environ.get("GC_KILL_PORT", "8203"))
SECONDS = min(60.0, float(os.environ.get("GC_KILL_SECONDS", "12")))
CLIENTS = int(os.environ.get("GC_KILL_CLIENTS", "16"))
KILLS_AT = (0.3, 0.6)  # fractions of the load's duration
ATTEMPTS = 5
SERVER = os.environ.get("GC_KILL_SERVER", "gunicorn")


def worker_pids(master_pid: int) -> list[int]:
    """The worker processes: gunicorn's children, or the processes uvicorn spawned (not multiprocessing's helpers)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [pid for pid in pids if b"resource_tracker" not in _command_line(pid)]


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Load:
    def __init__(self, url: str, public_key: str) -> None:
        self.url, self.public_key = url, public_key
        self.sent: set[str] = set()
        self.acknowledged: set[str] = set()
        self.failed_attempts = 0
        self.given_up: set[str] = set()
        self.stop = False

    async def client(self, session: aiohttp.ClientSession, number: int) -> None:
        sequence = 0
        while not self.stop:
            uuid = f"c{number}-{sequence}"
            sequence += 1
            body = {"public_key": self.public_key, "event": "export_pdf", "uuid": uuid, "site": "kill.example.com"}
            for attempt in range(ATTEMPTS):
                self.sent.add(uuid)
                try:
                    async with session.post(self.url, json=body, timeout=aiohttp.ClientTimeout(total=30)) as answer:
                        data = await answer.json(content_type=None)
                        if answer.status == 200 and data.get("success") is True:
                            self.acknowledged.add(uuid)
                            break
                except (TimeoutError, aiohttp.ClientError, ValueError):
                    pass
                self.failed_attempts += 1
                await asyncio.sleep(0.05 * (attempt + 1))
            else:
                self.given_up.add(uuid)


async def warm_up(load: Load) -> None:
    """Until both workers answer: gunicorn listens before its workers have loaded Django."""
    body = {"public_key": load.public_key, "event": "warm_up"}
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:

            async def one() -> bool:
                try:
                    async with session.post(load.url, json=body) as answer:
                        return answer.status == 200
                except aiohttp.ClientError:
                    return False

            if all(await asyncio.gather(*(one() for _ in range(8)))):
                return
            await asyncio.sleep(0.5)
    raise TimeoutError("the server did not answer within 120 s")


async def drive(load: Load, master_pid: int) -> list[int]:
    killed: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:
        tasks = [asyncio.create_task(load.client(session, number)) for number in range(CLIENTS)]
        start = time.monotonic()
        for fraction in KILLS_AT:
            await asyncio.sleep(max(0.0, start + fraction * SECONDS - time.monotonic()))
            pids = worker_pids(master_pid)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                print(
                    f"  SIGKILL worker {pids[0]} at {time.monotonic() - start:.1f}s, {len(load.acknowledged):,} acknowledged so far",
                    flush=True,
                )
        await asyncio.sleep(max(0.0, start + SECONDS - time.monotonic()))
        load.stop = True
        await asyncio.gather(*tasks)
    return killed


def stored_counts() -> Counter:
    with psycopg.connect(DATABASE_URL) as conn:
        rows = conn.execute("SELECT uuid, count(*) FROM events_event WHERE uuid IS NOT NULL GROUP BY uuid").fetchall()
    return Counter({uuid: count for uuid, count in rows})


def main() -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB}"')
    try:
        env = server_env(
            DATABASE_URL=DATABASE_URL,
            INGEST_RATE_LIMIT="1000000/s",
            GROUP_COMMIT_WAIT_MS=os.environ.get("GROUP_COMMIT_WAIT_MS", "5"),
            LOG_LEVEL="ERROR",
            CONN_MAX_AGE="600",
        )
        manage(env, "migrate", "--no-input", "-v0")
        public_key = django_script(
            env,
            "from tests.tenancy.factories import OrganizationFactory\n"
            "from tests.events.factories import ProductFactory\n"
            "print(ProductFactory(organization=OrganizationFactory()).public_key)\n",
        ).strip()
        load = Load(f"http://127.0.0.1:{PORT}/public/v1/event", public_key)
        server = capture(env, PORT, workers=2) if SERVER == "capture" else gunicorn(env, PORT, workers=2, threads=4)
        with server as master:
            asyncio.run(warm_up(load))
            killed = asyncio.run(drive(load, master.pid))
        stored = stored_counts()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')

    lost = load.acknowledged - set(stored)
    twice = {uuid for uuid, count in stored.items() if count > 1}
    unknown = set(stored) - load.sent
    print(
        f"  sent {len(load.sent):,} uuids, acknowledged {len(load.acknowledged):,}, stored {len(stored):,}; "
        f"failed attempts {load.failed_attempts:,} (retried with the same uuid), given up {len(load.given_up):,}; "
        f"{SERVER} workers killed {killed}"
    )
    checks = {
        "two workers were killed mid-load": len(killed) == len(KILLS_AT),
        "events were acknowledged": len(load.acknowledged) > 0,
        "acknowledged ⊆ stored": not lost,
        "no uuid stored twice": not twice,
        "nothing stored that was not sent": not unknown,
    }
    for name, held in checks.items():
        print(f"  {'ok  ' if held else 'FAIL'} {name}")
    if lost:
        print(f"  acknowledged but not stored: {sorted(lost)[:20]}")
    if twice:
        print(f"  stored twice: {sorted(twice)[:20]}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
