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
RUNNING_COLUMNS = tuple(f"c{index}" for index in range(BLOCK_DAYS))


class CounterState(models.Model):
    """One row per product: the lock every fold and rebuild takes, and the watermark.

    ``folded_through``: the counters hold exactly the product's events with an id at
    or below it; the events above it are the tail a read adds at query time.
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="counter_state")
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

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_featurehourcounter"
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

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    block = models.IntegerField()
    locals().update({name: models.IntegerField(default=0) for name in RUNNING_COLUMNS})

    class Meta:
        abstract = True


class LicenseBlockCounter(RunningTotalsBlock):
    """Events per local day of one license and (event, feature), 32 days to a row."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    class Meta:
        db_table = "events_licenseblockcounter"
        constraints = [
            models.UniqueConstraint(
                fields=["product", "block", "license", "event", "feature"], name="license_block_key"
            ),
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
        db_table = "events_domainblockcounter"
        constraints = [
            models.UniqueConstraint(fields=["product", "block", "domain", "event", "feature"], name="domain_block_key"),
        ]
        indexes = [models.Index(fields=["product", "feature", "block"], name="domain_block_feature")]

    def __str__(self) -> str:
        return f"{self.domain} {self.feature} block {self.block}"


class LicenseTotalBlock(RunningTotalsBlock):
    """Events per local day of one license, all features together."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        db_table = "events_licensetotalblock"
        constraints = [models.UniqueConstraint(fields=["product", "block", "license"], name="license_total_key")]

    def __str__(self) -> str:
        return f"{self.license_id} block {self.block}"


class DomainTotalBlock(RunningTotalsBlock):
    """Events per local day of one domain, all features together."""

    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)

    class Meta:
        db_table = "events_domaintotalblock"
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

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    day = models.DateField()
    previous_day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_featurereachcounter"
        constraints = [
            # ``count`` included: PostgreSQL answers a window from the index alone.
            models.UniqueConstraint(
                fields=["product", "kind", "day", "feature", "previous_day"],
                include=["count"],
                name="feature_reach_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.feature} {self.day} after {self.previous_day}: {self.count}"


class FeatureDayCounter(models.Model):
    """Events per local day of one (event name, feature): sparklines and prior windows in features × days rows."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_featuredaycounter"
        constraints = [models.UniqueConstraint(fields=["product", "day", "event", "feature"], name="feature_day_key")]

    def __str__(self) -> str:
        return f"{self.feature} {self.day}: {self.count}"


class DayHourCounter(models.Model):
    """Events per local day and hour, all features together: the unfiltered heatmap."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_dayhourcounter"
        constraints = [models.UniqueConstraint(fields=["product", "day", "hour"], name="day_hour_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour}h: {self.count}"


class LicenseHourCounter(models.Model):
    """Events per local day and hour of one license: the heatmap of a ``license_id=`` answer."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    hour = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_licensehourcounter"
        constraints = [
            models.UniqueConstraint(fields=["product", "license", "day", "hour"], name="license_hour_key"),
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.day} {self.hour}h: {self.count}"


class LicenseDomainBlockCounter(RunningTotalsBlock):
    """Events per local day of one license on one domain and (event, feature): domains of a ``license_id=`` answer."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    event = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    feature = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)

    class Meta:
        db_table = "events_licensedomainblockcounter"
        constraints = [
            models.UniqueConstraint(
                fields=["product", "license", "block", "domain", "event", "feature"], name="license_domain_block_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.domain} {self.feature} block {self.block}"
