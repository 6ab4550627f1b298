"""Several replicas (DATABASE_REPLICA_URLS): answers take turns, and one down or behind sends its share to the other.

Two aliases mirror the test database (``replica``, ``replica_2``), as
tests/lib/test_replica.py does for one; ``settings.READ_REPLICA`` turns them on.
"""

from __future__ import annotations

import copy

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from events.models import Product
from lib.replica import choose_read_source, on_replica, replica_aliases
from tests.events.factories import ProductFactory
from tests.lib.test_replica import ABSENT_REPLICA

for _alias in ("replica", "replica_2"):
    connections.settings.setdefault(
        _alias, {**copy.deepcopy(connections.settings["default"]), "TEST": {"MIRROR": "default"}}
    )
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica", "replica_2"])


@pytest.fixture
def two_replicas(settings):
    saved = {alias: copy.deepcopy(connections.settings[alias]) for alias in ("replica", "replica_2")}
    settings.READ_REPLICA = True
    settings.READ_REPLICA_ALIASES = ["replica", "replica_2"]

    def point(alias: str, database: dict) -> None:
        connections[alias].close()
        del connections[alias]
        connections.settings[alias] = {**saved[alias], **database}

    yield point
    for alias, database in saved.items():
        connections[alias].close()
        del connections[alias]
        connections.settings[alias] = database


def test_the_replicas_are_listed_in_order_only_when_enabled(settings, two_replicas):
    assert replica_aliases() == ["replica", "replica_2"]
    settings.READ_REPLICA = False
    assert replica_aliases() == []


def test_answers_take_turns_between_two_fresh_replicas(two_replicas):
    assert sorted(choose_read_source().alias for _ in range(4)) == ["replica", "replica", "replica_2", "replica_2"]


def test_each_answers_statements_go_to_the_replica_it_was_given(org, two_replicas):
    product = ProductFactory(organization=org, name="Shop")
    seen = []
    for _ in range(2):
        with (
            CaptureQueriesContext(connections["replica"]) as first,
            CaptureQueriesContext(connections["replica_2"]) as second,
        ):
            name, source = on_replica(lambda: Product.objects.get(pk=product.pk).name)
        assert name == "Shop"
        read = {"replica": first, "replica_2": second}
        other = "replica_2" if source.alias == "replica" else "replica"
        assert any("events_product" in q["sql"] for q in read[source.alias].captured_queries)
        assert not any("events_product" in q["sql"] for q in read[other].captured_queries)
        seen.append(source.alias)
    assert sorted(seen) == ["replica", "replica_2"]


def test_one_replica_down_sends_its_share_to_the_other_not_to_the_primary(two_replicas):
    two_replicas("replica_2", ABSENT_REPLICA)
    sources = [choose_read_source() for _ in range(4)]
    assert [(s.name, s.alias) for s in sources] == [("replica", "replica")] * 4


def test_both_down_leaves_the_answer_to_the_primary(two_replicas):
    two_replicas("replica", ABSENT_REPLICA)
    two_replicas("replica_2", ABSENT_REPLICA)
    source = choose_read_source()
    assert (source.name, source.reason) == ("primary", "replica_down")


def test_both_behind_leaves_it_to_the_primary_as_lagging(two_replicas, settings):
    settings.REPLICA_MAX_LAG_SECONDS = -1.0
    source = choose_read_source()
    assert (source.name, source.reason) == ("primary", "replica_lagging")
