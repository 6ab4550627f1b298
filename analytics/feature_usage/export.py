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
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def feature_usage_csv(query: FeatureUsageQuery, table: str) -> str:
    """One table of the answer (the same rows as the JSON) as CSV, with a header row."""
    if table not in CSV_COLUMNS:
        raise ApiError(f"table: must be one of {', '.join(CSV_TABLES)}.")
    data = feature_usage(query)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[table])
    for row in data[CSV_SOURCES[table]]:
        writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS[table]])
    return out.getvalue()


def csv_cell(value):
    """A cell as a spreadsheet will show it, never run it.

    Event names, sites and license emails come from the public ingestion
    endpoint: ``=HYPERLINK(…)`` or ``-2+3`` would open as a formula. OWASP's
    remedy is a leading ``'``, which spreadsheets take as "this is text" and
    do not display; numbers we computed are written as they are.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
