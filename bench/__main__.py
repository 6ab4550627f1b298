"""`make bench`: run the benchmark suites and print one table.

BENCH_ONLY=freshness,ingestion picks suites; BENCH_EVENTS sets the Feature Usage size.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from bench.harness import BenchContext, Result, print_table, recreate_database, setup_django, write_results

SUITES = ["feature_usage", "freshness", "ingestion", "flags", "ratelimit", "installs"]
RSS_LIMIT_MB = 250


def memory_result(ctx: BenchContext) -> Result | None:
    """P9: the largest server process stayed under the limit through every suite."""
    peaks = ctx.extra.get("rss_peaks", {})
    if not peaks:
        return None
    label, peak = max(peaks.items(), key=lambda item: item[1])
    detail = ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks.items())
    return Result(
        id="P9",
        what="peak RSS of a server process (all suites)",
        target=f"< {RSS_LIMIT_MB} MB",
        figure=peak,
        unit="MB",
        passed=peak < RSS_LIMIT_MB,
        note=f"peaks by server: {detail}",
    )


def main() -> int:
    ctx = BenchContext()
    wanted = [s for s in os.environ.get("BENCH_ONLY", ",".join(SUITES)).split(",") if s]
    if os.environ.get("BENCH_REUSE") == "1":
        # BENCH_ONLY=customers: measure again on the database a previous run left (same events).
        ctx.database_url = ctx.database_url_for(ctx.database_name)
    else:
        recreate_database(ctx)
    setup_django(ctx)
    results = []
    walls = []  # (suite, seconds, load average at its end): the quick run's budget is its sum
    started = time.perf_counter()
    for name in wanted:
        try:
            suite = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"(suite {name} not present, skipped)")
            continue
        print(f"== {name}", flush=True)
        suite_started = time.perf_counter()
        results += suite.run(ctx)
        walls.append((name, time.perf_counter() - suite_started, os.getloadavg()[0]))
    if memory := memory_result(ctx):
        results.append(memory)
    print()
    print_table(results)
    total = time.perf_counter() - started
    print()
    print(
        "wall clock: "
        + ", ".join(f"{name} {seconds:.0f} s (load {load:.1f})" for name, seconds, load in walls)
        + f"; total {total / 60:.1f} min ({ctx.events:,} events)"
    )
    ctx.extra["wall_seconds"] = {name: round(seconds, 1) for name, seconds, _ in walls} | {"total": round(total, 1)}
    write_results(ctx, results)
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
