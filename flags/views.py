"""Console pages of flag projects: the project's flags, a flag's daily usage, editing and history.

The usage page calls the same parse and report functions as
``GET /v1/projects/{id}/flags/{key}/usage`` and only draws the answer.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from flags import effect, exposure, forms, health, recording, selectors, services
from flags.evaluation import value_key
from flags.forms import SettingsForm, VariantsForm
from flags.models import Flag
from lib.errors import ApiError
from lib.freshness import counted_through_label
from lib.replica import READ_SOURCE_HEADER, on_replica
from lib.windows import days_ending
from tenancy.audit import Actor, audit_entries
from tenancy.console import can_edit, console_window, membership_get, or_404

WINDOW_PRESETS = (7, 30, 90)
LICENSES_PER_PAGE = 25
BAR_COLORS = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")
# No window in the URL: the 30 days ending today (UTC), sent explicitly (tenancy.console.console_window).
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
    flag_rows = list(selectors.flag_list(project=project).order_by("key"))
    # Health, the 7-day sparkline and the unknown flags: the same reads as the /v1 API, from one
    # replica snapshot. The flags and environments above stay on the primary: this page is where a
    # delete redirects, and it must not show the flag just deleted.
    now = timezone.now()
    today = selectors.utc_today()
    first_day, _ = days_ending(today, days=health.RECENT_DAYS)
    spark_days = [(first_day + timedelta(days=n)).isoformat() for n in range(health.RECENT_DAYS)]

    def activity():
        statuses = health.flags_health(flags=flag_rows, environments=environments, now=now) if flag_rows else {}
        daily = {
            environment.pk: health.flags_daily_evaluations(flags=flag_rows, environment=environment, today=today)
            for environment in environments
        }
        unknown = [
            {"environment": environment, "flags": health.unknown_flags(environment=environment, now=now)}
            for environment in environments
        ]
        return statuses, daily, unknown

    (statuses, daily, unknown), source = on_replica(activity)
    flags = []
    for flag in flag_rows:
        enabled = {setting.environment_id: setting.enabled for setting in flag.settings.all()}
        serves_off = {setting.environment_id: off_value(flag, setting) for setting in flag.settings.all()}
        flags.append(
            {
                "flag": flag,
                "states": [enabled.get(environment.pk, False) for environment in environments],
                "cells": [
                    {
                        "enabled": enabled.get(environment.pk, False),
                        "off_value": serves_off.get(environment.pk, ""),
                        "health": statuses[flag.pk][environment.public_id],
                        "daily": daily[environment.pk][flag.pk],
                    }
                    for environment in environments
                ],
            }
        )
    context.update(
        {
            "environments": environments,
            "flags": flags,
            "spark_days": spark_days,
            "today_iso": today.isoformat(),  # the sparklines' last day is today (UTC), not over yet
            "unknown": unknown,
            "can_edit": can_edit(context["membership"]),
            "deleted": request.GET.get("deleted", "")[:100],
            # The health and sparkline figures' freshness (the flag list itself is the primary's, current).
            "counted_through": counted_through_label(
                recording.counted_through(source.counted_through),
                project.product.timezone if project.product_id else "UTC",
            ),
        }
    )
    response = render(request, "flags/project.html", context)
    response[READ_SOURCE_HEADER] = source.name
    return response


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
    window, preset = console_window(request.GET, today=today, presets=WINDOW_PRESETS, default_preset=DEFAULT_PRESET)
    environment_id = request.GET.get("environmentId", "").strip() or (environments[0].public_id if environments else "")
    keep_window = window if preset is None else ({"days": str(preset)} if preset != DEFAULT_PRESET else {})
    context.update(
        {
            "flag": flag,
            "environments": [
                {
                    "environment": e,
                    "url": _url(base, {**keep_window, "environmentId": e.public_id}),
                    "active": e.public_id == environment_id,
                }
                for e in environments
            ],
            "environment_id": environment_id,
            "preset": preset,
            "presets": [
                {
                    "days": days,
                    "url": _url(
                        base, {"environmentId": environment_id, "days": "" if days == DEFAULT_PRESET else str(days)}
                    ),
                    "active": days == preset,
                }
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
    # The daily usage, the exposure and effect panels from one replica snapshot: they agree on every total.
    (usage, context["exposure"], context["effect"]), source = on_replica(
        lambda: (
            selectors.flag_usage(query),
            exposure_context(
                query,
                cursor=request.GET.get("licenses", ""),
                base=base,
                params={**keep_window, "environmentId": environment_id},
            ),
            effect_context(query, feature=request.GET.get("feature", "")),
        )
    )
    context["effect"]["keep"] = {**keep_window, "environmentId": environment_id}
    rows = usage["rows"]
    context["counted_through"] = counted_through_label(
        recording.counted_through(source.counted_through), project.product.timezone if project.product_id else "UTC"
    )
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
            "requested_from": window.get("from")
            or days_ending(query.date_to, days=selectors.DEFAULT_WINDOW_DAYS)[0].isoformat(),
            "totals": {
                key: sum(row[key] for row in rows)
                for key in ("totalEvaluations", "ruleMatchCount", "defaultCount", "errorCount")
            },
        }
    )
    response = render(request, "flags/flag_usage.html", context)
    response[READ_SOURCE_HEADER] = source.name
    return response


def exposure_context(query, *, cursor: str, base: str, params: dict[str, str]) -> dict:
    """The exposure answer for the flag page, with a bar per variant scaled to the largest."""
    try:
        body = exposure.flag_exposure(query, page=exposure.LicensePage(cursor=cursor or None, limit=LICENSES_PER_PAGE))
    except ApiError:
        body = exposure.flag_exposure(query, page=exposure.LicensePage(cursor=None, limit=LICENSES_PER_PAGE))
    top = max((variant["evaluations"] for variant in body["variants"]), default=0) or 1
    bars = [
        {**variant, "width": round(variant["evaluations"] * 100 / top, 1), "color": BAR_COLORS[i % len(BAR_COLORS)]}
        for i, variant in enumerate(body["variants"])
    ]
    next_cursor = body["licenses"]["nextCursor"]
    return {
        **body,
        "bars": bars,
        "product": query.project.product,
        "next_url": _url(base, {**params, "licenses": next_cursor}) if next_cursor else None,
        "first_url": _url(base, params) if cursor else None,
    }


def effect_context(query, *, feature: str) -> dict:
    """The effect panel: the feature picker's choices and, once a feature is chosen, the effect per variant."""
    if query.project.product_id is None:
        return {"available": False}
    exposures = effect.first_exposures(query)
    panel: dict = {
        "available": True,
        "feature": feature,
        "choices": effect.feature_choices(query, list(exposures)),
        "body": None,
        "error": None,
    }
    if feature:
        try:
            chosen = effect.feature_param({"feature": feature})
        except ApiError as exc:
            panel["error"] = str(exc.detail)
            return panel
        body = effect.flag_effect(effect.EffectQuery(window=query, feature=chosen), exposures=exposures)
        body["rows"] = [
            {**row, "color": BAR_COLORS[i % len(BAR_COLORS)], "width": row["usingPct"] or 0}
            for i, row in enumerate(body["variants"])
        ]
        panel["body"] = body
    return panel


