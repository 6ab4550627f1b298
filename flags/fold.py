"""Today's evaluations folded by the worker up to a watermark, so that a read adds only the raw rows above it.

Without it a read of a window that includes today read every one of today's raw
evaluations of the flag (flags/tail.py): at 10M recorded evaluations an average
day is 112k rows, and E2 was 1.2 s. The worker (``fold_today``, every few
seconds) adds the raw rows of today between a (flag, environment)'s watermark
(``FlagFoldState.folded_through``, an evaluation id) and the highest id every
row below which is committed, and moves the watermark in the same transaction:

- the usage figures (``usage``: what ``tail.usage_totals`` gives, without SDK buckets);
- each (targeting key, variant) seen, and each key at all (``FlagFoldKey``), and per
  (variant, the key's last rolled-up day served) how many (``FlagFoldPoint``);
- evaluations and the last one per (license, variant) (``FlagFoldLicense``).

A read (``subjects``, ``usage_totals``) takes the fold and adds the raw rows above
its watermark, in the same snapshot: few, whatever the day's volume. Every figure
is the one the raw rows give, before, between and after worker passes: each raw row
is counted once, from the fold or from the rows above it.

A key's last rolled-up day is read from ``FlagKeyRecent`` when the fold first sees the
key, and stays right only while the rollup writes nothing: so the rollup deletes, in
its transaction, every fold of a day it rolls up or later (``forget``), and fold and
rollup exclude one another (the rollup's lock; a fold that cannot take it at once
does nothing, the next tick folds). A read uses a fold only when its day is the
window's only unrolled day and the fold resolved licenses for the project's product
(else the raw rows, as before).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Count, Max, Sum

from flags import tail
from flags.models import (
    WRITE_BARRIER_LOCK,
    EvaluationBucketCount,
    FlagActivityDay,
    FlagEvaluation,
    FlagFoldKey,
    FlagFoldLicense,
    FlagFoldPoint,
    FlagFoldState,
    FlagKeyRecent,
    FlagLicenseDay,
    FlagLicenseTotal,
    FlagReachPoint,
)
from flags.reach import NO_PREVIOUS_DAY
from lib import sql as core_sql
from lib.locks import try_lock

logger = logging.getLogger(__name__)

FOLD_LOCK = 0x666C6664  # "flfd": one fold pass at a time
# Evaluations folded in one pass after which the fold's tables are analysed (a first pass of a busy day).
ANALYZE_AFTER = 10_000
ANY_VARIANT = tail.ANY_VARIANT


def evaluations_committed_through() -> int:
    """The highest evaluation id such that every evaluation at or below it is committed (0: none).

    On PostgreSQL the exclusive lock waits for the recorder's inserts in flight (each
    holds it shared until its commit, flags/recording.py) and keeps new ones out while
    the highest id is read, in its own short transaction: ids come from one sequence, so
    a later insert gets a higher id. SQLite serialises writers: the visible highest id.
    """
    if connection.vendor != "postgresql":
        return FlagEvaluation.objects.aggregate(high=Max("id"))["high"] or 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(core_sql.exclusive_xact_lock_sql(), [WRITE_BARRIER_LOCK, 0])
        return FlagEvaluation.objects.aggregate(high=Max("id"))["high"] or 0


def fold_today(*, today: date) -> int:
    """Fold every (flag, environment) with evaluations of ``today`` above its watermark; returns how many rows.

    At most one fold runs (a tick that finds one running, or the rollup, does nothing).
    """
    with try_lock(FOLD_LOCK, 0) as held:
        if not held:
            return 0
        through = evaluations_committed_through()
        folded = 0
        for flag_id, environment_id in _pending(today=today):
            folded += fold_one(flag_id=flag_id, environment_id=environment_id, day=today, through=through)
        if folded >= ANALYZE_AFTER and connection.vendor == "postgresql":
            # A first pass fills the fold's tables at once; without statistics PostgreSQL read a
            # read's few keys by a range of every key of the day (13 ms at 10M, 0.1 ms after).
            with connection.cursor() as cursor:
                for model in (FlagFoldKey, FlagFoldLicense, FlagFoldPoint):
                    cursor.execute(core_sql.analyze_sql(model._meta.db_table))
        return folded


def _pending(*, today: date) -> list[tuple[int, int]]:
    """(flag, environment)s whose live count of ``today`` is above what their fold has seen: flags × environments rows."""
    live = {
        (flag_id, environment_id): n
        for flag_id, environment_id, n in FlagActivityDay.objects.filter(day=today)
        .values("flag_id", "environment_id")
        .annotate(n=Sum("evaluations"))
        .order_by()
        .values_list("flag_id", "environment_id", "n")
    }
    seen = {
        (flag_id, environment_id): usage.get("total", 0)
        for flag_id, environment_id, usage in FlagFoldState.objects.filter(day=today).values_list(
            "flag_id", "environment_id", "usage"
        )
    }
    return sorted(pair for pair, n in live.items() if n > seen.get(pair, 0))


def fold_one(*, flag_id: int, environment_id: int, day: date, through: int) -> int:
    """Fold one (flag, environment)'s raw rows of ``day`` up to id ``through``; returns how many (0: the rollup runs)."""
    from flags.models import Flag

    with transaction.atomic():
        if connection.vendor == "postgresql":
            from flags.rollup import ROLLUP_LOCK_ID  # the rollup forgets folds: it imports this module

            with connection.cursor() as cursor:
                # The rollup's lock: a fold never interleaves with a rollup's rewrite of the key days.
                cursor.execute(core_sql.try_advisory_xact_lock_sql(), [ROLLUP_LOCK_ID])
                if not cursor.fetchone()[0]:
                    return 0
        flag = Flag.objects.filter(pk=flag_id).select_related("project").first()
        if flag is None:
            return 0
        product_id = flag.project.product_id
        state = FlagFoldState.objects.filter(flag_id=flag_id, environment_id=environment_id, day=day).first()
        if state is not None and state.product_id != product_id:
            _forget_one(flag_id=flag_id, environment_id=environment_id, day=day)  # relinked: start again
            state = None
        if state is None:
            state = FlagFoldState.objects.create(
                flag_id=flag_id, environment_id=environment_id, day=day, product_id=product_id, usage={}
            )
        if state.folded_through >= through:
            return 0
        ids = (state.folded_through, through)
        rows = FlagEvaluation.objects.filter(
            flag_id=flag_id, environment_id=environment_id, day=day, id__gt=ids[0], id__lte=ids[1]
        )
        usage = tail.usage_totals(days=[day], flag_id=flag_id, environment_id=environment_id, ids=ids)
        added = usage.get((day, environment_id, flag_id))
        state.usage = _merged_usage(state.usage, added)
        served = _served(rows, day)
        _fold_keys(state, {(variant, key) for variant, key, _, _, _ in served if key})
        if product_id:
            _fold_licenses(state, license_rows(product_id, served))
        state.folded_through = through
        FlagFoldState.objects.filter(flag_id=flag_id, environment_id=environment_id, day=day).update(
            folded_through=through, usage=state.usage
        )
        return added["total"] if added else 0


