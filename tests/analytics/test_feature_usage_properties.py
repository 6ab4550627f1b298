"""Fast == naive: the counters give exactly what plain Python over the raw events gives.

Random events (late and out of order, some system, some without license or
domain), windows, zones (with daylight-saving changes inside the range, and
Lord Howe's half-hour one), filters, a fold, a time zone change recounted in
small steps, then a tail of events not folded yet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.counters import counters_fold, counters_recount
from analytics.feature_usage import FeatureUsageQuery, feature_usage
from analytics.feature_usage.report import AnalyticsRecounting
from events import services
from events.models import License
from tests.analytics.oracle import naive_feature_usage
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory

BASE = datetime(2026, 3, 5, tzinfo=UTC)  # 35 days: US (03-08), EU (03-29), Lord Howe (04-05) changes
SPAN_DAYS = 35
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"]
NAMES = [
    ("export_pdf", "export_pdf"),
    ("Export_CSV", "Export_CSV"),
    ("feature_used", "export_pdf"),
    ("feature_used", "bulk_edit"),
    ("dashboard_view", "dashboard_view"),
    ("license.activated", "license.activated"),
]
DOMAINS = ["", "a.com", "b.com", "shop.c.com"]
LICENSE_SHAPES = [
    (License.Status.ACTIVE, None),
    (License.Status.ACTIVE, 10),  # expires 10 days into the range
    (License.Status.EXPIRED, None),
    (License.Status.REVOKED, None),
    (License.Status.ACTIVE, 40),
]

events_strategy = st.lists(
    st.tuples(
        st.integers(0, SPAN_DAYS * 24 * 60 - 1),  # minute of the range
        st.integers(0, len(NAMES) - 1),
        st.one_of(st.none(), st.integers(0, len(LICENSE_SHAPES) - 1)),
        st.integers(0, len(DOMAINS) - 1),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=events_strategy,
    second=events_strategy,
    zones=st.tuples(st.sampled_from(ZONES), st.sampled_from(ZONES)),
    window=st.tuples(st.integers(0, SPAN_DAYS - 1), st.integers(1, 20)),
    needle=st.sampled_from([None, None, "export", "EXP", "feature", "edit", "zzz"]),
    by_license=st.one_of(st.none(), st.integers(0, len(LICENSE_SHAPES) - 1)),
)
def test_fast_equals_naive_on_any_events(org, first, second, zones, window, needle, by_license):
    product = ProductFactory(organization=org, timezone=zones[0])
    licenses = [
        LicenseFactory(product=product, status=status, expires_at=None if days is None else BASE + timedelta(days=days))
        for status, days in LICENSE_SHAPES
    ]
    start, length = window
    date_from = BASE.date() + timedelta(days=start)
    query = lambda: FeatureUsageQuery(  # noqa: E731
        product=product,
        date_from=date_from,
        date_to=date_from + timedelta(days=length - 1),
        event=needle,
        license=None if by_license is None else licenses[by_license],
    )

    def insert(rows):
        for minute, name, license_index, domain in rows:
            event, feature = NAMES[name]
            EventFactory(
                product=product,
                event=event,
                feature=feature,
                is_system=event.startswith("license."),
                license=None if license_index is None else licenses[license_index],
                domain=DOMAINS[domain],
                occurred_at=BASE + timedelta(minutes=minute),
            )

    insert(first)
    counters_fold(product=product)
    if zones[1] != zones[0]:
        product = services.product_update(product=product, timezone=zones[1])
        with pytest.raises(AnalyticsRecounting):  # never the old zone's days
            feature_usage(query())
        counters_recount(product=product, chunk_events=7)  # what the worker's task does, in small steps
        product.refresh_from_db()
    insert(second)  # not folded: the tail, merged at read time
    q = query()
    assert feature_usage(q) == naive_feature_usage(
        product=product, date_from=q.date_from, date_to=q.date_to, event=q.event, license=q.license
    )


def test_the_oracle_itself_counts_by_hand(shop):
    data = naive_feature_usage(product=shop, date_from=date(2026, 3, 1), date_to=date(2026, 3, 9))
    assert data["totals"] == {
        "events": 7,
        "uniqueFeatures": 4,
        "uniqueLicenses": 4,
        "uniqueDomains": 2,
        "activeLicenses": 3,
    }
