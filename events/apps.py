from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Products, licenses and events"

    def ready(self) -> None:
        post_migrate.connect(_ensure_event_partitions, sender=self)


def _ensure_event_partitions(sender, *, using: str = "default", plan=None, **kwargs) -> None:
    """After ``migrate``: this month's and the next months' partitions exist before the first event."""
    from events.partitions import event_partitions_ensure

    if using == "default":
        event_partitions_ensure()
