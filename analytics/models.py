"""Feature Usage counters: analytics owns them (their tables kept the ``events_`` names they were created with)."""

from __future__ import annotations

from datetime import date

from django.db import models

from events.models import DOMAIN_MAX_LENGTH, EVENT_NAME_MAX_LENGTH, License, Product

# Feature Usage counters. Their size follows the answer, not the event count:
# a 30-day window reads a few hundred hour rows and one or two blocks per
# (license, feature) and (domain, feature) pair, however many events there are.
BLOCK_DAYS = 32
# The counters' foreign keys are not database constraints: a fold writes a million counter
# rows for a million events, and checking each row's product and license at commit cost
# more than a fifth of the fold. The fold writes only ids read from events (whose own keys
# are checked at ingestion), and Django's collector still cascades deletions to the counters.
# Nor has the product a foreign-key index of its own: every counter's primary key leads with it.
RUNNING_COLUMNS = tuple(f"c{index}" for index in range(BLOCK_DAYS))
HOUR_COLUMNS = tuple(f"h{hour}" for hour in range(24))


class CounterState(models.Model):
    """One row per product: the lock every fold and rebuild takes, and the watermark.

    ``folded_through``: the counters hold exactly the product's events with an id at
    or below it; the events above it are the tail a read adds at query time.
    """

    # The product is the key: one row per product, under a key that holds the distribution column.
    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="counter_state", primary_key=True)
    folded_through = models.BigIntegerField(default=0)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    # The recount that owns the counters while the product is recounting: a newer
    # recount (a second time zone change) takes over and the older one stops.
    recount_token = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "events_counterstate"

    def __str__(self) -> str:
        return f"counters of {self.product} (through event {self.folded_through})"


class FeatureHourCounter(models.Model):
    """Events per local day and hour of one (event name, feature) of a product."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "day", "hour", "event", "feature")

    class Meta:
        db_table = "events_featurehourcounter"

    def __str__(self) -> str:
        return f"{self.feature} {self.day} {self.hour}h: {self.count}"


class RunningTotalsBlock(models.Model):
    """32 consecutive local days of one product's counts, as running totals.

    ``block`` is a day's ordinal // 32. Column ``c<k>`` holds the running total
    of the block's days 0..k, so the count of any run of days in a block is one
    subtraction, and a 30-day window reads at most two rows per key.
    """

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    block = models.IntegerField()
    locals().update({name: models.IntegerField(default=0) for name in RUNNING_COLUMNS})

    class Meta:
        abstract = True


class LicenseBlockCounter(RunningTotalsBlock):
    """Events per local day of one license and (event, feature), 32 days to a row."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    pk = models.CompositePrimaryKey("product", "block", "license", "event", "feature")

    class Meta:
        db_table = "events_licenseblockcounter"
        # ``event=`` answers read only the matching features' rows.
        indexes = [models.Index(fields=["product", "feature", "block"], name="license_block_feature")]

    def __str__(self) -> str:
        return f"{self.license_id} {self.feature} block {self.block}"


class DomainBlockCounter(RunningTotalsBlock):
    """Events per local day of one domain and (event, feature); as LicenseBlockCounter. No row for ''."""

    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    pk = models.CompositePrimaryKey("product", "block", "domain", "event", "feature")

    class Meta:
        db_table = "events_domainblockcounter"
        indexes = [models.Index(fields=["product", "feature", "block"], name="domain_block_feature")]

    def __str__(self) -> str:
        return f"{self.domain} {self.feature} block {self.block}"


class LicenseTotalBlock(RunningTotalsBlock):
    """Events per local day of one license, all features together."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    pk = models.CompositePrimaryKey("product", "block", "license")

    class Meta:
        db_table = "events_licensetotalblock"

    def __str__(self) -> str:
        return f"{self.license_id} block {self.block}"


class DomainTotalBlock(RunningTotalsBlock):
    """Events per local day of one domain, all features together."""

    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)

    pk = models.CompositePrimaryKey("product", "block", "domain")

    class Meta:
        db_table = "events_domaintotalblock"

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

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    day = models.DateField()
    previous_day = models.DateField()
    count = models.BigIntegerField(default=0)

    # On PostgreSQL the key index also holds ``count`` (INCLUDE, migration 0005): a window is
    # answered from the index alone.
    pk = models.CompositePrimaryKey("product", "kind", "day", "feature", "previous_day")

    class Meta:
        db_table = "events_featurereachcounter"

    def __str__(self) -> str:
        return f"{self.kind} {self.feature} {self.day} after {self.previous_day}: {self.count}"


class FeatureDayCounter(models.Model):
    """Events per local day of one (event name, feature): sparklines and prior windows in features × days rows."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "day", "event", "feature")

    class Meta:
        db_table = "events_featuredaycounter"

    def __str__(self) -> str:
        return f"{self.feature} {self.day}: {self.count}"


class DayHourCounter(models.Model):
    """Events per local day and hour, all features together: the unfiltered heatmap."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "day", "hour")

    class Meta:
        db_table = "events_dayhourcounter"

    def __str__(self) -> str:
        return f"{self.day} {self.hour}h: {self.count}"


class LicenseDayHours(models.Model):
    """Events per local hour of one license's local day, 24 to a row: the heatmap of a ``license_id=`` answer.

    A row per (license, day) rather than per hour: a fold writes each license's day once,
    however many of its hours it touched (a busy day has events in most of its hours).
    """

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    locals().update({name: models.IntegerField(default=0) for name in HOUR_COLUMNS})

    pk = models.CompositePrimaryKey("product", "license", "day")

    def __str__(self) -> str:
        return f"{self.license_id} {self.day}"


class LicenseDomainBlockCounter(RunningTotalsBlock):
    """Events per local day of one license on one domain and (event, feature): domains of a ``license_id=`` answer."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    pk = models.CompositePrimaryKey("product", "license", "block", "domain", "event", "feature")

    class Meta:
        db_table = "events_licensedomainblockcounter"

    def __str__(self) -> str:
        return f"{self.license_id} {self.domain} {self.feature} block {self.block}"


# Installs analytics (issue 21) lives in its own package; imported here so Django registers its models.
from analytics.installs.models import (  # noqa: E402, F401
    InstallActiveCount,
    InstallDay,
    InstallSite,
    InstallState,
    Uninstall,
    UninstallDayCount,
)
