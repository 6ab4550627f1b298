from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.counters import counters_reach_repair
from events.models import Product


class Command(BaseCommand):
    help = (
        "Recount the Feature Usage reach points (distinct licenses and domains per feature) from the pair "
        "counters: run once after upgrading past issue 18's fix, which on PostgreSQL could undercount them. "
        "Every product, or the products named; one transaction per product, folds of that product wait."
    )

    def add_arguments(self, parser):
        parser.add_argument("product_id", nargs="*", help="Public product ids (prd_…); none: every product.")

    def handle(self, *args, product_id: list[str], **options):
        products = Product.objects.order_by("pk")
        if product_id:
            products = products.filter(public_id__in=product_id)
            missing = set(product_id) - set(products.values_list("public_id", flat=True))
            if missing:
                raise CommandError(f"No product {', '.join(sorted(missing))}.")
        started = time.perf_counter()
        count = 0
        for product in products.iterator():
            points = counters_reach_repair(product=product)
            count += 1
            self.stdout.write(f"Recounted {points} reach points of {product.public_id}.")
        self.stdout.write(f"Repaired {count} products in {time.perf_counter() - started:.1f} s.")
