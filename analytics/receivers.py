"""Analytics listens to the event stream's signals (``events`` does not know analytics exists)."""

from __future__ import annotations

from django.dispatch import receiver

from analytics.counters import fold_lag
from analytics.tasks import fold_soon, recount_product
from events.models import Product
from events.signals import events_ingested, product_analytics_state, product_timezone_changed


@receiver(product_timezone_changed)
def recount_after_timezone_change(sender, *, product: Product, **kwargs) -> None:
    recount_product.delay(product.pk)


@receiver(events_ingested)
def fold_after_ingestion(sender, **kwargs) -> None:
    fold_soon()


@receiver(product_analytics_state)
def fold_lag_of_product(sender, *, product: Product, **kwargs) -> dict:
    lag = fold_lag(product=product)
    return {"lagEvents": lag.events, "lagSeconds": lag.seconds}