def _served(rows, day: date) -> list[tuple[str, str, str, int, datetime]]:
    """Served rows of ``day`` grouped by (variant, targeting key, license key): evaluations and the last one.

    The day is kept here, not in the statement: ``rows`` is an id range, which the primary key
    finds; a day condition made PostgreSQL AND in the day index (every row of today: 7 ms at 10M)."""
    return [
        row[1:]
        for row in rows.filter(variant__isnull=False)
        .values("day", "variant", "targeting_key", "license_key")
        .annotate(n=Count("id"), last=Max("evaluated_at"))
        .order_by()
        .values_list("day", "variant", "targeting_key", "license_key", "n", "last")
        if row[0] == day
    ]


def _merged_usage(stored: dict, added: dict | None) -> dict:
    merged = {name: stored.get(name, 0) for name in ("total", "rule", "default", "error")}
    merged |= {name: dict(stored.get(name, {})) for name in ("values", "variants")}
    if added:
        for name in ("total", "rule", "default", "error"):
            merged[name] += added[name]
        for name in ("values", "variants"):
            for key, n in added[name].items():
                merged[name][key] = merged[name].get(key, 0) + n
    return merged


def _scope(state: FlagFoldState) -> dict:
    return {"flag_id": state.flag_id, "environment_id": state.environment_id, "day": state.day}


