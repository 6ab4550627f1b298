"""The fold statement by statement on PERFORMANCE.md's shape (issue 18).

A product of the shape (bench.freshness) gets ``BENCH_EVENTS`` events, unfolded, in id
order spread over its 60 days, as ingestion leaves them. Then the worker's folds are
replayed: a first fold of ``BENCH_FOLD_FIRST`` (76 %) of the events, then the rest in
steps of ``BENCH_FOLD_STEP`` events, each statement timed. ``COPY`` of the same rows into a
copy of the events table is the same-run baseline.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

from bench.feature_usage import _product_with_key, _vacuum_analyze
from bench.harness import BenchContext, Result


def run(ctx: BenchContext) -> list[Result]:
    from django.db import connection

    from analytics.counters import counters_fold
    from analytics.models import CounterState
    from bench.freshness import _generate_shape
    from events.models import Event, Product

    size = ctx.events
    first_share = float(os.environ.get("BENCH_FOLD_FIRST", "0.76"))
    step = int(os.environ.get("BENCH_FOLD_STEP", str(max(size // 20, 1))))
    product, _ = _product_with_key(size + 5)
    started = time.perf_counter()
    _generate_shape(connection, product_id=product.pk, size=size, seed=ctx.seed)
    print(f"   {size:,} shape events generated in {time.perf_counter() - started:.1f} s", flush=True)
    _vacuum_analyze()
    copy_rate = _copy_rate(connection, product.pk, size)
    print(f"   COPY of the same rows: {copy_rate:,.0f} rows/s; load {os.getloadavg()[0]:.2f}", flush=True)
    ids = list(Event.objects.filter(product=product).order_by("id").values_list("id", flat=True))
    cuts = [ids[int(len(ids) * first_share) - 1]]
    position = int(len(ids) * first_share)
    while position < len(ids):
        position = min(position + step, len(ids))
        cuts.append(ids[position - 1])
    timings: dict[str, list[float]] = defaultdict(list)

    def timer(execute, sql, params, many, context):
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[_label(sql)].append(time.perf_counter() - begun)

    results = []
    folded_total, fold_seconds = 0, 0.0
    from events import selectors

    real_barrier = selectors.events_committed_through
    for index, cut in enumerate(cuts):
        timings.clear()
        # The fold goes only as far as the cut, as if the later events had not arrived yet.
        import analytics.counters as counters

        counters.events_committed_through = lambda *, product_id, cut=cut: cut
        try:
            with connection.execute_wrapper(timer):
                begun = time.perf_counter()
                folded = counters_fold(product=Product.objects.get(pk=product.pk))
                seconds = time.perf_counter() - begun
        finally:
            counters.events_committed_through = real_barrier
        folded_total += folded
        fold_seconds += seconds
        print(
            f"   fold {index}: {folded:,} events in {seconds:.2f} s ({folded / max(seconds, 1e-9):,.0f}/s), "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for label, spent in sorted(timings.items(), key=lambda item: -sum(item[1]))[:12]:
            if sum(spent) >= 0.05:
                print(f"      {sum(spent):7.2f} s  x{len(spent):<3} {label}", flush=True)
    assert CounterState.objects.get(product=product).folded_through == ids[-1]
    rate = folded_total / fold_seconds
    results.append(
        Result(
            "P10s",
            f"fold of {size:,} shape events in {len(cuts)} folds",
            ">= 50,000 events/s",
            rate,
            "ev/s",
            baseline=copy_rate,
            baseline_what="COPY of the same rows",
            ratio=rate / copy_rate,
            passed=rate >= 50_000,
            note=f"first fold {first_share:.0%}, then steps of {step:,}; load {os.getloadavg()[0]:.2f}",
        )
    )
    return results


def _label(sql: str) -> str:
    text = " ".join(sql.split())
    for marker in ("INSERT INTO", "CREATE TEMPORARY TABLE", "DELETE FROM", "ANALYZE", "SELECT", "WITH"):
        at = text.find(marker)
        if at >= 0:
            return text[at : at + 110]
    return text[:110]


def _copy_rate(connection, product_id: int, size: int) -> float:
    columns = (
        "product_id, event, feature, is_system, properties, license_id, license_key, domain, occurred_at, received_at"
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        cursor.execute("CREATE TABLE bench_copy_baseline (LIKE events_event INCLUDING ALL)")
        buffer = bytearray()
        with cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM events_event WHERE product_id = %s) TO STDOUT", [product_id]
        ) as copy:
            for chunk in copy:
                buffer += chunk
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY bench_copy_baseline ({columns}) FROM STDIN") as copy:
            copy.write(bytes(buffer))
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_baseline")
    return size / seconds
