"""The Feature Usage CSVs hold every row of their table, in the JSON's order; the JSON keeps its top N."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from analytics.counters import counters_fold
from analytics.feature_usage.query import parse_feature_usage_query
from analytics.feature_usage.ranked import ranked_domain_rows, ranked_license_rows
from analytics.feature_usage.report import domain_rows, feature_usage_figures, license_rows
from lib.snapshot import read_snapshot
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db
WINDOW = "from=2026-03-01&to=2026-03-09"
# Events per license: 13 licenses (the JSON shows 10), ties at the cut ordered by licenseId.
EVENTS = [4, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1]
FEATURES = 14  # the k-th event overall uses feature f{k % 14}: f00–f02 get 2 events, f03–f13 one (the JSON shows 12)


def _events(product, licenses, *, at, fold_after=None):
    k = 0
    for index, count in enumerate(EVENTS):
        for _ in range(count):
            if k == fold_after:
                assert counters_fold(product=product) == fold_after
            name = f"f{k % FEATURES:02}"
            EventFactory(
                product=product,
                event=name,
                feature=name,
                license=licenses[index],
                license_key=licenses[index].key,
                domain=f"s{index:02}.example",
                occurred_at=at,
            )
            k += 1


@pytest.fixture(params=["folded", "tail", "both"])
def product(request, org):
    """The same 17 events folded into the counters, still in the tail, or split between them."""
    product = ProductFactory(organization=org, timezone="UTC")
    licenses = [
        LicenseFactory(product=product, public_id=f"lic_{index:02}", customer_email=f"c{index:02}@example.com")
        for index in range(len(EVENTS))
    ]
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    if request.param == "both":
        # The first six licenses' 10 events folded, the other 7 in the tail.
        _events(product, licenses, at=at, fold_after=sum(EVENTS[:6]))
    else:
        _events(product, licenses, at=at)
        if request.param == "folded":
            assert counters_fold(product=product) == 17
    return product


def _csv(api, product, table, extra=""):
    response = api.get(f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}&table={table}{extra}")
    assert response.status_code == 200
    assert response.streaming  # written a row at a time, never held as one file
    return list(csv.reader(io.StringIO(response.getvalue().decode())))


def _json(api, product):
    return api.get(f"/v1/products/{product.public_id}/analytics/feature-usage?{WINDOW}").json()["data"]


def test_the_licenses_csv_holds_every_license_and_the_json_its_top_ten(api, product):
    rows = _csv(api, product, "licenses")
    one_each = ["lic_01", "lic_02", "lic_03", "lic_04", "lic_06", "lic_07", "lic_08", "lic_09", "lic_10", "lic_11"]
    expected = [
        ["lic_00", "c00@example.com", "4", "4"],  # f00–f03
        ["lic_05", "c05@example.com", "2", "2"],  # f08, f09
        *[[lic, f"c{lic[4:]}@example.com", "1", "1"] for lic in [*one_each, "lic_12"]],
    ]
    assert rows[0] == ["licenseId", "customerEmail", "events", "features"]
    assert rows[1:] == expected
    top = _json(api, product)["topLicenses"]
    assert len(top) == 10
    assert [[r["licenseId"], r["customerEmail"], str(r["events"]), str(r["features"])] for r in top] == expected[:10]


def test_the_domains_csv_holds_every_site_and_the_json_its_top_ten(api, product):
    rows = _csv(api, product, "domains")
    ones = [f"s{index:02}.example" for index in (1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12)]
    expected = [["s00.example", "4"], ["s05.example", "2"], *[[site, "1"] for site in ones]]
    assert rows == [["domain", "events"], *expected]
    top = _json(api, product)["topDomains"]
    assert [[r["domain"], str(r["events"])] for r in top] == expected[:10]


def test_the_features_csv_holds_every_feature_and_the_json_its_top_twelve(api, product):
    rows = _csv(api, product, "features")
    # f00: lic_00 and lic_10; f01: lic_00, lic_11; f02: lic_00, lic_12; every other feature one license.
    # 13 active licenses: 2/13 = 15.4 %, 1/13 = 7.7 %.
    expected = [[f"f{j:02}", "2", "0", "2", "2", "15.4"] for j in range(3)] + [
        [f"f{j:02}", "1", "0", "1", "1", "7.7"] for j in range(3, FEATURES)
    ]
    assert rows == [["name", "events", "priorEvents", "licenses", "domains", "adoptionPct"], *expected]
    data = _json(api, product)
    assert data["totals"]["events"] == 17
    assert data["totals"]["uniqueLicenses"] == 13
    columns = ("name", "events", "priorEvents", "licenses", "domains", "adoptionPct")
    assert [[str(f[c]) for c in columns] for f in data["topFeatures"]] == expected[:12]


def test_the_file_name_says_product_table_window_and_filters(api, product):
    base = f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}&table=licenses"
    plain = api.get(base)
    assert plain["Content-Disposition"] == (
        f'attachment; filename="{product.public_id}-feature-usage-licenses-2026-03-01-2026-03-09.csv"'
    )
    filtered = api.get(f"{base}&event=f0 x/y&license_id=lic_00")
    assert filtered.status_code == 200
    assert filtered["Content-Disposition"] == (
        f'attachment; filename="{product.public_id}-feature-usage-licenses-2026-03-01-2026-03-09'
        '-event-f0_x_y-license-lic_00.csv"'
    )
    narrowed = api.get(f"{base}&event=f0&license_id=lic_00")
    # lic_00 used f00–f03, 4 events; "f0" matches all of them.
    assert list(csv.reader(io.StringIO(narrowed.getvalue().decode())))[1:] == [["lic_00", "c00@example.com", "4", "4"]]


def test_a_recount_or_a_bad_table_is_answered_before_any_line_is_streamed(api, product):
    base = f"/v1/products/{product.public_id}/analytics/feature-usage.csv?{WINDOW}"
    bad = api.get(f"{base}&table=bogus")
    assert bad.status_code == 400
    assert not bad.streaming
    product.recount_progress = 40
    product.save(update_fields=["recount_progress"])
    waiting = api.get(f"{base}&table=licenses")
    assert waiting.status_code == 503
    assert not waiting.streaming
    assert waiting.json()["error"]["code"] == "analytics_recounting"
    assert waiting["Retry-After"] == "5"


def test_the_event_filtered_csvs_are_ranked_in_sql_like_the_python_ranking(api, product):
    # event=f0 matches f00–f09: lic_00 (f00–f03), lic_05 (f08, f09), lic_01–lic_04 (f04–f07) and
    # lic_10–lic_12 (f00–f02); lic_06–lic_09 used only f10–f13.
    rows = _csv(api, product, "licenses", "&event=f0")
    one_each = ["lic_01", "lic_02", "lic_03", "lic_04", "lic_10", "lic_11", "lic_12"]
    expected = [
        ["lic_00", "c00@example.com", "4", "4"],
        ["lic_05", "c05@example.com", "2", "2"],
        *[[lic, f"c{lic[4:]}@example.com", "1", "1"] for lic in one_each],
    ]
    assert rows == [["licenseId", "customerEmail", "events", "features"], *expected]
    sites = [f"s{lic[4:]}.example" for lic in one_each]
    expected_sites = [["s00.example", "4"], ["s05.example", "2"], *[[site, "1"] for site in sites]]
    assert _csv(api, product, "domains", "&event=f0") == [["domain", "events"], *expected_sites]
    # The same rows as the Python ranking of the JSON's figures (report.license_rows / domain_rows).
    query = parse_feature_usage_query(product=product, params={"from": "2026-03-01", "to": "2026-03-09", "event": "f0"})
    with read_snapshot():
        figures, _ = feature_usage_figures(query)
        assert list(ranked_license_rows(query)) == list(license_rows(figures))
        assert list(ranked_domain_rows(query)) == list(domain_rows(figures))


def test_an_event_filter_that_matches_nothing_exports_only_the_header(api, product):
    assert _csv(api, product, "licenses", "&event=nothing-like-it") == [
        ["licenseId", "customerEmail", "events", "features"]
    ]
    assert _csv(api, product, "domains", "&event=nothing-like-it") == [["domain", "events"]]
