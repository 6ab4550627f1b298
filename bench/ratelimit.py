"""L1: what the shared rate limit costs a request with Redis, beside the per-process cache in the same run.

In-process, one thread: each request's ``rate_limit_hit`` with the per-process
cache, with Redis counted by one INCR per request (the limiter before issue 10,
reproduced by ``cache.incr``), and with Redis counted in batches (now). Knobs:
BENCH_CACHE_URL (the Redis to use), BENCH_RATELIMIT_CALLS (20,000).
"""

from __future__ import annotations

import os
import time
import uuid

from bench.harness import BenchContext, Result, bench_cache_url

# Redis must not make the check slower than the per-process cache by more than this.
TARGET_RATIO_TO_LOCAL = 1.25


def run(ctx: BenchContext) -> list[Result]:
    from django.core.cache import cache
    from django.test import override_settings

    from lib import ratelimit

    calls = int(os.environ.get("BENCH_RATELIMIT_CALLS", "20000"))
    url = bench_cache_url() or "redis://127.0.0.1:6379/0"
    redis_caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    local_caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    rate = "1000000/s"  # never refuses: the cost of counting, not of answering 429

    def per_call_us(fn) -> float:
        fn()  # connect, warm
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls * 1e6

    identity = uuid.uuid4().hex
    with override_settings(CACHES=local_caches):
        local = per_call_us(lambda: ratelimit.rate_limit_hit(scope="bench", identity=identity, rate=rate))
    with override_settings(CACHES=redis_caches):
        client = cache._cache.get_client(write=True)
        round_trip = per_call_us(client.ping)
        cache.set("bench:incr", 0, timeout=60)
        incr_each = per_call_us(lambda: cache.incr("bench:incr"))
        batched = per_call_us(lambda: ratelimit.rate_limit_hit(scope="bench", identity=identity, rate=rate))
        ratelimit.rate_limit_flush()
    print(
        f"  rate limit per request: per-process {local:.1f} µs, Redis INCR each {incr_each:.1f} µs, "
        f"Redis batched {batched:.1f} µs; one Redis PING {round_trip:.1f} µs"
    )
    return [
        Result(
            id="L1",
            what="rate limit check per request, Redis shared (µs)",
            target=f"<= {TARGET_RATIO_TO_LOCAL}x the per-process cache",
            figure=batched,
            unit="µs",
            baseline=local,
            baseline_what="the same check on the per-process cache",
            ratio=batched / local if local else None,
            passed=batched <= TARGET_RATIO_TO_LOCAL * local,
            note=(
                f"{calls:,} calls, one thread, {url}; one INCR per request (before issue 10) {incr_each:.1f} µs; "
                f"one Redis PING {round_trip:.1f} µs"
            ),
        )
    ]
