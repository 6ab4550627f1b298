"""Projects, their environments and SDK keys, flags, recorded evaluations and daily rollups."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from events.models import License, Product
from tenancy import keys
from tenancy.models import Organization

# The recorder's inserts of raw evaluations hold it shared until they commit; the worker's fold
# takes it exclusive for a moment to read the highest id below which every row is committed.
WRITE_BARRIER_LOCK = 0x666C7772  # "flwr"

FLAG_KEY_MAX_LENGTH = 100


class Project(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=keys.new_project_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    # Whose licenses the project's evaluations are matched against (license-aware flags).
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="projects")
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
    # For humans ("used 3 minutes ago"), refreshed at most once a minute per process (flags.key_usage).
    last_used_at = models.DateTimeField(null=True, blank=True)

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

    @property
    def natural_off_variant(self) -> str:
        return natural_off_variant(self.type, self.ordered_variants)


def natural_off_variant(flag_type: str, variants: dict) -> str:
    """Off means off: a boolean flag's false variant, else its first."""
    if flag_type == "boolean":
        for name, value in variants.items():
            if value is False:
                return name
    return next(iter(variants))


class FlagEnvironment(models.Model):
    """A flag's settings in one environment: on/off, default variant, ordered rules."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="settings")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="flag_settings")
    enabled = models.BooleanField(default=False)
    default_variant = models.CharField(max_length=100)
    # what the flag serves while off (reason DISABLED): chosen at creation, false for a boolean flag
    off_variant = models.CharField(max_length=100)
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
    # A flag without rules serves its default to everyone: static, as flagd names it (docs/flags.md).
    STATIC = 6, "STATIC"


class FlagEvaluation(models.Model):
    """One evaluation as served, append-only, kept until the rollup has counted it
    and the longest plan retention has passed.

    No foreign-key constraints: rows are written in bulk off the request path
    and must never fail because a flag was deleted meanwhile; the rollup only
    counts rows whose flag still exists. ``day`` (UTC) is stored so that the
    rollup groups and deletes by an indexed column.
    """

    environment = models.ForeignKey(Environment, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    flag = models.ForeignKey(Flag, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # the valueDistribution key of the served value; NULL for errors, which serve no value
    # (an empty string is a real value of a string flag)
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    reason = models.PositiveSmallIntegerField(choices=Reason.choices)
    evaluated_at = models.DateTimeField()
    day = models.DateField()
    # The variant served (NULL for errors), the context's targetingKey and licenseKey:
    # what exposure by license is rolled up from. Empty when the context had none.
    variant = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    targeting_key = models.CharField(max_length=200, blank=True, default="")
    license_key = models.CharField(max_length=200, blank=True, default="")

    # Append-only, no natural key: Django keeps ``id`` as the primary key it reads by; on
    # PostgreSQL the table's primary key is DATABASE_KEY (migration 0006), so that it could be
    # distributed by environment (docs/SCALING.md). ``id`` stays unique, from one sequence.
    DATABASE_KEY = ("environment", "id")

    class Meta:
        indexes = [models.Index(fields=["day"], name="flag_evaluation_day")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.value} @ {self.evaluated_at:%Y-%m-%d %H:%M:%S}"


class FlagUsageDay(models.Model):
    """The nightly rollup: one row per (environment, flag, UTC day) with evaluations."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="usage_days")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="flag_usage_days")
    date = models.DateField()
    total_evaluations = models.PositiveBigIntegerField()
    rule_match_count = models.PositiveBigIntegerField()
    default_count = models.PositiveBigIntegerField()
    error_count = models.PositiveBigIntegerField()
    value_distribution = models.JSONField(default=dict)
    # variant name -> evaluations that served it (errors serve none): exposure's evaluations
    variant_distribution = models.JSONField(default=dict)
    rolled_up_at = models.DateTimeField(default=now)

    # Not the unique key as a composite primary key, as the per-day tables below: the admin
    # lists these rows, and it cannot show a model without a single-column key. The table is
    # small (a row per flag, environment and day), so the extra index costs little. On
    # PostgreSQL the primary key is DATABASE_KEY (migration 0006).
    DATABASE_KEY = ("environment", "id")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "environment", "date"], name="flag_usage_day_unique"),
        ]
        indexes = [models.Index(fields=["date"], name="flag_usage_day_date")]

    def __str__(self) -> str:
        return f"{self.flag_id} in {self.environment_id} on {self.date}: {self.total_evaluations}"


