"""``countedThrough``: how fresh an analytics or flag answer is, in the API (ISO 8601 UTC) and the console.

The moment itself is decided where the answer is read (``lib.replica``'s
``ReadSource.counted_through``; the flag recorder's pending evaluations in
``flags.recording.counted_through``); docs/freshness.md has the definitions.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from django.utils import timezone

COUNTED_THROUGH = "countedThrough"
SCHEMA = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "Every event (or evaluation) acknowledged before this moment is counted in the answer "
    "(ISO 8601 UTC; on a replica, as of its replay point; null when it cannot be known).",
}


def iso_utc(moment: datetime | None) -> str | None:
    """``2026-03-09T13:02:31.123Z``: truncated to the millisecond, so it never claims more than was read."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def counted_through_label(moment: datetime | None, zone: str, *, now: datetime | None = None) -> str:
    """ "counted through 14:02:31 Europe/Berlin" (seconds truncated); with the date when it is not today there."""
    if moment is None:
        return "counted through: unknown"
    tz = zoneinfo.ZoneInfo(zone)
    local = moment.astimezone(tz)
    today = (now or timezone.now()).astimezone(tz).date()
    shown = local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M:%S")
    return f"counted through {shown} {zone}"


# CSV answers carry it as a response header (a line above the column names would break CSV readers).
COUNTED_THROUGH_HEADER = "PackEdge-Counted-Through"
