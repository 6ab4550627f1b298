"""The read replica: which statement goes where, the fallbacks, and read-your-writes.

A ``replica`` alias is added for each test. ``mirror`` points it at the test
database itself (a replica that has replayed everything: lag 0, as
``core.replica`` measures a database that is not in recovery); ``frozen`` (SQLite)
points it at a copy of the database taken with ``VACUUM INTO``: a replica
stopped at a replay point, later writes on the primary only.
"""

from __future__ import annotations

import copy
import os
import tempfile

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core.replica import READ_SOURCE_HEADER, choose_read_source, on_replica
from events.models import Product
from tests.events.factories import EventFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def usage_url(product, suffix="", query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/feature-usage{suffix}?{query}"


# The alias exists before pytest-django sets the test databases up, as DATABASE_REPLICA_URL would
# make it: a mirror of the primary's test database. It serves reads only while a test puts it in
# settings.READ_REPLICA (``replica_alias``), which is what core.replica looks at: the alias alone
# (Django's connections.settings is settings.DATABASES itself) enables nothing for other tests.
connections.settings.setdefault(
    "replica", {**copy.deepcopy(connections.settings["default"]), "TEST": {"MIRROR": "default"}}
)
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replica_alias(settings):
    mirrored = copy.deepcopy(connections.settings["replica"])

    def point_at(database: dict) -> None:
        connections["replica"].close()
        del connections["replica"]
        connections.settings["replica"] = {**mirrored, **database}
        settings.READ_REPLICA = True

    yield point_at
    connections["replica"].close()
    del connections["replica"]
    connections.settings["replica"] = mirrored


@pytest.fixture
def mirror(replica_alias):
    replica_alias({})


@pytest.fixture
def frozen(replica_alias):
    """Freeze a replica at this moment: call it after the writes the replica has replayed."""
    if connections["default"].vendor != "sqlite":
        pytest.skip("a point-in-time copy of the test database is SQLite's VACUUM INTO")
    path = os.path.join(tempfile.mkdtemp(), "replica.sqlite3")

    def freeze():
        with connections["default"].cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [path])
        replica_alias({"NAME": path})

    return freeze


def five_events(product, count=5):
    for _ in range(count):
        EventFactory(product=product, event="export_pdf", occurred_at="2026-03-02T12:00:00Z")


def test_without_a_replica_every_answer_is_the_primarys(api, org):
    product = ProductFactory(organization=org, name="Shop")
    response = api.get(usage_url(product))
    assert response.status_code == 200
    assert response[READ_SOURCE_HEADER] == "primary"
    assert choose_read_source().reason == "no_replica"


def test_reads_inside_an_answer_go_to_the_replica_and_writes_to_the_primary(org, mirror):
    product = ProductFactory(organization=org, name="Shop")
    replica, primary = connections["replica"], connections["default"]

    def answer():
        name = Product.objects.get(pk=product.pk).name
        Product.objects.filter(pk=product.pk).update(name="Renamed")  # a write is never sent to a replica
        return name

    with CaptureQueriesContext(replica) as on_replica_side, CaptureQueriesContext(primary) as on_primary_side:
        name, source = on_replica(answer)
    assert (name, source.name, source.lag_seconds) == ("Shop", "replica", 0.0)
    replica_sql = [q["sql"] for q in on_replica_side.captured_queries]
    primary_sql = [q["sql"] for q in on_primary_side.captured_queries]
    assert any(sql.startswith("SELECT") and "events_product" in sql for sql in replica_sql)
    assert not any(sql.startswith("UPDATE") for sql in replica_sql)
    assert [sql for sql in primary_sql if sql.startswith("UPDATE")] != []
    # Outside an answer (the request's own lookups, read-your-writes) reads stay on the primary.
    with CaptureQueriesContext(replica) as outside:
        assert Product.objects.get(pk=product.pk).name == "Renamed"
    assert outside.captured_queries == []


def test_feature_usage_comes_from_the_replica_with_the_same_figures(api, org, mirror):
    product = ProductFactory(organization=org, name="Shop")
    five_events(product)
    response = api.get(usage_url(product))
    assert response.status_code == 200
    assert response[READ_SOURCE_HEADER] == "replica"
    assert response.json()["data"]["totals"]["events"] == 5
    csv = api.get(usage_url(product, ".csv", f"{WINDOW}&table=features"))
    assert csv[READ_SOURCE_HEADER] == "replica"
    assert csv.getvalue().decode().splitlines()[1].startswith("export_pdf,5")


def test_an_answer_is_exact_as_of_the_replicas_replay_point(api, org, frozen):
    product = ProductFactory(organization=org, name="Shop")
    five_events(product, 2)
    frozen()  # the replica has replayed 2 events
    five_events(product, 3)  # the primary has 5
    response = api.get(usage_url(product))
    assert response[READ_SOURCE_HEADER] == "replica"
    assert response.json()["data"]["totals"]["events"] == 2


def test_a_product_the_replica_has_not_replayed_is_answered_by_the_primary(api, org, frozen):
    frozen()
    product = ProductFactory(organization=org, name="Just created")
    five_events(product, 3)
    response = api.get(usage_url(product))
    assert response.status_code == 200
    assert response[READ_SOURCE_HEADER] == "primary"
    assert response.json()["data"]["totals"]["events"] == 3


def test_a_replica_that_is_down_leaves_the_answer_to_the_primary(api, org, replica_alias):
    product = ProductFactory(organization=org, name="Shop")
    five_events(product, 4)
    # Nothing listens on port 9 (discard): connecting fails at once.
    replica_alias(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "packedge_h7_absent",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "9",
            "OPTIONS": {"connect_timeout": 2},
        }
    )
    response = api.get(usage_url(product))
    assert response.status_code == 200
    assert response[READ_SOURCE_HEADER] == "primary"
    assert response.json()["data"]["totals"]["events"] == 4
    assert choose_read_source().reason == "replica_down"


def test_a_replica_further_behind_than_allowed_leaves_the_answer_to_the_primary(api, org, mirror, settings):
    product = ProductFactory(organization=org, name="Shop")
    five_events(product, 1)
    settings.REPLICA_MAX_LAG_SECONDS = 0.0
    assert api.get(usage_url(product))[READ_SOURCE_HEADER] == "replica"  # 0 s behind: not more than 0
    settings.REPLICA_MAX_LAG_SECONDS = -1.0
    response = api.get(usage_url(product))
    assert response[READ_SOURCE_HEADER] == "primary"
    assert response.json()["data"]["totals"]["events"] == 1
    assert choose_read_source().reason == "replica_lagging"


def test_bad_input_is_refused_the_same_way_with_a_replica(api, org, mirror):
    product = ProductFactory(organization=org, name="Shop")
    five_events(product, 2)
    assert api.get(usage_url(product, query="from=2026-13-01")).status_code == 400
    assert api.get(usage_url(product)).json()["data"]["totals"]["events"] == 2
