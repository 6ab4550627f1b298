"""Serve ``POST /public/v1/event`` with the capture server: uvicorn, httptools, uvloop (docs/ingestion-group-commit.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the capture server for POST /public/v1/event (PostgreSQL only); nginx routes that path to it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--workers", type=int, default=2, help="processes, each with its own event loop")
        parser.add_argument("--log-level", default="warning", help="uvicorn's (info: each worker's start-up)")

    def handle(self, *args, host: str, port: int, workers: int, log_level: str, **options):
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError("The capture server needs PostgreSQL; with SQLite, gunicorn serves the event endpoint.")
        import uvicorn

        self.stdout.write(f"capture server on http://{host}:{port}, {workers} workers")
        uvicorn.run(
            "packedge.capture:application",
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            server_header=False,
            backlog=2048,
            log_level=log_level,
            timeout_graceful_shutdown=10,
        )
