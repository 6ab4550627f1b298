"""/v1 Feature Usage: the JSON answer of the Feature Usage contract and its CSV export."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from analytics.feature_usage import (
    CSV_TABLES,
    feature_usage,
    feature_usage_allowed,
    feature_usage_csv,
    parse_feature_usage_query,
)
from analytics.installs.export import CSV_TABLES as INSTALLS_CSV_TABLES
from analytics.installs.export import installs_csv
from analytics.installs.report import installs, installs_feedback, parse_feedback_query, parse_installs_query
from core.apis import OrganizationAPIView
from core.errors import PaymentRequired
from core.replica import READ_SOURCE_HEADER, on_replica
from events import selectors

# An empty `from`/`to` counts as absent (a cleared form field), so the pattern admits "".
OPTIONAL_DATE = {"type": "string", "pattern": "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"}
QUERY_PARAMETERS = [
    OpenApiParameter(
        "from", OPTIONAL_DATE, description="First day YYYY-MM-DD (product time zone); default: to - 30 days."
    ),
    OpenApiParameter("to", OPTIONAL_DATE, description="Last day YYYY-MM-DD, inclusive; default: today."),
    OpenApiParameter("event", str, description="Only event names or features containing this (case-insensitive)."),
    OpenApiParameter("license_id", str, description="Only events of this license (lic_…)."),
]


class _FeatureUsageApi(OrganizationAPIView):
    def query_for(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        if not feature_usage_allowed(self.organization):
            raise PaymentRequired("Feature Usage needs a paid plan; this organization is on a free plan.")
        return parse_feature_usage_query(product=product, params=request.query_params)


class FeatureUsageApi(_FeatureUsageApi):
    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="feature_usage")
    def get(self, request, product_id: str):
        query = self.query_for(request, product_id)
        data, source = on_replica(lambda: feature_usage(query))
        return Response({"data": data}, headers={READ_SOURCE_HEADER: source.name})


class FeatureUsageCsvApi(_FeatureUsageApi):
    @extend_schema(
        parameters=[*QUERY_PARAMETERS, OpenApiParameter("table", str, enum=list(CSV_TABLES), required=True)],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="feature_usage_csv",
    )
    def get(self, request, product_id: str):
        query = self.query_for(request, product_id)
        table = request.query_params.get("table", "")
        body, source = on_replica(lambda: feature_usage_csv(query, table))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8", headers={READ_SOURCE_HEADER: source.name})
        response["Content-Disposition"] = (
            f'attachment; filename="feature-usage-{table}-{query.date_from}-{query.date_to}.csv"'
        )
        return response


# ---------------------------------------------------------------- Installs (issue 21, docs/installs.md)

INSTALLS_PARAMETERS = QUERY_PARAMETERS[:2]
FEEDBACK_PARAMETERS = [
    *INSTALLS_PARAMETERS,
    OpenApiParameter("q", str, description="Only uninstalls whose reason, feedback or site contains this."),
    OpenApiParameter("page", {"type": "string", "pattern": "^[0-9]*$"}, description="Page (50 a page), from 1."),
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
# The inside of ``data`` (core.openapi wraps every /v1 success body in the envelope).
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
    @extend_schema(parameters=INSTALLS_PARAMETERS, responses={200: INSTALLS_SCHEMA}, operation_id="installs")
    def get(self, request, product_id: str):
        query = parse_installs_query(product=self.product_for(product_id), params=request.query_params)
        data, source = on_replica(lambda: installs(query))
        return Response({"data": data}, headers={READ_SOURCE_HEADER: source.name})


class InstallsFeedbackApi(_InstallsApi):
    @extend_schema(
        parameters=FEEDBACK_PARAMETERS, responses={200: OpenApiTypes.OBJECT}, operation_id="installs_feedback"
    )
    def get(self, request, product_id: str):
        query = parse_feedback_query(product=self.product_for(product_id), params=request.query_params)
        data, source = on_replica(lambda: installs_feedback(query))
        return Response({"data": data}, headers={READ_SOURCE_HEADER: source.name})


class InstallsCsvApi(_InstallsApi):
    @extend_schema(
        parameters=[
            *FEEDBACK_PARAMETERS[:3],
            OpenApiParameter("table", str, enum=list(INSTALLS_CSV_TABLES), required=True),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="installs_csv",
    )
    def get(self, request, product_id: str):
        feedback = parse_feedback_query(product=self.product_for(product_id), params=request.query_params)
        table = request.query_params.get("table", "")
        body, source = on_replica(lambda: installs_csv(feedback.window, table, q=feedback.q))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8", headers={READ_SOURCE_HEADER: source.name})
        window = feedback.window
        response["Content-Disposition"] = (
            f'attachment; filename="installs-{table}-{window.date_from}-{window.date_to}.csv"'
        )
        return response
