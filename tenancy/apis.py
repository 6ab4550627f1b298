"""Shared pieces of the /v1 API views, and the audit log."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.views import APIView

from lib.errors import ApiError
from lib.fields import StrictCharField
from lib.openapi import CURSOR_RULE, CURSOR_SCHEMA, LIMIT_SCHEMA, cross_field_rules
from lib.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginated_response
from lib.text import SAFE_TEXT_PATTERN
from tenancy.audit import Actor, audit_entries
from tenancy.models import AuditEntry, Organization

BODY_METHODS = {"POST", "PUT", "PATCH"}


class OrganizationAPIView(APIView):
    """A /v1 view: authenticated by an ``sk_`` key, scoped to its organization."""

    @property
    def organization(self) -> Organization:
        return self.request.user.organization

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this request's changes: the API key."""
        return Actor.for_api_key(self.request.user.api_key)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: no body check for a 401
        # An operation that takes input needs a body, even {}: a bodiless POST is a client mistake
        # (a license created from nothing), not a request for every default.
        handler = (
            getattr(self, request.method.lower(), None) if request.method.lower() in self.http_method_names else None
        )
        if handler and request.method in BODY_METHODS and hasattr(self, "InputSerializer"):
            if not _has_body(request):
                raise ApiError("body: required; send a JSON object.")
            refuse_unknown_fields(request.data, self.InputSerializer)


def refuse_unknown_fields(data, serializer_class) -> None:
    """A field the operation does not take is a 400, not silently dropped: ``maxSite`` for ``maxSites``
    would otherwise answer 200 and change nothing. The schema says it (``additionalProperties: false``)."""
    if not isinstance(data, dict):
        return  # the serializer names what is wrong with a body that is not an object
    known = list(serializer_class().fields)
    unknown = sorted(str(name) for name in data if name not in known)
    if unknown:
        raise ApiError(f"{unknown[0][:40]}: unknown field; expected {', '.join(known)}.")


def _has_body(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


@extend_schema_serializer(component_name="AuditActor")
class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AuditEntry.ActorType.choices)
    name = serializers.CharField()


@extend_schema_serializer(component_name="AuditTarget")
class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="project, environment, sdk_key, flag, api_key or product")
    id = serializers.CharField(help_text="The target's public id; a key's display prefix for sdk_key and api_key.")


@extend_schema_serializer(component_name="AuditEntry")
class AuditEntryOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    at = serializers.DateTimeField()
    actor = serializers.SerializerMethodField()
    action = serializers.CharField(
        help_text="e.g. flag.created, flag.updated, flag.environment_updated, sdk_key.revoked"
    )
    target = serializers.SerializerMethodField()
    before = serializers.JSONField(allow_null=True, help_text="The target before the change; null on creation.")
    after = serializers.JSONField(allow_null=True, help_text="The target after the change; null on deletion.")

    @extend_schema_field(AuditActorSerializer)
    def get_actor(self, entry: AuditEntry) -> dict:
        return {"type": entry.actor_type, "name": entry.actor_name}

    @extend_schema_field(AuditTargetSerializer)
    def get_target(self, entry: AuditEntry) -> dict:
        return {"type": entry.target_type, "id": entry.target_id}


class AuditLogApi(OrganizationAPIView):
    class FilterSerializer(serializers.Serializer):
        target = StrictCharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", CURSOR_SCHEMA, description="nextCursor of the previous page"),
            OpenApiParameter("limit", LIMIT_SCHEMA, description=f"1–{MAX_LIMIT}, default {DEFAULT_LIMIT}"),
            OpenApiParameter(
                "target",
                {"type": "string", "maxLength": 100, "pattern": SAFE_TEXT_PATTERN},
                description="Only entries about this target id (flag_…, proj_…, env_…, prd_…, or a key prefix)",
            ),
        ],
        # lib.openapi wraps the list in {"data", "nextCursor"} and adds the shared Error responses
        responses=AuditEntryOutputSerializer(many=True),
        operation_id="audit_log_list",
        description=cross_field_rules(CURSOR_RULE, description="The organization's changes, newest first."),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = audit_entries(organization=self.organization, target_id=filters.validated_data.get("target", ""))
        return paginated_response(request, entries, AuditEntryOutputSerializer, newest_first=True)
