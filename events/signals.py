"""What the event stream tells its consumers, without knowing who they are (``events`` imports no consumer)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with ``product``: its days and hours are now local to a new time zone.
product_timezone_changed = Signal()
# Sent after commit with ``count``: new events are in the stream, a consumer may want to catch up.
events_ingested = Signal()
