"""Feature Usage counters: per-day aggregates kept beside the events (filled in by the Feature Usage work)."""

from __future__ import annotations
