from __future__ import annotations

import re

from django.template import Context, Template

from console.templatetags.charts import compact, delta, heat_shade, sparkline_points, stacked_bars, value_series


def render(source: str, **context) -> str:
    return Template("{% load charts %}" + source).render(Context(context))


def test_the_delta_is_new_up_down_or_flat_against_prior_events():
    assert delta(5, 0)["kind"] == "new"
    assert delta(412, 350) == {"kind": "up", "label": "▲ 18%", "description": "up 18% from 350"}
    assert delta(3, 4) == {"kind": "down", "label": "▼ 25%", "description": "down 25% from 4"}
    assert delta(7, 7)["kind"] == "flat"


def test_the_sparkline_spans_the_box_with_the_peak_at_the_top():
    # 28 units of height between 1-unit margins: 10 of 14 sits at 29 - 20 = 9.
    assert sparkline_points([10, 14, 9]) == [(0.0, 9.0), (50.0, 1.0), (100.0, 11.0)]
    assert sparkline_points([0, 0]) == [(0.0, 29.0), (100.0, 29.0)]


def test_the_sparkline_says_what_it_shows():
    svg = render(
        "{% sparkline values days 'export_pdf' %}", values=[10, 14, 9], days=["2026-06-10", "2026-06-11", "2026-06-12"]
    )
    assert 'role="img"' in svg
    summary = "export_pdf: daily events from 2026-06-10 to 2026-06-12, peak 14 on 2026-06-11, last day 9"
    assert f"<title>{summary}</title>" in svg
    assert 'points="0.0,9.0 50.0,1.0 100.0,11.0"' in svg


def test_a_last_day_that_is_today_is_drawn_apart_as_so_far():
    days = ["2026-06-10", "2026-06-11", "2026-06-12"]
    svg = render("{% sparkline values days 'export_pdf' today %}", values=[10, 14, 9], days=days, today="2026-06-12")
    # The finished days solid, the segment into today dashed (class line-partial) with its own title.
    assert 'class="line" points="0.0,9.0 50.0,1.0"' in svg
    assert 'class="line line-partial" data-partial="today" points="50.0,1.0 100.0,11.0"' in svg
    assert "<title>2026-06-12: today, so far: 9</title>" in svg
    assert "last day 9 (today, so far)</title>" in svg
    # A window that ended before today has no partial day.
    past = render("{% sparkline values days 'x' today %}", values=[10, 14, 9], days=days, today="2026-06-13")
    assert "line-partial" not in past and 'points="0.0,9.0 50.0,1.0 100.0,11.0"' in past


def test_the_heatmap_labels_days_and_hours_and_shades_by_count():
    pattern = [[0] * 24 for _ in range(7)]
    pattern[1][14] = 10  # Monday 14:00
    pattern[6][23] = 1  # Saturday 23:00
    html = render("{% heatmap pattern %}", pattern=pattern)
    assert re.findall(r">(Sun|Mon|Tue|Wed|Thu|Fri|Sat)</text>", html) == [
        "Sun",
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
    ]
    assert [int(h) for h in re.findall(r'text-anchor="middle"[^>]*>(\d+)</text>', html)] == list(range(24))
    assert "<title>Monday 14:00–14:59: 10 events</title>" in html
    assert "<title>Saturday 23:00–23:59: 1 event</title>" in html
    assert "busiest: Monday at 14:00 with 10 events" in html
    assert heat_shade(10, 10) == "#3b5bdb" and heat_shade(1, 10) == "#dbe4ff" and heat_shade(0, 10) is None
    # The hidden table repeats every count for screen readers.
    table = html[html.index('id="usage-pattern-table"') :]
    assert '<th scope="row">Monday</th>' + "<td>0</td>" * 14 + "<td>10</td>" in table


USAGE = {
    "flagKey": "new-checkout",
    "environmentId": "env_1",
    "from": "2024-04-01",
    "to": "2024-04-03",
    "rows": [
        {
            "date": "2024-04-01",
            "totalEvaluations": 14823,
            "valueDistribution": {"true": 7200, "false": 7623},
            "ruleMatchCount": 7200,
            "defaultCount": 7623,
            "errorCount": 0,
        },
        {
            "date": "2024-04-03",
            "totalEvaluations": 12,
            "valueDistribution": {"true": 10},
            "ruleMatchCount": 10,
            "defaultCount": 0,
            "errorCount": 2,
        },
    ],
}


def test_served_values_are_ordered_by_share_with_errors_last():
    series = value_series(USAGE["rows"])
    assert [(s["label"], s["total"]) for s in series] == [("false", 7623), ("true", 7210), ("error", 2)]


def test_the_bar_chart_has_a_bar_per_day_with_an_empty_day_for_a_missing_row():
    chart = stacked_bars(USAGE)
    assert [bar["day"] for bar in chart["bars"]] == ["2024-04-01", "2024-04-02", "2024-04-03"]
    first, empty, last = chart["bars"]
    assert first["title"] == "2024-04-01: 14,823 evaluations (false 7,623, true 7,200)"
    assert empty["segments"] == [] and empty["title"] == "2024-04-02: 0 evaluations"
    assert last["title"] == "2024-04-03: 12 evaluations (true 10, error 2)"
    # The axis tops out at a round 20,000; a full bar would be 200 units tall.
    assert [line["label"] for line in chart["grid"]] == ["0", "10k", "20k"]
    assert round(sum(s["height"] for s in first["segments"]), 1) == round(14823 * 200 / 20000, 1)
    assert "14,835 in all" in chart["summary"]


def test_the_bar_chart_renders_titles_and_a_legend():
    html = render("{% stacked_bars usage %}", usage=USAGE)
    assert "<title>2024-04-03: 12 evaluations (true 10, error 2)</title>" in html
    assert 'aria-label="Daily evaluations of new-checkout from 2024-04-01 to 2024-04-03' in html
    assert html.count("<li>") == 3


def test_axis_labels_are_compact():
    assert [compact(n) for n in (0, 999, 1000, 1500, 20000, 2_500_000)] == ["0", "999", "1k", "1.5k", "20k", "2.5M"]