def _fold_keys(state: FlagFoldState, pairs: set[tuple[str, str]]) -> None:
    """The pairs (and keys) not in the fold yet: remembered, and counted by their last rolled-up day."""
    keys = {key for _, key in pairs}
    wanted = pairs | {(ANY_VARIANT, key) for key in keys}
    known: set[tuple[str, str]] = set()
    recent: dict[tuple[str, str], date] = {}
    for chunk in tail._chunks(keys):
        known.update(
            FlagFoldKey.objects.filter(**_scope(state), targeting_key__in=chunk).values_list("variant", "targeting_key")
        )
        for variant, key, last_day in FlagKeyRecent.objects.filter(
            flag_id=state.flag_id, environment_id=state.environment_id, targeting_key__in=chunk
        ).values_list("variant", "targeting_key", "last_day"):
            recent[(variant, key)] = last_day
            recent[(ANY_VARIANT, key)] = max(last_day, recent.get((ANY_VARIANT, key), NO_PREVIOUS_DAY))
    new = sorted(wanted - known)
    if not new:
        return
    FlagFoldKey.objects.bulk_create(
        [FlagFoldKey(**_scope(state), variant=variant, targeting_key=key) for variant, key in new], batch_size=2000
    )
    points = Counter((variant, recent.get((variant, key), NO_PREVIOUS_DAY)) for variant, key in new)
    _add_points(state, FlagReachPoint.Kind.TARGETING_KEY, points)


def _add_points(state: FlagFoldState, kind: str, points: Counter) -> None:
    """Add (variant, last rolled day) counts to the fold's points of ``kind``: tens of rows."""
    stored = {
        (variant, last): count
        for variant, last, count in FlagFoldPoint.objects.filter(**_scope(state), kind=kind).values_list(
            "variant", "rolled_last_day", "count"
        )
    }
    for (variant, last), n in points.items():
        if (variant, last) in stored:
            FlagFoldPoint.objects.filter(**_scope(state), kind=kind, variant=variant, rolled_last_day=last).update(
                count=stored[(variant, last)] + n
            )
    FlagFoldPoint.objects.bulk_create(
        [
            FlagFoldPoint(**_scope(state), kind=kind, variant=variant, rolled_last_day=last, count=n)
            for (variant, last), n in points.items()
            if (variant, last) not in stored
        ]
    )


def license_rows(product_id: int, served) -> dict[tuple[int, str], tuple[int, datetime]]:
    """(license id, variant) -> (evaluations, last) of served rows, licenses resolved as the rollup resolves
    them: the license whose key is the licenseKey, else the targetingKey's."""
    license_of = tail.licenses_by_key(product_id, {key for _, tk, lk, _, _ in served for key in (tk, lk) if key})
    found: dict[tuple[int, str], tuple[int, datetime]] = {}
    for variant, tk, lk, n, last in served:
        license_id = (license_of.get(lk) if lk else None) or (license_of.get(tk) if tk else None)
        if license_id is None:
            continue
        before = found.get((license_id, variant))
        found[(license_id, variant)] = (n, last) if before is None else (before[0] + n, max(before[1], last))
    return found


def _fold_licenses(state: FlagFoldState, rows: dict[tuple[int, str], tuple[int, datetime]]) -> None:
    if not rows:
        return
    stored = {
        (license_id, variant): row
        for license_id, variant, *row in FlagFoldLicense.objects.filter(
            **_scope(state), license_id__in={license_id for license_id, _ in rows}
        ).values_list("license_id", "variant", "evaluations", "last_seen_at")
    }
    changed, new = [], []
    for (license_id, variant), (n, last) in rows.items():
        if (license_id, variant) in stored:
            before_n, before_last = stored[(license_id, variant)]
            changed.append(
                FlagFoldLicense(
                    **_scope(state),
                    license_id=license_id,
                    variant=variant,
                    evaluations=before_n + n,
                    last_seen_at=max(before_last, last),
                )
            )
        else:
            new.append(
                FlagFoldLicense(
                    **_scope(state), license_id=license_id, variant=variant, evaluations=n, last_seen_at=last
                )
            )
    for row in changed:
        FlagFoldLicense.objects.filter(**_scope(state), license_id=row.license_id, variant=row.variant).update(
            evaluations=row.evaluations, last_seen_at=row.last_seen_at
        )
    FlagFoldLicense.objects.bulk_create(new, batch_size=2000)
    # The licenses (and pairs) new to the fold, counted by their last rolled-up license day up to
    # the fold's day: the window's rolled license days have a license iff that day is on or after
    # its first (the fold is read only with windows ending on its day; fold.usable).
    known = {license_id for license_id, _ in stored}
    pairs = {(row.variant, row.license_id) for row in new}
    licenses = {license_id for _, license_id in pairs} - known
    last_days: dict[tuple[str, int], date] = {}
    for chunk in tail._chunks({license_id for _, license_id in pairs}):
        for license_id, variant, last in (
            FlagLicenseDay.objects.filter(
                flag_id=state.flag_id, environment_id=state.environment_id, license_id__in=chunk, day__lte=state.day
            )
            .values("license_id", "variant")
            .annotate(last=Max("day"))
            .order_by()
            .values_list("license_id", "variant", "last")
        ):
            last_days[(variant, license_id)] = last
            last_days[(ANY_VARIANT, license_id)] = max(last, last_days.get((ANY_VARIANT, license_id), NO_PREVIOUS_DAY))
    points = Counter((variant, last_days.get((variant, pk), NO_PREVIOUS_DAY)) for variant, pk in pairs)
    points.update((ANY_VARIANT, last_days.get((ANY_VARIANT, pk), NO_PREVIOUS_DAY)) for pk in licenses)
    _add_points(state, FlagReachPoint.Kind.LICENSE, points)


