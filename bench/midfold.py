"""Feature Usage exact *while* the worker folds, and P5 measured at the same time (part of ``freshness``).

The product has PERFORMANCE.md's shape (freshness._shape_licenses: 2,000 power-law
licenses, 40 % of them on two domains, 10 % of events without a license, 40 Zipf
features, a fifth sent as ``feature_used``, 60 days of weekday/hour rhythm), but
every event arrives through ``POST /public/v1/events`` in 1,000-event batches from
4 clients, in ``BENCH_MIDFOLD_BURSTS`` bursts, with ``manage.py worker`` folding
meanwhile (its beat starts a fold every second).

Between two bursts ingestion is paused and every acknowledged event is committed
(the endpoint answers after its commit), so the events are fixed: Feature Usage is
read over HTTP (30-day window, ``event=`` and ``license_id=``) and each answer is
compared with the naive GROUP BY over the same events. The watermark's lag (events
above ``folded_through``) is recorded just before and just after the HTTP reads: a
check whose lag is 0 before the read did not happen mid-fold, and the result says
how many did. Any mismatch fails the run (the diff is printed by ``_same``).

P5 here is the burst throughput (acknowledged events / seconds spent sending),
beside psycopg's ``executemany`` of the same rows (the first BASELINE_ROWS of them)
into a copy of the events table, in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.feature_usage import _Client, _naive, _product_with_key, _same
from bench.harness import BenchContext, Result

BATCH = 1000
CLIENTS = 4
BASELINE_ROWS = 100_000
P5_TARGET = 30_000
SHAPE_FEATURES = 40
SHAPE_LICENSES = 2000
SHAPE_DAYS = 60


def run_midfold(ctx: BenchContext, connection, base_url: str, size: int, *, zone: str, licenses_sql) -> list[Result]:
    from analytics.counters import fold_lag
    from events.models import License, Product

    bursts = int(os.environ.get("BENCH_MIDFOLD_BURSTS", "5"))
    product, raw_key = _product_with_key(size + 4)
    licenses_sql(connection, product_id=product.pk)
    client = _Client(base_url, raw_key)
    path = f"/v1/products/{product.public_id}/analytics/feature-usage"
    rows = _ShapeEvents(seed=ctx.seed, zone=zone)

    many_rate = _executemany_baseline(connection, product.pk, rows.take(min(BASELINE_ROWS, size), peek=True))
    print(f"   mid-fold: executemany of the same rows {many_rate:,.0f}/s", flush=True)

    per_burst = -(-size // bursts)
    sent = sent_s = 0
    checks, mismatches, first_ms = [], 0, None
    license_ids = list(License.objects.filter(product=product).order_by("id").values_list("id", "public_id"))
    for burst in range(bursts):
        count = min(per_burst, size - sent)
        if count <= 0:
            break
        bodies = [
            json.dumps({"public_key": product.public_key, "events": rows.take(min(BATCH, count - start))}).encode()
            for start in range(0, count, BATCH)
        ]
        acknowledged, elapsed, errors = asyncio.run(_send(base_url, bodies))
        if errors:
            print(f"   mid-fold: burst {burst + 1}: {errors} batches refused", flush=True)
        sent += acknowledged
        sent_s += elapsed
        fresh = Product.objects.get(pk=product.pk)
        lag_before = fold_lag(product=fresh)
        started = time.perf_counter()
        fast = client.get(path)
        answer_ms = (time.perf_counter() - started) * 1000
        if burst == bursts - 1 or sent >= size:
            first_ms = answer_ms
        needle = "feature_0"
        fast_event = client.get(f"{path}?event={needle}")
        # A license in the middle of the power law: neither the heaviest nor one that is rarely there.
        license_pk, license_public = license_ids[len(license_ids) // 20]
        fast_license = client.get(f"{path}?license_id={license_public}")
        lag_after = fold_lag(product=fresh)
        window = {
            "date_from": date.fromisoformat(fast["from"]),
            "date_to": date.fromisoformat(fast["to"]),
            "zone": zone,
        }
        equal = [
            _same(fast, _naive(connection, product_id=product.pk, **window)),
            _same(fast_event, _naive(connection, product_id=product.pk, event=needle, **window)),
            _same(fast_license, _naive(connection, product_id=product.pk, license_pk=license_pk, **window)),
        ]
        counted = _stored(connection, product.pk) == sent  # every acknowledged event committed, no more
        mismatches += equal.count(False) + (not counted)
        checks.append((sent, lag_before.events, lag_after.events, all(equal) and counted))
        print(
            f"   mid-fold: burst {burst + 1}/{bursts}: {acknowledged:,} events in {elapsed:.1f} s "
            f"({acknowledged / elapsed:,.0f}/s); {sent:,} sent; watermark lag {lag_before.events:,} events "
            f"({lag_before.seconds:.0f} s) before the reads, {lag_after.events:,} after; "
            f"30-day answer {answer_ms:,.0f} ms; fast == naive (30-day, event=, license_id=): {equal}",
            flush=True,
        )
    midfold_checks = sum(1 for _, before, after, _ in checks if before > 0 and after > 0)
    rate = sent / sent_s if sent_s else 0.0
    lags = ", ".join(f"{before:,}/{after:,}" for _, before, after, _ in checks)
    return [
        Result(
            "MF",
            f"Feature Usage == naive while the worker folds ({len(checks)} checks)",
            "every answer exact, mid-fold",
            float(mismatches),
            "mismatches",
            passed=mismatches == 0 and midfold_checks == len(checks) and sent == size,
            note=(
                f"{midfold_checks} of {len(checks)} checks with the watermark behind through the reads; "
                f"lag before/after the reads (events): {lags}"
            ),
        ),
        Result(
            "P5s",
            f"batch ingestion while the worker folds, {size:,} shape events",
            f">= {P5_TARGET:,} events/s",
            rate,
            "ev/s",
            baseline=many_rate,
            baseline_what="psycopg executemany of the same rows",
            ratio=rate / many_rate,
            passed=rate >= P5_TARGET,
            note=f"{bursts} bursts from {CLIENTS} clients, {sent:,} acknowledged in {sent_s:.1f} s",
        ),
        Result(
            "P0s",
            f"first 30-day answer after the last burst ({size:,} shape events)",
            "<= 1 s, exact",
            first_ms or 0.0,
            "ms",
            passed=first_ms is not None and first_ms <= 1000 and bool(checks) and checks[-1][3],
            note=f"watermark lag then: {checks[-1][1]:,} events" if checks else "",
        ),
    ]


def _stored(connection, product_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events_event WHERE product_id = %s", [product_id])
        return cursor.fetchone()[0]


class _ShapeEvents:
    """PERFORMANCE.md's shape as batch-endpoint events, deterministic for a seed (the SQL generator's rules)."""

    def __init__(self, *, seed: int, zone: str):
        self.random = random.Random(seed)
        tz = ZoneInfo(zone)
        today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        self.midnights = [today - timedelta(days=offset) for offset in range(SHAPE_DAYS + 2)]
        self.buffer: list[dict] = []

    def _one(self) -> dict:
        r = self.random.random
        feature = f"feature_{int(SHAPE_FEATURES * r() ** 3):02d}"
        licensed, lic, rd = r() >= 0.1, int(SHAPE_LICENSES * r() ** 3), r()
        day_offset = int(r() * SHAPE_DAYS)
        if self.midnights[day_offset].weekday() >= 5 and r() < 0.5 and day_offset < SHAPE_DAYS - 2:
            day_offset += 2  # quieter weekends
        rh = r()
        hour = 8 + int(rh / 0.65 * 10) if rh < 0.65 else int((rh - 0.65) / 0.35 * 24)
        local = self.midnights[day_offset] + timedelta(hours=hour, minutes=int(r() * 60))
        at = min(local.astimezone(UTC), datetime.now(UTC))  # today's working hours may be ahead of now
        event = {"event": feature, "timestamp": at.isoformat().replace("+00:00", "Z")}
        if r() < 0.2:
            event = {**event, "event": "feature_used", "properties": {"feature": feature}}
        if licensed:
            event["license_key"] = f"SHAPE-{lic}"
            event["site"] = f"staging.site{lic}.example" if lic % 5 < 2 and rd < 0.5 else f"site{lic}.example"
        else:
            event["site"] = f"anon{int(rd * 1000)}.example"
        return event

    def take(self, count: int, *, peek: bool = False) -> list[dict]:
        while len(self.buffer) < count:
            self.buffer.append(self._one())
        taken = self.buffer[:count]
        if not peek:
            del self.buffer[:count]
        return taken


def _executemany_baseline(connection, product_id: int, events: list[dict]) -> float:
    """Rows/s of psycopg's executemany of these events (as ingestion would store them), one transaction."""
    import psycopg

    settings = connection.settings_dict
    rows = []
    for e in events:
        feature = e.get("properties", {}).get("feature", e["event"])
        properties = json.dumps(e.get("properties", {}))
        at = datetime.fromisoformat(e["timestamp"])
        rows.append((product_id, e["event"], feature, properties, e.get("license_key", ""), e["site"], at, at))
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"]
    ) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_midfold_baseline")
        conn.execute("CREATE TABLE bench_midfold_baseline (LIKE events_event INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_midfold_baseline (product_id, event, feature, is_system, properties, license_key, "
                "domain, occurred_at, received_at) VALUES (%s, %s, %s, false, %s, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
        rate = len(rows) / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_midfold_baseline")
        conn.commit()
    return rate


async def _send(base_url: str, bodies: list[bytes]) -> tuple[int, float, int]:
    """Posts the batches from CLIENTS keep-alive clients; (acknowledged, seconds, refused batches)."""
    import aiohttp

    state = {"acknowledged": 0, "errors": 0}
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as session:

        async def sender() -> None:
            while queue:
                body = queue.pop()
                async with session.post(
                    f"{base_url}/public/v1/events", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    payload = await response.json(content_type=None)
                    if response.status == 200:
                        state["acknowledged"] += payload["accepted"]
                    else:
                        state["errors"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    return state["acknowledged"], elapsed, state["errors"]
