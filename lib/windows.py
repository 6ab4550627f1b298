"""How many days a window has: one rule for the console presets and every API's default window.

A window is a run of whole days, both ends included. "N days" is the N days
ending on the last one (today by default): 7 days ending 2026-03-09 are
2026-03-03 … 2026-03-09. Every page and API counts so (docs/windows.md).
"""

from __future__ import annotations

from datetime import date, timedelta


def days_ending(last: date, *, days: int) -> tuple[date, date]:
    """(first, last) of the ``days`` days ending on ``last``, both included: days=7 → last − 6 … last."""
    if days < 1:
        raise ValueError("a window has at least one day")
    return last - timedelta(days=days - 1), last


def days_spanned(first: date, last: date) -> int:
    """How many days ``first`` … ``last`` holds, both included (the inverse of ``days_ending``)."""
    return (last - first).days + 1