def forget(*, from_day: date) -> None:
    """Every fold of ``from_day`` or later: the rollup's, in its transaction (see the module's docstring)."""
    for model in (FlagFoldKey, FlagFoldPoint, FlagFoldLicense, FlagFoldState):
        model.objects.filter(day__gte=from_day).delete()


def _forget_one(*, flag_id: int, environment_id: int, day: date) -> None:
    for model in (FlagFoldKey, FlagFoldPoint, FlagFoldLicense, FlagFoldState):
        model.objects.filter(flag_id=flag_id, environment_id=environment_id, day=day).delete()


# ---------------------------------------------------------------- reads


def usable(
    *, flag_id: int, environment_id: int, product_id: int | None, unrolled: list[date], date_to: date
) -> FlagFoldState | None:
    """The fold a read of these unrolled days may use: of the only one, the window's last, for the same product."""
    if len(unrolled) != 1 or unrolled[0] != date_to:
        return None
    state = FlagFoldState.objects.filter(flag_id=flag_id, environment_id=environment_id, day=unrolled[0]).first()
    if state is None or state.product_id != product_id:
        return None
    return state


def usage_totals(*, days: list[date], flag_id: int, environment_id: int) -> dict:
    """``tail.usage_totals`` of one flag's unrolled days: a folded day is its fold, the raw rows above it
    and its SDK buckets; any other day its raw rows, as before."""
    states = {
        state.day: state
        for state in FlagFoldState.objects.filter(flag_id=flag_id, environment_id=environment_id, day__in=days)
    }
    rest = [day for day in days if day not in states]
    totals = tail.usage_totals(days=rest, flag_id=flag_id, environment_id=environment_id) if rest else {}
    for day, state in states.items():
        row = tail.new_usage()
        _add_stored(row, state.usage)
        above = tail.usage_totals(
            days=[day], flag_id=flag_id, environment_id=environment_id, ids=(state.folded_through, None)
        )
        sdk = (
            EvaluationBucketCount.objects.filter(flag_id=flag_id, environment_id=environment_id, day=day)
            .values("reason", "value", "variant")
            .annotate(n=Sum("count"))
            .order_by()
            .values_list("reason", "value", "variant", "n")
        )
        for reason, value, variant, n in sdk:
            tail.add_usage(row, reason, value, variant, n)
        if (day, environment_id, flag_id) in above:
            _add_stored(row, above[(day, environment_id, flag_id)])
        if row["total"]:
            totals[(day, environment_id, flag_id)] = row
    return totals


def _add_stored(row: dict, stored: dict) -> None:
    for name in ("total", "rule", "default", "error"):
        row[name] += stored.get(name, 0)
    for name in ("values", "variants"):
        for key, n in stored.get(name, {}).items():
            row[name][key] += n