class EvaluationBucket(models.Model):
    """One bucket of SDK-aggregated counts (``POST /public/v1/flag-evaluations``).

    The primary key (environment, bucket id) is what makes a retried bucket
    count once, even when two copies arrive at the same moment.
    """

    pk = models.CompositePrimaryKey("environment", "bucket_id")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    bucket_id = models.UUIDField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    day = models.DateField()
    received_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["day"], name="evaluation_bucket_day")]

    def __str__(self) -> str:
        return f"{self.bucket_id} on {self.day}"


class EvaluationBucketCount(models.Model):
    """One entry of a bucket: ``count`` evaluations of a flag that served (variant, value, reason).

    ``bucket_id`` is the bucket's id within the environment, not a foreign key:
    Django cannot point one at a composite primary key. Nothing reads a count
    through its bucket; the rollup's retention deletes both by day (a count's
    day is its bucket's).
    """

    bucket_id = models.UUIDField()
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    variant = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    reason = models.PositiveSmallIntegerField(choices=Reason.choices)
    count = models.BigIntegerField()

    # Append-only entries without a natural key: as FlagEvaluation, ``id`` for Django and
    # (environment, id) as the primary key on PostgreSQL (migration 0006).
    DATABASE_KEY = ("environment", "id")

    class Meta:
        indexes = [models.Index(fields=["day"], name="evaluation_bucket_count_day")]

    def __str__(self) -> str:
        return f"{self.flag_id} {self.variant}: {self.count}"


class FlagActivityDay(models.Model):
    """Evaluations per (environment, flag, UTC day, variant), added to by every recorder flush
    and every accepted bucket: flag health and the console's sparklines, live, in
    flags × days × variants rows. ``variant`` is empty for errors.

    The upsert's key is the primary key, so the table carries its environment in
    every key (docs/SCALING.md) and a write maintains one index the fewer: no
    surrogate id. The same goes for the per-day tables below.
    """

    pk = models.CompositePrimaryKey("flag", "environment", "day", "variant")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="activity_days")
    day = models.DateField()
    variant = models.CharField(max_length=100, blank=True)
    evaluations = models.BigIntegerField(default=0)
    last_evaluated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="flag_activity_day_day")]

    def __str__(self) -> str:
        return f"{self.flag_id} {self.variant} on {self.day}: {self.evaluations}"


class UnknownFlagDay(models.Model):
    """Evaluations of keys not defined in the environment (``FLAG_NOT_FOUND``), per UTC day."""

    pk = models.CompositePrimaryKey("environment", "day", "key")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=FLAG_KEY_MAX_LENGTH)
    day = models.DateField()
    evaluations = models.BigIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} on {self.day}: {self.evaluations}"


class FlagKeyRecent(models.Model):
    """The last two days each (environment, flag, targeting key, variant) was served, written by the rollup.

    This and the other exposure tables below are derived data written in bulk by
    the rollup from rows it has just joined to existing flags, environments and
    licenses: no foreign-key constraints (their checks cost as much as the inserts);
    deleting a flag, environment or license still deletes its rows through Django.

    One row per (flag, environment, key, variant), not per key day: a night finds
    each key's previous day by one seek per key served yesterday (``last_day``, or
    ``previous_day`` when yesterday is re-rolled), and a read with today's
    evaluations asks whether a key was served in the window by ``last_day >= from``.
    The key reach points themselves are drawn from the raw evaluations (kept as
    long), so nothing here grows with evaluations: it replaced ``FlagKeyDay``, one
    row per evaluation in the bench's shape (9.5M at 10M evaluations; docs/benchmarks.md).
    Errors serve no variant and are not in it.
    """

    # The one index: the key before the variant, so a key's rows of every variant are
    # one range (the every-variant previous day, "seen at all"). db_index=False on the
    # foreign keys of this table and the three below: a foreign key's own index is made
    # even without its constraint, and was a second and third index on every row.
    pk = models.CompositePrimaryKey("flag", "environment", "targeting_key", "variant")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    variant = models.CharField(max_length=100, blank=True)
    targeting_key = models.CharField(max_length=200)
    last_day = models.DateField()
    # the day served before last_day, or NO_PREVIOUS_DAY (flags/reach.py)
    previous_day = models.DateField()

    def __str__(self) -> str:
        return f"{self.targeting_key} {self.variant} on {self.last_day} after {self.previous_day}"


class FlagLicenseDay(models.Model):
    """Evaluations per (environment, flag, variant, license, UTC day), written by the rollup:
    the license table of exposure, and the licenses' reach points."""

    # the license before the variant: a license's previous day per variant and over
    # every variant, and a page's licenses, are seeks on this key's index
    pk = models.CompositePrimaryKey("flag", "environment", "license", "variant", "day")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    variant = models.CharField(max_length=100, blank=True)
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    evaluations = models.BigIntegerField()
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["flag", "environment", "day"], name="flag_license_day_window"),
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.variant} on {self.day}"


