"""The customer page: one license's usage (analytics) and the flags it was served (flags).

It lives in the console because it lays out two feature apps' answers side by
side, and they may not import each other; each figure is the API's own answer
for the same window (``/licenses/{id}/usage`` and ``/licenses/{id}/flags``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse

from analytics.entitlement_gap import feature_license_rows, parse_used
from analytics.feature_usage import AnalyticsRecounting, feature_usage_allowed, parse_feature_usage_query
from analytics.feature_usage.export import csv_cell
from analytics.feature_usage.report import counted_product
from analytics.license_usage import license_usage
from analytics.views import DEFAULT_PRESET, WINDOW_PRESETS, feature_usage_params, product_today
from events import selectors as event_selectors
from events.console import product_context
from events.models import Product
from flags.exposure import license_flags
from lib.errors import ApiError
from lib.freshness import COUNTED_THROUGH_HEADER, counted_through_label, iso_utc
from lib.replica import READ_SOURCE_HEADER, on_replica, on_replica_stream
from lib.snapshot import read_snapshot
from tenancy.console import or_404

CSV_HEADER = ("licenseId", "key", "customerEmail", "events")


@login_required
def customer_page(request, org_slug: str, product_id: str, license_id: str):
    context = product_context(request, org_slug, product_id, "licenses")
    product, organization = context["product"], context["organization"]
    license = or_404(event_selectors.license_get, product=product, license_id=license_id)
    context["license"] = license
    if not feature_usage_allowed(organization):
        context["plan_required"] = True
        return render(request, "analytics/customer.html", context)
    base = reverse("console:customer", args=[org_slug, product.public_id, license.public_id])
    today = product_today(product)
    params, preset = feature_usage_params(request.GET, today=today)
    window = {name: params[name] for name in ("from", "to") if name in params}
    context["presets"] = [
        {"days": days, "url": base if days == DEFAULT_PRESET else f"{base}?days={days}", "active": days == preset}
        for days in WINDOW_PRESETS
    ]
    context["form"] = {"from": window.get("from", ""), "to": window.get("to", "")}
    context["today_iso"] = today.isoformat()  # sparklines mark a last day that is today as partial
    try:
        query = replace(parse_feature_usage_query(product=product, params=window, today=today), license=license)
        # The license's usage and the flags it was served, from one replica snapshot.
        (data, flags), source = on_replica(
            lambda: (
                license_usage(query),
                license_flags(license=license, date_from=query.date_from, date_to=query.date_to),
            )
        )
    except AnalyticsRecounting:
        context["product"] = Product.objects.get(pk=product.pk)
        return render(request, "analytics/customer.html", context)
    except ApiError as exc:
        context["error"] = str(exc.detail)
        return render(request, "analytics/customer.html", context, status=exc.status_code)
    context["form"].update({"from": data["from"], "to": data["to"]})
    # Flags are rolled up by UTC day: the same dates, read as UTC days (docs/customers.md).
    context["flags"] = flags
    context["data"] = data
    context["counted_through"] = counted_through_label(source.counted_through, product.timezone)
    context["usage_url"] = reverse("console:feature-usage", args=[org_slug, product.public_id])
    response = render(request, "analytics/customer.html", context)
    response[READ_SOURCE_HEADER] = source.name
    return response


@login_required
def feature_licenses_csv(request, org_slug: str, product_id: str, name: str):
    """The entitlement gap of one feature as CSV: every active license that used it, or did not."""
    context = product_context(request, org_slug, product_id, "analytics")
    product = context["product"]
    if not feature_usage_allowed(context["organization"]):
        return HttpResponse("Feature Usage needs a paid plan.", status=402, content_type="text/plain; charset=utf-8")
    today = product_today(product)
    params, _ = feature_usage_params(request.GET, today=today)
    try:
        used = parse_used(request.GET.get("used"))
        query = parse_feature_usage_query(
            product=product, params={k: v for k, v in params.items() if k in ("from", "to")}, today=today
        )
    except ApiError as exc:
        return HttpResponse(str(exc.detail), status=exc.status_code, content_type="text/plain; charset=utf-8")

    def lines():
        # The 503 of a recount is checked with the first line, before the response starts (on_replica_stream).
        with read_snapshot():
            counted_product(query)
            yield ",".join(CSV_HEADER) + "\r\n"
            for row in feature_license_rows(query, feature=name, used=used):
                yield _csv_line(row)

    try:
        rows, source = on_replica_stream(lines)
    except ApiError as exc:
        response = HttpResponse(str(exc.detail), status=exc.status_code, content_type="text/plain; charset=utf-8")
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(exc.wait)
        return response
    response = StreamingHttpResponse(
        rows,
        content_type="text/csv; charset=utf-8",
        headers={READ_SOURCE_HEADER: source.name, COUNTED_THROUGH_HEADER: iso_utc(source.counted_through)},
    )
    kind = "used" if used else "not-used"
    safe = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)[:80]
    response["Content-Disposition"] = (
        f'attachment; filename="{product.public_id}-{safe}-{kind}-{query.date_from}-{query.date_to}.csv"'
    )
    return response


def _csv_line(row: list) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([csv_cell(value) for value in row])
    return out.getvalue()
