"""Console pages of flag projects: the project's flags and a flag's daily usage.

The usage page calls the same parse and report functions as
``GET /v1/projects/{id}/flags/{key}/usage`` and only draws the answer.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from core.console import membership_get, or_404
from core.errors import ApiError
from flags import selectors
from flags.evaluation import value_key
from flags.models import Flag

WINDOW_PRESETS = (7, 30, 90)
# No window in the URL: the API's default (the 30 days ending today, UTC).
DEFAULT_PRESET = 30


def project_context(request, org_slug: str, project_id: str) -> dict:
    membership = membership_get(user=request.user, org_slug=org_slug)
    project = or_404(selectors.project_get, organization=membership.organization, project_id=project_id)
    return {"membership": membership, "organization": membership.organization, "project": project}


@login_required
def project_detail(request, org_slug: str, project_id: str):
    context = project_context(request, org_slug, project_id)
    project = context["project"]
    environments = list(selectors.environment_list(project=project).order_by("pk"))
    flags = []
    for flag in selectors.flag_list(project=project).order_by("key"):
        enabled = {setting.environment_id: setting.enabled for setting in flag.settings.all()}
        flags.append({"flag": flag, "states": [enabled.get(environment.pk, False) for environment in environments]})
    context.update({"environments": environments, "flags": flags})
    return render(request, "flags/project.html", context)


def window_params(get, *, today: date) -> tuple[dict[str, str], int | None]:
    """API parameters from the console URL and the preset shown (None: custom).

    ``days=N`` is the N days ending today, both ends included, as the API's
    own 30-day default counts them; explicit ``from``/``to`` win.
    """
    date_from, date_to = get.get("from", "").strip(), get.get("to", "").strip()
    if date_from or date_to:
        return {key: value for key, value in (("from", date_from), ("to", date_to)) if value}, None
    days = get.get("days", "")
    preset = int(days) if days.isdigit() and int(days) in WINDOW_PRESETS else DEFAULT_PRESET
    if preset == DEFAULT_PRESET:
        return {}, preset
    return {"from": (today - timedelta(days=preset - 1)).isoformat(), "to": today.isoformat()}, preset


def value_labels(flag: Flag) -> dict[str, str]:
    """An object flag's served values are long JSON: show them by variant name instead."""
    if flag.type != Flag.Type.OBJECT:
        return {}
    return {value_key(value): name for name, value in flag.ordered_variants.items()}


def _url(base: str, params: dict[str, str]) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{base}?{query}" if query else base


@login_required
def flag_usage(request, org_slug: str, project_id: str, flag_key: str):
    context = project_context(request, org_slug, project_id)
    project = context["project"]
    flag = or_404(selectors.flag_get, project=project, flag_key=flag_key)
    environments = list(selectors.environment_list(project=project).order_by("pk"))
    base = reverse("console:flag-usage", args=[org_slug, project_id, flag_key])
    today = selectors.utc_today()
    window, preset = window_params(request.GET, today=today)
    environment_id = request.GET.get("environmentId", "").strip() or (environments[0].public_id if environments else "")
    keep_window = window if preset is None else ({"days": str(preset)} if preset != DEFAULT_PRESET else {})
    context.update(
        {
            "flag": flag,
            "environments": [
                {"environment": e, "url": _url(base, {**keep_window, "environmentId": e.public_id}), "active": e.public_id == environment_id}
                for e in environments
            ],
            "environment_id": environment_id,
            "preset": preset,
            "presets": [
                {"days": days, "url": _url(base, {"environmentId": environment_id, "days": "" if days == DEFAULT_PRESET else str(days)}), "active": days == preset}
                for days in WINDOW_PRESETS
            ],
            "form": {"from": window.get("from", ""), "to": window.get("to", "")},
            "reset_url": _url(base, {"environmentId": environment_id}),
            "retention_days": project.organization.plan.flag_retention_days,
        }
    )
    if not environments:
        return render(request, "flags/flag_usage.html", context)
    try:
        query = selectors.parse_flag_usage_query(
            project=project, flag=flag, params={**window, "environmentId": environment_id}, today=today
        )
    except ApiError as exc:
        context["error"] = str(exc.detail)
        return render(request, "flags/flag_usage.html", context, status=exc.status_code)
    usage = selectors.flag_usage(query)
    rows = usage["rows"]
    context["form"].update({"from": usage["from"], "to": usage["to"]})
    labels = value_labels(flag)
    # Served values in the chart's order on every row, so the table reads down a column.
    order = list(selectors.served_value_totals(rows))
    context.update(
        {
            "usage": usage,
            "value_labels": labels,
            "day_rows": [
                {
                    **row,
                    "values": [
                        (labels.get(value, value), value, row["valueDistribution"][value])
                        for value in order
                        if value in row["valueDistribution"]
                    ],
                }
                for row in rows
            ],
            "environment": query.environment,
            "requested_from": window.get("from") or (query.date_to - timedelta(days=selectors.DEFAULT_WINDOW_DAYS)).isoformat(),
            "totals": {
                key: sum(row[key] for row in rows)
                for key in ("totalEvaluations", "ruleMatchCount", "defaultCount", "errorCount")
            },
        }
    )
    return render(request, "flags/flag_usage.html", context)
