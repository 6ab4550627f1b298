"""The console's Analytics → Feature Usage tab and its CSV downloads.

The page shows exactly what the API answers for the same parameters: it calls
the same parse and compute functions and only lays the result out.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse

from analytics.feature_usage import (
    CSV_TABLES,
    AnalyticsRecounting,
    feature_usage,
    feature_usage_allowed,
    parse_feature_usage_query,
)
from analytics.feature_usage.export import csv_file_name, feature_usage_csv_lines
from analytics.time_to_first_use import time_to_first_use_of
from events import selectors as event_selectors
from events.console import product_context
from events.models import Product
from lib.errors import ApiError
from lib.freshness import COUNTED_THROUGH_HEADER, counted_through_label, iso_utc
from lib.identifiers import public_id_shaped
from lib.replica import READ_SOURCE_HEADER, on_replica, on_replica_stream
from lib.snapshot import read_snapshot
from tenancy.console import console_window

WINDOW_PRESETS = (7, 30, 90)
# With no window in the URL the console shows the 30 days ending today (tenancy.console.console_window).
DEFAULT_PRESET = 30
FILTER_PARAMS = ("event", "license_id")


def product_today(product) -> date:
    return datetime.now(zoneinfo.ZoneInfo(product.timezone)).date()


def feature_usage_params(get, *, today: date) -> tuple[dict[str, str], int | None]:
    """The API parameters for the console's URL (window and filters), and the preset it shows (None: custom)."""
    params = {name: get.get(name, "").strip() for name in FILTER_PARAMS if get.get(name, "").strip()}
    window, preset = console_window(get, today=today, presets=WINDOW_PRESETS, default_preset=DEFAULT_PRESET)
    return {**params, **window}, preset


def _url(base: str, params: dict[str, str]) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{base}?{query}" if query else base


@login_required
def feature_usage_tab(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "analytics")
    product, organization = context["product"], context["organization"]
    if not feature_usage_allowed(organization):
        context["plan_required"] = True
        return render(request, "analytics/feature_usage.html", context)

    base = reverse("console:feature-usage", args=[org_slug, product_id])
    csv_base = reverse("console:feature-usage-csv", args=[org_slug, product_id])
    today = product_today(product)
    params, preset = feature_usage_params(request.GET, today=today)
    ambiguous = _license_filter_resolved(product, params)
    filters = {name: params[name] for name in FILTER_PARAMS if name in params}
    context.update(
        {
            "preset": preset,
            "presets": [
                {
                    "days": days,
                    "url": _url(base, {**filters, "days": "" if days == DEFAULT_PRESET else str(days)}),
                    "active": days == preset,
                }
                for days in WINDOW_PRESETS
            ],
            "params": params,
            "form": {name: params.get(name, "") for name in ("from", "to", *FILTER_PARAMS)},
            "reset_url": base,
        }
    )
    if ambiguous:
        context["error"] = ambiguous
        return render(request, "analytics/feature_usage.html", context, status=400)
    try:
        query = parse_feature_usage_query(product=product, params=params, today=today)
    except ApiError as exc:
        context["error"] = str(exc.detail)
        return render(request, "analytics/feature_usage.html", context, status=exc.status_code)

    def answer():
        # The cards and their time to first use from one snapshot. Time to first use is about the
        # window's new licenses, product-wide: under a license filter there is no cohort to show.
        with read_snapshot():
            data = feature_usage(query)
            names = [f["name"] for f in data["topFeatures"]]
            return data, ({} if query.license else time_to_first_use_of(query, features=names))

    try:
        (data, first_use), source = on_replica(answer)
    except AnalyticsRecounting:
        # product_base.html shows the recount's progress; the figures come back when it is done.
        context["product"] = Product.objects.get(pk=product.pk)
        return render(request, "analytics/feature_usage.html", context)
    window = {"from": data["from"], "to": data["to"]}
    context["form"].update(window)
    keep_window = window if preset is None else ({"days": str(preset)} if preset != DEFAULT_PRESET else {})
    without_event = {**keep_window, **{k: v for k, v in filters.items() if k != "event"}}
    without_license = {**keep_window, **{k: v for k, v in filters.items() if k != "license_id"}}
    context.update(
        {
            "data": data,
            "read_source": source.name,
            "counted_through": counted_through_label(source.counted_through, product.timezone),
            "window_days": query.days,
            "today_iso": today.isoformat(),  # sparklines mark a last day that is today as partial
            "prior_from": query.prior_from.isoformat(),
            "prior_to": (query.date_from - timedelta(days=1)).isoformat(),
            "first_use": first_use,
            "license": query.license,
            "csv_links": [
                {"table": table, "url": _url(csv_base, {**window, **filters, "table": table})} for table in CSV_TABLES
            ],
            "clear_event_url": _url(base, without_event),
            "clear_license_url": _url(base, without_license),
            "feature_urls": {f["name"]: _url(base, {**without_event, "event": f["name"]}) for f in data["topFeatures"]},
            "customer_urls": {
                row["licenseId"]: _url(
                    reverse("console:customer", args=[org_slug, product_id, row["licenseId"]]), keep_window
                )
                for row in data["topLicenses"]
            },
            # The entitlement gap of each card, every row (console.customers streams it).
            "gap_urls": {
                f["name"]: _url(
                    reverse("console:feature-licenses-csv", args=[org_slug, product_id, f["name"]]),
                    {**window, "used": "false"},
                )
                for f in data["topFeatures"]
                if "/" not in f["name"]
            },
            "license_urls": {
                row["licenseId"]: _url(base, {**without_license, "license_id": row["licenseId"]})
                for row in data["topLicenses"]
            },
        }
    )
    return render(request, "analytics/feature_usage.html", context)


def _license_filter_resolved(product, params: dict[str, str]) -> str | None:
    """The console's license filter takes a lic_ id, a key or an email: turn the last two into the id.

    Returns the message when an email names several licenses (the filter needs one).
    """
    text = params.get("license_id", "")
    if not text or public_id_shaped(text, prefix="lic"):
        return None
    found = event_selectors.licenses_matching(product=product, text=text)
    if len(found) > 1:
        return f"license: more than one license has '{text[:80]}'; use its key or lic_ id."
    if found:
        params["license_id"] = found[0].public_id
    return None


@login_required
def feature_usage_csv_download(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "analytics")
    if not feature_usage_allowed(context["organization"]):
        return HttpResponse("Feature Usage needs a paid plan.", status=402, content_type="text/plain; charset=utf-8")
    product = context["product"]
    today = product_today(product)
    params, _ = feature_usage_params(request.GET, today=today)
    table = request.GET.get("table", "")
    try:
        query = parse_feature_usage_query(product=product, params=params, today=today)
        # The 400/503 checks run before the first line: an error is an answer, never a cut file.
        lines, source = on_replica_stream(lambda: feature_usage_csv_lines(query, table))
    except ApiError as exc:
        response = HttpResponse(str(exc.detail), status=exc.status_code, content_type="text/plain; charset=utf-8")
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(exc.wait)
        return response
    response = StreamingHttpResponse(
        lines,
        content_type="text/csv; charset=utf-8",
        headers={READ_SOURCE_HEADER: source.name, COUNTED_THROUGH_HEADER: iso_utc(source.counted_through)},
    )
    response["Content-Disposition"] = f'attachment; filename="{csv_file_name(query, table)}"'
    return response
