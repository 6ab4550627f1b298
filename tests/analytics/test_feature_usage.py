from __future__ import annotations

from datetime import date

from analytics.feature_usage import feature_usage, feature_usage_csv, parse_feature_usage_query
from tests.analytics.conftest import utc
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

WINDOW = {"from": "2026-03-01", "to": "2026-03-09"}
DAYS = [f"2026-03-0{day}" for day in range(1, 10)]


def answer(product, **params):
    return feature_usage(parse_feature_usage_query(product=product, params={**WINDOW, **params}))


def pattern_with(cells):
    grid = [[0] * 24 for _ in range(7)]
    for (dow, hour), n in cells.items():
        grid[dow][hour] = n
    return grid


def test_it_computes_every_figure_of_the_window_by_hand(shop):
    data = answer(shop)

    assert data["from"] == "2026-03-01" and data["to"] == "2026-03-09"
    # 7 events: the system event, the prior window and the days outside are left out;
    # licenses L1 L2 L3 L4 (the unknown key is no license); domains a.com c.com ('' is none);
    # active: L1, L2 (expires after 03-01 began), L6 — not L3 expired, L4 expired 02-27, L5 revoked.
    assert data["totals"] == {
        "events": 7,
        "uniqueFeatures": 4,
        "uniqueLicenses": 4,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
    # Three features tie at 2 events: by name. Adoption: active users / 3; notUsedBy: 3 - active users.
    assert data["topFeatures"] == [
        {
            "name": "bulk_edit",
            "events": 2,
            "priorEvents": 0,
            "licenses": 2,
            "domains": 1,
            "adoptionPct": 33.3,
            "notUsedBy": 2,
            "sparkline": [0, 0, 0, 0, 0, 0, 0, 2, 0],
            "sparklineDays": DAYS,
        },
        {
            "name": "dashboard_view",
            "events": 2,
            "priorEvents": 0,
            "licenses": 2,
            "domains": 2,
            "adoptionPct": 66.7,
            "notUsedBy": 1,
            "sparkline": [0, 0, 0, 0, 0, 0, 0, 1, 1],
            "sparklineDays": DAYS,
        },
        {
            "name": "export_pdf",
            "events": 2,
            "priorEvents": 1,
            "licenses": 1,
            "domains": 1,
            "adoptionPct": 33.3,
            "notUsedBy": 2,
            "sparkline": [1, 1, 0, 0, 0, 0, 0, 0, 0],
            "sparklineDays": DAYS,
        },
        {
            "name": "dark_mode",
            "events": 1,
            "priorEvents": 0,
            "licenses": 1,
            "domains": 1,
            "adoptionPct": 0.0,
            "notUsedBy": 3,
            "sparkline": [0, 0, 0, 1, 0, 0, 0, 0, 0],
            "sparklineDays": DAYS,
        },
    ]
    assert data["quietFeatures"] == [
        {"name": "legacy_import", "priorEvents": 2},
        {"name": "old_wizard", "priorEvents": 1},
    ]
    assert data["topLicenses"] == [
        {"licenseId": "lic_1", "customerEmail": "one@example.com", "events": 3, "features": 3},
        {"licenseId": "lic_0", "customerEmail": "four@example.com", "events": 1, "features": 1},
        {"licenseId": "lic_2", "customerEmail": "two@example.com", "events": 1, "features": 1},
        {"licenseId": "lic_3", "customerEmail": "three@example.com", "events": 1, "features": 1},
    ]
    assert data["topDomains"] == [{"domain": "a.com", "events": 4}, {"domain": "c.com", "events": 2}]


def test_it_places_events_in_local_days_and_hours_across_daylight_saving(shop):
    # 06:30Z is 01:30 EST and 07:30Z is 03:30 EDT (02:00 never happens on 03-08);
    # 03-09 03:30Z is still Sunday 23:30 EDT; 03-01 05:00Z is Sunday midnight EST.
    assert answer(shop)["usagePattern"] == pattern_with(
        {(0, 0): 1, (0, 1): 1, (0, 3): 1, (0, 23): 1, (1, 0): 1, (1, 10): 1, (3, 12): 1}
    )


def test_it_filters_by_a_substring_of_the_feature_or_of_the_event_name(shop):
    by_feature = answer(shop, event="BULK")
    by_event = answer(shop, event="feature_us")
    assert by_feature == by_event
    assert by_feature["totals"] == {
        "events": 2,
        "uniqueFeatures": 1,
        "uniqueLicenses": 2,
        "uniqueDomains": 1,
        "activeLicenses": 3,
    }
    assert [f["name"] for f in by_feature["topFeatures"]] == ["bulk_edit"]
    assert by_feature["quietFeatures"] == []
    assert by_feature["topLicenses"] == [
        {"licenseId": "lic_0", "customerEmail": "four@example.com", "events": 1, "features": 1},
        {"licenseId": "lic_1", "customerEmail": "one@example.com", "events": 1, "features": 1},
    ]
    assert by_feature["usagePattern"] == pattern_with({(0, 1): 1, (0, 3): 1})


def test_it_answers_for_one_license(shop):
    data = answer(shop, license_id="lic_1")
    assert data["totals"] == {
        "events": 3,
        "uniqueFeatures": 3,
        "uniqueLicenses": 1,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
    assert [
        (f["name"], f["events"], f["priorEvents"], f["licenses"], f["domains"], f["adoptionPct"])
        for f in data["topFeatures"]
    ] == [
        ("bulk_edit", 1, 0, 1, 0, 33.3),
        ("dashboard_view", 1, 0, 1, 1, 33.3),
        ("export_pdf", 1, 0, 1, 1, 33.3),
    ]
    assert data["quietFeatures"] == [{"name": "legacy_import", "priorEvents": 2}]
    assert data["topLicenses"] == [
        {"licenseId": "lic_1", "customerEmail": "one@example.com", "events": 3, "features": 3}
    ]
    assert data["topDomains"] == [{"domain": "a.com", "events": 1}, {"domain": "c.com", "events": 1}]
    assert data["usagePattern"] == pattern_with({(0, 0): 1, (0, 1): 1, (0, 23): 1})


def test_it_gives_null_adoption_when_no_license_is_active(org):
    product = ProductFactory(organization=org)
    revoked = LicenseFactory(product=product, status="revoked")
    EventFactory(product=product, event="export_pdf", license=revoked, occurred_at=utc("2026-03-02T12:00:00"))
    data = feature_usage(parse_feature_usage_query(product=product, params=WINDOW))
    assert data["totals"]["activeLicenses"] == 0
    assert data["topFeatures"][0]["licenses"] == 1
    assert data["topFeatures"][0]["adoptionPct"] is None


def test_it_counts_an_event_on_the_very_next_request(shop):
    before = answer(shop)["totals"]["events"]
    EventFactory(
        product=shop,
        event="dark_mode",
        license=shop.lic["L6"],
        domain="new.com",
        occurred_at=utc("2026-03-05T12:00:00"),
    )
    after = answer(shop)
    assert after["totals"]["events"] == before + 1
    assert after["totals"]["uniqueDomains"] == 3
    dark_mode = next(f for f in after["topFeatures"] if f["name"] == "dark_mode")
    assert (dark_mode["events"], dark_mode["licenses"], dark_mode["adoptionPct"]) == (2, 2, 33.3)


def test_it_defaults_to_the_thirty_days_before_today_in_the_product_zone(shop):
    query = parse_feature_usage_query(product=shop, params={}, today=date(2026, 3, 31))
    assert (query.date_from, query.date_to) == (date(2026, 3, 1), date(2026, 3, 31))
    data = feature_usage(query)
    assert len(data["topFeatures"][0]["sparkline"]) == 31
    assert data["totals"]["events"] == 8  # the 7 of the fixture and the one of 03-10


def test_it_exports_each_table_as_csv(shop):
    query = parse_feature_usage_query(product=shop, params=WINDOW)
    assert feature_usage_csv(query, "features").splitlines() == [
        "name,events,priorEvents,licenses,domains,adoptionPct",
        "bulk_edit,2,0,2,1,33.3",
        "dashboard_view,2,0,2,2,66.7",
        "export_pdf,2,1,1,1,33.3",
        "dark_mode,1,0,1,1,0.0",
    ]
    assert feature_usage_csv(query, "licenses").splitlines()[:2] == [
        "licenseId,customerEmail,events,features",
        "lic_1,one@example.com,3,3",
    ]
    assert feature_usage_csv(query, "domains").splitlines() == ["domain,events", "a.com,4", "c.com,2"]
