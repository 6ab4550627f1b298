"""Drop the months of raw events older than EVENT_RETENTION_DAYS (Feature Usage's counters stay)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from events.partitions import events_prune


class Command(BaseCommand):
    help = "Drop whole months of events older than EVENT_RETENTION_DAYS; --dry-run only lists them."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")

    def handle(self, *args, dry_run: bool = False, **options):
        result = events_prune(dry_run=dry_run)
        verb = "would drop" if dry_run else "dropped"
        for partition in result.dropped:
            self.stdout.write(f"{verb} {partition.name} ({partition.start:%Y-%m-%d} to {partition.end:%Y-%m-%d})")
        rows = f"{result.deleted_rows} rows {'to delete' if dry_run else 'deleted'}"
        self.stdout.write(
            f"{verb} {len(result.dropped)} partitions, {rows}: events before {result.cutoff:%Y-%m-%d} "
            f"(EVENT_RETENTION_DAYS={settings.EVENT_RETENTION_DAYS}) in whole months"
        )
