"""Projects, their environments and SDK keys, flags, recorded evaluations and daily rollups."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from core import keys
from core.models import Organization

FLAG_KEY_MAX_LENGTH = 100


class Project(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=keys.new_project_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


class Environment(models.Model):
    """Where flags are served (production, staging…).

    ``config_version`` grows on every change that can alter an evaluation in
    this environment; evaluation caches its compiled flags under it, so a
    change is served on the very next request by every worker.
    """

    public_id = models.CharField(max_length=40, unique=True, default=keys.new_environment_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=100)
    config_version = models.BigIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="environment_name_unique_per_project")]

    def __str__(self) -> str:
        return self.name


class SdkKey(models.Model):
    """An ``sdk_…`` key of an environment; only its hash is stored."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="sdk_keys")
    prefix = models.CharField(max_length=20)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["environment", "prefix"], name="sdk_key_prefix_unique")]

    def __str__(self) -> str:
        return f"{self.prefix}…"


class Flag(models.Model):
    class Type(models.TextChoices):
        BOOLEAN = "boolean", "Boolean"
        STRING = "string", "String"
        NUMBER = "number", "Number"
        OBJECT = "object", "Object"

    public_id = models.CharField(max_length=40, unique=True, default=keys.new_flag_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="flags")
    key = models.CharField(max_length=FLAG_KEY_MAX_LENGTH)
    type = models.CharField(max_length=10, choices=Type.choices)
    description = models.CharField(max_length=500, blank=True)
    # variant name -> value of the flag's type
    variants = models.JSONField()
    # the names in the order given: PostgreSQL's jsonb does not keep an object's key order,
    # and the first variant is what a new environment serves
    variant_order = models.JSONField(default=list)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="flag_key_unique_per_project")]

    def __str__(self) -> str:
        return self.key

    @property
    def ordered_variants(self) -> dict:
        order = [name for name in self.variant_order if name in self.variants]
        return {name: self.variants[name] for name in order + sorted(set(self.variants) - set(order))}

    @property
    def first_variant(self) -> str:
        return next(iter(self.ordered_variants))


class FlagEnvironment(models.Model):
    """A flag's settings in one environment: on/off, default variant, ordered rules."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="settings")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="flag_settings")
    enabled = models.BooleanField(default=False)
    default_variant = models.CharField(max_length=100)
    rules = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flag", "environment"], name="flag_environment_unique")]

    def __str__(self) -> str:
        return f"{self.flag_id} in {self.environment_id}"


class Reason(models.IntegerChoices):
    """OFREP reasons as stored: small integers keep 10M raw rows compact."""

    TARGETING_MATCH = 1, "TARGETING_MATCH"
    SPLIT = 2, "SPLIT"
    DEFAULT = 3, "DEFAULT"
    DISABLED = 4, "DISABLED"
    ERROR = 5, "ERROR"


class FlagEvaluation(models.Model):
    """One evaluation as served, append-only, kept until the rollup has counted it
    and the longest plan retention has passed.

    No foreign-key constraints: rows are written in bulk off the request path
    and must never fail because a flag was deleted meanwhile; the rollup only
    counts rows whose flag still exists. ``day`` (UTC) is stored so that the
    rollup groups and deletes by an indexed column.
    """

    environment = models.ForeignKey(
        Environment, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    flag = models.ForeignKey(Flag, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # the valueDistribution key of the served value; NULL for errors, which serve no value
    # (an empty string is a real value of a string flag)
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    reason = models.PositiveSmallIntegerField(choices=Reason.choices)
    evaluated_at = models.DateTimeField()
    day = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="flag_evaluation_day")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.value} @ {self.evaluated_at:%Y-%m-%d %H:%M:%S}"


class FlagUsageDay(models.Model):
    """The nightly rollup: one row per (environment, flag, UTC day) with evaluations."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="usage_days")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="flag_usage_days")
    date = models.DateField()
    total_evaluations = models.PositiveIntegerField()
    rule_match_count = models.PositiveIntegerField()
    default_count = models.PositiveIntegerField()
    error_count = models.PositiveIntegerField()
    value_distribution = models.JSONField(default=dict)
    rolled_up_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "environment", "date"], name="flag_usage_day_unique"),
        ]
        indexes = [models.Index(fields=["date"], name="flag_usage_day_date")]

    def __str__(self) -> str:
        return f"{self.flag_id} in {self.environment_id} on {self.date}: {self.total_evaluations}"
