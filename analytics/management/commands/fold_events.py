from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.counters import counters_fold
from events.models import Event, Product


def fold_pending_events() -> tuple[int, int]:
    """Fold every product that has pending events; returns (events, products)."""
    product_ids = Event.objects.filter(rollup_batch__isnull=True).values("product_id").distinct()
    folded = products = 0
    for product in Product.objects.filter(pk__in=product_ids):
        folded += counters_fold(product=product)
        products += 1
    return folded, products


class Command(BaseCommand):
    help = (
        "Fold pending events into the Feature Usage counters of every product that has some. "
        "Feature Usage folds on each request anyway; run this to keep those requests short: "
        "once from cron, or as a worker with --every SECONDS under sustained ingestion."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, metavar="SECONDS", help="Keep folding, pausing this long between passes.")
        parser.add_argument("--passes", type=int, default=None, help="With --every: stop after this many passes.")

    def handle(self, *args, every: float | None, passes: int | None, **options):
        if every is not None and every <= 0:
            raise CommandError("--every takes a number of seconds above 0.")
        done = 0
        while True:
            folded, products = fold_pending_events()
            self.stdout.write(f"Folded {folded} events of {products} products.")
            done += 1
            if every is None or (passes is not None and done >= passes):
                return
            # A busy pass is followed at once by the next one, so a backlog drains as fast as folds go.
            if not folded:
                time.sleep(every)
