"""Inline SVG charts for the console, built on the server from the API's own figures.

Each tag only lays out numbers it is given (the ``data`` of Feature Usage, the
rows of flag usage): it never counts anything itself. Every chart carries a
``<title>`` and a text alternative for screen readers.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import template

from flags.selectors import served_value_totals

register = template.Library()

WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
WEEKDAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
# Heatmap shades, lightest to darkest; an empty cell has its own neutral shade.
HEAT_SHADES = ["#dbe4ff", "#bac8ff", "#91a7ff", "#5c7cfa", "#3b5bdb"]
# Served values of a flag, in order of their share; errors are always this red.
VALUE_COLORS = ["#3b5bdb", "#f59f00", "#12b886", "#ae3ec9", "#1c7ed6", "#e8590c", "#868e96", "#5f3dc4"]
ERROR_COLOR = "#d92d20"

SPARK_WIDTH, SPARK_HEIGHT = 100, 30
HEAT_LABEL_WIDTH, HEAT_HEADER, HEAT_CELL_W, HEAT_CELL_H, HEAT_GAP = 34, 18, 26, 22, 2
HOURS_ALWAYS_LABELLED = {0, 3, 6, 9, 12, 15, 18, 21}
BAR_WIDTH, BAR_HEIGHT, BAR_LEFT, BAR_BOTTOM, BAR_TOP = 720, 240, 48, 30, 10


@register.filter
def number(value) -> str:
    """1840 → "1,840"; None → "—"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{int(value):,}"


def delta(events: int, prior: int) -> dict:
    """Period over period: ``new`` when nothing happened before, else the change in percent."""
    if prior == 0:
        return {"kind": "new", "label": "new", "description": "new this period"}
    pct = round((events - prior) * 100 / prior)
    if pct > 0:
        return {"kind": "up", "label": f"▲ {pct}%", "description": f"up {pct}% from {prior:,}"}
    if pct < 0:
        return {"kind": "down", "label": f"▼ {-pct}%", "description": f"down {-pct}% from {prior:,}"}
    return {"kind": "flat", "label": "0%", "description": f"unchanged from {prior:,}"}


@register.inclusion_tag("charts/delta.html")
def feature_delta(feature: dict) -> dict:
    return {"delta": delta(feature["events"], feature["priorEvents"]), "prior": feature["priorEvents"]}


def sparkline_points(values: list[int]) -> list[tuple[float, float]]:
    top = max(values, default=0) or 1
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    # A 1-unit margin keeps the stroke of a peak or a zero inside the box.
    usable = SPARK_HEIGHT - 2
    return [(round(i * step, 2), round(1 + usable - value * usable / top, 2)) for i, value in enumerate(values)]


@register.inclusion_tag("charts/sparkline.html")
def sparkline(values: list[int], days: list[str], name: str = "", today: str = "") -> dict:
    """A day-by-day line; when the last day is ``today`` (ISO), its segment is dashed: the day is not over."""
    points = sparkline_points(values)
    if len(points) == 1:
        points = [(0, points[0][1]), (SPARK_WIDTH, points[0][1])]
    partial = bool(days) and bool(today) and days[-1] == today
    # The finished days as the solid line; the partial day's segment (from the day before) apart.
    solid = points[:-1] if partial and len(values) > 1 else ([] if partial else points)
    line = " ".join(f"{x},{y}" for x, y in solid)
    area = f"M0,{SPARK_HEIGHT} L" + " L".join(f"{x},{y}" for x, y in points) + f" L{SPARK_WIDTH},{SPARK_HEIGHT} Z"
    peak = max(values, default=0)
    peak_day = days[values.index(peak)] if values and peak else None
    summary = f"{name}: daily events from {days[0]} to {days[-1]}" if days else f"{name}: no days"
    if peak_day:
        summary += f", peak {peak:,} on {peak_day}, last day {values[-1]:,}"
    else:
        summary += ", no events"
    if partial:
        summary += " (today, so far)"
    return {
        "line": line,
        "area": area if points else "",
        "partial_line": " ".join(f"{x},{y}" for x, y in points[-2:]) if partial else "",
        "partial_title": f"{days[-1]}: today, so far: {values[-1]:,}" if partial and values else "",
        "summary": summary,
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
    }


