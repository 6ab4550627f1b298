"""Analytics listens to the event stream's signals (``events`` does not know analytics exists)."""

from __future__ import annotations

import logging

from django.db.backends.signals import connection_created
from django.dispatch import receiver

from analytics import sql as analytics_sql
from analytics.counters import fold_lag
from analytics.tasks import fold_soon, recount_product
from events.models import Product
from events.signals import events_ingested, product_analytics_state, product_timezone_changed

logger = logging.getLogger(__name__)

# Both receivers run after their request's transaction committed: a broker or cache that is
# down must not turn a stored change into a 500 (a client retrying an event sent without a uuid
# would store it twice). Nothing is lost: the recount is pending in the database
# (``Product.recount_progress``) and the beat's sweep enqueues it once Redis is back; the
# beat folds every second anyway.


@receiver(connection_created)
def add_sqlite_functions(sender, *, connection, **kwargs) -> None:
    """SQLite runs the fold's statements too: each connection gets what they use beyond SQLite's functions."""
    if connection.vendor == "sqlite":
        analytics_sql.register_sqlite_functions(connection.connection)


@receiver(product_timezone_changed)
def recount_after_timezone_change(sender, *, product: Product, **kwargs) -> None:
    try:
        recount_product.delay(product.pk)
    except Exception:
        logger.warning("recount of product %s not enqueued (broker down): the sweep will", product.pk, exc_info=True)


@receiver(events_ingested)
def fold_after_ingestion(sender, **kwargs) -> None:
    try:
        fold_soon()
    except Exception:
        logger.warning("fold not requested (cache or broker down): the beat folds anyway", exc_info=True)


@receiver(product_analytics_state)
def fold_lag_of_product(sender, *, product: Product, **kwargs) -> dict:
    lag = fold_lag(product=product)
    return {"lagEvents": lag.events, "lagSeconds": lag.seconds}
