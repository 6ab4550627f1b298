"""Differential property of the fold (issue 18): at any fold moment, every answer equals the naive one.

Hypothesis draws a few events over four 32-day blocks (days on and around block
boundaries, so that pairs come back to a block they already used), in several time
zones, with licenses and domains that return on later days, and a fold schedule: cut
points anywhere in the arrival order (one event at a time, everything at once, mid-day
or on a block boundary when the events arrive in time order). Before and after each
fold, a few windows and filters are read: each answer equals the oracle's
(``tests.analytics.oracle``), and the fold changes none of them.

Runs on SQLite and, with ``DATABASE_URL`` set, on PostgreSQL (CI's second pass).
``FOLD_PROPERTY_EXAMPLES`` sets the number of examples (200 by default on PostgreSQL, 50 on SQLite).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch

import pytest
from django.db import DatabaseError, connection, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analytics import sql as analytics_sql
from analytics.counters import counters_fold
from analytics.feature_usage import FeatureUsageQuery, feature_usage, tail
from analytics.models import (
    BLOCK_DAYS,
    RUNNING_COLUMNS,
    DomainBlockCounter,
    FeatureReachCounter,
    LicenseBlockCounter,
)
from events.models import License
from tests.analytics.oracle import naive_feature_usage, naive_pair_days, naive_reach_points
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

# Issue 18 asks for at least 200 examples per CI run on PostgreSQL, where the fold's SQL runs; SQLite
# runs the same property with fewer by default (200 took 200 s of a 2-core CI machine's SQLite pass).
EXAMPLES = int(os.environ.get("FOLD_PROPERTY_EXAMPLES", "200" if connection.vendor == "postgresql" else "50"))
# A mutant's search stops at its first counterexample (within a few examples), so it keeps
# the full budget when FOLD_PROPERTY_EXAMPLES is lowered for speed: at 20, the old
# precedence went uncaught in one full run of tests/analytics/ on PostgreSQL.
MUTANT_EXAMPLES = max(EXAMPLES, 200)
# Block 0's first day: every drawn day is an offset from it, over four blocks.
FIRST_BLOCK_DAY = date.fromordinal((date(2026, 1, 1).toordinal() // BLOCK_DAYS + 1) * BLOCK_DAYS)
BLOCKS = 4
FOLDS_AT_MOST = 4
# Days worth drawing: both sides of each block boundary, day 1 and a mid-block day.
DAYS = [b * BLOCK_DAYS + k for b in range(BLOCKS) for k in (0, 1, 9, 31)]
# Noon UTC is the same local day from UTC-11 to UTC+11; the others move it in some zones.
HOURS = [12, 12, 0, 23]
# Whole and half hours either side of UTC, and a day line (UTC+14).
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
NAMES = [("search", "search"), ("feature_used", "search"), ("export", "export")]
DOMAINS = ["", "a.example", "b.example"]
LICENSES = [(License.Status.ACTIVE, None), (License.Status.ACTIVE, 40), (License.Status.REVOKED, None)]


@dataclass(frozen=True)
class Read:
    end: int  # index into DAYS: the window's last day
    days: int
    needle: str | None
    license: int | None


events = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.sampled_from(HOURS),
        st.integers(0, len(NAMES) - 1),
        st.one_of(st.none(), st.integers(0, 1), st.integers(0, len(LICENSES) - 1)),
        st.integers(0, len(DOMAINS) - 1),
    ),
    min_size=1,
    max_size=10,
)
reads = st.lists(
    st.builds(
        Read,
        end=st.integers(0, len(DAYS) - 1),
        days=st.sampled_from([1, 9, 30, 31, 40]),
        needle=st.sampled_from([None, None, None, "search", "EXP"]),
        license=st.one_of(st.none(), st.none(), st.integers(0, len(LICENSES) - 1)),
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def schedules(draw) -> tuple[list, list[int], bool]:
    """Events, the positions after which a fold runs, and whether they arrive in time order."""
    rows = draw(events)
    chronological = draw(st.booleans())
    if chronological:
        rows = sorted(rows, key=lambda row: (row[0], row[1]))
    plan = draw(st.sampled_from(["each", "once", "random", "random"]))
    if plan == "each":  # one event at a time, of the first few: each fold and read costs a few queries
        rows = rows[:FOLDS_AT_MOST]
        cuts = list(range(1, len(rows) + 1))
    elif plan == "once":
        cuts = [len(rows)]
    else:
        cuts = sorted(draw(st.sets(st.integers(1, len(rows)), min_size=1, max_size=FOLDS_AT_MOST - 1)) | {len(rows)})
    return rows, cuts, chronological


FOLD_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def counted_reach_points(product) -> Counter:
    return Counter(
        {
            (kind, feature, day, previous): count
            for kind, feature, day, previous, count in FeatureReachCounter.objects.filter(product=product)
            .exclude(count=0)
            .values_list("kind", "feature", "day", "previous_day", "count")
        }
    )


def counted_pair_days(product, model, entity: str) -> Counter:
    """The pair blocks' running totals back into events per (entity, event, feature, day)."""
    counts = Counter()
    for key, event, feature, block, *totals in model.objects.filter(product=product).values_list(
        entity, "event", "feature", "block", *RUNNING_COLUMNS
    ):
        for index, total in enumerate(totals):
            if n := total - (totals[index - 1] if index else 0):
                counts[(key, event, feature, date.fromordinal(block * BLOCK_DAYS + index))] = n
    return counts


