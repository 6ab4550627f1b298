from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The tenancy core: plans, organizations, members, API keys, and what every app shares.

    The label stays ``packedge`` (the app's name before the project package and
    the tenancy core were split), so its tables (``packedge_organization``, …),
    its migration history and the admin URLs are unchanged.
    """

    name = "core"
    label = "packedge"
    verbose_name = "Tenancy: plans, organizations, API keys"

    def ready(self) -> None:
        from core import (
            checks,  # noqa: F401  (registers the system checks)
            openapi,  # noqa: F401  (registers the API key scheme with drf-spectacular)
        )
