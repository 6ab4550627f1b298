from django.apps import AppConfig


class PackedgeConfig(AppConfig):
    name = "packedge"
    verbose_name = "Tenancy: plans, organizations, API keys"
