"""The Feature Usage tables as CSV, for spreadsheets."""

from __future__ import annotations

import csv
import io

from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import feature_usage
from core.errors import ApiError

CSV_TABLES = ("features", "licenses", "domains")
CSV_COLUMNS = {
    "features": ("name", "events", "priorEvents", "licenses", "domains", "adoptionPct"),
    "licenses": ("licenseId", "customerEmail", "events", "features"),
    "domains": ("domain", "events"),
}
CSV_SOURCES = {"features": "topFeatures", "licenses": "topLicenses", "domains": "topDomains"}


def feature_usage_csv(query: FeatureUsageQuery, table: str) -> str:
    """One table of the answer (the same rows as the JSON) as CSV, with a header row."""
    if table not in CSV_COLUMNS:
        raise ApiError(f"table: must be one of {', '.join(CSV_TABLES)}.")
    data = feature_usage(query)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[table])
    for row in data[CSV_SOURCES[table]]:
        writer.writerow(["" if row[column] is None else row[column] for column in CSV_COLUMNS[table]])
    return out.getvalue()
