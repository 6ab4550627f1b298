"""A Feature Usage read never writes: counters plus the unfolded tail, no fold, no lock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.counters import counters_fold, unfolded_events
from analytics.models import CounterState
from events.models import Event
from tests.analytics.test_feature_usage_api import WINDOW, url
from tests.analytics.test_views import tab_url
from tests.events.factories import EventFactory

pytestmark = pytest.mark.django_db

# A write, or a lock a fold would wait for (row locks, advisory locks, table locks).
WRITE_OR_LOCK = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|LOCK|COPY)\b|\bFOR (NO KEY )?UPDATE\b|\bFOR SHARE\b|pg_advisory", re.IGNORECASE
)


# Authentication notes when an API key was last used (throttled, not Feature Usage's doing).
API_KEY_BOOKKEEPING = re.compile(r'^UPDATE "packedge_apikey" SET "last_used_at"')


def writes_and_locks(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries
        if WRITE_OR_LOCK.search(query["sql"]) and not API_KEY_BOOKKEEPING.match(query["sql"])
    ]


@pytest.mark.parametrize("how", ["api", "csv", "console"])
def test_a_feature_usage_request_writes_nothing_and_takes_no_lock(api, client, owner, org, shop, how):
    client.force_login(owner)
    counters_fold(product=shop)
    EventFactory(product=shop, occurred_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # a tail to merge
    requests = {
        "api": lambda: api.get(url(shop)),
        "csv": lambda: api.get(url(shop, ".csv", f"{WINDOW}&table=features")),
        "console": lambda: client.get(tab_url(org, shop) + "?" + WINDOW),
    }
    with CaptureQueriesContext(connection) as queries:
        response = requests[how]()
        if response.streaming:
            response.getvalue()  # a streamed CSV reads while it is written
    assert response.status_code == 200
    assert writes_and_locks(queries.captured_queries) == []
    assert unfolded_events(product=shop).count() == 1


def test_an_event_not_folded_yet_counts_on_the_next_request(api, shop):
    before = api.get(url(shop)).json()["data"]
    assert not CounterState.objects.filter(product=shop).exists()  # nothing was ever folded
    assert before["totals"] == {
        "events": 7,
        "uniqueFeatures": 4,
        "uniqueLicenses": 4,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
    counters_fold(product=shop)
    assert api.get(url(shop)).json()["data"] == before


def test_a_license_and_domain_seen_in_both_counters_and_tail_count_once(api, shop):
    counters_fold(product=shop)
    folded = api.get(url(shop)).json()["data"]
    # Another export_pdf by lic_1 on a.com on Sunday 03-01 local, after the fold: same pair, same domain.
    first = Event.objects.get(product=shop, occurred_at=datetime(2026, 3, 1, 5, 0, tzinfo=UTC))
    first.pk = None
    first.uuid = None
    first.save()
    data = api.get(url(shop)).json()["data"]
    assert data["totals"] == {**folded["totals"], "events": 8}
    export = next(row for row in data["topFeatures"] if row["name"] == "export_pdf")
    export_before = next(row for row in folded["topFeatures"] if row["name"] == "export_pdf")
    assert (export["events"], export["licenses"], export["domains"]) == (export_before["events"] + 1, 1, 1)
    assert next(row for row in data["topDomains"] if row["domain"] == "a.com")["events"] == 5  # 4 folded + 1
