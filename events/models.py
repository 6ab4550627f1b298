"""Products, their licenses, and the events their installs send."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils.timezone import now

from tenancy import keys
from tenancy.models import Organization

EVENT_NAME_MAX_LENGTH = 200
# PostgreSQL advisory lock class of the per-product write barrier (the product id is the other half):
# writers hold it shared while they insert, a consumer takes it exclusively to read the committed ids.
WRITE_BARRIER_LOCK = 0x65766E74  # "evnt"
DOMAIN_MAX_LENGTH = 253
LICENSE_KEY_MAX_LENGTH = 200


class Product(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=keys.new_product_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    public_key = models.CharField(max_length=40, unique=True, default=keys.new_public_key)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name; Feature Usage days and hours.")
    created_at = models.DateTimeField(default=now)
    # Feature Usage's recount state lives on the product, owned by events, so that the
    # product resource shows it without importing analytics: NULL when the counters are
    # in ``timezone``, else the recount's percentage. A time zone change sets it to 0;
    # analytics moves it through ``events.services.product_recount_progress_set``.
    recount_progress = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # Whether a worker is on the recount (issue 25): set when a worker starts it (NULL while it
    # waits in the queue), and the last sign of life of whoever owns it (the change itself, the
    # worker at each chunk, the sweep that re-enqueued it). A recount whose heartbeat is older
    # than RECOUNT_STALE_SECONDS has no worker: the beat's sweep enqueues it again.
    recount_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    recount_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.name

    @property
    def recounting(self) -> bool:
        return self.recount_progress is not None


class License(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    public_id = models.CharField(max_length=40, unique=True, default=keys.new_license_id, editable=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="licenses")
    key = models.CharField(max_length=LICENSE_KEY_MAX_LENGTH)
    customer_email = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField(null=True, blank=True)
    # How many distinct sites the license is sold for; NULL = unlimited. Analytics flags a
    # license seen on more sites than this in a window (key sharing).
    max_sites = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "key"], name="license_key_unique_per_product")]
        indexes = [models.Index(fields=["product", "customer_email"], name="license_product_email")]

    def __str__(self) -> str:
        return self.key

    @property
    def current_status(self) -> str:
        return self.status_at(now())

    def status_at(self, moment: datetime) -> str:
        """The status that rules at ``moment`` (docs/customers.md): revoked wins, then expired
        by status or by a past expiry date, else active. What "active" means everywhere."""
        if self.status != self.Status.ACTIVE:
            return self.status
        if self.expires_at is not None and self.expires_at < moment:
            return self.Status.EXPIRED
        return self.Status.ACTIVE


class Event(models.Model):
    """One tracked event, append-only.

    Consumers (the Feature Usage counters) keep a per-product watermark on ``id``
    instead of marking rows: every writer takes the product's shared write barrier
    (``events.selectors.events_committed_through``), so once a consumer has passed it every id at or
    below the highest one it saw is committed, and every later event gets a higher id.
    """

    # No single-column index: every composite index below starts with product,
    # and each index is paid for by every insert on the hottest table.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="events", db_index=False)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    is_system = models.BooleanField(default=False)
    properties = models.JSONField(default=dict, blank=True)
    license = models.ForeignKey(License, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    license_key = models.CharField(max_length=LICENSE_KEY_MAX_LENGTH, blank=True)
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=now)
    # NULL when the client sent none. Unique per product through EventUuid, not a constraint
    # here: on PostgreSQL this table is partitioned by month, and a unique key of a
    # partitioned table must hold the partition key, which a per-product uuid cannot.
    uuid = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    # On PostgreSQL the table is range-partitioned by ``occurred_at`` month and its
    # primary key is DATABASE_KEY (migration 0009): the partition key must be in it, and
    # the product leads so the table could be distributed by product (docs/SCALING.md).
    # Django keeps ``id`` as the primary key it reads by: still unique, from one sequence.
    PARTITION_KEY = "occurred_at"
    DATABASE_KEY = ("product", "id", "occurred_at")

    class Meta:
        indexes = [
            models.Index(fields=["product", "occurred_at"], name="event_product_time"),
            models.Index(fields=["product", "license", "occurred_at"], name="event_product_license_time"),
            # "This product's events after id N": a consumer's tail. On the partitioned PostgreSQL table
            # the primary key (product_id, id, occurred_at) serves it instead (migration 0010).
            models.Index(fields=["product", "id"], name="event_product_id"),
        ]

    def __str__(self) -> str:
        return f"{self.event} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class EventUuid(models.Model):
    """The uuids already stored for a product: what makes a retried event a no-op.

    Written by the ingestion insert in the same statement as the event, so the
    primary key decides between two racing copies, months apart or not.
    """

    pk = models.CompositePrimaryKey("product", "uuid")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    uuid = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.uuid