def subjects(
    state: FlagFoldState, *, product_id: int | None, date_from: date, date_to: date, totals_cover_window: bool
) -> tail.Subjects:
    """``tail.subjects`` of the fold's day: the fold's points and license rows, plus the raw rows above it.

    The raw rows above the watermark are grouped once (seconds of evaluations); their keys
    are new to the window unless the fold or a rolled day of the window (``FlagKeyRecent``'s
    last day on or after ``date_from``) has them. Licenses: the fold's rows and theirs,
    then what the window's rolled license days lack (bounded by licenses, not evaluations)."""
    scope = _scope(state)
    served = _served(
        FlagEvaluation.objects.filter(
            flag_id=state.flag_id, environment_id=state.environment_id, id__gt=state.folded_through
        ),
        state.day,
    )
    new = defaultdict(dict)
    for kind, variant, n in (
        FlagFoldPoint.objects.filter(**scope, rolled_last_day__lt=date_from)
        .values("kind", "variant")
        .annotate(n=Sum("count"))
        .order_by()
        .values_list("kind", "variant", "n")
    ):
        new[kind][variant] = n
    new_keys = new[FlagReachPoint.Kind.TARGETING_KEY]
    pairs = {(variant, key) for variant, key, _, _, _ in served if key}
    keys = {key for _, key in pairs}
    seen: set[tuple[str, str]] = set()
    for chunk in tail._chunks(keys):
        seen.update(
            FlagFoldKey.objects.filter(**scope, targeting_key__in=chunk).values_list("variant", "targeting_key")
        )
        for variant, key in FlagKeyRecent.objects.filter(
            flag_id=state.flag_id, environment_id=state.environment_id, targeting_key__in=chunk, last_day__gte=date_from
        ).values_list("variant", "targeting_key"):
            seen.update({(variant, key), (ANY_VARIANT, key)})
    for variant, key in pairs | {(ANY_VARIANT, key) for key in keys}:
        if (variant, key) not in seen:
            new_keys[variant] = new_keys.get(variant, 0) + 1
    result = tail.Subjects(new_keys=new_keys, new_licenses={}, license_evaluations={})
    if not product_id:
        return result
    # Without their last evaluation: only a page's licenses need it (``last_seen``), and parsing
    # a timestamp per (license, variant) of a busy flag cost ~30 ms at 10M.
    evaluations: dict[tuple[int, str], tuple[int, datetime | None]] = {
        (license_id, variant): (n, None)
        for license_id, variant, n in FlagFoldLicense.objects.filter(**scope).values_list(
            "license_id", "variant", "evaluations"
        )
    }
    folded = set(evaluations)
    above = license_rows(product_id, served)
    for pair, (n, last) in above.items():
        before = evaluations.get(pair)
        evaluations[pair] = (n, last) if before is None else (before[0] + n, None)
    result.last_seen = lambda license_ids: _last_seen(state, license_ids, above)
    # New to the window: the fold's license points before date_from, plus the licenses (pairs)
    # above the watermark that neither the fold nor the window's rolled license days have.
    new_licenses = new[FlagReachPoint.Kind.LICENSE]
    folded_licenses = {license_id for license_id, _ in folded}
    unseen = {(variant, pk) for pk, variant in above if (pk, variant) not in folded}
    if unseen:
        if totals_cover_window:
            # The totals' (license, variant) rows are exactly the kept license days' (the window holds them all).
            rolled = FlagLicenseTotal.objects.filter(flag_id=state.flag_id, environment_id=state.environment_id)
        else:
            rolled = FlagLicenseDay.objects.filter(
                flag_id=state.flag_id, environment_id=state.environment_id, day__gte=date_from, day__lte=date_to
            )
        # The fold's licenses count as seen over every variant; its pairs were left out above.
        counted = tail._new_subjects(rolled, "license_id", unseen)
        at_all = {pk for _, pk in unseen} - folded_licenses
        seen_at_all = _seen_licenses(rolled, at_all)
        for variant, n in counted.items():
            if variant != ANY_VARIANT:
                new_licenses[variant] = new_licenses.get(variant, 0) + n
        new_licenses[ANY_VARIANT] = new_licenses.get(ANY_VARIANT, 0) + len(at_all - seen_at_all)
    result.new_licenses = dict(new_licenses)
    result.license_evaluations = evaluations
    return result


def _last_seen(state: FlagFoldState, license_ids: set[int], above: dict) -> dict[tuple[int, str], datetime]:
    """The last evaluation per (license, variant) of ``license_ids`` (a page's): the fold's and those above it."""
    found = {
        (license_id, variant): last
        for license_id, variant, last in FlagFoldLicense.objects.filter(
            **_scope(state), license_id__in=license_ids
        ).values_list("license_id", "variant", "last_seen_at")
    }
    for (license_id, variant), (_, last) in above.items():
        if license_id in license_ids:
            before = found.get((license_id, variant))
            found[(license_id, variant)] = last if before is None else max(before, last)
    return found


def _seen_licenses(rolled, licenses: set[int]) -> set[int]:
    seen: set[int] = set()
    for chunk in tail._chunks(licenses):
        seen.update(rolled.filter(license_id__in=chunk).values_list("license_id", flat=True).distinct().order_by())
    return seen
