from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analytics.installs.fold import installs_rebuild
from events.models import Product


class Command(BaseCommand):
    help = "Count a product's Installs again from its lifecycle events (done automatically when its time zone changes)."

    def add_arguments(self, parser):
        parser.add_argument("product_id", nargs="+", help="Public product ids (prd_…).")

    def handle(self, *args, product_id: list[str], **options):
        products = list(Product.objects.filter(public_id__in=product_id))
        missing = set(product_id) - {product.public_id for product in products}
        if missing:
            raise CommandError(f"No product {', '.join(sorted(missing))}.")
        for product in products:
            folded = installs_rebuild(product=product)
            self.stdout.write(f"Counted the Installs of {product.public_id} again ({folded} lifecycle events).")
