"""/v1 Feature Usage: the JSON answer of the Feature Usage contract and its CSV export."""

from __future__ import annotations

import csv
import re
from dataclasses import replace

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from analytics.entitlement_gap import feature_events_of, feature_license_rows, feature_licenses, parse_used
from analytics.feature_usage import (
    CSV_TABLES,
    feature_usage,
    feature_usage_allowed,
    parse_feature_usage_query,
)
from analytics.feature_usage.export import LineBuffer, csv_cell, csv_file_name, feature_usage_csv_lines
from analytics.feature_usage.query import MAX_WINDOW_DAYS, FeatureUsageQuery
from analytics.feature_usage.report import counted_product
from analytics.installs.export import CSV_TABLES as INSTALLS_CSV_TABLES
from analytics.installs.export import installs_csv
from analytics.installs.report import installs, installs_feedback, parse_feedback_query, parse_installs_query
from analytics.license_sharing import license_sharing
from analytics.license_usage import license_usage
from analytics.time_to_first_use import time_to_first_use
from events import selectors
from events.models import EVENT_NAME_MAX_LENGTH
from lib.errors import ApiError, PaymentRequired
from lib.freshness import COUNTED_THROUGH, COUNTED_THROUGH_HEADER, iso_utc
from lib.openapi import (
    CURSOR_RULE,
    OPTIONAL_DATE_SCHEMA,
    PAGE_PARAMETERS,
    SEARCH_TEXT_SCHEMA,
    cross_field_rules,
    window_rules,
)
from lib.pagination import page_rows
from lib.replica import READ_SOURCE_HEADER, on_replica, on_replica_stream
from lib.snapshot import read_snapshot
from lib.text import END, has_control_characters
from tenancy.apis import OrganizationAPIView

QUERY_PARAMETERS = [
    OpenApiParameter(
        "from", OPTIONAL_DATE_SCHEMA, description="First day YYYY-MM-DD (product time zone); default: to - 30 days."
    ),
    OpenApiParameter("to", OPTIONAL_DATE_SCHEMA, description="Last day YYYY-MM-DD, inclusive; default: today."),
    OpenApiParameter(
        "event", SEARCH_TEXT_SCHEMA, description="Only event names or features containing this (case-insensitive)."
    ),
    OpenApiParameter("license_id", str, description="Only events of this license (lic_…)."),
]
# What OpenAPI cannot say about the Feature Usage window (listed in each operation's description).
WINDOW_RULES = window_rules(max_days=MAX_WINDOW_DAYS)


def _fresh(source) -> dict:
    """``countedThrough`` beside ``data`` (docs/freshness.md)."""
    return {COUNTED_THROUGH: iso_utc(source.counted_through)}


def _fresh_headers(source) -> dict:
    """A CSV's freshness, in a header: a line above the column names would break every CSV reader."""
    return {READ_SOURCE_HEADER: source.name, COUNTED_THROUGH_HEADER: iso_utc(source.counted_through)}


