"""Installs analytics: what the worker keeps from ``product.installed`` / ``product.uninstalled`` events.

Sized by the answer, not by the event count: one row per site that ever sent a
lifecycle event, one per local day with a lifecycle change, one per (dimension,
value) of the active installs (PHP version, WordPress version, plugin, license),
and one per counted uninstall (its reason and feedback are the answer itself).
"""

from __future__ import annotations

from django.db import models

from events.models import DOMAIN_MAX_LENGTH, LICENSE_KEY_MAX_LENGTH, License, Product

VERSION_MAX_LENGTH = 32
PLUGIN_MAX_LENGTH = 100
REASON_MAX_LENGTH = 100
FEEDBACK_MAX_LENGTH = 2000


class InstallState(models.Model):
    """One row per product: the lock every installs fold takes, and its own watermark.

    ``folded_through``: the installs tables hold exactly the product's lifecycle events
    with an id at or below it; a read adds the lifecycle events above it. ``timezone``:
    the zone the day rows are in (a product's zone change makes the next fold recount).
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="install_state", primary_key=True)
    folded_through = models.BigIntegerField(default=0)
    timezone = models.CharField(max_length=64, default="UTC")
    # Lifecycle events that named no site: they cannot be an install of anything.
    without_site = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"installs of {self.product} (through event {self.folded_through})"


class InstallSite(models.Model):
    """The lifecycle of one site of a product: its state after the last lifecycle event folded."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    active = models.BooleanField(default=False)
    first_installed_at = models.DateTimeField(null=True, blank=True)
    # Start of the current (or last) active period: what time-to-uninstall counts from.
    installed_at = models.DateTimeField(null=True, blank=True)
    last_event = models.CharField(max_length=16)  # "installed" or "uninstalled"
    last_event_at = models.DateTimeField()
    last_event_id = models.BigIntegerField()
    installs = models.IntegerField(default=0)
    uninstalls = models.IntegerField(default=0)
    license = models.ForeignKey(
        License, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    license_key = models.CharField(max_length=LICENSE_KEY_MAX_LENGTH, blank=True)
    php = models.CharField(max_length=VERSION_MAX_LENGTH, blank=True)
    platform = models.CharField(max_length=VERSION_MAX_LENGTH, blank=True)
    plugins = models.JSONField(default=list, blank=True)

    # Natural key, led by the distribution column (docs/SCALING.md): one row per site of a product.
    pk = models.CompositePrimaryKey("product", "domain")

    def __str__(self) -> str:
        return f"{self.domain} ({'active' if self.active else 'uninstalled'})"


class InstallDay(models.Model):
    """Lifecycle changes of one local day: counted installs, uninstalls, and the change in active sites."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    installs = models.IntegerField(default=0)
    installs_licensed = models.IntegerField(default=0)
    uninstalls = models.IntegerField(default=0)
    active_change = models.IntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "day")

    def __str__(self) -> str:
        return f"{self.day}: +{self.installs} -{self.uninstalls}"


class InstallActiveCount(models.Model):
    """Active sites per value of one dimension: ``php``, ``wp``, ``plugin``, ``licensed`` or ``license``."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=PLUGIN_MAX_LENGTH)
    sites = models.IntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "kind", "value")

    def __str__(self) -> str:
        return f"{self.kind} {self.value}: {self.sites}"


class Uninstall(models.Model):
    """One counted uninstall: its reason and feedback, linked to the site and license."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_id = models.BigIntegerField()
    domain = models.CharField(max_length=DOMAIN_MAX_LENGTH)
    day = models.DateField()
    occurred_at = models.DateTimeField()
    reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True)
    feedback = models.TextField(blank=True)
    license = models.ForeignKey(
        License, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    license_key = models.CharField(max_length=LICENSE_KEY_MAX_LENGTH, blank=True)
    # Whole days from the install it ends; NULL when no install of the site was seen.
    days_installed = models.IntegerField(null=True, blank=True)
    # Reason, feedback and site case-folded: ``q=`` matches the same rows on SQLite and PostgreSQL.
    search_text = models.TextField(blank=True)

    # Natural key, led by the distribution column (docs/SCALING.md): one row per counted uninstall event.
    pk = models.CompositePrimaryKey("product", "event_id")

    class Meta:
        indexes = [models.Index(fields=["product", "day"], name="uninstall_product_day")]

    def __str__(self) -> str:
        return f"{self.domain} {self.day}: {self.reason}"


UNKNOWN_AGE = -1  # UninstallDayCount.days_installed of uninstalls with no install seen


class UninstallDayCount(models.Model):
    """Counted uninstalls per local day, reason and whole days installed: the ranking and the
    time-to-uninstall distribution of a window read days × reasons × ages rows, not every uninstall."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    reason = models.CharField(max_length=REASON_MAX_LENGTH, blank=True)
    days_installed = models.IntegerField()  # UNKNOWN_AGE when no install of the site was seen
    uninstalls = models.IntegerField(default=0)
    with_feedback = models.IntegerField(default=0)

    pk = models.CompositePrimaryKey("product", "day", "reason", "days_installed")

    def __str__(self) -> str:
        return f"{self.day} {self.reason} after {self.days_installed} days: {self.uninstalls}"
