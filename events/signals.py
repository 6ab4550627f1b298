"""What the event stream tells its consumers, without knowing who they are (``events`` imports no consumer)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit with ``product``: its days and hours are now local to a new time zone.
product_timezone_changed = Signal()
# Sent after commit with ``count``: new events are in the stream, a consumer may want to catch up.
events_ingested = Signal()
# Sent by the product resource with ``product``: a receiver answers fields it adds to the product's
# ``analytics`` state (Feature Usage answers how far its fold is behind), or None.
product_analytics_state = Signal()
