"""Console pages of a product: overview, licenses, settings (public key and SDK snippets)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render

from events import selectors
from events.console import product_context
from events.models import Event, License
from lib.base_url import public_base_url
from lib.text import has_control_characters

LICENSES_PER_PAGE = 50
SEARCH_MAX_LENGTH = 200


@login_required
def product_overview(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "overview")
    product = context["product"]
    by_status = {
        row["status"]: row["n"]
        for row in selectors.license_list(product=product).order_by().values("status").annotate(n=Count("id"))
    }
    context["license_counts"] = [(label, by_status.get(value, 0)) for value, label in License.Status.choices]
    context["license_total"] = sum(by_status.values())
    # "Is my SDK wired up?" is the first question after installing it.
    context["last_event"] = Event.objects.filter(product=product).order_by("-received_at").first()
    return render(request, "events/product_overview.html", context)


@login_required
def product_licenses(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "licenses")
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    if has_control_characters(query):
        raise BadRequest("q: must not contain control characters.")  # a NUL would be a database error
    licenses = selectors.license_list(product=context["product"]).order_by("-created_at", "-id")
    if query:
        licenses = licenses.filter(
            Q(key__icontains=query) | Q(customer_email__icontains=query) | Q(public_id__iexact=query)
        )
    page = Paginator(licenses, LICENSES_PER_PAGE).get_page(request.GET.get("page"))
    context.update({"query": query, "page": page})
    return render(request, "events/product_licenses.html", context)


@login_required
def product_settings(request, org_slug: str, product_id: str):
    context = product_context(request, org_slug, product_id, "settings")
    base = public_base_url(request)
    context.update({"base": base, "base_url": base.url, "event_url": f"{base.url}/public/v1/event"})
    return render(request, "events/product_settings.html", context)
