from __future__ import annotations

from django.test import override_settings

from tenancy import checks


def test_it_accepts_well_formed_rate_limits():
    assert checks.check_rate_limits(None) == []


@override_settings(RATE_LIMITS={"ingest": "lots"})
def test_it_reports_a_malformed_rate_limit():
    (error,) = checks.check_rate_limits(None)
    assert error.id == "packedge.E001"
    assert "'ingest'" in error.msg


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_it_warns_when_the_cache_is_per_process():
    (warning,) = checks.check_shared_cache(None)
    assert warning.id == "packedge.W001"


@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
)
def test_it_is_quiet_with_a_shared_cache():
    assert checks.check_shared_cache(None) == []