# ---- editing (owners, admins and members; viewers see the same pages read-only) ---------------

HISTORY_PER_PAGE = 50


def _editor(request, context: dict) -> None:
    """A viewer's page shows no edit forms; their writes never get here (tenancy.permissions refuses them)."""
    context["can_edit"] = can_edit(context["membership"])


def _flag_context(request, org_slug: str, project_id: str, flag_key: str, tab: str) -> dict:
    context = project_context(request, org_slug, project_id)
    context["flag"] = or_404(selectors.flag_get, project=context["project"], flag_key=flag_key, with_settings=True)
    context["tab"] = tab
    _editor(request, context)
    return context


@login_required
def flag_create(request, org_slug: str, project_id: str):
    context = project_context(request, org_slug, project_id)
    _editor(request, context)
    flag_type = request.POST.get("type", Flag.Type.BOOLEAN)
    form = {"key": "", "type": flag_type, "description": "", "offVariant": "", "errors": {}}
    variants = VariantsForm(forms.default_variant_rows(flag_type if flag_type in Flag.Type.values else "boolean"))
    status = 200
    if request.method == "POST":
        # what was typed survives a change of type; the variants start again from the new type's defaults
        form.update(
            key=request.POST.get("key", "").strip(),
            description=request.POST.get("description", ""),
            offVariant=request.POST.get("offVariant", "").strip(),
        )
    if request.method == "POST" and request.POST.get("op") != "change_type":
        variants = VariantsForm(forms.posted_variant_rows(request.POST))
        try:
            flag = services.flag_create(
                project=context["project"],
                key=form["key"],
                type=flag_type,
                description=form["description"],
                off_variant=form["offVariant"] or None,
                variants=variants.to_body(flag_type if flag_type in Flag.Type.values else "boolean"),
                actor=Actor.for_user(request.user),
            )
            return redirect(reverse("console:flag-settings", args=[org_slug, project_id, flag.key]) + "?created=1")
        except ApiError as exc:
            path, text = forms.split_error(str(exc.detail))
            if not variants.show_error(path, text):
                form["errors"][path if path in ("key", "type", "description", "offVariant") else "form"] = text
            status = 400
        except forms.RowError:
            status = 400
    context.update({"form": form, "variants": variants.with_blank_rows(), "types": Flag.Type.choices})
    return render(request, "flags/flag_create.html", context, status=status)


