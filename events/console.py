"""What the product's console tabs share; the Analytics tab (another app) builds its pages on it."""

from __future__ import annotations

from django.urls import reverse

from events import selectors
from events.models import Product
from tenancy.console import membership_get, or_404


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
        "installs_url": reverse("console:installs", args=[org_slug, product.public_id]),
    }
