"""Writes for products and licenses. Event ingestion lives in ``events/ingestion.py``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.timezone import now

from events.models import WRITE_BARRIER_LOCK, License, Product
from events.signals import product_timezone_changed
from lib import sql as core_sql
from lib.errors import ApiError
from tenancy import keys
from tenancy.audit import SYSTEM, Actor, audit_record
from tenancy.models import Organization

# A revoked license stays revoked: re-enabling a key that was revoked for abuse
# should be a new license, as in Keygen and Lemon Squeezy.
ALLOWED_STATUS_CHANGES = {
    License.Status.ACTIVE: {License.Status.EXPIRED, License.Status.REVOKED},
    License.Status.EXPIRED: {License.Status.ACTIVE, License.Status.REVOKED},
    License.Status.REVOKED: set(),
}


def product_snapshot(product: Product) -> dict:
    return {"id": product.public_id, "name": product.name, "timezone": product.timezone}


def _product_audit(product: Product, actor: Actor, action: str, before: dict | None) -> None:
    audit_record(
        organization=product.organization,
        actor=actor,
        action=action,
        target_type="product",
        target_id=product.public_id,
        before=before,
        after=product_snapshot(product),
    )


@transaction.atomic
def product_create(*, organization: Organization, name: str, timezone: str = "UTC", actor: Actor = SYSTEM) -> Product:
    product = Product.objects.create(organization=organization, name=name, timezone=timezone)
    _product_audit(product, actor, "product.created", None)
    return product


@transaction.atomic
def product_update(
    *, product: Product, name: str | None = None, timezone: str | None = None, actor: Actor = SYSTEM
) -> Product:
    before = product_snapshot(product)
    changed = []
    if name is not None and name != product.name:
        product.name = name
        changed.append("name")
    if timezone is not None and timezone != product.timezone:
        product.timezone = timezone
        # Feature Usage answers 503 until its counters are recounted in the new zone.
        product.recount_progress = 0
        product.recount_started_at = None  # pending: no worker on it yet
        product.recount_heartbeat_at = now()
        changed += ["timezone", "recount_progress", "recount_started_at", "recount_heartbeat_at"]
    if changed:
        product.save(update_fields=changed)
    _product_audit(product, actor, "product.updated", before)
    if "timezone" in changed:
        on_product_timezone_changed(product=product)
    return product


@transaction.atomic
def product_delete(*, product: Product, actor: Actor = SYSTEM) -> None:
    """The product with its events and licenses (the admin's, not the API's); projects linked to it are unlinked."""
    audit_record(
        organization=product.organization,
        actor=actor,
        action="product.deleted",
        target_type="product",
        target_id=product.public_id,
        before=product_snapshot(product),
        after=None,
    )
    product.delete()


def product_recount_progress_set(*, product_id: int, timezone: str, progress: int | None) -> bool:
    """Record a recount's progress (None: done), if the product is still in the zone it recounts; returns whether it was.

    Each call is the worker's heartbeat too: progress 0 marks the recount started (running).
    """
    fields = {"recount_progress": progress, "recount_heartbeat_at": now()}
    if progress == 0:
        fields["recount_started_at"] = now()
    if progress is None:
        fields.update(recount_started_at=None, recount_heartbeat_at=None)
    return Product.objects.filter(pk=product_id, timezone=timezone).update(**fields) == 1


def product_recount_heartbeat(*, product_id: int) -> None:
    """A worker's sign of life on the product's recount (its heartbeat thread, every few seconds)."""
    Product.objects.filter(pk=product_id, recount_progress__isnull=False).update(recount_heartbeat_at=now())


def products_recount_abandoned(*, stale_seconds: float) -> list[int]:
    """Products left recounting with no sign of life for ``stale_seconds``, marked pending again (ids).

    Marking them (heartbeat now, not started) gives the re-enqueued recount the same grace
    as a fresh change: the next sweep leaves them alone until it, too, goes quiet.
    """
    cutoff = now() - timedelta(seconds=stale_seconds)
    stale = Product.objects.filter(recount_progress__isnull=False).filter(
        Q(recount_heartbeat_at__isnull=True) | Q(recount_heartbeat_at__lt=cutoff)
    )
    with transaction.atomic():
        ids = list(stale.select_for_update(skip_locked=True).values_list("pk", flat=True))
        Product.objects.filter(pk__in=ids).update(recount_started_at=None, recount_heartbeat_at=now())
    return ids


def product_recount_status(product: Product, *, stale_seconds: float) -> str:
    """``running`` while a worker shows signs of life on the recount, else ``pending`` (waiting for one)."""
    heartbeat = product.recount_heartbeat_at
    alive = heartbeat is not None and heartbeat >= now() - timedelta(seconds=stale_seconds)
    return "running" if product.recount_started_at is not None and alive else "pending"


def on_product_timezone_changed(*, product: Product) -> None:
    """Days and hours of Feature Usage are local to the product: whoever counts them recounts, after commit."""
    transaction.on_commit(lambda: product_timezone_changed.send(sender=Product, product=product))


def license_create(
    *,
    product: Product,
    key: str | None = None,
    customer_email: str = "",
    status: str = License.Status.ACTIVE,
    expires_at: datetime | None = None,
    max_sites: int | None = None,
) -> License:
    key = key or _new_license_key()
    try:
        with transaction.atomic():
            return License.objects.create(
                product=product,
                key=key,
                customer_email=customer_email,
                status=status,
                expires_at=expires_at,
                max_sites=max_sites,
            )
    except IntegrityError:
        raise ApiError(
            f"key: a license with key '{key}' already exists for this product.", code="duplicate_key"
        ) from None


def license_update(*, license: License, **changes) -> License:
    new_status = changes.get("status")
    if new_status is not None and new_status != license.status:
        if new_status not in ALLOWED_STATUS_CHANGES[license.status]:
            raise ApiError(
                f"status: a {license.status} license cannot become {new_status}.", code="invalid_status_change"
            )
    fields = []
    for field in ("customer_email", "status", "expires_at", "max_sites"):
        if field in changes and getattr(license, field) != changes[field]:
            setattr(license, field, changes[field])
            fields.append(field)
    if fields:
        license.save(update_fields=fields)
    return license


def _new_license_key() -> str:
    raw = keys.new_secret("x").split("_", 1)[1].upper().replace("-", "X").replace("_", "Y")
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def events_write_barrier_enter(*, product_id: int) -> None:
    """For a writer of events other than ingestion (inside ``transaction.atomic``): hold the product's
    write barrier, shared, until the transaction ends, as ingestion's insert does."""
    if connection.vendor != "postgresql":
        return  # SQLite serialises writers: nothing to wait for
    if not connection.in_atomic_block:
        raise RuntimeError("events_write_barrier_enter needs a transaction: the lock lasts until it ends.")
    with connection.cursor() as cursor:
        cursor.execute(core_sql.after_shared_xact_lock("SELECT 1", lock_class=WRITE_BARRIER_LOCK), [product_id])
