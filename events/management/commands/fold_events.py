from __future__ import annotations

from django.core.management.base import BaseCommand

from events.counters import counters_fold
from events.models import Event, Product


class Command(BaseCommand):
    help = (
        "Fold pending events into the Feature Usage counters of every product that has some. "
        "Feature Usage folds on each request anyway; run this from cron to keep those requests short."
    )

    def handle(self, *args, **options):
        product_ids = Event.objects.filter(rollup_batch__isnull=True).values("product_id").distinct()
        folded = products = 0
        for product in Product.objects.filter(pk__in=product_ids):
            folded += counters_fold(product=product)
            products += 1
        self.stdout.write(f"Folded {folded} events of {products} products.")
