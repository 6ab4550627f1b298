"""The read replica: which statement goes where, the fallbacks, and read-your-writes.

A ``replica`` alias is added for each test. ``mirror`` points it at the test
database itself (a replica that has replayed everything: lag 0, as
``lib.replica`` measures a database that is not in recovery); ``frozen`` (SQLite)
points it at a copy of the database taken with ``VACUUM INTO``: a replica
stopped at a replay point, later writes on the primary only.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from events.models import Product
from lib.replica import READ_SOURCE_HEADER, choose_read_source, on_replica
from tests.events.factories import EventFactory, ProductFactory

WINDOW = "from=2026-03-01&to=2026-03-09"


def usage_url(product, suffix="", query=WINDOW):
    return f"/v1/products/{product.public_id}/analytics/feature-usage{suffix}?{query}"


# The alias exists before pytest-django sets the test databases up, as DATABASE_REPLICA_URL would
# make it: a mirror of the primary's test database. It serves reads only while a test puts it in
# settings.READ_REPLICA (``replica_alias``), which is what lib.replica looks at: the alias alone
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


# ---------------------------------------------------------------- the flag and customer reads (issue 24 item 1)


@pytest.fixture
def served_flags(org, monkeypatch):
    """A product with one license, a linked project with a flag served yesterday (rolled up) and today
    (the unrolled tail), and an unknown key: every flag read below has something to count."""
    from flags import recording
    from flags.models import Reason
    from flags.rollup import rollup_run
    from flags.selectors import utc_today
    from tests.events.factories import LicenseFactory
    from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

    monkeypatch.setattr(recording.recorder, "mode", "direct")
    product = ProductFactory(organization=org, name="Shop")
    license = LicenseFactory(product=product, key="LIC-A")
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    today = utc_today()
    yesterday = today - timedelta(days=1)

    def serve(day, variant, targeting_key, hour=9):
        recording.record(
            environment_id=production.pk,
            flag_id=flag.pk,
            value="true" if variant == "on" else "false",
            reason=Reason.SPLIT,
            at=datetime.combine(day, time(hour), tzinfo=UTC),
            variant=variant,
            targeting_key=targeting_key,
            license_key="LIC-A" if targeting_key == "u1" else "",
        )

    serve(yesterday, "on", "u1")
    serve(yesterday, "off", "u2")
    rollup_run(today=today)
    serve(today, "on", "u1", hour=0)
    serve(today, "on", "u3", hour=0)
    recording.record_unknown(
        environment_id=production.pk, key="old-banner", at=datetime.combine(today, time(0), tzinfo=UTC)
    )
    recording.flush()
    window = f"environmentId={production.public_id}&from={yesterday}&to={today}"
    flag_base = f"/v1/projects/{project.public_id}/flags/new-checkout"
    return {
        "org": org,
        "product": product,
        "license": license,
        "project": project,
        "production": production,
        "urls": {
            "flag usage": f"{flag_base}/usage?{window}",
            "flag exposure": f"{flag_base}/exposure?{window}",
            "license flags": f"/v1/products/{product.public_id}/licenses/{license.public_id}/flags?from={yesterday}&to={today}",
            "unknown flags": f"/v1/projects/{project.public_id}/unknown-flags?environmentId={production.public_id}",
        },
    }


ABSENT_REPLICA = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "packedge_h14_absent",
    "USER": "postgres",
    "PASSWORD": "",
    "HOST": "127.0.0.1",
    "PORT": "9",  # nothing listens on discard: connecting fails at once
    "OPTIONS": {"connect_timeout": 2},
}


def _fresh_lagging_down(get, replica_alias, settings):
    """(header, body) without a replica, then with a fresh one, a lagging one and one that is down."""
    seen = [get()]
    replica_alias({})
    seen.append(get())
    settings.REPLICA_MAX_LAG_SECONDS = -1.0
    seen.append(get())
    settings.REPLICA_MAX_LAG_SECONDS = 10.0
    replica_alias(ABSENT_REPLICA)
    seen.append(get())
    return seen


@pytest.mark.parametrize("endpoint", ["flag usage", "flag exposure", "license flags", "unknown flags"])
def test_each_flag_read_comes_from_a_fresh_replica_and_else_from_the_primary_with_the_same_answer(
    api, served_flags, replica_alias, settings, endpoint
):
    url = served_flags["urls"][endpoint]

    def get():
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body.pop("countedThrough")  # the moment of each read (tests/packedge/test_freshness.py)
        return response[READ_SOURCE_HEADER], body

    (alone, expected), *rest = _fresh_lagging_down(get, replica_alias, settings)
    assert alone == "primary"
    assert rest == [("replica", expected), ("primary", expected), ("primary", expected)]


def test_the_figures_read_from_the_replica_are_the_hand_counted_ones(api, served_flags, mirror):
    urls = served_flags["urls"]
    exposure = api.get(urls["flag exposure"])
    assert exposure[READ_SOURCE_HEADER] == "replica"
    # u1 twice (licensed, yesterday rolled up and today's tail), u2 once, u3 once.
    assert exposure.json()["totals"] == {"evaluations": 4, "uniqueTargetingKeys": 3, "licenses": 1, "activeLicenses": 1}
    usage = api.get(urls["flag usage"]).json()
    assert [row["totalEvaluations"] for row in usage["rows"]] == [2, 2]
    assert api.get(urls["unknown flags"]).json()["data"][0]["key"] == "old-banner"
    # License flags count rolled-up days only: yesterday's one evaluation of u1.
    assert api.get(urls["license flags"]).json()["data"][0]["evaluations"] == 1


def test_the_unrolled_tail_is_read_from_the_replica_too(api, served_flags, mirror):
    """Counters and tail from one snapshot: no statement of the answer reads the evaluations on the primary."""
    with CaptureQueriesContext(connections["default"]) as on_primary:
        response = api.get(served_flags["urls"]["flag exposure"])
    assert response[READ_SOURCE_HEADER] == "replica"
    primary_sql = [q["sql"] for q in on_primary.captured_queries]
    assert not [sql for sql in primary_sql if "flags_flagevaluation" in sql or "flags_flagusageday" in sql]
    assert not [sql for sql in primary_sql if "events_license" in sql and "key" in sql]


def test_exposure_is_exact_as_of_the_replicas_replay_point(api, served_flags, frozen):
    from flags import recording
    from flags.models import Flag, Reason

    frozen()  # the replica has replayed the 4 evaluations
    flag = Flag.objects.get(key="new-checkout")
    recording.record(
        environment_id=served_flags["production"].pk,
        flag_id=flag.pk,
        value="false",
        reason=Reason.SPLIT,
        at=datetime.now(UTC),
        variant="off",
        targeting_key="u9",
    )
    recording.flush()
    response = api.get(served_flags["urls"]["flag exposure"])
    assert response[READ_SOURCE_HEADER] == "replica"
    assert response.json()["totals"]["evaluations"] == 4


@pytest.mark.parametrize(
    ("page", "figure"),
    [
        ("flag usage page", "3 evaluations · 2 keys · 1 licenses (100.0% of active)"),  # variant "on": u1 twice, u3
        ("project page", "old-banner"),  # the unknown key, from the health reads
        ("customer page", "new-checkout"),  # the flag served to the license
    ],
)
def test_each_console_insight_page_comes_from_a_fresh_replica_with_the_same_page(
    client, owner, served_flags, replica_alias, settings, page, figure
):
    from django.urls import reverse

    org, project = served_flags["org"], served_flags["project"]
    url = {
        "flag usage page": reverse("console:flag-usage", args=[org.slug, project.public_id, "new-checkout"]),
        "project page": reverse("console:project", args=[org.slug, project.public_id]),
        "customer page": reverse(
            "console:customer", args=[org.slug, served_flags["product"].public_id, served_flags["license"].public_id]
        ),
    }[page]
    client.force_login(owner)

    def get():
        response = client.get(url)
        assert response.status_code == 200
        # Each page carries a fresh CSRF token and its own read time: everything else must be the same.
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
        return response[READ_SOURCE_HEADER], re.sub(r"counted through [0-9: -]+", "counted through", html)

    (alone, expected), *rest = _fresh_lagging_down(get, replica_alias, settings)
    assert alone == "primary"
    assert figure in expected
    assert rest == [("replica", expected), ("primary", expected), ("primary", expected)]


def test_the_project_page_after_a_delete_lists_the_primarys_flags_beside_the_replicas_figures(
    api, client, owner, served_flags, frozen
):
    from django.urls import reverse

    from tests.flags.factories import boolean_flag

    project = served_flags["project"]
    boolean_flag(project, "dark-mode")
    frozen()  # the replica still has both flags
    assert api.delete(f"/v1/projects/{project.public_id}/flags/new-checkout").status_code == 204
    client.force_login(owner)
    response = client.get(reverse("console:project", args=[served_flags["org"].slug, project.public_id]))
    assert response[READ_SOURCE_HEADER] == "replica"
    html = response.content.decode()
    assert "dark-mode" in html and "new-checkout" not in html


# ---------------------------------------------------------------- the entitlement-gap CSVs (issue 24, h2)


def _gap_world(org):
    """A product with two licenses: LIC-A used export_pdf twice on 2026-03-02, LIC-B never did."""
    from tests.events.factories import LicenseFactory

    product = ProductFactory(organization=org, name="Shop")
    used = LicenseFactory(product=product, key="LIC-A", customer_email="a@example.com")
    LicenseFactory(product=product, key="LIC-B", customer_email="b@example.com")
    for _ in range(2):
        EventFactory(product=product, license=used, event="export_pdf", occurred_at="2026-03-02T12:00:00Z")
    return product, used


def _gap_urls(org, product):
    name = "export_pdf"
    return {
        "api": f"/v1/products/{product.public_id}/analytics/features/{name}/licenses.csv?{WINDOW}&used=true",
        "console": f"/o/{org.slug}/products/{product.public_id}/analytics/features/{name}/licenses.csv?{WINDOW}&used=true",
    }


def _csv_rows(response) -> list[str]:
    return b"".join(response.streaming_content).decode().splitlines()


@pytest.mark.parametrize("where", ["api", "console"])
def test_the_entitlement_gap_csv_comes_from_a_fresh_replica_and_else_from_the_primary(
    api, client, owner, org, replica_alias, settings, where
):
    product, used = _gap_world(org)
    url = _gap_urls(org, product)[where]
    http = api if where == "api" else client
    client.force_login(owner)

    def get():
        response = http.get(url)
        assert response.status_code == 200
        return response[READ_SOURCE_HEADER], _csv_rows(response)

    (alone, expected), *rest = _fresh_lagging_down(get, replica_alias, settings)
    assert alone == "primary"
    assert expected == ["licenseId,key,customerEmail,events", f"{used.public_id},LIC-A,a@example.com,2"]
    assert rest == [("replica", expected), ("primary", expected), ("primary", expected)]


@pytest.mark.parametrize("where", ["api", "console"])
def test_the_entitlement_gap_csv_is_exact_as_of_the_replicas_replay_point(api, client, owner, org, frozen, where):
    from tests.events.factories import LicenseFactory

    product, used = _gap_world(org)
    frozen()  # the replica has LIC-A's two events and no LIC-C
    late = LicenseFactory(product=product, key="LIC-C", customer_email="c@example.com")
    EventFactory(product=product, license=late, event="export_pdf", occurred_at="2026-03-03T12:00:00Z")
    EventFactory(product=product, license=used, event="export_pdf", occurred_at="2026-03-03T12:00:00Z")
    client.force_login(owner)
    response = (api if where == "api" else client).get(_gap_urls(org, product)[where])
    assert response[READ_SOURCE_HEADER] == "replica"
    assert _csv_rows(response)[1:] == [f"{used.public_id},LIC-A,a@example.com,2"]


def test_the_entitlement_gap_csv_statements_run_on_the_replica_only(api, org, mirror):
    product, _ = _gap_world(org)
    replica, primary = connections["replica"], connections["default"]
    with CaptureQueriesContext(replica) as on_replica_side, CaptureQueriesContext(primary) as on_primary_side:
        response = api.get(_gap_urls(org, product)["api"])
        rows = _csv_rows(response)
    assert len(rows) == 2
    replica_sql = " ".join(q["sql"] for q in on_replica_side.captured_queries)
    primary_sql = " ".join(q["sql"] for q in on_primary_side.captured_queries)
    # The events and licenses of the file are read on the replica; the primary serves only the
    # request's own lookups (the API key, the organization, the product before the answer).
    assert "events_event" in replica_sql and "events_license" in replica_sql
    assert "events_event" not in primary_sql and "events_license" not in primary_sql
