"""Feature Usage: the one computation behind the API, its CSV export and the console tab.

Unfiltered and ``event=`` answers come from the counters of ``analytics.counters``
(per local day × hour × feature, and 32-day blocks per license or domain × feature),
whose size follows the answer, not the event count. ``license_id=`` answers read
that license's counters, or with ``event=`` its raw events through the (product,
license, occurred_at) index. The worker folds events into the counters; a request
never does: it adds the exact aggregate of the events not folded yet (the tail),
so an accepted event counts on the very next request.

The package: ``query`` (parameters), ``sources`` (counters or one license's rows),
``tail`` (the tail merged with the counters in SQL), ``report`` (the answer), ``export`` (CSV).
"""

from __future__ import annotations

from analytics.feature_usage.export import CSV_TABLES, feature_usage_csv, feature_usage_csv_lines
from analytics.feature_usage.query import FeatureUsageQuery, feature_usage_allowed, parse_feature_usage_query
from analytics.feature_usage.report import AnalyticsRecounting, feature_usage

__all__ = [
    "CSV_TABLES",
    "AnalyticsRecounting",
    "FeatureUsageQuery",
    "feature_usage",
    "feature_usage_allowed",
    "feature_usage_csv",
    "feature_usage_csv_lines",
    "parse_feature_usage_query",
]
