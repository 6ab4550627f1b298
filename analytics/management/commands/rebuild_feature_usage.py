from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from analytics.counters import counters_rebuild
from events.models import Product


class Command(BaseCommand):
    help = "Recount a product's Feature Usage counters from its events (done automatically when its time zone changes)."

    def add_arguments(self, parser):
        parser.add_argument("product_id", nargs="+", help="Public product ids (prd_…).")

    def handle(self, *args, product_id: list[str], **options):
        products = list(Product.objects.filter(public_id__in=product_id))
        missing = set(product_id) - {product.public_id for product in products}
        if missing:
            raise CommandError(f"No product {', '.join(sorted(missing))}.")
        for product in products:
            counters_rebuild(product=product)
            self.stdout.write(f"Rebuilt the Feature Usage counters of {product.public_id} ({product.timezone}).")
