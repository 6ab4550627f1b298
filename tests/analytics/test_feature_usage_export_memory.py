"""The full licenses and sites exports of 100,000 rows stream from a database cursor: memory stays flat.

No timing: the test measures what Python holds (tracemalloc's peak) while the whole
file is read, against the CSV's own size and against the JSON answer, which ranks the
same 100,000 totals in memory.
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import date

import pytest
from django.http import StreamingHttpResponse

from analytics.counters import day_block
from analytics.feature_usage import feature_usage, parse_feature_usage_query
from analytics.models import RUNNING_COLUMNS, DomainTotalBlock, LicenseTotalBlock
from events.models import License
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db
ROWS = 100_000
DAY = date(2026, 3, 2)
WINDOW = "from=2026-03-01&to=2026-03-09"


def _events_of(index: int) -> int:
    return index % 97 + 1  # ties everywhere: their order is the id's (or the name's)


def _running(events: int) -> dict[str, int]:
    _, column = day_block(DAY)
    return {name: (events if k >= column else 0) for k, name in enumerate(RUNNING_COLUMNS)}


def _insert(model, fields: list[str], rows) -> None:
    """Plain executemany: building 100,000 model instances of 35 fields costs minutes on a loaded machine."""
    from django.db import connection

    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})", rows)


@pytest.fixture
def big(org):
    """100,000 licenses and 100,000 sites with one day of counted events each (totals blocks, as a fold leaves them)."""
    product = ProductFactory(organization=org, timezone="UTC")
    now = utc("2026-01-01T00:00:00")
    _insert(
        License,
        ["public_id", "product", "key", "customer_email", "status", "created_at"],
        [(f"lic_{i:06}", product.pk, f"K{i:06}", "", "active", now) for i in range(ROWS)],
    )
    pks = dict(License.objects.filter(product=product).values_list("public_id", "pk"))
    block, _ = day_block(DAY)
    columns = list(RUNNING_COLUMNS)
    _insert(
        LicenseTotalBlock,
        ["product", "block", "license", *columns],
        [(product.pk, block, pks[f"lic_{i:06}"], *_running(_events_of(i)).values()) for i in range(ROWS)],
    )
    _insert(
        DomainTotalBlock,
        ["product", "block", "domain", *columns],
        [(product.pk, block, f"s{i:06}.example", *_running(_events_of(i)).values()) for i in range(ROWS)],
    )
    return product


def _peak_while(read) -> tuple[int, object]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = read()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_100000_row_exports_stream_from_a_cursor_in_flat_memory(api, big):
    query = parse_feature_usage_query(product=big, params={"from": "2026-03-01", "to": "2026-03-09"})
    json_peak, _ = _peak_while(lambda: feature_usage(query))
    for table, first in (("licenses", "lic_000096"), ("domains", "s000096.example")):
        url = f"/v1/products/{big.public_id}/analytics/feature-usage.csv?{WINDOW}&table={table}"

        def read(url=url):
            response = api.get(url)
            assert isinstance(response, StreamingHttpResponse)
            size = lines = 0
            head = []
            for chunk in response.streaming_content:  # consumed as a client would, never joined
                size += len(chunk)
                lines += chunk.count(b"\n")
                if len(head) < 3:
                    head.append(chunk.decode())
            return size, lines, head

        peak, (size, lines, head) = _peak_while(read)
        assert lines == ROWS + 1
        # Most events first (97: indexes 96, 193, …), ties in byte order of id/name.
        assert next(csv.reader(io.StringIO(head[1])))[:1] == [first]
        assert size > 1_500_000
        print(f"{table}: CSV {size:,} bytes, export peak {peak:,} B, JSON answer peak {json_peak:,} B")
        # The file is megabytes and the JSON ranks every total in memory; the export holds a few chunks.
        assert peak < 8_000_000, (table, peak, size, json_peak)
        assert peak * 3 < json_peak, (table, peak, json_peak)


@pytest.mark.parametrize("folded", [True, False])
def test_ties_are_in_byte_order_and_the_tail_merges_in_place(api, org, folded):
    from analytics.counters import counters_fold

    product = ProductFactory(organization=org, timezone="UTC")
    ids = ["lic_b", "lic_B", "lic_-z", "lic_a", "lic_A1"]  # byte order: lic_-z, lic_A1, lic_B, lic_a, lic_b
    licenses = {public_id: LicenseFactory(product=product, public_id=public_id) for public_id in ids}
    for public_id in ids:
        EventFactory(product=product, event="f", feature="f", license=licenses[public_id], domain=public_id[4:] + ".x",
                     occurred_at=utc("2026-03-02T12:00:00"))  # fmt: skip
    if folded:
        counters_fold(product=product)
    # lic_a gets a second event (in the tail when folded): it moves to the top.
    EventFactory(product=product, event="g", feature="g", license=licenses["lic_a"], domain="a.x",
                 occurred_at=utc("2026-03-03T12:00:00"))  # fmt: skip
    response = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}&table=licenses")
    rows = list(csv.reader(io.StringIO(response.getvalue().decode())))[1:]
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("lic_a", "2", "2"), ("lic_-z", "1", "1"), ("lic_A1", "1", "1"), ("lic_B", "1", "1"), ("lic_b", "1", "1"),
    ]  # fmt: skip
    sites = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}&table=domains")
    rows = list(csv.reader(io.StringIO(sites.getvalue().decode())))[1:]
    assert rows == [["a.x", "2"], ["'-z.x", "1"], ["A1.x", "1"], ["B.x", "1"], ["b.x", "1"]]
    # The JSON's top rows are the export's first rows.
    data = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage?{WINDOW}").json()["data"]
    assert [r["licenseId"] for r in data["topLicenses"]] == ["lic_a", "lic_-z", "lic_A1", "lic_B", "lic_b"]
