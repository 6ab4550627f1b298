"""What the rollup has not counted yet, read from the raw evaluations and added exactly (reads only).

``FlagActivityDay`` counts every evaluation in the transaction that writes its
raw row (recording.py, buckets.py); the rollup's ``FlagUsageDay`` counts a
day's raw rows as they were when it ran. A day whose live count is above its
rolled total therefore holds evaluations the rollup has not seen: today,
always; yesterday until the night's run; a past day an SDK bucket reported
late. Such a day is read whole from its raw rows, in place of its rollup, by
the same aggregation the rollup runs (``usage_totals``): each day comes from
one source or the other, never both, so a read just before the rollup and one
just after it give the same numbers.

Distinct counts (targeting keys, licenses) cannot be replaced day by day; they
add the subjects of the unrolled days that no rolled day of the window has.
A rolled day's subjects are a subset of its raw rows' (raw rows are only ever
added), so the union is exact even when an unrolled day was rolled up before.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db.models import Case, Count, Exists, IntegerField, Max, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from events.models import License
from flags.models import (
    EvaluationBucketCount,
    Flag,
    FlagActivityDay,
    FlagEvaluation,
    FlagKeyDay,
    FlagLicenseDay,
    FlagUsageDay,
    Reason,
)

RULE_MATCH = {Reason.TARGETING_MATCH, Reason.SPLIT}
DEFAULTED = {Reason.DEFAULT, Reason.STATIC, Reason.DISABLED}
ANY_VARIANT = ""


def unrolled_days(*, flag_id: int, environment_id: int, date_from: date, date_to: date) -> list[date]:
    """Days of the window with evaluations the rollup has not counted: two reads of flags × days rows."""
    live = dict(
        FlagActivityDay.objects.filter(
            flag_id=flag_id, environment_id=environment_id, day__gte=date_from, day__lte=date_to
        )
        .values("day")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("day", "n")
    )
    if not live:
        return []
    rolled = dict(
        FlagUsageDay.objects.filter(flag_id=flag_id, environment_id=environment_id, date__in=list(live)).values_list(
            "date", "total_evaluations"
        )
    )
    # Above, not different: days written before the live counters existed (or by hand) have
    # fewer live counts than rolled ones, and their rollup is all there is to trust.
    return sorted(day for day, n in live.items() if n > rolled.get(day, 0))


def usage_totals(*, days: list[date], flag_id: int | None = None, environment_id: int | None = None) -> dict:
    """The rollup's usage figures per (day, environment id, flag id), from the raw evaluations and SDK buckets.

    One function for the nightly rollup (every flag) and for reads (one flag, its unrolled days).
    """
    raw = FlagEvaluation.objects.filter(day__in=days, flag_id__in=Flag.objects.values("pk"))
    sdk = EvaluationBucketCount.objects.filter(day__in=days)
    if flag_id is not None:
        raw, sdk = raw.filter(flag_id=flag_id), sdk.filter(flag_id=flag_id)
    if environment_id is not None:
        raw, sdk = raw.filter(environment_id=environment_id), sdk.filter(environment_id=environment_id)
    groups = (
        raw.values("day", "environment_id", "flag_id", "reason", "value")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("day", "environment_id", "flag_id", "reason", "value", "variant", "n")
    )
    sdk_counts = (
        sdk.values("day", "environment_id", "flag_id", "reason", "value", "variant")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("day", "environment_id", "flag_id", "reason", "value", "variant", "n")
    )
    totals: dict[tuple, dict] = defaultdict(
        lambda: {
            "total": 0,
            "rule": 0,
            "default": 0,
            "error": 0,
            "values": defaultdict(int),
            "variants": defaultdict(int),
        }
    )
    for rows in (groups, sdk_counts):
        for day, environment, flag, reason, value, variant, n in rows:
            row = totals[(day, environment, flag)]
            row["total"] += n
            if reason in RULE_MATCH:
                row["rule"] += n
            elif reason in DEFAULTED:
                row["default"] += n
            else:
                row["error"] += n
            if reason != Reason.ERROR and value is not None:
                row["values"][value] += n
            if reason != Reason.ERROR and variant is not None:
                row["variants"][variant] += n
    return dict(totals)


def value_distribution(values: dict[str, int]) -> dict[str, int]:
    """Largest first, then by value: the order the rollup stores."""
    return dict(sorted(values.items(), key=lambda item: (-item[1], item[0])))


def _served(*, flag_id: int, environment_id: int, days: list[date]):
    """The unrolled days' raw evaluations that served a variant (what key and license days count)."""
    return FlagEvaluation.objects.filter(
        flag_id=flag_id, environment_id=environment_id, day__in=days, variant__isnull=False
    )