@login_required
def flag_settings(request, org_slug: str, project_id: str, flag_key: str):
    context = _flag_context(request, org_slug, project_id, flag_key, "settings")
    flag = context["flag"]
    form = {"description": flag.description, "errors": {}}
    variants = VariantsForm(forms.variant_rows(flag.type, flag.ordered_variants))
    status = 200
    if request.method == "POST":
        form["description"] = request.POST.get("description", "")
        variants = VariantsForm(forms.posted_variant_rows(request.POST))
        try:
            services.flag_update(
                flag=flag,
                description=form["description"],
                variants=variants.to_body(flag.type),
                actor=Actor.for_user(request.user),
            )
            return redirect(reverse("console:flag-settings", args=[org_slug, project_id, flag.key]) + "?saved=1")
        except ApiError as exc:
            path, text = forms.split_error(str(exc.detail))
            if not variants.show_error(path, text):
                form["errors"]["description" if path == "description" else "form"] = text
            status = 400
        except forms.RowError:
            status = 400
    by_environment = {row.environment_id: row for row in flag.settings.all()}
    environments = [
        {"environment": e, "settings": by_environment.get(e.pk), "off_value": off_value(flag, by_environment.get(e.pk))}
        for e in selectors.environment_list(project=context["project"]).order_by("pk")
    ]
    context.update(
        {
            "form": form,
            "variants": variants.with_blank_rows(),
            "environments": environments,
            "saved": "saved" in request.GET,
            "created": "created" in request.GET,
        }
    )
    return render(request, "flags/flag_settings.html", context, status=status)


@login_required
def flag_environment(request, org_slug: str, project_id: str, flag_key: str, environment_id: str):
    context = _flag_context(request, org_slug, project_id, flag_key, "settings")
    flag = context["flag"]
    environment = or_404(selectors.environment_get, project=context["project"], environment_id=environment_id)
    names = list(flag.ordered_variants)
    row = next((r for r in flag.settings.all() if r.environment_id == environment.pk), None)
    current = {
        "enabled": row.enabled if row else False,
        "defaultVariant": row.default_variant if row else flag.first_variant,
        "offVariant": row.off_variant if row else flag.natural_off_variant,
        "rules": row.rules if row else [],
    }
    form = SettingsForm.from_settings(names, current)
    status = 200
    if request.method == "POST":
        form = SettingsForm.from_post(names, request.POST)
        operation = request.POST.get("op", "save")
        if operation != "save":
            form.apply(operation)  # reshaping the form saves nothing
        else:
            try:
                services.flag_environment_set(
                    flag=flag, environment=environment, settings=form.to_body(), actor=Actor.for_user(request.user)
                )
                url = reverse("console:flag-environment", args=[org_slug, project_id, flag.key, environment_id])
                return redirect(url + "?saved=1")
            except ApiError as exc:
                form.show_error(str(exc.detail))
                status = 400
    context.update(
        {
            "environment": environment,
            "environments": selectors.environment_list(project=context["project"]).order_by("pk"),
            "form": form,
            "operators": forms.OPERATOR_CHOICES,
            "saved": "saved" in request.GET,
        }
    )
    return render(request, "flags/flag_environment.html", context, status=status)


@login_required
def flag_delete(request, org_slug: str, project_id: str, flag_key: str):
    context = _flag_context(request, org_slug, project_id, flag_key, "settings")
    if request.method == "POST":
        if request.POST.get("confirm_key") != context["flag"].key:
            context["error"] = "Type the flag's key exactly to confirm."
            return render(request, "flags/flag_delete.html", context, status=400)
        services.flag_delete(flag=context["flag"], actor=Actor.for_user(request.user))
        return redirect(reverse("console:project", args=[org_slug, project_id]) + f"?deleted={context['flag'].key}")
    return render(request, "flags/flag_delete.html", context)


def _history_page(request, entries, project):
    page = Paginator(entries.order_by("-pk"), HISTORY_PER_PAGE).get_page(request.GET.get("page"))
    names = dict(selectors.environment_list(project=project).values_list("public_id", "name"))
    for entry in page.object_list:
        entry.environment_name = names.get(entry.environment_id, entry.environment_id)
    return page


@login_required
def flag_history(request, org_slug: str, project_id: str, flag_key: str):
    context = _flag_context(request, org_slug, project_id, flag_key, "history")
    entries = audit_entries(organization=context["organization"], target_id=context["flag"].public_id)
    context["page"] = _history_page(request, entries, context["project"])
    return render(request, "flags/flag_history.html", context)


@login_required
def project_history(request, org_slug: str, project_id: str):
    context = project_context(request, org_slug, project_id)
    entries = audit_entries(organization=context["organization"], project_id=context["project"].public_id)
    context["page"] = _history_page(request, entries, context["project"])
    return render(request, "flags/project_history.html", context)


def off_value(flag: Flag, setting) -> str:
    """What the "Off" badge says the flag serves while off: the off variant's value, as OFREP sends it."""
    if setting is None:
        return value_key(flag.variants[flag.natural_off_variant])
    name = setting.off_variant or setting.default_variant
    return value_key(flag.variants[name]) if name in flag.variants else name
