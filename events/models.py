"""Products, their licenses, and the events their installs send."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from core import keys
from core.models import Organization

EVENT_NAME_MAX_LENGTH = 200
DOMAIN_MAX_LENGTH = 253
LICENSE_KEY_MAX_LENGTH = 200


class Product(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=keys.new_product_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    public_key = models.CharField(max_length=40, unique=True, default=keys.new_public_key)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name; Feature Usage days and hours.")
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "key"], name="license_key_unique_per_product")]
        indexes = [models.Index(fields=["product", "customer_email"], name="license_product_email")]

    def __str__(self) -> str:
        return self.key


class Event(models.Model):
    """One tracked event, append-only.

    ``rollup_batch`` is bookkeeping for the Feature Usage counters: NULL while
    an event waits to be folded in, then the number of the fold that counted
    it. Marking by batch (not a boolean) is what lets a fold count exactly the
    rows it marked even while other transactions are still inserting.
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
    rollup_batch = models.BigIntegerField(null=True, blank=True, editable=False)

    # On PostgreSQL the table is range-partitioned by ``occurred_at`` month and its
    # primary key is DATABASE_KEY (migration 0007): the partition key must be in it, and
    # the product leads so the table could be distributed by product (docs/SCALING.md).
    # Django keeps ``id`` as the primary key it reads by: still unique, from one sequence.
    PARTITION_KEY = "occurred_at"
    DATABASE_KEY = ("product", "id", "occurred_at")

    class Meta:
        indexes = [
            models.Index(fields=["product", "occurred_at"], name="event_product_time"),
            models.Index(fields=["product", "license", "occurred_at"], name="event_product_license_time"),
            models.Index(fields=["product", "id"], condition=Q(rollup_batch__isnull=True), name="event_pending_rollup"),
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


# Feature Usage counters. Their size follows the answer, not the event count:
# a 30-day window reads a few hundred hour rows and one or two blocks per
# (license, feature) and (domain, feature) pair, however many events there are.
BLOCK_DAYS = 32
RUNNING_COLUMNS = tuple(f"c{index}" for index in range(BLOCK_DAYS))


class CounterState(models.Model):
    """One row per product: the lock every fold and rebuild takes, and the last batch number."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="counter_state")
    last_batch = models.BigIntegerField(default=0)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"counters of {self.product} (batch {self.last_batch})"


class FeatureHourCounter(models.Model):
    """Events per local day and hour of one (event name, feature) of a product."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "day", "hour", "event", "feature"], name="feature_hour_key"),
        ]

    def __str__(self) -> str:
        return f"{self.feature} {self.day} {self.hour}h: {self.count}"


class RunningTotalsBlock(models.Model):
    """32 consecutive local days of one product's counts, as running totals.

    ``block`` is a day's ordinal // 32. Column ``c<k>`` holds the running total
    of the block's days 0..k, so the count of any run of days in a block is one
    subtraction, and a 30-day window reads at most two rows per key.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    block = models.IntegerField()
    locals().update({name: models.IntegerField(default=0) for name in RUNNING_COLUMNS})

    class Meta:
        abstract = True


class LicenseBlockCounter(RunningTotalsBlock):
    """Events per local day of one license and (event, feature), 32 days to a row."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "block", "license", "event", "feature"], name="license_block_key"),
        ]
        # ``event=`` answers read only the matching features' rows.
        indexes = [models.Index(fields=["product", "feature", "block"], name="license_block_feature")]

    def __str__(self) -> str:
        return f"{self.license_id} {self.feature} block {self.block}"


class DomainBlockCounter(RunningTotalsBlock):
    """Events per local day of one domain and (event, feature); as LicenseBlockCounter. No row for ''."""

    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "block", "domain", "event", "feature"], name="domain_block_key"),
        ]
        indexes = [models.Index(fields=["product", "feature", "block"], name="domain_block_feature")]

    def __str__(self) -> str:
        return f"{self.domain} {self.feature} block {self.block}"


class LicenseTotalBlock(RunningTotalsBlock):
    """Events per local day of one license, all features together."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "block", "license"], name="license_total_key")]

    def __str__(self) -> str:
        return f"{self.license_id} block {self.block}"


class DomainTotalBlock(RunningTotalsBlock):
    """Events per local day of one domain, all features together."""

    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "block", "domain"], name="domain_total_key")]

    def __str__(self) -> str:
        return f"{self.domain} block {self.block}"


NO_PREVIOUS_DAY = date.min


class FeatureReachCounter(models.Model):
    """Distinct licenses (or domains) per feature over any window, exactly, without touching them.

    For each (license, feature) pair and each local day ``day`` it was used, one
    point (day, previous day it was used, or NO_PREVIOUS_DAY). The pairs used in
    [a, b] are exactly the points with a <= day <= b and previous_day < a (each
    pair's first use in the window), so a window's distinct count per feature
    is one SUM over about features × days rows. ``count`` aggregates equal points.
    """

    class Kind(models.TextChoices):
        LICENSE = "license", "License"
        DOMAIN = "domain", "Domain"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    day = models.DateField()
    previous_day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # ``count`` included: PostgreSQL answers a window from the index alone.
            models.UniqueConstraint(
                fields=["product", "kind", "day", "feature", "previous_day"], include=["count"], name="feature_reach_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.feature} {self.day} after {self.previous_day}: {self.count}"


class FeatureDayCounter(models.Model):
    """Events per local day of one (event name, feature): sparklines and prior windows in features × days rows."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day", "event", "feature"], name="feature_day_key")]

    def __str__(self) -> str:
        return f"{self.feature} {self.day}: {self.count}"


class DayHourCounter(models.Model):
    """Events per local day and hour, all features together: the unfiltered heatmap."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day", "hour"], name="day_hour_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour}h: {self.count}"


class LicenseHourCounter(models.Model):
    """Events per local day and hour of one license: the heatmap of a ``license_id=`` answer."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "license", "day", "hour"], name="license_hour_key"),
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.day} {self.hour}h: {self.count}"


class LicenseDomainBlockCounter(RunningTotalsBlock):
    """Events per local day of one license on one domain and (event, feature): domains of a ``license_id=`` answer."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "license", "block", "domain", "event", "feature"], name="license_domain_block_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.domain} {self.feature} block {self.block}"
