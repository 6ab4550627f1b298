"""One meaning of "N days": the N days ending on the last one, both ends included (lib.windows)."""

from __future__ import annotations

from datetime import date

import pytest
from django.http import QueryDict

from lib.windows import days_ending, days_spanned
from tenancy.console import console_window

TODAY = date(2026, 3, 9)


def test_seven_days_end_today_and_include_it():
    assert days_ending(TODAY, days=7) == (date(2026, 3, 3), TODAY)
    assert days_ending(TODAY, days=1) == (TODAY, TODAY)
    assert days_spanned(*days_ending(TODAY, days=30)) == 30
    with pytest.raises(ValueError):
        days_ending(TODAY, days=0)


@pytest.mark.parametrize(("query", "window", "preset"), [
    ("", {"from": "2026-02-08", "to": "2026-03-09"}, 30),  # the default preset sends its 30 days too
    ("days=7", {"from": "2026-03-03", "to": "2026-03-09"}, 7),
    ("days=90", {"from": "2025-12-10", "to": "2026-03-09"}, 90),
    ("days=8", {"from": "2026-02-08", "to": "2026-03-09"}, 30),  # not a preset: the default
    ("from=2026-01-01&days=7", {"from": "2026-01-01"}, None),  # an explicit window wins
])  # fmt: skip
def test_every_console_preset_is_that_many_days_ending_today(query, window, preset):
    assert console_window(QueryDict(query), today=TODAY, presets=(7, 30, 90), default_preset=30) == (window, preset)


def test_the_api_defaults_state_their_day_counts():
    from analytics.feature_usage.query import DEFAULT_WINDOW_DAYS as FEATURE_USAGE_DAYS
    from flags.selectors import DEFAULT_WINDOW_DAYS as FLAG_USAGE_DAYS

    # The contracts: Feature Usage's `from` = `to` − 30 (31 days), flag usage's 29 days before `to` (30 days).
    assert (FEATURE_USAGE_DAYS, FLAG_USAGE_DAYS) == (31, 30)
