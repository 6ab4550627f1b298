"""`make bench`: run the benchmark suites and print one table.

BENCH_ONLY=ingestion,flags picks suites; BENCH_EVENTS sets the Feature Usage size.
"""

from __future__ import annotations

import importlib
import os
import sys

from bench.harness import BenchContext, print_table, recreate_database, setup_django, write_results

SUITES = ["feature_usage", "ingestion", "flags"]


def main() -> int:
    ctx = BenchContext()
    wanted = [s for s in os.environ.get("BENCH_ONLY", ",".join(SUITES)).split(",") if s]
    recreate_database(ctx)
    setup_django(ctx)
    results = []
    for name in wanted:
        try:
            suite = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"(suite {name} not present, skipped)")
            continue
        print(f"== {name}", flush=True)
        results += suite.run(ctx)
    print()
    print_table(results)
    write_results(ctx, results)
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
