"""/v1 projects, environments, SDK keys, flags and the flag usage report."""

from __future__ import annotations

from datetime import UTC, datetime, time

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from events.selectors import license_get, product_get
from flags import definitions, effect, exposure, health, recording, selectors, services, tail
from flags.models import Environment, Flag, Project, SdkKey
from lib import freshness
from lib.fields import StrictCharField
from lib.freshness import COUNTED_THROUGH, iso_utc
from lib.openapi import (
    CURSOR_RULE,
    CURSOR_SCHEMA,
    ENVIRONMENT_ID_SCHEMA,
    LIMIT_SCHEMA,
    LIST_DESCRIPTION,
    OPTIONAL_DATE_SCHEMA,
    PAGE_PARAMETERS,
    SEARCH_TEXT_SCHEMA,
    cross_field_rules,
    window_rules,
)
from lib.pagination import PageParamsSerializer, paginated_response
from lib.replica import READ_SOURCE_HEADER, on_replica
from lib.text import END
from tenancy.apis import OrganizationAPIView

# A body that carries a secret shown once: no cache (browser, proxy) may keep a copy.
SECRET_HEADERS = {"Cache-Control": "no-store"}

# A flag key or a variant name (flags.definitions.NAME_PATTERN), as a JSON Schema pattern.
NAME_SCHEMA_PATTERN = "^" + definitions.NAME_PATTERN.pattern + END
NAME_MESSAGE = "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit."
# What OpenAPI 3.0 cannot say of a flag's body (it has no propertyNames, and the rest are across fields).
DEFINITION_RULES = (
    f"Variant names (the keys of `variants`): {NAME_MESSAGE}",
    "Each variant's value is of the flag's type (an object flag's at most 32 KiB of JSON).",
    "`offVariant`, each `defaultVariant`, `offVariant` and rule `variant` name one of the flag's variants.",
    "A rule has a `variant` or a `rollout`, not both; a rollout names a variant once, its weights sum to 100.",
    "A condition's `value` suits its operator (a list for in/not_in, a number for gt/gte/lt/lte, "
    "a string for contains/starts_with/ends_with).",
)


class ProjectOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    productId = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Project
        fields = ["id", "name", "productId", "createdAt"]

    def get_productId(self, project: Project) -> str | None:
        return project.product.public_id if project.product_id else None


class SdkKeyOutputSerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at")
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)
    lastUsedAt = serializers.DateTimeField(
        source="last_used_at", allow_null=True, help_text="Last accepted flag request, to the minute."
    )

    class Meta:
        model = SdkKey
        fields = ["prefix", "createdAt", "revokedAt", "lastUsedAt"]


class EnvironmentOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    createdAt = serializers.DateTimeField(source="created_at")
    sdkKeys = SdkKeyOutputSerializer(source="sdk_keys", many=True)

    class Meta:
        model = Environment
        fields = ["id", "name", "sdkKeys", "createdAt"]


class HealthSerializer(serializers.Serializer):
    # A CharField, not a ChoiceField: another "status" enum (licenses') would collide in the schema.
    status = serializers.CharField(help_text="new, active, stale or unused")
    reason = serializers.CharField()
    lastEvaluatedAt = serializers.DateTimeField(allow_null=True)
    evaluations7d = serializers.IntegerField()


class FlagListSerializer(serializers.ListSerializer):
    """Health for a whole page in two queries, not two per flag."""

    def to_representation(self, data):
        flags = list(data.all() if hasattr(data, "all") else data)
        if flags and "health" not in self._context:
            self._context["health"] = _health_of(flags)
        return super().to_representation(flags)


def _health_of(flags: list[Flag]) -> dict:
    environments = list(Environment.objects.filter(project_id=flags[0].project_id).order_by("pk"))
    return health.flags_health(flags=flags, environments=environments)


class EnvironmentCreatedSerializer(EnvironmentOutputSerializer):
    sdkKey = serializers.CharField(help_text="The new environment's SDK key (sdk_…), shown once.")

    class Meta(EnvironmentOutputSerializer.Meta):
        fields = [*EnvironmentOutputSerializer.Meta.fields, "sdkKey"]


class SdkKeyCreatedSerializer(SdkKeyOutputSerializer):
    key = serializers.CharField(help_text="The SDK key (sdk_…), shown once.")

    class Meta(SdkKeyOutputSerializer.Meta):
        fields = [*SdkKeyOutputSerializer.Meta.fields, "key"]


class FlagOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    variants = serializers.SerializerMethodField()
    environments = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Flag
        fields = ["id", "key", "type", "description", "variants", "environments", "health", "createdAt", "updatedAt"]
        list_serializer_class = FlagListSerializer

    @extend_schema_field(serializers.DictField(child=HealthSerializer(), help_text="Per environment id."))
    def get_health(self, flag: Flag) -> dict:
        known = self.context.get("health")
        if known is None or flag.pk not in known:
            known = _health_of([flag])
        return known[flag.pk]

    def get_variants(self, flag: Flag) -> dict:
        return flag.ordered_variants

    def get_environments(self, flag: Flag) -> dict:
        return {
            row.environment.public_id: {
                "enabled": row.enabled,
                "defaultVariant": row.default_variant,
                "offVariant": row.off_variant,
                "rules": row.rules,
            }
            for row in flag.settings.all()
        }


@extend_schema_field(
    {
        "type": "object",
        "minProperties": 1,
        "maxProperties": definitions.MAX_VARIANTS,
        "additionalProperties": {},
        "description": "Variant name → value (of the flag's type).",
    }
)
class VariantsField(serializers.JSONField):
    """Passed as sent: the service checks names and values against the flag's type, naming the variant at fault."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"$ref": "#/components/schemas/FlagEnvironmentSettingsRequest"},
        "description": "Environment id (env_…) → its settings.",
    }
)
class EnvironmentsField(serializers.JSONField):
    """Passed as sent: the service checks each environment id and its settings."""


CONDITION_SCHEMA = {
    "type": "object",
    "properties": {
        "attribute": {"type": "string", "minLength": 1, "maxLength": 200},
        "operator": {"type": "string", "enum": sorted(definitions.OPERATORS)},
        "value": {"description": "A string, number or boolean; a list of them for in and not_in."},
    },
    "required": ["attribute", "operator", "value"],
    "additionalProperties": False,
}
ROLLOUT_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "variant": {"type": "string", "pattern": NAME_SCHEMA_PATTERN},
            "weight": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "required": ["variant", "weight"],
        "additionalProperties": False,
    },
}


@extend_schema_field(
    {
        "type": "array",
        "maxItems": definitions.MAX_RULES,
        "items": {
            "type": "object",
            "properties": {
                "conditions": {"type": "array", "maxItems": definitions.MAX_CONDITIONS, "items": CONDITION_SCHEMA},
                "variant": {"type": "string", "pattern": NAME_SCHEMA_PATTERN},
                "rollout": ROLLOUT_SCHEMA,
            },
            "additionalProperties": False,
        },
        "description": "In order; the first whose conditions all hold serves its variant or rollout.",
    }
)
class RulesField(serializers.JSONField):
    """Described for the schema; checked by flags.definitions."""


def _flag_data(project: Project, flag_key: str) -> dict:
    return FlagOutputSerializer(selectors.flag_get(project=project, flag_key=flag_key, with_settings=True)).data


class ProjectListApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="ProjectCreate")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=ProjectOutputSerializer(many=True),
        operation_id="projects_list",
        description=LIST_DESCRIPTION,
    )
    def get(self, request):
        return paginated_response(
            request, selectors.project_list(organization=self.organization), ProjectOutputSerializer
        )

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer}, operation_id="projects_create")
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(organization=self.organization, **serializer.validated_data, actor=self.actor)
        return Response({"data": ProjectOutputSerializer(project).data}, status=status.HTTP_201_CREATED)


class ProjectDetailApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="ProjectUpdate")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200, required=False)
        productId = StrictCharField(
            max_length=40,
            required=False,
            allow_null=True,
            pattern="^prd_[A-Za-z0-9]{1,34}" + END,
            pattern_message="not a product id (prd_…).",
            help_text="A prd_ id of this organization; null unlinks.",
        )

    @extend_schema(responses=ProjectOutputSerializer, operation_id="projects_retrieve")
    def get(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        return Response({"data": ProjectOutputSerializer(project).data})

    @extend_schema(request=InputSerializer, responses=ProjectOutputSerializer, operation_id="projects_update")
    def patch(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "productId" in data:
            product_id = data.pop("productId")
            data["product"] = (
                None if product_id is None else product_get(organization=self.organization, product_id=product_id)
            )
        project = services.project_update(project=project, **data, actor=self.actor)
        return Response({"data": ProjectOutputSerializer(project).data})


class EnvironmentListApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="EnvironmentCreate")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=100)

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=EnvironmentOutputSerializer(many=True),
        operation_id="environments_list",
        description=LIST_DESCRIPTION,
    )
    def get(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        return paginated_response(request, selectors.environment_list(project=project), EnvironmentOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: EnvironmentCreatedSerializer},
        operation_id="environments_create",
        description=cross_field_rules("`name` is not already an environment of this project (`duplicate_name`)."),
    )
    def post(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        environment, raw_key = services.environment_create(
            project=project, **serializer.validated_data, actor=self.actor
        )
        environment = selectors.environment_get(project=project, environment_id=environment.public_id)
        data = {**EnvironmentOutputSerializer(environment).data, "sdkKey": raw_key}
        return Response({"data": data}, status=status.HTTP_201_CREATED, headers=SECRET_HEADERS)


class EnvironmentDetailApi(OrganizationAPIView):
    @extend_schema(responses=EnvironmentOutputSerializer, operation_id="environments_retrieve")
    def get(self, request, project_id: str, environment_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        environment = selectors.environment_get(project=project, environment_id=environment_id)
        return Response({"data": EnvironmentOutputSerializer(environment).data})


class SdkKeyListApi(OrganizationAPIView):
    @extend_schema(request=None, responses={201: SdkKeyCreatedSerializer}, operation_id="sdk_keys_create")
    def post(self, request, project_id: str, environment_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        environment = selectors.environment_get(project=project, environment_id=environment_id)
        sdk_key, raw_key = services.sdk_key_create(environment=environment, actor=self.actor)
        data = {**SdkKeyOutputSerializer(sdk_key).data, "key": raw_key}
        return Response({"data": data}, status=status.HTTP_201_CREATED, headers=SECRET_HEADERS)


class SdkKeyDetailApi(OrganizationAPIView):
    @extend_schema(request=None, responses={204: None}, operation_id="sdk_keys_revoke")
    def delete(self, request, project_id: str, environment_id: str, prefix: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        environment = selectors.environment_get(project=project, environment_id=environment_id)
        services.sdk_key_revoke(environment=environment, prefix=prefix, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlagListApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="FlagCreate")
    class InputSerializer(serializers.Serializer):
        key = StrictCharField(max_length=100, pattern=NAME_SCHEMA_PATTERN, pattern_message=NAME_MESSAGE)
        type = serializers.ChoiceField(choices=Flag.Type.choices)
        description = StrictCharField(multiline=True, max_length=500, required=False, allow_blank=True, default="")
        variants = VariantsField()
        offVariant = StrictCharField(
            required=False,
            source="off_variant",
            pattern=NAME_SCHEMA_PATTERN,
            pattern_message="must name one of the flag's variants.",
            help_text="What the flag serves while off in an environment; default: a boolean flag's false variant.",
        )
        environments = EnvironmentsField(required=False, default=dict)

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=FlagOutputSerializer(many=True),
        operation_id="flags_list",
        description=LIST_DESCRIPTION,
    )
    def get(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        return paginated_response(request, selectors.flag_list(project=project), FlagOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: FlagOutputSerializer},
        operation_id="flags_create",
        description=cross_field_rules(
            *DEFINITION_RULES, "`key` is not already a flag of this project (`duplicate_key`)."
        ),
    )
    def post(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag = services.flag_create(project=project, **serializer.validated_data, actor=self.actor)
        return Response({"data": _flag_data(project, flag.key)}, status=status.HTTP_201_CREATED)


class FlagDetailApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="FlagUpdate")
    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=Flag.Type.choices, required=False)
        description = StrictCharField(multiline=True, max_length=500, required=False, allow_blank=True)
        variants = VariantsField(required=False)
        environments = EnvironmentsField(required=False)

    @extend_schema(responses=FlagOutputSerializer, operation_id="flags_retrieve")
    def get(self, request, project_id: str, flag_key: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        return Response({"data": _flag_data(project, flag_key)})

    @extend_schema(
        request=InputSerializer,
        responses=FlagOutputSerializer,
        operation_id="flags_update",
        description=cross_field_rules(*DEFINITION_RULES, "`type`, when sent, is the flag's own: a type cannot change."),
    )
    def patch(self, request, project_id: str, flag_key: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        flag = selectors.flag_get(project=project, flag_key=flag_key)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.flag_update(flag=flag, **serializer.validated_data, actor=self.actor)
        return Response({"data": _flag_data(project, flag_key)})

    @extend_schema(request=None, responses={204: None}, operation_id="flags_delete")
    def delete(self, request, project_id: str, flag_key: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        services.flag_delete(flag=selectors.flag_get(project=project, flag_key=flag_key), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlagEnvironmentApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="FlagEnvironmentSettings")
    class InputSerializer(serializers.Serializer):
        # For the schema only: the service checks the body as a whole (flags.definitions).
        enabled = serializers.BooleanField(required=False)
        defaultVariant = StrictCharField(required=False, pattern=NAME_SCHEMA_PATTERN)
        offVariant = StrictCharField(required=False, pattern=NAME_SCHEMA_PATTERN)
        rules = RulesField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses=FlagOutputSerializer,
        operation_id="flag_environments_replace",
        description=cross_field_rules(*DEFINITION_RULES[2:]),
    )
    def put(self, request, project_id: str, flag_key: str, environment_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        flag = selectors.flag_get(project=project, flag_key=flag_key)
        environment = selectors.environment_get(project=project, environment_id=environment_id)
        # Checked as a whole by the service (variant names, rule shapes); the body is passed as sent.
        services.flag_environment_set(flag=flag, environment=environment, settings=request.data, actor=self.actor)
        return Response({"data": _flag_data(project, flag_key)})


def _fresh(source, *, rolled_through: datetime | None = None) -> dict:
    """``countedThrough`` of a flag answer: its snapshot, held back by evaluations not written yet (recording.py)."""
    through = recording.counted_through(source.counted_through)
    if through is not None and rolled_through is not None:
        through = min(through, rolled_through)
    return {COUNTED_THROUGH: iso_utc(through)}


def COUNTED_THROUGH_FIELD():  # noqa: N802 - reads as the field it makes
    """The unwrapped flag bodies carry countedThrough themselves (lib/openapi.py adds it to the envelopes)."""
    return serializers.DateTimeField(allow_null=True, help_text=freshness.SCHEMA["description"])


class UsageDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    totalEvaluations = serializers.IntegerField()
    valueDistribution = serializers.DictField(child=serializers.IntegerField())
    ruleMatchCount = serializers.IntegerField()
    defaultCount = serializers.IntegerField()
    errorCount = serializers.IntegerField()


# Seed 002's body, for the schema only; built with type() because one field is named `from`.
FlagUsageSerializer = extend_schema_serializer(component_name="FlagUsage")(
    type(
        "FlagUsageSerializer",
        (serializers.Serializer,),
        {
            "flagKey": serializers.CharField(),
            "environmentId": serializers.CharField(),
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "clampedFrom": serializers.BooleanField(required=False, help_text="Present and true only when clamped."),
            "rows": UsageDaySerializer(many=True),
            "countedThrough": COUNTED_THROUGH_FIELD(),
        },
    )
)


WINDOW_PARAMETERS = [
    OpenApiParameter("environmentId", ENVIRONMENT_ID_SCHEMA, required=True),
    OpenApiParameter("from", OPTIONAL_DATE_SCHEMA, description="YYYY-MM-DD; default 29 days before `to`"),
    OpenApiParameter("to", OPTIONAL_DATE_SCHEMA, description="YYYY-MM-DD; default today (UTC)"),
]
FLAG_WINDOW_RULES = window_rules(max_days=selectors.MAX_RANGE_DAYS)


class FlagUsageApi(OrganizationAPIView):
    @extend_schema(
        parameters=WINDOW_PARAMETERS,
        responses=FlagUsageSerializer,
        operation_id="flags_usage",
        description=cross_field_rules(*FLAG_WINDOW_RULES),
    )
    def get(self, request, project_id: str, flag_key: str):
        flag = selectors.flag_get_with_project(organization=self.organization, project_id=project_id, flag_key=flag_key)
        query = selectors.parse_flag_usage_query(project=flag.project, flag=flag, params=request.query_params)
        data, source = on_replica(lambda: selectors.flag_usage(query))
        return Response({**data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class ExposureVariantSerializer(serializers.Serializer):
    variant = serializers.CharField()
    value = serializers.JSONField()
    evaluations = serializers.IntegerField()
    uniqueTargetingKeys = serializers.IntegerField()
    licenses = serializers.IntegerField()
    licensesPct = serializers.FloatField(allow_null=True)


class ExposureLicenseSerializer(serializers.Serializer):
    id = serializers.CharField()
    key = serializers.CharField()
    customerEmail = serializers.CharField()
    evaluations = serializers.IntegerField()
    variants = serializers.DictField(child=serializers.IntegerField())
    lastVariant = serializers.CharField()
    lastSeenAt = serializers.DateTimeField()


class ExposureLicensePageSerializer(serializers.Serializer):
    data = ExposureLicenseSerializer(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class ExposureTotalsSerializer(serializers.Serializer):
    evaluations = serializers.IntegerField()
    uniqueTargetingKeys = serializers.IntegerField()
    licenses = serializers.IntegerField()
    activeLicenses = serializers.IntegerField(allow_null=True)


FlagExposureSerializer = extend_schema_serializer(component_name="FlagExposure")(
    type(
        "FlagExposureSerializer",
        (serializers.Serializer,),
        {
            "flagKey": serializers.CharField(),
            "environmentId": serializers.CharField(),
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "clampedFrom": serializers.BooleanField(required=False, help_text="Present and true only when clamped."),
            "totals": ExposureTotalsSerializer(),
            "variants": ExposureVariantSerializer(many=True),
            "licenses": ExposureLicensePageSerializer(),
            "countedThrough": COUNTED_THROUGH_FIELD(),
        },
    )
)


class FlagExposureApi(OrganizationAPIView):
    class FilterSerializer(PageParamsSerializer):
        pass

    @extend_schema(
        parameters=[
            *WINDOW_PARAMETERS,
            OpenApiParameter("cursor", CURSOR_SCHEMA, description="Of the licenses list"),
            OpenApiParameter("limit", LIMIT_SCHEMA, description="Licenses per page, up to 100 (default 50)"),
        ],
        responses=FlagExposureSerializer,
        operation_id="flags_exposure",
        description=cross_field_rules(*FLAG_WINDOW_RULES, CURSOR_RULE),
    )
    def get(self, request, project_id: str, flag_key: str):
        flag = selectors.flag_get_with_project(organization=self.organization, project_id=project_id, flag_key=flag_key)
        query = selectors.parse_flag_usage_query(project=flag.project, flag=flag, params=request.query_params)
        page = self.FilterSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        licenses = exposure.LicensePage(cursor=page.validated_data.get("cursor"), limit=page.validated_data["limit"])
        data, source = on_replica(lambda: exposure.flag_exposure(query, page=licenses))
        return Response({**data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class EffectVariantSerializer(serializers.Serializer):
    variant = serializers.CharField()
    value = serializers.JSONField()
    licenses = serializers.IntegerField(help_text="Licenses first served this variant (only it) in the window")
    licensesUsing = serializers.IntegerField(help_text="Of them, licenses with an event of the feature afterwards")
    usingPct = serializers.FloatField(allow_null=True, help_text="licensesUsing / licenses, in %, 1 decimal")
    events = serializers.IntegerField(help_text="Their events of the feature from their exposure day to `to`")
    eventsPerLicense = serializers.FloatField(allow_null=True, help_text="events / licenses, 2 decimals")
    eventsPerUsingLicense = serializers.FloatField(allow_null=True, help_text="events / licensesUsing, 2 decimals")
    excludedLicenses = serializers.IntegerField(help_text="Licenses served this and another variant: not counted")


class EffectTotalsSerializer(serializers.Serializer):
    licensesExposed = serializers.IntegerField()
    licensesCounted = serializers.IntegerField()
    licensesExcluded = serializers.IntegerField()


FlagEffectSerializer = extend_schema_serializer(component_name="FlagEffect")(
    type(
        "FlagEffectSerializer",
        (serializers.Serializer,),
        {
            "flagKey": serializers.CharField(),
            "environmentId": serializers.CharField(),
            "productId": serializers.CharField(),
            "feature": serializers.CharField(),
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "clampedFrom": serializers.BooleanField(required=False, help_text="Present and true only when clamped."),
            "totals": EffectTotalsSerializer(),
            "variants": EffectVariantSerializer(many=True),
            "countedThrough": COUNTED_THROUGH_FIELD(),
        },
    )
)


class FlagEffectApi(OrganizationAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "feature",
                {**SEARCH_TEXT_SCHEMA, "minLength": 1},
                required=True,
                description="The feature (as Feature Usage names it): at most 200 characters, no control characters",
            ),
            OpenApiParameter("productId", str, description="Optional; must be the project's linked product"),
            *WINDOW_PARAMETERS,
        ],
        responses=FlagEffectSerializer,
        operation_id="flags_effect",
        description=cross_field_rules(
            *FLAG_WINDOW_RULES,
            "`feature` is not blank (spaces only).",
            "`productId`, when sent, is the project's linked product; a project linked to none answers 409.",
            description=(
                "Per variant, how the licenses first served it in the window (UTC days) used one feature afterwards: "
                "licenses, licenses using it, share, events per license. A license served several variants is "
                "counted under none (excludedLicenses)."
            ),
        ),
    )
    def get(self, request, project_id: str, flag_key: str):
        flag = selectors.flag_get_with_project(organization=self.organization, project_id=project_id, flag_key=flag_key)
        feature = effect.feature_param(request.query_params)
        window = selectors.parse_flag_usage_query(project=flag.project, flag=flag, params=request.query_params)
        effect.product_param_check(window=window, params=request.query_params)
        query = effect.EffectQuery(window=window, feature=feature)
        data, source = on_replica(lambda: effect.flag_effect(query))
        return Response({**data, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})


class LicenseFlagSerializer(serializers.Serializer):
    projectId = serializers.CharField()
    flagKey = serializers.CharField()
    environmentId = serializers.CharField()
    environment = serializers.CharField()
    evaluations = serializers.IntegerField()
    variants = serializers.DictField(child=serializers.IntegerField())
    lastVariant = serializers.CharField()
    lastSeenAt = serializers.DateTimeField()


class LicenseFlagsApi(OrganizationAPIView):
    @extend_schema(
        parameters=WINDOW_PARAMETERS[1:],  # no environment: every linked one
        responses=LicenseFlagSerializer(many=True),
        operation_id="license_flags",
        description=cross_field_rules(
            *FLAG_WINDOW_RULES,
            description=(
                "The flags and variants served to one license (UTC days rolled up, from linked projects); "
                "nextCursor is always null."
            ),
        ),
    )
    def get(self, request, product_id: str, license_id: str):
        product = product_get(organization=self.organization, product_id=product_id)
        license = license_get(product=product, license_id=license_id)
        date_from, date_to, _ = selectors.parse_flag_window(organization=self.organization, params=request.query_params)
        (rows, unrolled), source = on_replica(
            lambda: (
                exposure.license_flags(license=license, date_from=date_from, date_to=date_to),
                tail.first_unrolled_day(product_id=product.pk, date_from=date_from, date_to=date_to),
            )
        )
        # Read from the rollup only: complete up to the start of the first day it has not rolled up.
        rolled = None if unrolled is None else datetime.combine(unrolled, time.min, tzinfo=UTC)
        return Response(
            {"data": rows, "nextCursor": None, **_fresh(source, rolled_through=rolled)},
            headers={READ_SOURCE_HEADER: source.name},
        )


class UnknownFlagSerializer(serializers.Serializer):
    key = serializers.CharField()
    evaluations = serializers.IntegerField()
    lastSeenAt = serializers.DateTimeField()


class UnknownFlagListApi(OrganizationAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("environmentId", ENVIRONMENT_ID_SCHEMA, required=True)],
        responses=UnknownFlagSerializer(many=True),
        operation_id="unknown_flags_list",
    )
    def get(self, request, project_id: str):
        project = selectors.project_get(organization=self.organization, project_id=project_id)
        environment = selectors.environment_param_get(project=project, params=request.query_params)
        # At most 100 keys, one page: nextCursor is there for the list convention, always null.
        rows, source = on_replica(lambda: health.unknown_flags(environment=environment))
        return Response({"data": rows, "nextCursor": None, **_fresh(source)}, headers={READ_SOURCE_HEADER: source.name})