def new_targeting_keys(*, flag_id: int, environment_id: int, days: list[date], date_from: date, date_to: date) -> dict:
    """Per variant ("" = any), the targeting keys served on ``days`` that no rolled key day of the window has."""
    rolled = FlagKeyDay.objects.filter(
        flag_id=flag_id,
        environment_id=environment_id,
        targeting_key=OuterRef("targeting_key"),
        day__gte=date_from,
        day__lte=date_to,
    )
    served = _served(flag_id=flag_id, environment_id=environment_id, days=days).exclude(targeting_key="")
    counts = dict(
        served.filter(~Exists(rolled.filter(variant=OuterRef("variant"))))
        .values("variant")
        .annotate(n=Count("targeting_key", distinct=True))
        .order_by()
        .values_list("variant", "n")
    )
    counts[ANY_VARIANT] = served.filter(~Exists(rolled)).values("targeting_key").distinct().count()
    return counts


def _with_license(evaluations, product_id: int):
    """Each evaluation's license as the rollup resolves it: by licenseKey, else by targetingKey."""
    by_key = License.objects.filter(product_id=product_id, key=OuterRef("license_key")).values("pk")[:1]
    by_target = License.objects.filter(product_id=product_id, key=OuterRef("targeting_key")).values("pk")[:1]
    return evaluations.annotate(
        by_license=Case(
            When(license_key="", then=Value(None, output_field=IntegerField())),
            default=Subquery(by_key, output_field=IntegerField()),
        ),
        by_target=Case(
            When(targeting_key="", then=Value(None, output_field=IntegerField())),
            default=Subquery(by_target, output_field=IntegerField()),
        ),
    ).annotate(license=Coalesce("by_license", "by_target"))


def new_licenses(
    *, flag_id: int, environment_id: int, product_id: int, days: list[date], date_from: date, date_to: date
) -> dict:
    """Per variant ("" = any), the licenses served on ``days`` that no rolled license day of the window has."""
    rolled = FlagLicenseDay.objects.filter(
        flag_id=flag_id,
        environment_id=environment_id,
        license_id=OuterRef("license"),
        day__gte=date_from,
        day__lte=date_to,
    )
    served = _with_license(_served(flag_id=flag_id, environment_id=environment_id, days=days), product_id).filter(
        license__isnull=False
    )
    counts = dict(
        served.filter(~Exists(rolled.filter(variant=OuterRef("variant"))))
        .values("variant")
        .annotate(n=Count("license", distinct=True))
        .order_by()
        .values_list("variant", "n")
    )
    counts[ANY_VARIANT] = served.filter(~Exists(rolled)).values("license").distinct().count()
    return counts


def license_evaluations(*, flag_id: int, environment_id: int, product_id: int | None, days: list[date]) -> dict:
    """(license id, variant) -> (evaluations, last evaluated at) on ``days``, from the raw evaluations."""
    if not product_id or not days:
        return {}
    served = _with_license(_served(flag_id=flag_id, environment_id=environment_id, days=days), product_id)
    return {
        (license_id, variant): (n, last)
        for license_id, variant, n, last in served.filter(license__isnull=False)
        .values("license", "variant")
        .annotate(n=Count("id"), last=Max("evaluated_at"))
        .order_by()
        .values_list("license", "variant", "n", "last")
    }
