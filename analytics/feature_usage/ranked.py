"""The full licenses and sites exports of a window (any ``event=``), ranked by the database and streamed.

The per-entity totals blocks (``LicenseTotalBlock``, ``DomainTotalBlock``) give each
license's or site's events in the window as one sum per row; the database groups,
orders them (events desc, then id or name, byte order like Python's) and hands them
over through a cursor a chunk at a time (a server-side cursor on PostgreSQL), so the
export holds a chunk, never every row. The events not folded yet (the tail) touch
few entities: those are taken out of the stream, totalled in Python (counters plus
tail) and merged back in order. Same rows, same order as ``report.license_rows`` /
``report.domain_rows`` (tests/analytics/test_feature_usage_full_export.py). With ``event=``
the matching rows of the pair and site blocks stand in for the totals blocks.
"""

from __future__ import annotations

import heapq
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Collate

from analytics import sql as analytics_sql
from analytics.feature_usage.query import FeatureUsageQuery
from analytics.feature_usage.report import counted_product
from analytics.feature_usage.sources import _event_filter_q, _window_sum, tail_rows
from analytics.models import DomainBlockCounter, DomainTotalBlock, LicenseBlockCounter, LicenseTotalBlock
from events.models import License

CHUNK = 2000
# The collation that orders as Python's str comparison does (code points).
BYTE_ORDER = {"postgresql": "C", "sqlite": "BINARY"}


def ranked_in_sql(query: FeatureUsageQuery) -> bool:
    """Whether the export is ranked in SQL: any window without ``license_id``.

    With ``license_id`` the table is that one license, or its few sites, from its own rows.
    """
    return query.license is None


def _byte_order(expression: str, db: str):
    return Collate(F(expression), BYTE_ORDER[connections[db].vendor])


def _window_tail(query: FeatureUsageQuery) -> tuple[dict, dict, set]:
    """The tail's window events per license and per site, and its (license, feature) pairs."""
    zone = zoneinfo.ZoneInfo(query.product.timezone)
    license_events: dict[int, int] = defaultdict(int)
    domain_events: dict[str, int] = defaultdict(int)
    pairs: set[tuple[int, str]] = set()
    for license_id, domain, _, feature, day, _, n in tail_rows(query, zone=zone):
        if not query.date_from <= day <= query.date_to:
            continue
        if license_id is not None:
            license_events[license_id] += n
            pairs.add((license_id, feature))
        if domain:
            domain_events[domain] += n
    return license_events, domain_events, pairs


def ranked_license_rows(query: FeatureUsageQuery) -> Iterator[dict]:
    """Every license with events in the window, most events first, ties by licenseId. Inside ``read_snapshot``."""
    product = counted_product(query)
    if query.event is not None:
        yield from _ranked_matching_license_rows(query, product)
        return
    blocks, window = _window_sum(query.date_from, query.date_to)
    tail_events, _, tail_pairs = _window_tail(query)
    totals = LicenseTotalBlock.objects.filter(product=product, block__in=blocks)
    counted = (
        totals.exclude(license_id__in=list(tail_events))
        .values("license_id", "license__public_id", "license__customer_email")
        .annotate(events=Sum(window), order_id=_byte_order("license__public_id", totals.db))
        .filter(events__gt=0)
        .order_by("-events", "order_id")
        .values_list("license_id", "license__public_id", "license__customer_email", "events")
    )
    # The tail's licenses: their counted window plus the tail, in the same order, merged in below.
    tail_counted = dict(
        totals.filter(license_id__in=list(tail_events))
        .order_by()
        .values_list("license_id")
        .annotate(events=Sum(window))
    )
    touched = [
        (pk, public_id, email, int(tail_counted.get(pk) or 0) + tail_events[pk])
        for pk, public_id, email in License.objects.filter(pk__in=list(tail_events)).values_list(
            "pk", "public_id", "customer_email"
        )
    ]
    touched.sort(key=lambda row: (-row[3], row[1]))
    rows = heapq.merge(
        ((pk, public_id, email, int(events)) for pk, public_id, email, events in counted.iterator(chunk_size=CHUNK)),
        touched,
        key=lambda row: (-row[3], row[1]),
    )
    pairs = LicenseBlockCounter.objects.filter(product=product, block__in=blocks)
    while chunk := list(islice(rows, CHUNK)):
        pks = [row[0] for row in chunk]
        features: dict[int, set[str]] = defaultdict(set)
        for pk, feature in (
            pairs.filter(license_id__in=pks).annotate(n=window).filter(n__gt=0).values_list("license_id", "feature")
        ):
            features[pk].add(feature)
        in_chunk = set(pks)
        for pk, feature in tail_pairs:
            if pk in in_chunk:
                features[pk].add(feature)
        for pk, public_id, email, events in chunk:
            yield {"licenseId": public_id, "customerEmail": email, "events": events, "features": len(features[pk])}