def check_folds_never_change_an_answer(org, zone: str, schedule, windows: list[Read]) -> None:
    rows, cuts, _ = schedule
    product = ProductFactory(organization=org, timezone=zone)
    start = datetime.combine(FIRST_BLOCK_DAY, datetime.min.time(), tzinfo=UTC)
    licenses = [
        LicenseFactory(product=product, status=status, expires_at=None if days is None else start + timedelta(days))
        for status, days in LICENSES
    ]
    queries = []
    for read in windows:
        date_to = FIRST_BLOCK_DAY + timedelta(days=DAYS[read.end])
        license = None if read.license is None else licenses[read.license]
        date_from = date_to - timedelta(days=read.days - 1)
        queries.append(
            FeatureUsageQuery(product=product, date_from=date_from, date_to=date_to, event=read.needle, license=license)
        )

    def answers() -> list[dict]:
        got = [feature_usage(q) for q in queries]
        for q, answer in zip(queries, got, strict=True):
            naive = naive_feature_usage(
                product=product, date_from=q.date_from, date_to=q.date_to, event=q.event, license=q.license
            )
            assert answer == naive, (q.date_from, q.date_to, q.event, q.license)
        return got

    inserted = 0
    for cut in cuts:
        for day, hour, name, license_index, domain in rows[inserted:cut]:
            event, feature = NAMES[name]
            EventFactory(
                product=product,
                event=event,
                feature=feature,
                license=None if license_index is None else licenses[license_index],
                domain=DOMAINS[domain],
                occurred_at=start + timedelta(days=day, hours=hour),
            )
        inserted = cut
        before = answers()  # the new events still in the tail
        counters_fold(product=product)
        # A fold never changes an answer (and the answers still equal the oracle's).
        assert [feature_usage(q) for q in queries] == before
        # Every window at once: what the unfiltered and event= answers read is exactly the events'.
        assert counted_reach_points(product) == naive_reach_points(product)
        assert counted_pair_days(product, LicenseBlockCounter, "license_id") == naive_pair_days(product, "license")
        assert counted_pair_days(product, DomainBlockCounter, "domain") == naive_pair_days(product, "domain")


@FOLD_SETTINGS
@given(
    zone=st.sampled_from(ZONES),
    schedule=schedules(),
    windows=reads,
    small_tail_below=st.sampled_from([tail.TAIL_SMALL_BELOW, 1]),
)
def test_every_answer_equals_the_naive_one_at_every_fold_moment(org, zone, schedule, windows, small_tail_below):
    """Each example reads its tails in one of the tail statement's two forms (1: every tail is large)."""
    with patch.object(tail, "TAIL_SMALL_BELOW", small_tail_below):
        check_folds_never_change_an_answer(org, zone, schedule, windows)


# ---------------------------------------------------------------- the property can fail
#
# Each mutant is the fold's SQL with one deliberate mistake, made by editing the rendered
# statement (the edit must apply: a builder that changed shape fails here, not silently).
# The property must find a counterexample within its examples; no shrinking, to stay quick.

MUTANTS = {
    # issue 18's bug: `&` and `<<` bind left to right on PostgreSQL, so only day 0 was looked at
    "old precedence": (
        "add_batch_reach_points_sql",
        [
            (
                "(COALESCE(m.used, 0) & (CAST(1 AS bigint) << CAST(MOD(",
                "COALESCE(m.used, 0) & CAST(1 AS bigint) << CAST(MOD(",
            ),
            ("AS integer))) = 0", "AS integer) = 0"),
        ],
    ),
    # a day's bit mistaken for another's: the block's last day tests day 0's bit
    "day 31 tests bit 0": ("add_batch_reach_points_sql", [(", 32) AS integer))) = 0", ", 31) AS integer))) = 0")]),
    # a day dropped from the running totals: day 9's column never takes the batch's day 9
    "dropped day column": ("add_batch_running_blocks_sql", [(") <= 9 THEN n ELSE 0 END)", ") < 9 THEN n ELSE 0 END)")]),
    # the running totals' block one too many: a day's events land in the next block's row
    "off-by-one block": ("add_batch_running_blocks_sql", [(") / 32", ") / 32 + 1")]),
}


def mutant(original, edits: list[tuple[str, str]]):
    def build(*args, **kwargs) -> str:
        statement = original(*args, **kwargs)
        for fixed, broken in edits:
            assert fixed in statement, f"the mutation no longer applies: {fixed!r} not in the statement"
            statement = statement.replace(fixed, broken)
        return statement

    return build


@pytest.mark.parametrize("name", list(MUTANTS))
def test_the_property_catches_a_broken_fold(org, monkeypatch, name):
    builder, edits = MUTANTS[name]
    monkeypatch.setattr(analytics_sql, builder, mutant(getattr(analytics_sql, builder), edits))

    @settings(
        FOLD_SETTINGS,
        max_examples=MUTANT_EXAMPLES,
        database=None,
        # FOLD_MUTANT_SHRINK=1: the smallest counterexample (slower), printed with -s.
        phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if os.environ.get("FOLD_MUTANT_SHRINK") else [])],
        print_blob=False,
    )
    @given(zone=st.sampled_from(ZONES), schedule=schedules(), windows=reads)
    def property_of_the_mutant(zone, schedule, windows):
        with transaction.atomic():  # each example's rows rolled back: the mutant's damage stays in it
            try:
                check_folds_never_change_an_answer(org, zone, schedule, windows)
            except Exception:
                failures.append((zone, schedule, windows))  # Hypothesis replays the smallest one last
                raise
            finally:
                transaction.set_rollback(True)

    failures = []
    # A wrong answer, or a read that trips over impossible counters; never invalid SQL.
    with pytest.raises(Exception) as caught:
        property_of_the_mutant()
    assert not isinstance(caught.value, DatabaseError), caught.value
    print(f"\n{name}: caught by {failures[-1]}")
