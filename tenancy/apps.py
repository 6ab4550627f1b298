from __future__ import annotations

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """The tenancy app: plans, organizations, members, API keys and the audit log.

    The label stays ``packedge`` (the app's name before the project package and
    the tenancy core were split), so its tables (``packedge_organization``, …),
    its migration history and the admin URLs are unchanged.
    """

    name = "tenancy"
    label = "packedge"
    verbose_name = "Tenancy: plans, organizations, API keys"

    def ready(self) -> None:
        from lib import openapi  # noqa: F401  (registers the API key scheme with drf-spectacular)
        from tenancy import checks  # noqa: F401  (registers the system checks)
