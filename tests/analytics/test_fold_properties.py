"""Differential property of the fold (issue 18): at any fold moment, every answer equals the naive one.

Hypothesis draws a few events over four 32-day blocks (days on and around block
boundaries, so that pairs come back to a block they already used), in several time
zones, with licenses and domains that return on later days, and a fold schedule: cut
points anywhere in the arrival order (one event at a time, everything at once, mid-day
or on a block boundary when the events arrive in time order). Before and after each
fold, a few windows and filters are read: each answer equals the oracle's
(``tests.analytics.oracle``), and the fold changes none of them.

Runs on SQLite and, with ``DATABASE_URL`` set, on PostgreSQL (CI's second pass).
``FOLD_PROPERTY_EXAMPLES`` sets the number of examples (200 by default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.counters import counters_fold
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from analytics.models import BLOCK_DAYS
from events.models import License
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

EXAMPLES = int(os.environ.get("FOLD_PROPERTY_EXAMPLES", "200"))
# Block 0's first day: every drawn day is an offset from it, over four blocks.
FIRST_BLOCK_DAY = date.fromordinal((date(2026, 1, 1).toordinal() // BLOCK_DAYS + 1) * BLOCK_DAYS)
BLOCKS = 4
# Day offsets worth drawing: both sides of each block boundary, day 0, 1 and 9 of a block, mid-block.
DAYS = sorted({b * BLOCK_DAYS + k for b in range(BLOCKS) for k in (0, 1, 9, 16, 30, 31)} - {BLOCKS * BLOCK_DAYS - 1})
# Whole hours east of UTC do not shift days the same way as half hours, or a day line.
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
NAMES = [("search", "search"), ("feature_used", "search"), ("bulk_edit", "bulk_edit"), ("feature_used", "export")]
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
        st.integers(0, 23),  # UTC hour: in most zones this moves the event's local day
        st.integers(0, len(NAMES) - 1),
        st.one_of(st.none(), st.integers(0, len(LICENSES) - 1)),
        st.integers(0, len(DOMAINS) - 1),
    ),
    min_size=1,
    max_size=14,
)
reads = st.lists(
    st.builds(
        Read,
        end=st.integers(0, len(DAYS) - 1),
        days=st.sampled_from([1, 9, 30, 40]),
        needle=st.sampled_from([None, None, None, "search", "EXP"]),
        license=st.one_of(st.none(), st.none(), st.integers(0, len(LICENSES) - 1)),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def schedules(draw) -> tuple[list, list[int], bool]:
    """Events, the positions after which a fold runs, and whether they arrive in time order."""
    rows = draw(events)
    chronological = draw(st.booleans())
    if chronological:
        rows = sorted(rows, key=lambda row: (row[0], row[1]))
    plan = draw(st.sampled_from(["each", "once", "random"]))
    if plan == "each":
        cuts = list(range(1, len(rows) + 1))
    elif plan == "once":
        cuts = [len(rows)]
    else:
        cuts = sorted(draw(st.sets(st.integers(1, len(rows)), min_size=1)))
    return rows, cuts, chronological


FOLD_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check_folds_never_change_an_answer(org, zone: str, schedule, windows: list[Read]) -> None:
    rows, cuts, _ = schedule
    product = ProductFactory(organization=org, timezone=zone)
    start = datetime.combine(FIRST_BLOCK_DAY, datetime.min.time(), tzinfo=UTC)
    licenses = [
        LicenseFactory(product=product, status=status, expires_at=None if days is None else start + timedelta(days))
        for status, days in LICENSES
    ]

    def queries() -> list[FeatureUsageQuery]:
        out = []
        for read in windows:
            date_to = FIRST_BLOCK_DAY + timedelta(days=DAYS[read.end])
            out.append(
                FeatureUsageQuery(
                    product=product,
                    date_from=date_to - timedelta(days=read.days - 1),
                    date_to=date_to,
                    event=read.needle,
                    license=None if read.license is None else licenses[read.license],
                )
            )
        return out

    def answers() -> list[dict]:
        got = [feature_usage(q) for q in queries()]
        for q, answer in zip(queries(), got, strict=True):
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
        assert answers() == before  # a fold never changes an answer


@FOLD_SETTINGS
@given(zone=st.sampled_from(ZONES), schedule=schedules(), windows=reads)
def test_every_answer_equals_the_naive_one_at_every_fold_moment(org, zone, schedule, windows):
    check_folds_never_change_an_answer(org, zone, schedule, windows)
