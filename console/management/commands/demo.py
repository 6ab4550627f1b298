from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from analytics.counters import counters_rebuild
from analytics.installs.fold import installs_rebuild
from events import demo as events_demo
from events.models import Product
from flags import demo as flags_demo
from tenancy.demo import demo_organization_create


class Command(BaseCommand):
    help = "Fill the database with a demo organization, products, licenses, events and flags."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")

    def handle(self, *args, no_progress: bool, **options):
        with transaction.atomic():
            context = demo_organization_create(progress=not no_progress)
            events_demo.seed(context)
            flags_demo.seed(context)
            # Feature Usage reads counters: count the seeded events once, now.
            for product in Product.objects.filter(organization=context.organization):
                counters_rebuild(product=product)
                installs_rebuild(product=product)
        self.stdout.write("Demo data ready.")
        for line in context.summary:
            self.stdout.write(line)
