"""The targeting keys' reach without a table per key day (flags/reach.py, issues 19 and 22).

A backlog draws every key point and each key's last two days (``FlagKeyRecent``) from
one sort of the raw evaluations; a night finds each key's previous day by a seek in
``FlagKeyRecent``. Every figure below is hand-computed from the evaluations served;
the night's structures must equal what a backlog over the same days writes.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from flags import recording
from flags.models import FlagKeyRecent, FlagReachPoint
from flags.rollup import rollup_days, rollup_run
from flags.selectors import utc_today
from tests.events.factories import ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.flags.test_same_day_exposure import figures, get, served

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D1, D2, D3, D4 = (TODAY - timedelta(days=n) for n in (5, 4, 3, 2))
NONE = date.min


@pytest.fixture
def keys(org):
    """u1: on D1, off D3; u2: on D1 and D2; u3: off twice on D2. D1 … D3 rolled up as a backlog."""
    project = ProjectFactory(organization=org, product=ProductFactory(organization=org))
    environment = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(environment, flag, "on", D1, 9, "u1")
    served(environment, flag, "off", D3, 9, "u1")
    served(environment, flag, "on", D1, 10, "u2")
    served(environment, flag, "on", D2, 10, "u2")
    served(environment, flag, "off", D2, 11, "u3", n=2)
    recording.flush()
    rollup_run(today=D4)
    return project, environment, flag


def recent() -> set[tuple]:
    return set(FlagKeyRecent.objects.values_list("targeting_key", "variant", "last_day", "previous_day"))


def key_points() -> dict[tuple, int]:
    rows = FlagReachPoint.objects.filter(kind=FlagReachPoint.Kind.TARGETING_KEY)
    return {
        (variant, day, previous): n
        for variant, day, previous, n in rows.values_list("variant", "day", "previous_day", "count")
    }


BACKLOG_RECENT = {
    ("u1", "on", D1, NONE),
    ("u1", "off", D3, NONE),
    ("u2", "on", D2, D1),
    ("u3", "off", D2, NONE),
}
BACKLOG_POINTS = {
    ("on", D1, NONE): 2,  # u1, u2
    ("on", D2, D1): 1,  # u2
    ("off", D2, NONE): 1,  # u3 (twice that day: once)
    ("off", D3, NONE): 1,  # u1
    ("", D1, NONE): 2,  # u1, u2
    ("", D2, D1): 1,  # u2
    ("", D2, NONE): 1,  # u3
    ("", D3, D1): 1,  # u1, on D1 before
}


def test_a_backlog_writes_each_keys_last_two_days_and_its_points(keys):
    assert recent() == BACKLOG_RECENT
    assert key_points() == BACKLOG_POINTS


def test_a_night_finds_each_keys_previous_day_in_its_recent_days(api, keys):
    project, environment, flag = keys
    # D4: u1 on (on last D1; over every variant last D3, off), u3 off and on (off last D2; on new).
    served(environment, flag, "on", D4, 9, "u1")
    served(environment, flag, "off", D4, 9, "u3")
    served(environment, flag, "on", D4, 10, "u3")
    recording.flush()
    rollup_run(today=D4 + timedelta(days=1))
    assert recent() == BACKLOG_RECENT - {("u1", "on", D1, NONE), ("u3", "off", D2, NONE)} | {
        ("u1", "on", D4, D1),
        ("u3", "off", D4, D2),
        ("u3", "on", D4, NONE),
    }
    assert key_points() == BACKLOG_POINTS | {
        ("on", D4, D1): 1,  # u1
        ("on", D4, NONE): 1,  # u3
        ("off", D4, D2): 1,  # u3
        ("", D4, D3): 1,  # u1
        ("", D4, D2): 1,  # u3
    }
    # Yesterday re-rolled after a late evaluation: u2 off on D4 (new on off; on D2 before over every
    # variant). The keys already rolled for D4 keep their previous day.
    served(environment, flag, "off", D4, 23, "u2")
    recording.flush()
    rollup_run(today=D4 + timedelta(days=1))
    night = (recent(), key_points())
    assert night[0] == BACKLOG_RECENT - {("u1", "on", D1, NONE), ("u3", "off", D2, NONE)} | {
        ("u1", "on", D4, D1),
        ("u3", "off", D4, D2),
        ("u3", "on", D4, NONE),
        ("u2", "off", D4, NONE),
    }
    assert night[1] == BACKLOG_POINTS | {
        ("on", D4, D1): 1,
        ("on", D4, NONE): 1,
        ("off", D4, D2): 1,
        ("off", D4, NONE): 1,  # u2
        ("", D4, D3): 1,
        ("", D4, D2): 2,  # u3, u2
    }
    # The same days as a backlog (more days than a night): the same rows.
    rollup_days([D1, D2, D3, D4])
    assert (recent(), key_points()) == night
    # Keys in [D3, D4]: u1 (D3 off, D4 on), u3 and u2 (D4); on: u1, u3; off: u1, u3, u2.
    window = {"from": D3.isoformat(), "to": D4.isoformat()}
    body = figures(get(api, project, environment, "exposure", **window))
    assert body["totals"]["uniqueTargetingKeys"] == 3
    assert {v["variant"]: v["uniqueTargetingKeys"] for v in body["variants"]} == {"on": 2, "off": 3}


def test_a_window_ending_before_a_keys_last_rolled_day_counts_its_keys_from_the_raw_rows(api, keys):
    """u1's recent days say D4 and D1 on "on"; a late evaluation of u1 on D2 makes D2 unrolled. In
    [D2, D2] the recent days cannot tell whether u1 was rolled up there: the raw rows answer."""
    project, environment, flag = keys
    served(environment, flag, "on", D4, 9, "u1")
    recording.flush()
    rollup_run(today=D4 + timedelta(days=1))
    served(environment, flag, "on", D2, 12, "u1")
    served(environment, flag, "on", D2, 13, "u9")
    recording.flush()
    window = {"from": D2.isoformat(), "to": D2.isoformat()}
    body = figures(get(api, project, environment, "exposure", **window))
    # D2: u2 on, u3 off (rolled), u1 on and u9 on (late).
    assert body["totals"]["uniqueTargetingKeys"] == 4
    assert {v["variant"]: v["uniqueTargetingKeys"] for v in body["variants"]} == {"on": 3, "off": 1}
    # From D2 on (past u1's last day): the recent days answer; u1, u2, u3, u9; on: u1, u2, u9;
    # off: u3 (D2), u1 (D3).
    longer = figures(get(api, project, environment, "exposure", **{"from": D2.isoformat()}))
    assert longer["totals"]["uniqueTargetingKeys"] == 4
    assert {v["variant"]: v["uniqueTargetingKeys"] for v in longer["variants"]} == {"on": 3, "off": 2}
