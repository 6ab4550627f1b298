"""The Installs tables as CSV, for spreadsheets (cells escaped as Feature Usage's are)."""

from __future__ import annotations

import csv
import io

from analytics.feature_usage.export import csv_cell
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.installs.report import FeedbackQuery, installs, installs_feedback
from lib.errors import ApiError

CSV_TABLES = ("days", "reasons", "feedback", "php", "wp", "plugins", "licenses")
FEEDBACK_CSV_MAX_ROWS = 10_000  # the uninstalls the API's pages serve: a spreadsheet, not a dump


def installs_csv(query: FeatureUsageQuery, table: str, *, q: str | None = None) -> str:
    """One table of the Installs answer (the same rows as the JSON) as CSV, with a header row."""
    if table not in CSV_TABLES:
        raise ApiError(f"table: must be one of {', '.join(CSV_TABLES)}.")
    if table == "feedback":
        columns = ("occurredAt", "site", "licenseId", "licenseKey", "reason", "feedback", "daysInstalled")
        rows = installs_feedback(FeedbackQuery(window=query, q=q), page_size=FEEDBACK_CSV_MAX_ROWS)["results"]
    else:
        data = installs(query)
        columns, rows = {
            "days": (("date", "activeInstalls", "installs", "uninstalls", "net"), data["days"]),
            "reasons": (("reason", "uninstalls", "withFeedback"), data["uninstallReasons"]),
            "php": (("version", "sites"), data["environment"]["php"]),
            "wp": (("version", "sites"), data["environment"]["wp"]),
            "plugins": (("plugin", "sites"), data["environment"]["plugins"]),
            "licenses": (("licenseId", "licenseKey", "sites", "maxSites"), data["licenses"]),
        }[table]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return out.getvalue()
