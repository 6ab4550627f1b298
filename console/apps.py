from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """What the console's pages share: sign-in, the organization home, API-key pages, chart tags, the demo."""

    name = "console"
    verbose_name = "Console"
