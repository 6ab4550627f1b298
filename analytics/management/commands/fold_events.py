from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.counter_statistics import counter_statistics_refresh
from analytics.counters import counters_fold_all


class Command(BaseCommand):
    help = (
        "Fold pending events into the Feature Usage counters of every product that has some. "
        "The worker (`python manage.py worker`) does this every second; this command is for operators: "
        "once by hand, or with --every SECONDS where no worker runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every", type=float, metavar="SECONDS", help="Keep folding, pausing this long between passes."
        )
        parser.add_argument("--passes", type=int, default=None, help="With --every: stop after this many passes.")

    def handle(self, *args, every: float | None, passes: int | None, **options):
        if every is not None and every <= 0:
            raise CommandError("--every takes a number of seconds above 0.")
        done = 0
        while True:
            folded, products = counters_fold_all()
            self.stdout.write(f"Folded {folded} events of {products} products.")
            if folded:
                counter_statistics_refresh()
            done += 1
            if every is None or (passes is not None and done >= passes):
                return
            # A busy pass is followed at once by the next one, so a backlog drains as fast as folds go.
            if not folded:
                time.sleep(every)
