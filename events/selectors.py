"""Reads for products and licenses, always scoped to an organization."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from core.identifiers import public_id_require
from core.models import Organization
from events.models import License, Product


def product_list(*, organization: Organization) -> QuerySet[Product]:
    return Product.objects.filter(organization=organization)


def product_get(*, organization: Organization, product_id: str) -> Product:
    """The product, or 404 — also for another organization's product (and for what is no product id)."""
    public_id_require(product_id, prefix="prd", message=f"No product '{product_id[:40]}' in this organization.")
    product = (
        Product.objects.select_related("organization__plan")
        .filter(organization=organization, public_id=product_id)
        .first()
    )
    if product is None:
        raise NotFound(f"No product '{product_id}' in this organization.")
    return product


def license_list(*, product: Product) -> QuerySet[License]:
    return License.objects.filter(product=product)


def license_get(*, product: Product, license_id: str) -> License:
    public_id_require(license_id, prefix="lic", message=f"No license '{license_id[:40]}' for this product.")
    license = License.objects.filter(product=product, public_id=license_id).first()
    if license is None:
        raise NotFound(f"No license '{license_id}' for this product.")
    return license
