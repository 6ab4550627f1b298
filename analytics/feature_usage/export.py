"""The Feature Usage tables as CSV, for spreadsheets: every row of the table, streamed.

The JSON answer keeps its top N; an export holds every feature, license or site
of the window, in the JSON's order (the same ``*_rows`` functions of ``report``,
so the export's first N rows are the JSON's rows), written a row at a time.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.ranked import ranked_domain_rows, ranked_in_sql, ranked_license_rows
from analytics.feature_usage.report import (
    domain_rows,
    feature_rows,
    feature_totals,
    feature_usage_figures,
    license_rows,
)
from lib.errors import ApiError
from lib.snapshot import read_snapshot

CSV_TABLES = ("features", "licenses", "domains")
CSV_COLUMNS = {
    "features": ("name", "events", "priorEvents", "licenses", "domains", "adoptionPct"),
    "licenses": ("licenseId", "customerEmail", "events", "features"),
    "domains": ("domain", "events"),
}
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FILE_NAME_PART = re.compile(r"[^A-Za-z0-9_.-]")


def feature_usage_csv_lines(query: FeatureUsageQuery, table: str) -> Iterator[str]:
    """The table as CSV text, a header line then one line per row.

    Validated now (400); the first line is produced only after the snapshot is
    open and the product checked (503 while recounting), so a caller that takes
    the first line before answering never starts a file it would have to cut.
    """
    if table not in CSV_COLUMNS:
        raise ApiError(f"table: must be one of {', '.join(CSV_TABLES)}.")
    return _lines(query, table)


def _lines(query: FeatureUsageQuery, table: str) -> Iterator[str]:
    columns = CSV_COLUMNS[table]
    buffer = LineBuffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # One snapshot for the whole file: the counters and the tail stay consistent while it streams.
    with read_snapshot():
        if table != "features" and ranked_in_sql(query):
            # Ranked by the database and streamed: memory holds a chunk, not every license or site.
            rows = ranked_license_rows(query) if table == "licenses" else ranked_domain_rows(query)
            first = next(rows, None)  # checks the product (503 while recounting) before the header
            writer.writerow(columns)
            yield buffer.take()
            for row in [first] if first is not None else []:
                writer.writerow([csv_cell(row[column]) for column in columns])
                yield buffer.take()
            for row in rows:
                writer.writerow([csv_cell(row[column]) for column in columns])
                yield buffer.take()
            return
        figures, active_count = feature_usage_figures(query)
        writer.writerow(columns)
        yield buffer.take()
        if table == "features":
            rows = feature_rows(query, figures, feature_totals(query, figures), active_count=active_count)
        elif table == "licenses":
            rows = license_rows(figures)
        else:
            rows = domain_rows(figures)
        for row in rows:
            writer.writerow([csv_cell(row[column]) for column in columns])
            yield buffer.take()


def feature_usage_csv(query: FeatureUsageQuery, table: str) -> str:
    """The whole table as one string (tests, small tables); answers stream ``feature_usage_csv_lines``."""
    return "".join(feature_usage_csv_lines(query, table))


def csv_file_name(query: FeatureUsageQuery, table: str) -> str:
    """``<product>-feature-usage-<table>-<from>-<to>[-event-<x>][-license-<id>].csv``: what the file holds."""
    name = f"{query.product.public_id}-feature-usage-{table}-{query.date_from}-{query.date_to}"
    if query.event is not None:
        name += "-event-" + FILE_NAME_PART.sub("_", query.event)[:80]
    if query.license is not None:
        name += "-license-" + query.license.public_id
    return name + ".csv"


class LineBuffer:
    """What csv.writer writes into, emptied after each row (a streamed CSV never holds the file)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


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