def heat_shade(count: int, top: int) -> str | None:
    if count <= 0 or top <= 0:
        return None
    level = min(len(HEAT_SHADES) - 1, (count * len(HEAT_SHADES) - 1) // top)
    return HEAT_SHADES[level]


@register.inclusion_tag("charts/heatmap.html")
def heatmap(pattern: list[list[int]], caption: str = "Events by day of week and hour") -> dict:
    top = max((max(row) for row in pattern), default=0)
    hours = [
        {
            "hour": hour,
            "x": HEAT_LABEL_WIDTH + hour * HEAT_CELL_W + HEAT_CELL_W / 2,
            "minor": hour not in HOURS_ALWAYS_LABELLED,
        }
        for hour in range(24)
    ]
    rows = []
    for weekday, counts in enumerate(pattern):
        y = HEAT_HEADER + weekday * HEAT_CELL_H
        cells = [
            {
                "x": HEAT_LABEL_WIDTH + hour * HEAT_CELL_W,
                "count": count,
                "fill": heat_shade(count, top),
                "title": f"{WEEKDAY_NAMES[weekday]} {hour:02d}:00–{hour:02d}:59: {count:,} event{'' if count == 1 else 's'}",
            }
            for hour, count in enumerate(counts)
        ]
        rows.append(
            {
                "label": WEEKDAYS[weekday],
                "name": WEEKDAY_NAMES[weekday],
                "y": y,
                "text_y": y + HEAT_CELL_H / 2 + 4,
                "cells": cells,
                "counts": counts,
            }
        )
    busiest = None
    if top:
        weekday, hour = max(
            ((d, h) for d in range(7) for h in range(24)), key=lambda dh: (pattern[dh[0]][dh[1]], -dh[0], -dh[1])
        )
        busiest = f"busiest: {WEEKDAY_NAMES[weekday]} at {hour:02d}:00 with {top:,} events"
    return {
        "caption": caption,
        "summary": f"{caption}; {busiest}." if busiest else f"{caption}: no events.",
        "rows": rows,
        "hours": hours,
        "width": HEAT_LABEL_WIDTH + 24 * HEAT_CELL_W,
        "height": HEAT_HEADER + 7 * HEAT_CELL_H,
        "cell_w": HEAT_CELL_W - HEAT_GAP,
        "cell_h": HEAT_CELL_H - HEAT_GAP,
        "shades": HEAT_SHADES,
        "top": top,
    }


def _days(date_from: str, date_to: str) -> list[str]:
    first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def value_series(rows: list[dict], labels: dict[str, str] | None = None) -> list[dict]:
    """Served values by total share (desc, then name), with their colours; errors last.

    ``labels`` names values that read badly (an object's JSON) by their variant.
    """
    labels = labels or {}
    totals = served_value_totals(rows)
    series = [
        {
            "key": value,
            "label": labels.get(value, value),
            "color": VALUE_COLORS[i % len(VALUE_COLORS)],
            "total": totals[value],
            "error": False,
        }
        for i, value in enumerate(totals)
    ]
    errors = sum(row["errorCount"] for row in rows)
    if errors:
        series.append({"key": None, "label": "error", "color": ERROR_COLOR, "total": errors, "error": True})
    return series


def compact(value: int) -> str:
    """Axis labels short enough for a phone: 1500 → "1.5k", 20000 → "20k", 3000000 → "3M"."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def _nice_ceiling(value: int) -> int:
    """The smallest 1/2/5 × 10ⁿ at or above ``value`` so the axis reads in round numbers."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


@register.inclusion_tag("charts/stacked_bars.html")
def stacked_bars(usage: dict, labels: dict[str, str] | None = None) -> dict:
    """Daily evaluations of a flag, one bar per day of the window, split by served value."""
    days = _days(usage["from"], usage["to"])
    by_day = {row["date"]: row for row in usage["rows"]}
    series = value_series(usage["rows"], labels)
    top = _nice_ceiling(max((row["totalEvaluations"] for row in usage["rows"]), default=0))
    plot_w, plot_h = BAR_WIDTH - BAR_LEFT - 4, BAR_HEIGHT - BAR_TOP - BAR_BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.75, 1)
    bars = []
    for i, day in enumerate(days):
        row = by_day.get(day)
        x = BAR_LEFT + i * slot + (slot - bar_w) / 2
        segments, y = [], BAR_TOP + plot_h
        parts = []
        for item in series:
            count = (row["errorCount"] if item["error"] else row["valueDistribution"].get(item["key"], 0)) if row else 0
            if count:
                height = count * plot_h / top
                y -= height
                segments.append({"y": round(y, 2), "height": round(height, 2), "color": item["color"]})
                parts.append(f"{item['label']} {count:,}")
        total = row["totalEvaluations"] if row else 0
        title = f"{day}: {total:,} evaluation{'' if total == 1 else 's'}" + (f" ({', '.join(parts)})" if parts else "")
        bars.append({"x": round(x, 2), "width": round(bar_w, 2), "segments": segments, "title": title, "day": day})
    step = max(1, round(len(days) / 6))
    ticks = [{"x": round(BAR_LEFT + i * slot + slot / 2, 2), "label": days[i][5:]} for i in range(0, len(days), step)]
    grid = [
        {"y": round(BAR_TOP + plot_h - fraction * plot_h, 2), "label": compact(round(top * fraction))}
        for fraction in (0, 0.5, 1)
    ]
    total = sum(row["totalEvaluations"] for row in usage["rows"])
    return {
        "bars": bars,
        "series": series,
        "ticks": ticks,
        "grid": grid,
        "width": BAR_WIDTH,
        "height": BAR_HEIGHT,
        "left": BAR_LEFT,
        "right": BAR_WIDTH - 4,
        "label_y": BAR_HEIGHT - 6,
        "summary": (
            f"Daily evaluations of {usage['flagKey']} from {usage['from']} to {usage['to']}: {total:,} in all"
            + (", " + ", ".join(f"{item['label']} {item['total']:,}" for item in series) if series else "")
            + ". The table below lists every day."
        ),
    }
