"""Console pages of a product: overview, licenses, settings (public key and SDK snippets)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render
from django.urls import reverse

from events import selectors
from events.models import Event, License, Product
from packedge.console import membership_get, or_404

LICENSES_PER_PAGE = 50
SEARCH_MAX_LENGTH = 200


def product_context(request, org_slug: str, product_id: str, tab: str) -> dict:
    """The membership check, the product (404 for another organization's) and what the tabs need."""
    membership = membership_get(user=request.user, org_slug=org_slug)
    product: Product = or_404(selectors.product_get, organization=membership.organization, product_id=product_id)
    feature_usage_url = reverse("console:feature-usage", args=[org_slug, product.public_id])
    return {
        "membership": membership,
        "organization": membership.organization,
        "product": product,
        "tab": tab,
        "feature_usage_url": feature_usage_url,
    }


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
    base_url = settings.PUBLIC_BASE_URL.rstrip("/")
    context.update({"base_url": base_url, "event_url": f"{base_url}/public/v1/event"})
    return render(request, "events/product_settings.html", context)
