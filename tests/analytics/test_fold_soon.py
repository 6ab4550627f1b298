"""Ingestion's fold request costs the queue's claim (a Redis round trip) at most once per second per process."""

from __future__ import annotations

from analytics import tasks


def test_a_burst_of_ingestions_asks_for_the_claim_once(db, monkeypatch):
    monkeypatch.setattr(tasks, "_asked_at", -tasks.FOLD_DEBOUNCE_SECONDS)  # as in a fresh process
    asked = []
    monkeypatch.setattr(tasks, "fold_claim", lambda: asked.append(1) or False)  # held: nothing is sent

    for _ in range(50):
        tasks.fold_soon()
    assert asked == [1]
