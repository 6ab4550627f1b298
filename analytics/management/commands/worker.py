"""`python manage.py worker [celery worker options]`: the background worker, its beat schedule embedded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Start a Celery worker with its beat schedule (the Feature Usage fold every second, the nightly "
        "flag rollup) against CELERY_BROKER_URL. Options after the command go to `celery worker` as they are, "
        "e.g. `python manage.py worker --concurrency 2 --loglevel INFO`."
    )

    # Everything after the command name belongs to Celery.
    def run_from_argv(self, argv: list[str]) -> None:
        self.celery_args = argv[2:]
        super().run_from_argv(argv[:2])

    def handle(self, *args, **options):
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError(
                "CELERY_BROKER_URL is not set: without a broker, tasks run in-process and no worker is needed."
            )
        extra = getattr(self, "celery_args", [])
        # One beat per deployment: run a second worker with --no-beat (beat is embedded by default here).
        beat = [] if "--no-beat" in extra else ["--beat"]
        extra = [arg for arg in extra if arg != "--no-beat"]
        current_app.worker_main(["worker", *beat, "--schedule", self._schedule_file(), *extra])

    @staticmethod
    def _schedule_file() -> str:
        # Beat's last-run state, out of the source tree.
        return str(Path(tempfile.gettempdir()) / f"packedge-celerybeat-{Path.cwd().name}")
