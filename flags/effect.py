"""A flag's effect on feature usage: how the licenses served each variant used one feature afterwards (reads only).

Per variant: the licenses first served it in the window (exposure's licenses,
from the rollup's license days plus the raw evaluations of the days it has not
counted, as ``flags/exposure.py`` reads them), how many of them then used the
feature, the share, and events per license, each with the counts it is made of.
No p-values: the figures are counts, and a reader can compare them.

Definitions (docs/flags.md#a-flags-effect-on-feature-usage):

- **exposure day**: the first UTC day in [from, to] a license was served the
  variant. Exposure is kept per UTC day, so "afterwards" is from the start of
  that day: an event earlier on the same day counts. UTC, not the product's
  time zone, so that both sides use one calendar.
- **a license served several variants** in the window is counted under none
  and reported (``excluded``): its usage cannot be credited to one variant.
- **usage**: the product's non-system events of the feature (as Feature Usage
  names features) of that license, from its exposure day to the end of ``to``.

Cost: the license days of the window (worker-kept), the unrolled days' raw
evaluations (today, and yesterday until the night's rollup), and one grouped
read of the counted licenses' events of the feature in the window, through the
events' (product, license, occurred_at) index: bounded by those licenses'
events in the window. The Feature Usage counters are kept per local day of the
product and would answer in its time zone, not exposure's UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Min, Q

from events.models import EVENT_NAME_MAX_LENGTH, Event
from flags import tail
from flags.models import FlagEvaluation, FlagLicenseDay
from flags.selectors import FlagUsageQuery
from lib.errors import ApiError

# License ids per IN list (as flags/tail.py).
CHUNK = 10_000
# Features offered by the console's picker: the exposed licenses' most used.
FEATURE_CHOICES = 50


@dataclass(frozen=True)
class EffectQuery:
    window: FlagUsageQuery
    feature: str


def feature_param(params) -> str:
    """The ``feature`` query parameter: required, and a name ingestion could have stored."""
    raw = params.get("feature")
    if raw is None or not raw.strip():
        raise ApiError("feature: required; the feature whose usage to compare.", code="invalid_request")
    if len(raw) > EVENT_NAME_MAX_LENGTH:
        raise ApiError(f"feature: at most {EVENT_NAME_MAX_LENGTH} characters.", code="invalid_request")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 or 0xD800 <= ord(ch) < 0xE000 for ch in raw):
        # no stored feature has them (ingestion refuses them), and NUL cannot go into a PostgreSQL query
        raise ApiError("feature: must not contain control characters.", code="invalid_request")
    return raw


def product_param_check(*, window: FlagUsageQuery, params) -> None:
    """The project must be linked to a product (whose licenses exposure counts); ``productId``, if given, is it."""
    product = window.project.product
    if product is None:
        raise ApiError(
            "This flag's project is linked to no product: exposure has no licenses to follow. "
            'Link one with PATCH /v1/projects/{projectId} {"productId": …}.',
            code="project_without_product",
            status_code=409,
        )
    given = (params.get("productId") or "").strip()
    if given and given != product.public_id:
        raise ApiError(
            f"productId: the project's licenses are those of {product.public_id}, not {given}.",
            code="invalid_request",
        )


def first_exposures(window: FlagUsageQuery) -> dict[int, dict[str, date]]:
    """license id -> {variant: first UTC day in the window it was served}."""
    flag, environment = window.flag, window.environment
    bounds = {"date_from": window.date_from, "date_to": window.date_to}
    unrolled = tail.unrolled_days(flag_id=flag.pk, environment_id=environment.pk, **bounds)
    first: dict[int, dict[str, date]] = {}

    def seen(license_id: int, variant: str, day: date) -> None:
        variants = first.setdefault(license_id, {})
        if variant not in variants or day < variants[variant]:
            variants[variant] = day

    rolled = (
        FlagLicenseDay.objects.filter(
            flag=flag, environment=environment, day__gte=window.date_from, day__lte=window.date_to
        )
        .exclude(day__in=unrolled)
        .values("license_id", "variant")
        .annotate(first=Min("day"))
        .order_by()
        .values_list("license_id", "variant", "first")
    )
    for license_id, variant, day in rolled:
        seen(license_id, variant, day)
    if unrolled:
        served = list(
            FlagEvaluation.objects.filter(
                flag_id=flag.pk, environment_id=environment.pk, day__in=unrolled, variant__isnull=False
            )
            .values("variant", "targeting_key", "license_key")
            .annotate(first=Min("day"))
            .order_by()
            .values_list("variant", "targeting_key", "license_key", "first")
        )
        names = {key for _, tk, lk, _ in served for key in (tk, lk) if key}
        license_of = tail.licenses_by_key(window.project.product_id, names)
        for variant, tk, lk, day in served:
            # As the rollup resolves them: the licenseKey's license, else the targetingKey's.
            license_id = (license_of.get(lk) if lk else None) or (license_of.get(tk) if tk else None)
            if license_id is not None:
                seen(license_id, variant, day)
    return first


def feature_events_after(*, product_id: int, feature: str, starts: dict[int, date], date_to: date) -> dict[int, int]:
    """license id -> its events of the feature from the start of its day in ``starts`` to the end of ``date_to``.

    One query per CHUNK licenses: the licenses grouped by their start day, each group an
    ``IN`` list with its own lower bound, OR-ed, so each is an index range of the events'
    (product, license, occurred_at) index that begins at the license's exposure (a window
    has at most 366 start days).
    """
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
    counts: dict[int, int] = {}
    ordered = sorted(starts)
    for i in range(0, len(ordered), CHUNK):
        by_day: dict[date, list[int]] = {}
        for license_id in ordered[i : i + CHUNK]:
            by_day.setdefault(starts[license_id], []).append(license_id)
        after_exposure = Q()
        for day, license_ids in sorted(by_day.items()):
            after_exposure |= Q(
                license_id__in=license_ids, occurred_at__gte=datetime.combine(day, time.min, tzinfo=UTC)
            )
        rows = (
            Event.objects.filter(after_exposure, product_id=product_id, occurred_at__lt=end, feature=feature)
            .filter(is_system=False)
            .values("license_id")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("license_id", "n")
        )
        counts.update(rows)
    return counts


def feature_choices(window: FlagUsageQuery, license_ids: list[int], *, limit: int = FEATURE_CHOICES) -> list[dict]:
    """The features the exposed licenses used in the window, most events first: the console's picker.

    The same index ranges as the effect's read (the licenses' events in the window), over every feature.
    """
    start = datetime.combine(window.date_from, time.min, tzinfo=UTC)
    end = datetime.combine(window.date_to + timedelta(days=1), time.min, tzinfo=UTC)
    totals: dict[str, int] = {}
    ordered = sorted(license_ids)
    for i in range(0, len(ordered), CHUNK):
        rows = (
            Event.objects.filter(
                product_id=window.project.product_id,
                license_id__in=ordered[i : i + CHUNK],
                occurred_at__gte=start,
                occurred_at__lt=end,
                is_system=False,
            )
            .values("feature")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("feature", "n")
        )
        for feature, n in rows:
            totals[feature] = totals.get(feature, 0) + n
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"feature": feature, "events": n} for feature, n in ranked]


def flag_effect(query: EffectQuery, *, exposures: dict[int, dict[str, date]] | None = None) -> dict:
    """The effect's answer; ``exposures`` (from :func:`first_exposures`) when the caller already has them."""
    window = query.window
    flag = window.flag
    if exposures is None:
        exposures = first_exposures(window)
    counted = {pk: next(iter(v.items())) for pk, v in exposures.items() if len(v) == 1}
    several = {pk: v for pk, v in exposures.items() if len(v) > 1}
    per_license = feature_events_after(
        product_id=window.project.product_id,
        feature=query.feature,
        starts={license_id: day for license_id, (_, day) in counted.items()},
        date_to=window.date_to,
    )
    tallies: dict[str, dict[str, int]] = {}
    for license_id, (variant, _) in counted.items():
        tally = tallies.setdefault(variant, {"licenses": 0, "using": 0, "events": 0})
        tally["licenses"] += 1
        used = per_license.get(license_id, 0)
        tally["events"] += used
        tally["using"] += 1 if used else 0
    excluded_by_variant: dict[str, int] = {}
    for variants in several.values():
        for variant in variants:
            excluded_by_variant[variant] = excluded_by_variant.get(variant, 0) + 1
    defined = flag.ordered_variants
    served = set(tallies) | set(excluded_by_variant)
    names = list(defined) + sorted(served - set(defined))
    body: dict = {
        "flagKey": flag.key,
        "environmentId": window.environment.public_id,
        "productId": window.project.product.public_id,
        "feature": query.feature,
        "from": window.date_from.isoformat(),
        "to": window.date_to.isoformat(),
    }
    if window.clamped_from:
        body["clampedFrom"] = True
    body["totals"] = {
        "licensesExposed": len(exposures),
        "licensesCounted": len(counted),
        "licensesExcluded": len(several),
    }
    body["variants"] = [_variant_row(name, defined.get(name), tallies.get(name), excluded_by_variant) for name in names]
    return body


def _variant_row(name: str, value, tally: dict | None, excluded: dict[str, int]) -> dict:
    tally = tally or {"licenses": 0, "using": 0, "events": 0}
    licenses, using, events = tally["licenses"], tally["using"], tally["events"]
    return {
        "variant": name,
        "value": value,
        "licenses": licenses,
        "licensesUsing": using,
        "usingPct": round(using * 100 / licenses, 1) if licenses else None,
        "events": events,
        "eventsPerLicense": round(events / licenses, 2) if licenses else None,
        "eventsPerUsingLicense": round(events / using, 2) if using else None,
        "excludedLicenses": excluded.get(name, 0),
    }
