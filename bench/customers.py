"""The customer reads at BENCH_EVENTS events: one license's usage, the entitlement gap, key sharing.

The same generated product as the Feature Usage suite; one license in ten is given
``maxSites = 1`` so the sharing answer has work to do. Target: p50 <= 150 ms each
(issue 20), with the counters folded as the worker keeps them.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.feature_usage import (
    DAYS,
    REPEAT,
    _Client,
    _events_indexes_dropped,
    _generate,
    _licenses_by_events,
    _product_with_key,
    _vacuum_analyze,
)
from bench.harness import BenchContext, Result, median, server, timed

TARGET_MS = 150


def _generated_product(ctx: BenchContext, connection, size: int):
    from analytics.counters import counters_rebuild
    from events.models import License, Product
    from events.partitions import event_partitions_ensure

    product, raw_key = _product_with_key(size)
    event_partitions_ensure(now=datetime.now(UTC) - timedelta(days=DAYS + 1))
    started = time.perf_counter()
    with _events_indexes_dropped(connection):
        _generate(connection, product_id=product.pk, size=size, seed=ctx.seed)
    print(f"   {size:,} events generated in {time.perf_counter() - started:.1f} s", flush=True)
    counters_rebuild(product=Product.objects.get(pk=product.pk))
    limited = list(License.objects.filter(product=product).order_by("pk").values_list("pk", flat=True)[::10])
    License.objects.filter(pk__in=limited).update(max_sites=1)
    # Creation dates spread over the generated days, so time to first use has a cohort in every window.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE events_license SET created_at = now() - (id %% %s) * interval '1 day' WHERE product_id = %s",
            [DAYS, product.pk],
        )
    _vacuum_analyze()
    return product, raw_key


def _reused_product(size: int):
    """BENCH_REUSE=1: the product a previous run generated in this database, with a new key (raw keys are not kept)."""
    from events.models import Product
    from tenancy import services as tenancy

    product = Product.objects.get(name=f"Big plugin {size}")
    _, raw_key = tenancy.api_key_create(organization=product.organization, name="bench again")
    print(f"   reusing the {size:,} events of {product.public_id}", flush=True)
    return product, raw_key


def run(ctx: BenchContext) -> list[Result]:
    from django.db import connection

    size = ctx.events
    if os.environ.get("BENCH_REUSE") == "1":
        product, raw_key = _reused_product(size)
    else:
        product, raw_key = _generated_product(ctx, connection, size)
    licenses = _licenses_by_events(connection, product.pk)
    median_license = licenses[len(licenses) // 2][1]
    heaviest = licenses[0][1]
    base = f"/v1/products/{product.public_id}"
    paths = {
        "license usage (median license)": f"{base}/licenses/{median_license}/usage",
        "license usage (heaviest license)": f"{base}/licenses/{heaviest}/usage",
        "entitlement gap used=false, first page": f"{base}/analytics/features/dark_mode/licenses?used=false",
        "entitlement gap used=true, first page": f"{base}/analytics/features/export_pdf/licenses?used=true",
        "license sharing (1 in 10 licenses limited)": f"{base}/analytics/license-sharing",
        "time to first use (export_pdf)": f"{base}/analytics/features/export_pdf/time-to-first-use",
        "time to first use (dark_mode)": f"{base}/analytics/features/dark_mode/time-to-first-use",
    }
    # The same-run baseline: the cheapest authenticated read (one product row), on the same server.
    baseline_path = base
    results = []
    with server(ctx) as base_url:
        client = _Client(base_url, raw_key)
        client.get(baseline_path)
        baseline = median(timed(lambda: client.get(baseline_path), repeat=REPEAT))
        print(f"   baseline GET /v1/products/{{id}}: p50 {baseline:.1f} ms", flush=True)
        results.append(
            Result("C0", f"baseline: GET product, {size:,} events", "same-run baseline", baseline, "ms", passed=True)
        )
        for what, path in paths.items():
            client.get(path)
            p50 = median(timed(lambda p=path: client.get(p), repeat=REPEAT))
            print(f"   {what}: p50 {p50:.1f} ms", flush=True)
            results.append(
                Result("C1", f"{what}, {size:,} events", f"p50 <= {TARGET_MS} ms", p50, "ms", passed=p50 <= TARGET_MS)
            )
    return results
