"""Feature Usage: the one computation behind the API, its CSV export and the console tab.

Unfiltered and ``event=`` answers come from the counters of ``events.counters``
(per local day × hour × feature, and 32-day blocks per license or domain × feature),
whose size follows the answer, not the event count. ``license_id=`` answers read
that one license's raw events through the (product, license, occurred_at) index:
their cost follows that license's events. Pending events are folded in first, so
an accepted event counts on the very next request.

The package: ``query`` (parameters), ``sources`` (counters or one license's rows),
``report`` (the answer), ``export`` (CSV).
"""

from __future__ import annotations

from analytics.feature_usage.export import CSV_TABLES, feature_usage_csv
from analytics.feature_usage.query import FeatureUsageQuery, feature_usage_allowed, parse_feature_usage_query
from analytics.feature_usage.report import feature_usage

__all__ = [
    "CSV_TABLES",
    "FeatureUsageQuery",
    "feature_usage",
    "feature_usage_allowed",
    "feature_usage_csv",
    "parse_feature_usage_query",
]
