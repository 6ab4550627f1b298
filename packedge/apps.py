from django.apps import AppConfig


class PackedgeConfig(AppConfig):
    name = "packedge"
    verbose_name = "Tenancy: plans, organizations, API keys"

    def ready(self) -> None:
        from packedge import checks  # noqa: F401  (registers the system checks)