def ranked_domain_rows(query: FeatureUsageQuery) -> Iterator[dict]:
    """Every site with events in the window, most events first, ties by name. Inside ``read_snapshot``.

    With ``event``: the matching (event, feature) rows of the site blocks, summed per site.
    """
    product = counted_product(query)
    blocks, window = _window_sum(query.date_from, query.date_to)
    _, tail_events, _ = _window_tail(query)
    if query.event is not None:
        totals = _matching(DomainBlockCounter.objects.filter(product=product, block__in=blocks), query)
    else:
        totals = DomainTotalBlock.objects.filter(product=product, block__in=blocks)
    counted = (
        totals.exclude(domain__in=list(tail_events))
        .values("domain")
        .annotate(events=Sum(window), order_name=_byte_order("domain", totals.db))
        .filter(events__gt=0)
        .order_by("-events", "order_name")
        .values_list("domain", "events")
    )
    tail_counted = dict(
        totals.filter(domain__in=list(tail_events)).order_by().values_list("domain").annotate(events=Sum(window))
    )
    touched = sorted(
        ((domain, int(tail_counted.get(domain) or 0) + n) for domain, n in tail_events.items()),
        key=lambda row: (-row[1], row[0]),
    )
    rows = heapq.merge(
        ((domain, int(events)) for domain, events in counted.iterator(chunk_size=CHUNK)),
        touched,
        key=lambda row: (-row[1], row[0]),
    )
    for domain, events in rows:
        yield {"domain": domain, "events": events}


def _matching(rows: QuerySet, query: FeatureUsageQuery) -> QuerySet:
    """``rows`` narrowed to the (event, feature) names ``event`` matches, as Feature Usage matches them."""
    return rows.filter(_event_filter_q(query))


def _ranked_matching_license_rows(query: FeatureUsageQuery, product) -> Iterator[dict]:
    """``event=``: per license, the window's events of the matching pairs and the features among them.

    The database sums each (license, feature) pair over its event names, keeps the used
    ones, groups them per license and orders the licenses; a server-side cursor hands
    them over a chunk at a time. The tail's licenses are merged in as in the unfiltered export.
    """
    blocks, window = _window_sum(query.date_from, query.date_to)
    tail_events, _, tail_pairs = _window_tail(query)
    pairs = _matching(LicenseBlockCounter.objects.filter(product=product, block__in=blocks), query)
    used_pairs = pairs.order_by().values("license_id", "feature").annotate(n=Sum(window)).filter(n__gt=0)
    touched_pairs: dict[int, dict[str, int]] = defaultdict(dict)
    for pk, feature, n in used_pairs.filter(license_id__in=list(tail_events)).values_list("license_id", "feature", "n"):
        touched_pairs[pk][feature] = int(n)
    for pk, feature in tail_pairs:
        touched_pairs[pk].setdefault(feature, 0)
    touched = [
        (public_id, email, sum(touched_pairs[pk].values()) + tail_events[pk], len(touched_pairs[pk]))
        for pk, public_id, email in License.objects.filter(pk__in=list(tail_events)).values_list(
            "pk", "public_id", "customer_email"
        )
    ]
    touched.sort(key=lambda row: (-row[2], row[0]))
    counted = _streamed(used_pairs.exclude(license_id__in=list(tail_events)))
    for public_id, email, events, features in heapq.merge(counted, touched, key=lambda row: (-row[2], row[0])):
        yield {"licenseId": public_id, "customerEmail": email, "events": events, "features": features}


def _streamed(used_pairs: QuerySet) -> Iterator[tuple]:
    """(licenseId, email, events, features) per license of the used pairs, ranked by the database, a chunk at a time."""
    try:
        inner, params = used_pairs.query.sql_with_params()
    except EmptyResultSet:  # no name matches
        return
    connection = connections[used_pairs.db]
    sql = analytics_sql.ranked_license_pairs_sql(inner, licenses=License, collation=BYTE_ORDER[connection.vendor])
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            for public_id, email, events, features in rows:
                yield public_id, email, int(events), int(features)