class FlagLicenseTotal(models.Model):
    """FlagLicenseDay summed over every day still kept, per (environment, flag, license, variant),
    plus one row per license over every variant (``variant`` empty).

    The license table of a window holding all of a flag's kept days (the
    90-day default) is read from here: a page is an index range of the
    every-variant rows in the table's order (evaluations, then license id),
    not a sort of licenses × variants × days. The rollup adds the days it
    writes and takes away the days it rewrites or expires, so a night costs
    the licenses of a day, not of 90.
    """

    pk = models.CompositePrimaryKey("flag", "environment", "license", "variant")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    variant = models.CharField(max_length=100, blank=True)
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    # the license's lic_ id, copied: the tie-break of the order, inside the index
    license_public_id = models.CharField(max_length=40)
    evaluations = models.BigIntegerField()
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                "flag",
                "environment",
                "variant",
                models.F("evaluations").desc(),
                "license_public_id",
                name="flag_license_total_rank",
            )
        ]

    def __str__(self) -> str:
        return f"{self.license_id} {self.variant}: {self.evaluations}"


class FlagReachPoint(models.Model):
    """Distinct targeting keys (or licenses) of a flag over any window, exactly.

    For each (subject, variant) and each day it was served, one point (day, the
    subject's previous day, or NO_PREVIOUS_DAY); the subjects served in [a, b]
    are the points with a <= day <= b and previous_day < a. Equal points are
    summed into ``count``, so a window is one SUM over variants × days² rows at
    most, whatever the number of keys. ``variant`` empty = every variant.
    """

    class Kind(models.TextChoices):
        TARGETING_KEY = "key", "Targeting key"
        LICENSE = "license", "License"

    # On PostgreSQL the key's index also carries ``count`` (INCLUDE, migration 0005), which
    # a Django key cannot say: a window's SUM reads the index alone, and a write maintains
    # one index where the surrogate id and a covering unique index took two.
    pk = models.CompositePrimaryKey("flag", "environment", "kind", "day", "variant", "previous_day")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    variant = models.CharField(max_length=100, blank=True)
    day = models.DateField()
    previous_day = models.DateField()
    count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.kind} {self.variant} {self.day} after {self.previous_day}: {self.count}"


class FlagFoldState(models.Model):
    """Today's evaluations of a (flag, environment), folded by the worker up to ``folded_through``
    (an evaluation id): what a read adds to the rolled-up days is this fold plus the raw rows
    above it (flags/fold.py). Deleted by the rollup with every fold of a day it rolls or after."""

    pk = models.CompositePrimaryKey("flag", "environment", "day")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    day = models.DateField()
    # every raw evaluation of the day with an id at or below it is in this fold's rows
    folded_through = models.BigIntegerField(default=0)
    # the product whose licenses the fold resolved (a read of another uses the raw rows)
    product_id = models.BigIntegerField(null=True)
    # the raw rows' usage figures, as tail.usage_totals gives them (without the SDK buckets)
    usage = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.flag_id} on {self.day} through {self.folded_through}"


class FlagFoldKey(models.Model):
    """A (targeting key, variant) the fold of its day has seen (``variant`` empty: the key at all)."""

    pk = models.CompositePrimaryKey("flag", "environment", "day", "targeting_key", "variant")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    day = models.DateField()
    targeting_key = models.CharField(max_length=200)
    variant = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.targeting_key} {self.variant} on {self.day}"


class FlagFoldPoint(models.Model):
    """The fold's keys (or licenses) per (variant, last rolled-up day served): a window from ``d`` on
    lacks those with ``rolled_last_day`` before ``d`` (NO_PREVIOUS_DAY: never rolled up)."""

    pk = models.CompositePrimaryKey("flag", "environment", "day", "kind", "variant", "rolled_last_day")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    day = models.DateField()
    kind = models.CharField(max_length=10, choices=FlagReachPoint.Kind.choices)
    variant = models.CharField(max_length=100, blank=True)
    rolled_last_day = models.DateField()
    count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.kind} {self.variant} on {self.day} after {self.rolled_last_day}: {self.count}"


class FlagFoldLicense(models.Model):
    """The fold's evaluations per (license, variant): the license days the night will write for the day."""

    pk = models.CompositePrimaryKey("flag", "environment", "day", "license", "variant")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    day = models.DateField()
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    variant = models.CharField(max_length=100, blank=True)
    evaluations = models.BigIntegerField()
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.license_id} {self.variant} on {self.day}: {self.evaluations}"
