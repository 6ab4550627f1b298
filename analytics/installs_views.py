"""The console's Installs tab and its CSV downloads: the API's answer for the same parameters, laid out.

The charts are laid out here from the answer's figures (never counted again): a daily
bar chart of installs and uninstalls with the active installs as a line, and bars of
the distributions.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from analytics.feature_usage import feature_usage_allowed
from analytics.installs.export import CSV_TABLES, installs_csv
from analytics.installs.report import (
    InstallsRecounting,
    installs,
    installs_feedback,
    parse_feedback_query,
)
from analytics.views import feature_usage_params, product_today
from events.console import product_context
from lib.errors import ApiError
from lib.freshness import COUNTED_THROUGH_HEADER, counted_through_label, iso_utc
from lib.replica import READ_SOURCE_HEADER, on_replica

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 720, 220, 40, 28, 10
INSTALL_COLOR, UNINSTALL_COLOR = "#12b886", "#d92d20"


def _url(base: str, params: dict[str, str]) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{base}?{query}" if query else base


def _ceiling(value: int) -> int:
    """The smallest 1/2/5 × 10ⁿ at or above ``value``: axes in round numbers."""
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= max(value, 1))


def daily_chart(days: list[dict]) -> dict:
    """Installs (up) and uninstalls (down) per day as bars, active installs as a line on its own scale."""
    plot_w, plot_h = CHART_WIDTH - CHART_LEFT - 4, CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    middle = CHART_TOP + plot_h / 2
    top = _ceiling(max((max(d["installs"], d["uninstalls"]) for d in days), default=0))
    active_top = _ceiling(max((d["activeInstalls"] for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    width = max(slot * 0.7, 1)
    bars, points = [], []
    for index, day in enumerate(days):
        x = CHART_LEFT + index * slot + (slot - width) / 2
        up = day["installs"] * (plot_h / 2) / top
        down = day["uninstalls"] * (plot_h / 2) / top
        bars.append(
            {
                "x": round(x, 2),
                "width": round(width, 2),
                "up_y": round(middle - up, 2),
                "up": round(up, 2),
                "down": round(down, 2),
                "title": f"{day['date']}: {day['installs']:,} installs, {day['uninstalls']:,} uninstalls, "
                f"{day['activeInstalls']:,} active",
            }
        )
        active = max(day["activeInstalls"], 0)
        points.append(f"{round(x + width / 2, 2)},{round(CHART_TOP + plot_h - active * plot_h / active_top, 2)}")
    step = max(1, round(len(days) / 6))
    ticks = [
        {"x": round(CHART_LEFT + i * slot + slot / 2, 2), "label": days[i]["date"][5:]}
        for i in range(0, len(days), step)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - 4,
        "middle": round(middle, 2),
        "top_y": CHART_TOP,
        "bottom_y": CHART_TOP + plot_h,
        "top": top,
        "active_top": active_top,
        "bars": bars,
        "line": " ".join(points),
        "ticks": ticks,
        "label_y": CHART_HEIGHT - 6,
        "install_color": INSTALL_COLOR,
        "uninstall_color": UNINSTALL_COLOR,
    }


def shares(rows: list[dict], key: str, count: str = "sites", *, blank: str = "unknown") -> list[dict]:
    """Rows of a distribution with the width of each one's bar (percent of the largest)."""
    top = max((row[count] for row in rows), default=0) or 1
    return [{"label": row[key] or blank, "count": row[count], "pct": round(row[count] * 100 / top, 1)} for row in rows]


