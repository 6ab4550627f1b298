from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Feature Usage analytics"

    def ready(self) -> None:
        from analytics import receivers  # noqa: F401  (connects the signal receivers)
