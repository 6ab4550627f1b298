from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flags import key_usage
from tests.flags.factories import environment_with_key

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_marks():
    key_usage.forget_marks()
    yield
    key_usage.forget_marks()


def test_it_writes_a_keys_last_use_at_most_once_a_minute_per_process(project, django_assert_num_queries, monkeypatch):
    environment, raw = environment_with_key(project, "production")
    clock = iter([1000.0, 1059.0, 1061.0])
    monkeypatch.setattr(key_usage, "_clock", lambda: next(clock))
    with django_assert_num_queries(1):
        key_usage.sdk_key_mark_used(raw_key=raw, now=NOON)
    with django_assert_num_queries(0):  # 59 s later: remembered, not written
        key_usage.sdk_key_mark_used(raw_key=raw, now=NOON.replace(minute=1))
    assert environment.sdk_keys.get().last_used_at == NOON
    with django_assert_num_queries(1):  # 61 s after the first: written again
        key_usage.sdk_key_mark_used(raw_key=raw, now=NOON.replace(minute=2))
    assert environment.sdk_keys.get().last_used_at == NOON.replace(minute=2)


def test_a_revoked_key_is_not_marked(project):
    environment, raw = environment_with_key(project, "production")
    environment.sdk_keys.update(revoked_at=NOON)
    key_usage.sdk_key_mark_used(raw_key=raw, now=NOON)
    assert environment.sdk_keys.get().last_used_at is None
