"""System checks that catch a bad production configuration at start-up."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from lib.ratelimit import parse_rate

PROCESS_LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@register()
def check_rate_limits(app_configs, **kwargs):
    errors = []
    for scope, rate in settings.RATE_LIMITS.items():
        if rate is None:
            continue
        try:
            parse_rate(rate)
        except ValueError:
            errors.append(
                Error(f"Rate limit '{scope}' is '{rate}'; expected e.g. '1000/s' or '60/min'.", id="packedge.E001")
            )
    return errors


@register(deploy=True)
def check_shared_cache(app_configs, **kwargs):
    # Rate limits and the public-key cache live in the cache: a per-process
    # cache multiplies every limit by the number of workers.
    if settings.CACHES["default"]["BACKEND"] in PROCESS_LOCAL_CACHES:
        return [
            Warning(
                "CACHE_URL points at a per-process cache; rate limits are then per worker.",
                hint="Set CACHE_URL=redis://host:6379/0 in production.",
                id="packedge.W001",
            )
        ]
    return []
