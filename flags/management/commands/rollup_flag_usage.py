from __future__ import annotations

import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from flags.models import Environment
from flags.rollup import rollup_run
from flags.selectors import utc_today


class Command(BaseCommand):
    help = (
        "Roll recorded flag evaluations up into one row per (environment, flag, UTC day), then delete raw "
        "evaluations past the longest plan retention. Default: every day before today not yet fully rolled up."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--date", help="Recompute this UTC day (YYYY-MM-DD).")
        which.add_argument("--days", type=int, help="Recompute the N days up to yesterday.")

    def handle(self, *args, date: str | None, days: int | None, **options):
        today = utc_today()
        chosen = None
        if date is not None:
            chosen = [_parse_date(date)]
        elif days is not None:
            if days < 1:
                raise CommandError("--days must be at least 1.")
            chosen = [today - timedelta(days=n) for n in range(days, 0, -1)]
        started = time.monotonic()
        report = rollup_run(today=today, days=chosen, progress=self.stdout.write)
        self.stdout.write(
            f"Rolled up {len(report.days)} day(s): {report.evaluations:,} evaluations into {report.rows:,} rows; "
            f"deleted {report.deleted:,} raw evaluations before {report.cutoff} "
            f"({time.monotonic() - started:.1f} s)."
        )
        if report.skipped:
            # Reported, not raised: every other environment is rolled up; these stay pending for the next run.
            public_ids = Environment.objects.filter(pk__in=report.skipped).values_list("public_id", flat=True)
            self.stderr.write(
                f"Skipped {len(report.skipped)} environment(s) whose rows could not be rolled up "
                f"(see the log): {', '.join(sorted(public_ids))}."
            )


def _parse_date(raw: str) -> date:
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"--date: '{raw}' is not a date in YYYY-MM-DD format.") from None
