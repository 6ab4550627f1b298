"""Demo products and licenses (and, with ingestion, their events)."""

from __future__ import annotations

from datetime import timedelta

from events import services
from events.models import License
from packedge.demo import DemoContext

DEMO_PRODUCTS = [
    ("SEO Booster Pro", "America/New_York", 180),
    ("Invoice Desk", "Europe/Berlin", 60),
]


def seed(context: DemoContext) -> None:
    rng = context.rng
    for name, zone, license_count in DEMO_PRODUCTS:
        product = services.product_create(organization=context.organization, name=name, timezone=zone)
        for number in range(license_count):
            status = rng.choices(
                [License.Status.ACTIVE, License.Status.EXPIRED, License.Status.REVOKED], weights=[85, 10, 5]
            )[0]
            expires_at = context.now + timedelta(days=rng.randint(30, 365)) if rng.random() < 0.5 else None
            services.license_create(
                product=product,
                customer_email=f"customer{number + 1}@{name.split()[0].lower()}-client{number % 40 + 1}.example",
                status=status,
                expires_at=expires_at,
            )
        context.summary.append(f"Product {name} ({product.public_id}): public key {product.public_key}")