@login_required
def installs_tab(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "installs")
    product, organization = context["product"], context["organization"]
    if not feature_usage_allowed(organization):
        context["plan_required"] = True
        return render(request, "analytics/installs.html", context)
    base = reverse("console:installs", args=[org_slug, product_id])
    csv_base = reverse("console:installs-csv", args=[org_slug, product_id])
    today = product_today(product)
    params, preset = feature_usage_params(request.GET, today=today)
    params = {name: params[name] for name in ("from", "to") if name in params}
    q = request.GET.get("q", "").strip()
    page = request.GET.get("page", "").strip()
    context.update(
        {
            "presets": [
                {"days": days, "url": _url(base, {"days": "" if days == 30 else str(days)}), "active": days == preset}
                for days in (7, 30, 90)
            ],
            "preset": preset,
            "form": {"from": params.get("from", ""), "to": params.get("to", ""), "q": q},
            "reset_url": base,
        }
    )
    try:
        feedback_query = parse_feedback_query(product=product, params={**params, "q": q, "page": page}, today=today)
        (data, feedback), source = on_replica(
            lambda: (installs(feedback_query.window), installs_feedback(feedback_query))
        )
    except InstallsRecounting as exc:
        context["error"] = str(exc.detail)
        return render(request, "analytics/installs.html", context, status=exc.status_code)
    except ApiError as exc:
        context["error"] = str(exc.detail)
        return render(request, "analytics/installs.html", context, status=exc.status_code)
    window = {"from": data["from"], "to": data["to"]}
    context["form"].update(window)
    pages = -(-feedback["total"] // feedback["pageSize"])
    keep = {**window, "q": q}
    context.update(
        {
            "data": data,
            "feedback": feedback,
            "read_source": source.name,
            "counted_through": counted_through_label(source.counted_through, product.timezone),
            "chart": daily_chart(data["days"]),
            "php": shares(data["environment"]["php"], "version"),
            "wp": shares(data["environment"]["wp"], "version"),
            "plugins": shares(data["environment"]["plugins"], "plugin"),
            "reasons": shares(data["uninstallReasons"], "reason", "uninstalls", blank="(no reason given)"),
            "ages": shares(
                [
                    {"label": _age_label(b["fromDays"], b["toDays"]), "uninstalls": b["uninstalls"]}
                    for b in data["timeToUninstall"]["buckets"]
                ],
                "label",
                "uninstalls",
            ),
            "csv_links": [
                {
                    "table": table,
                    "url": _url(csv_base, {**window, **({"q": q} if table == "feedback" else {}), "table": table}),
                }
                for table in CSV_TABLES
            ],
            "previous_url": _url(base, {**keep, "page": str(feedback["page"] - 1)}) if feedback["page"] > 1 else None,
            "next_url": _url(base, {**keep, "page": str(feedback["page"] + 1)}) if feedback["page"] < pages else None,
            "pages": pages,
        }
    )
    return render(request, "analytics/installs.html", context)


def _age_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+ days"
    if high - low == 1:
        return f"{low} day{'s' if low != 1 else ''}" if low else "under a day"
    return f"{low}–{high - 1} days"


@login_required
def installs_csv_download(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "installs")
    if not feature_usage_allowed(context["organization"]):
        return HttpResponse("Installs needs a paid plan.", status=402, content_type="text/plain; charset=utf-8")
    product = context["product"]
    today = product_today(product)
    params, _ = feature_usage_params(request.GET, today=today)
    params = {name: params[name] for name in ("from", "to") if name in params}
    table = request.GET.get("table", "")
    try:
        query = parse_feedback_query(product=product, params={**params, "q": request.GET.get("q", "")}, today=today)
        body, source = on_replica(lambda: installs_csv(query.window, table, q=query.q))
    except ApiError as exc:
        response = HttpResponse(str(exc.detail), status=exc.status_code, content_type="text/plain; charset=utf-8")
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(exc.wait)
        return response
    response = HttpResponse(
        body,
        content_type="text/csv; charset=utf-8",
        headers={READ_SOURCE_HEADER: source.name, COUNTED_THROUGH_HEADER: iso_utc(source.counted_through)},
    )
    window = query.window
    response["Content-Disposition"] = f'attachment; filename="installs-{table}-{window.date_from}-{window.date_to}.csv"'
    return response