class _FeatureUsageApi(OrganizationAPIView):
    def query_for(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        if not feature_usage_allowed(self.organization):
            raise PaymentRequired("Feature Usage needs a paid plan; this organization is on a free plan.")
        return parse_feature_usage_query(product=product, params=request.query_params)


class FeatureUsageApi(_FeatureUsageApi):
    @extend_schema(
        parameters=QUERY_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT},
        operation_id="feature_usage",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str):
        query = self.query_for(request, product_id)
        data, source = on_replica(lambda: feature_usage(query))
        return Response({"data": data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class FeatureUsageCsvApi(_FeatureUsageApi):
    @extend_schema(
        parameters=[*QUERY_PARAMETERS, OpenApiParameter("table", str, enum=list(CSV_TABLES), required=True)],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="feature_usage_csv",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str):
        query = self.query_for(request, product_id)
        table = request.query_params.get("table", "")
        # The first line (after the 400/503 checks) is read before the response starts: a 503 is an answer.
        lines, source = on_replica_stream(lambda: feature_usage_csv_lines(query, table))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8", headers=_fresh_headers(source))
        response["Content-Disposition"] = f'attachment; filename="{csv_file_name(query, table)}"'
        return response


WINDOW_PARAMETERS = QUERY_PARAMETERS[:2]


class _CustomerApi(_FeatureUsageApi):
    """The customer reads share Feature Usage's gate (402), window parsing (400) and 404s."""

    def window_for(self, request, product_id: str, **extra) -> FeatureUsageQuery:
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        if not feature_usage_allowed(self.organization):
            raise PaymentRequired("Customer usage needs a paid plan; this organization is on a free plan.")
        window = {name: request.query_params.get(name, "") for name in ("from", "to")}
        return replace(parse_feature_usage_query(product=product, params=window), **extra)


class LicenseUsageApi(_CustomerApi):
    @extend_schema(
        parameters=WINDOW_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT},
        operation_id="license_usage",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str, license_id: str):
        query = self.window_for(request, product_id)
        license = selectors.license_get(product=query.product, license_id=license_id)
        data, source = on_replica(lambda: license_usage(replace(query, license=license)))
        return Response({"data": data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class FeatureLicenseSerializer(serializers.Serializer):
    id = serializers.CharField()
    key = serializers.CharField()
    customerEmail = serializers.CharField()
    events = serializers.IntegerField(help_text="Events of the feature in the window (0 for used=false).")


USED_PARAMETER = OpenApiParameter(
    "used", str, enum=["", "true", "false"], description="true: the licenses that used it; false (default): the rest."
)
FEATURE_NAME_PARAMETER = OpenApiParameter(
    "name",
    {**SEARCH_TEXT_SCHEMA, "minLength": 1},
    OpenApiParameter.PATH,
    description="The feature's name, at most 200 characters without control characters.",
)


def _feature_name(name: str) -> str:
    if len(name) > EVENT_NAME_MAX_LENGTH or has_control_characters(name):
        raise ApiError(f"name: a feature name of at most {EVENT_NAME_MAX_LENGTH} plain characters.")
    return name


class FeatureLicensesApi(_CustomerApi):
    @extend_schema(
        parameters=[FEATURE_NAME_PARAMETER, *WINDOW_PARAMETERS, USED_PARAMETER, *PAGE_PARAMETERS],
        responses=FeatureLicenseSerializer(many=True),
        operation_id="feature_licenses",
        description=cross_field_rules(*WINDOW_RULES, CURSOR_RULE),
    )
    def get(self, request, product_id: str, name: str):
        query = self.window_for(request, product_id)
        feature, used = _feature_name(name), parse_used(request.query_params.get("used"))

        def page():
            with read_snapshot():
                rows, cursor = page_rows(request, feature_licenses(query, feature=feature, used=used))
                events = feature_events_of(query, feature=feature, license_ids=[lic.pk for lic in rows])
            data = [
                {"id": lic.public_id, "key": lic.key, "customerEmail": lic.customer_email, "events": events[lic.pk]}
                for lic in rows
            ]
            return {"data": data, "nextCursor": cursor}

        body, source = on_replica(page)
        return Response({**body, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class FeatureLicensesCsvApi(_CustomerApi):
    @extend_schema(
        parameters=[FEATURE_NAME_PARAMETER, *WINDOW_PARAMETERS, USED_PARAMETER],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="feature_licenses_csv",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str, name: str):
        query = self.window_for(request, product_id)
        feature, used = _feature_name(name), parse_used(request.query_params.get("used"))

        def lines():
            # The first line is made after the 503 check, so that on_replica_stream raises it before the response starts.
            buffer = LineBuffer()
            writer = csv.writer(buffer, lineterminator="\r\n")
            with read_snapshot():
                counted_product(query)
                writer.writerow(("licenseId", "key", "customerEmail", "events"))
                yield buffer.take()
                for row in feature_license_rows(query, feature=feature, used=used):
                    writer.writerow([csv_cell(value) for value in row])
                    yield buffer.take()

        rows, source = on_replica_stream(lines)
        kind = "used" if used else "not-used"
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", feature)[:80]
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8", headers=_fresh_headers(source))
        response["Content-Disposition"] = (
            f'attachment; filename="{query.product.public_id}-{safe}-{kind}-{query.date_from}-{query.date_to}.csv"'
        )
        return response


_BUCKET = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["0", "1", "2-7", "8-30", ">30", "never"]},
        "minDays": {"type": "integer", "nullable": True},
        "maxDays": {"type": "integer", "nullable": True, "description": "null: no upper bound (and for never)."},
        "licenses": {"type": "integer"},
    },
}
# The inside of ``data`` (lib.openapi wraps every /v1 success body in the envelope).
TIME_TO_FIRST_USE_SCHEMA = {
    "type": "object",
    "properties": {
        "feature": {"type": "string"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "licenses": {"type": "integer", "description": "Licenses created in the window, any status."},
        "used": {"type": "integer", "description": "Of those, the ones that have used the feature (ever, to date)."},
        "never": {"type": "integer"},
        "medianDays": {
            "type": "number",
            "nullable": True,
            "description": "Over the licenses that used it; null if none.",
        },
        "buckets": {"type": "array", "items": _BUCKET},
    },
}


class TimeToFirstUseApi(_CustomerApi):
    @extend_schema(
        parameters=[FEATURE_NAME_PARAMETER, *WINDOW_PARAMETERS],
        responses={200: TIME_TO_FIRST_USE_SCHEMA},
        operation_id="feature_time_to_first_use",
        description=cross_field_rules(
            *WINDOW_RULES,
            description=(
                "For the licenses created in the window (product time zone), whole local days from creation to the "
                "first use of the feature: median and buckets 0, 1, 2-7, 8-30, >30 days and never."
            ),
        ),
    )
    def get(self, request, product_id: str, name: str):
        query = self.window_for(request, product_id)
        feature = _feature_name(name)
        data, source = on_replica(lambda: time_to_first_use(query, feature=feature))
        return Response({"data": data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class SharedSiteSerializer(serializers.Serializer):
    domain = serializers.CharField()
    events = serializers.IntegerField(help_text="In the window.")
    firstSeen = serializers.DateField(help_text="The license's first day on this site, ever (product time zone).")
    lastSeen = serializers.DateField(help_text="Its last day there in the window.")


class SharedLicenseSerializer(serializers.Serializer):
    license = serializers.DictField(help_text="As in the license usage answer.")
    maxSites = serializers.IntegerField()
    sites = SharedSiteSerializer(many=True, help_text="Every site of the window, first seen first.")


class LicenseSharingApi(_CustomerApi):
    @extend_schema(
        parameters=WINDOW_PARAMETERS,
        responses=SharedLicenseSerializer(many=True),
        operation_id="license_sharing",
        description=cross_field_rules(
            *WINDOW_RULES,
            description="Licenses seen on more distinct sites in the window than their maxSites; nextCursor is always null.",
        ),
    )
    def get(self, request, product_id: str):
        query = self.window_for(request, product_id)
        rows, source = on_replica(lambda: license_sharing(query))
        return Response({"data": rows, "nextCursor": None, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


# ---------------------------------------------------------------- Installs (issue 21, docs/installs.md)

INSTALLS_PARAMETERS = QUERY_PARAMETERS[:2]
FEEDBACK_PARAMETERS = [
    *INSTALLS_PARAMETERS,
    OpenApiParameter(
        "q", SEARCH_TEXT_SCHEMA, description="Only uninstalls whose reason, feedback or site contains this."
    ),
    # 1–200 (analytics.installs.report.MAX_PAGE), leading zeros allowed; empty: the first page.
    OpenApiParameter(
        "page",
        {"type": "string", "pattern": "^(0*([1-9][0-9]?|1[0-9]{2}|200))?" + END},
        description="Page (50 a page), from 1 to 200.",
    ),
]
_COUNT = {"type": "integer"}
_DAY = {
    "type": "object",
    "properties": {
        "date": {"type": "string"},
        "activeInstalls": _COUNT,
        "installs": _COUNT,
        "uninstalls": _COUNT,
        "net": _COUNT,
    },
}
# The inside of ``data`` (lib.openapi wraps every /v1 success body in the envelope).
INSTALLS_SCHEMA = {
    "type": "object",
    "properties": {
        "from": {"type": "string"},
        "to": {"type": "string"},
        "timezone": {"type": "string"},
        "activeInstalls": _COUNT,
        "activeLicensed": _COUNT,
        "activeUnlicensed": _COUNT,
        "totals": {"type": "object"},
        "days": {"type": "array", "items": _DAY},
        "uninstallReasons": {"type": "array", "items": {"type": "object"}},
        "timeToUninstall": {"type": "object"},
        "environment": {"type": "object"},
        "licenses": {"type": "array", "items": {"type": "object"}},
        "eventsWithoutSite": _COUNT,
    },
}


class _InstallsApi(OrganizationAPIView):
    def product_for(self, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        if not feature_usage_allowed(self.organization):
            raise PaymentRequired("Installs analytics needs a paid plan; this organization is on a free plan.")
        return product


class InstallsApi(_InstallsApi):
    @extend_schema(
        parameters=INSTALLS_PARAMETERS,
        responses={200: INSTALLS_SCHEMA},
        operation_id="installs",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str):
        query = parse_installs_query(product=self.product_for(product_id), params=request.query_params)
        data, source = on_replica(lambda: installs(query))
        return Response({"data": data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class InstallsFeedbackApi(_InstallsApi):
    @extend_schema(
        parameters=FEEDBACK_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT},
        operation_id="installs_feedback",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str):
        query = parse_feedback_query(product=self.product_for(product_id), params=request.query_params)
        data, source = on_replica(lambda: installs_feedback(query))
        return Response({"data": data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class InstallsCsvApi(_InstallsApi):
    @extend_schema(
        parameters=[
            *FEEDBACK_PARAMETERS[:3],
            OpenApiParameter("table", str, enum=list(INSTALLS_CSV_TABLES), required=True),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="installs_csv",
        description=cross_field_rules(*WINDOW_RULES),
    )
    def get(self, request, product_id: str):
        feedback = parse_feedback_query(product=self.product_for(product_id), params=request.query_params)
        table = request.query_params.get("table", "")
        body, source = on_replica(lambda: installs_csv(feedback.window, table, q=feedback.q))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8", headers=_fresh_headers(source))
        window = feedback.window
        response["Content-Disposition"] = (
            f'attachment; filename="installs-{table}-{window.date_from}-{window.date_to}.csv"'
        )
        return response
