"""Flags: P7 (rollup over N recorded evaluations), P6 (flag usage, 90-day range), P8 (OFREP with recording on).

Sizes: BENCH_EVALUATIONS (default: BENCH_EVENTS, itself 1M by default; the target is 10M),
BENCH_P8_SECONDS (default 15), BENCH_P8_CONCURRENCY (default 8 requests in flight),
BENCH_FLAGS_PARTS (default P7,P6,P8) to run a part alone while tuning.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench.harness import BenchContext, Result, bench_cache_url, median, percentile, server, timed

P6_TARGET_MS = 20
P7_TARGET_S = 60
P8_TARGET_RATE = 1000
P8_TARGET_P99_MS = 20
DAYS = 89  # raw evaluations for the 89 days before today; the usage range adds today: 90 days
FLAG_COUNT = 20


def run(ctx: BenchContext) -> list[Result]:
    evaluations = int(os.environ.get("BENCH_EVALUATIONS", ctx.events))
    parts = os.environ.get("BENCH_FLAGS_PARTS", "P7,P6,P8").split(",")
    world = _setup()
    results = []
    if "P7" in parts or "P6" in parts:  # P6 reads the rows P7 rolls up
        results.append(_p7_rollup(ctx, world, evaluations))
    if "P6" in parts:
        results.append(_p6_usage(ctx, world))
    if "P8" in parts:
        results.append(_p8_ofrep(ctx, world))
    return results


def _setup() -> dict:
    from core import services as tenancy
    from core.models import Plan
    from flags import services

    organization = tenancy.organization_create(name="Bench Flags", slug="bench-flags", plan=Plan.objects.get(slug="pro"))
    _, api_key = tenancy.api_key_create(organization=organization)
    project = services.project_create(organization=organization, name="Bench")
    production, sdk_key = services.environment_create(project=project, name="production")
    staging, _ = services.environment_create(project=project, name="staging")
    flags = []
    for n in range(FLAG_COUNT):
        kind = ["boolean", "string", "number", "object"][n % 4]
        variants = {
            "boolean": {"on": True, "off": False},
            "string": {"a": "Welcome", "b": "Hello"},
            "number": {"a": 10, "b": 12.5},
            "object": {"a": {"steps": 3}, "b": {"steps": 1, "wallets": ["card"]}},
        }[kind]
        first, second = list(variants)
        rules = [
            {"conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}], "variant": second},
            {"conditions": [{"attribute": "country", "operator": "eq", "value": "US"}],
             "rollout": [{"variant": first, "weight": 50}, {"variant": second, "weight": 50}]},
        ]
        flags.append(
            services.flag_create(
                project=project, key=f"flag-{n:02d}", type=kind, variants=variants,
                environments={
                    production.public_id: {"enabled": True, "defaultVariant": first, "rules": rules},
                    staging.public_id: {"enabled": n % 5 != 0, "defaultVariant": first, "rules": rules},
                },
            )
        )
    return {"project": project, "environments": [production, staging], "flags": flags, "api_key": api_key,
            "sdk_key": sdk_key}


def _generate(ctx: BenchContext, world: dict, total: int) -> None:
    """COPY ``total`` raw evaluations over the 89 days before today, skewed by flag, weekday and reason."""
    from django.db import connection

    from flags.evaluation import value_key
    from flags.models import Reason

    rng = random.Random(ctx.seed)
    today = datetime.now(UTC).date()
    pool, weights = [], []
    for index, flag in enumerate(world["flags"]):
        popularity = 1 / (index + 1)  # a few flags get most evaluations
        values = [value_key(v) for v in flag.ordered_variants.values()]
        for environment, share in zip(world["environments"], (0.85, 0.15), strict=True):
            for reason, value, weight in [
                (Reason.TARGETING_MATCH, values[1], 0.3), (Reason.SPLIT, values[0], 0.15),
                (Reason.SPLIT, values[1], 0.15), (Reason.DEFAULT, values[0], 0.37),
                (Reason.DISABLED, values[0], 0.01), (Reason.ERROR, "\\N", 0.02),
            ]:
                pool.append(f"{environment.pk}\t{flag.pk}\t{value}\t{int(reason)}")
                weights.append(popularity * share * weight)
    days = [today - timedelta(days=back) for back in range(DAYS, 0, -1)]
    day_weights = [0.6 if d.weekday() >= 5 else 1.0 for d in days]
    per_day = [int(total * w / sum(day_weights)) for w in day_weights]
    per_day[-1] += total - sum(per_day)
    times = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(0, 60, 7) for s in (5, 41)]
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS flag_evaluation_day")
        copy_sql = "COPY flags_flagevaluation (environment_id, flag_id, value, reason, evaluated_at, day) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for day, n in zip(days, per_day, strict=True):
                tails = rng.choices(pool, weights, k=n)
                stamps = rng.choices(times, k=n)
                iso = day.isoformat()
                buffer = io.StringIO()
                buffer.writelines(f"{tail}\t{iso} {stamp}+00\t{iso}\n" for tail, stamp in zip(tails, stamps, strict=True))
                copy.write(buffer.getvalue())
        cursor.execute('CREATE INDEX flag_evaluation_day ON flags_flagevaluation ("day")')
        cursor.execute("ANALYZE flags_flagevaluation")


def _p7_rollup(ctx: BenchContext, world: dict, total: int) -> Result:
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum

    from flags.models import FlagEvaluation, FlagUsageDay

    started = time.perf_counter()
    _generate(ctx, world, total)
    print(f"  generated {total:,} evaluations with COPY in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        scan = timed(lambda: cursor.execute("SELECT count(*) FROM flags_flagevaluation"), repeat=1)[0] / 1000
    started = time.perf_counter()
    call_command("rollup_flag_usage")
    seconds = time.perf_counter() - started
    rolled = FlagUsageDay.objects.aggregate(n=Sum("total_evaluations"))["n"] or 0
    raw = FlagEvaluation.objects.count()
    correct = rolled == raw == total
    return Result(
        id="P7",
        what=f"rollup_flag_usage over {total:,} evaluations",
        target=f"<= {P7_TARGET_S} s (at 10M)",
        figure=seconds,
        unit="s",
        baseline=scan,
        baseline_what="one sequential count(*) of the raw table",
        ratio=seconds / scan if scan else None,
        passed=seconds <= P7_TARGET_S and correct,
        note=f"rolled-up total {rolled:,} vs raw {raw:,} ({'equal' if correct else 'MISMATCH'})"
        + ("" if total >= 10_000_000 else "; run with BENCH_EVALUATIONS=10000000 for the target size"),
    )


def _p6_usage(ctx: BenchContext, world: dict) -> Result:
    import requests

    today = datetime.now(UTC).date()
    project, flag, environment = world["project"], world["flags"][0], world["environments"][0]
    headers = {"Authorization": f"Bearer {world['api_key']}"}
    session = requests.Session()
    with server(ctx, label="flags-usage") as base:
        url = f"{base}/v1/projects/{project.public_id}/flags/{flag.key}/usage"
        params = {"environmentId": environment.public_id, "from": (today - timedelta(days=89)).isoformat(),
                  "to": today.isoformat()}
        first = session.get(url, params=params, headers=headers)
        rows = len(first.json()["rows"]) if first.status_code == 200 else -1
        for _ in range(20):
            session.get(url, params=params, headers=headers)
        cpu_before = _cpu_seconds(_server_pids(ctx))
        samples = timed(lambda: session.get(url, params=params, headers=headers).raise_for_status(), repeat=200)
        cpu_ms = (_cpu_seconds(_server_pids(ctx)) - cpu_before) * 1000 / 200
        project_url = f"{base}/v1/projects/{project.public_id}"
        for _ in range(20):
            session.get(project_url, headers=headers)
        floor = timed(lambda: session.get(project_url, headers=headers).raise_for_status(), repeat=200)
    p50, base_p50 = median(samples), median(floor)
    return Result(
        id="P6",
        what="flag usage, 90-day range, p50 over HTTP",
        target=f"p50 <= {P6_TARGET_MS} ms",
        figure=p50,
        unit="ms",
        baseline=base_p50,
        baseline_what="GET /v1/projects/{id} p50 (an authenticated /v1 round trip)",
        ratio=p50 / base_p50 if base_p50 else None,
        passed=p50 <= P6_TARGET_MS and rows == DAYS,
        note=f"{rows} rows returned (expected {DAYS}); p99 {percentile(samples, 99):.1f} ms; "
        f"server CPU {cpu_ms:.2f} ms/request",
    )


async def _drive(url: str, sdk_key: str, seconds: float, concurrency: int, seed: int):
    import aiohttp

    rng = random.Random(seed)
    flag_keys = [f"flag-{n:02d}" for n in range(FLAG_COUNT)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {sdk_key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(number: int) -> None:
            local = random.Random(rng.random() + number)
            while time.perf_counter() < deadline:
                user, plan, country = (
                    local.randint(1, 100_000), local.choice(["free", "pro", "team"]), local.choice(["US", "DE", "FR"])
                )
                body = f'{{"context": {{"targetingKey": "user-{user}", "plan": "{plan}", "country": "{country}"}}}}'
                start = time.perf_counter()
                async with session.post(f"{url}/ofrep/v1/evaluate/flags/{local.choice(flag_keys)}", data=body) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append((time.perf_counter() - start) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def _ofrep_run(ctx: BenchContext, world: dict, *, mode: str, seconds: float, concurrency: int, label: str):
    from flags.models import FlagEvaluation

    before = FlagEvaluation.objects.count()
    with server(ctx, label=label, env={"FLAG_RECORDING_MODE": mode, "OFREP_RATE_LIMIT": "1000000/s"}) as base:
        _, warm, _ = asyncio.run(_drive(base, world["sdk_key"], 2, concurrency, ctx.seed))  # warm up every worker
        cpu_before = _cpu_seconds(_server_pids(ctx))
        latencies, statuses, elapsed = asyncio.run(_drive(base, world["sdk_key"], seconds, concurrency, ctx.seed + 1))
        cpu_ms = (_cpu_seconds(_server_pids(ctx)) - cpu_before) * 1000 / max(1, len(latencies))
    print(f"  {mode}: server CPU {cpu_ms:.2f} ms per evaluation", flush=True)
    # The server has exited: every worker flushed its buffer on the way out.
    recorded = FlagEvaluation.objects.count() - before
    evaluated = sum(n for counts in (warm, statuses) for code, n in counts.items() if code in (200, 400))
    return latencies, statuses, elapsed, recorded, evaluated, cpu_ms


def _server_pids(ctx: BenchContext) -> list[int]:
    # Read now, not at start-up: gunicorn may still have been forking workers when its port opened.
    from bench.harness import _worker_pids

    return _worker_pids(ctx.extra["server_pids"][0])


def _cpu_seconds(pids: list[int]) -> float:
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


def _p8_ofrep(ctx: BenchContext, world: dict) -> Result:
    seconds = float(os.environ.get("BENCH_P8_SECONDS", "15"))
    concurrency = int(os.environ.get("BENCH_P8_CONCURRENCY", "8"))
    direct, _, direct_elapsed, _, _, _ = _ofrep_run(
        ctx, world, mode="direct", seconds=min(seconds, 8), concurrency=concurrency, label="flags-ofrep-direct"
    )
    direct_rate = len(direct) / direct_elapsed
    print(f"  direct INSERT per evaluation: {direct_rate:,.0f}/s, p99 {percentile(direct, 99):.1f} ms", flush=True)
    latencies, statuses, elapsed, recorded, evaluated, cpu_ms = _ofrep_run(
        ctx, world, mode="buffered", seconds=seconds, concurrency=concurrency, label="flags-ofrep"
    )
    rate = len(latencies) / elapsed
    p99 = percentile(latencies, 99)
    ok = statuses.get(200, 0) == len(latencies)
    return Result(
        id="P8",
        what=f"OFREP single evaluation, recording on ({concurrency} in flight)",
        target=f">= {P8_TARGET_RATE}/s, p99 <= {P8_TARGET_P99_MS} ms",
        figure=rate,
        unit="eval/s",
        baseline=direct_rate,
        baseline_what="the same with one INSERT per evaluation (direct mode)",
        ratio=rate / direct_rate if direct_rate else None,
        passed=rate >= P8_TARGET_RATE and p99 <= P8_TARGET_P99_MS and ok and recorded == evaluated,
        note=f"cache {bench_cache_url() or 'per process'}; p50 {percentile(latencies, 50):.1f} ms, p99 {p99:.1f} ms; server CPU {cpu_ms:.2f} ms/evaluation; "
        f"statuses {statuses}; "
        f"recorded {recorded:,} rows for {evaluated:,} evaluations answered (warm-up included)",
    )
