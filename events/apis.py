"""/v1 products and licenses."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from events import selectors, services
from events.models import License, Product
from events.partitions import raw_events_from
from events.signals import product_analytics_state
from lib.fields import StrictCharField, TimeZoneField
from lib.openapi import LIST_DESCRIPTION, PAGE_PARAMETERS, cross_field_rules
from lib.pagination import paginated_response
from tenancy.apis import OrganizationAPIView


class ProductAnalyticsSerializer(serializers.Serializer):
    """The schema of a product's ``analytics``: Feature Usage's state and how far its counters are behind."""

    state = serializers.ChoiceField(choices=["ready", "recounting"])
    progressPct = serializers.IntegerField(  # noqa: N815 (the API's name)
        required=False, help_text="While recounting in a new time zone: the share done, 0–99."
    )
    recount = serializers.ChoiceField(
        choices=["pending", "running"],
        required=False,
        help_text="While recounting: running (a worker is on it) or pending (queued, or its worker died: taken again).",
    )
    lagEvents = serializers.IntegerField(  # noqa: N815
        help_text="Events not folded into the counters yet (each answer adds them at query time)."
    )
    lagSeconds = serializers.FloatField(  # noqa: N815
        help_text="Seconds since the first of those events was received (0 when there are none)."
    )


# A PositiveIntegerField holds up to 2**31 - 1 on every database; past a million sites is no limit.
MAX_SITES_LIMIT = 1_000_000


class ProductOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    publicKey = serializers.CharField(source="public_key")
    createdAt = serializers.DateTimeField(source="created_at")
    analytics = serializers.SerializerMethodField()
    # The retention horizon: raw events are kept from this day (UTC) on. Feature Usage answers older
    # windows from its counters, but a time-zone change can only recount from here (README, "Scale-out").
    rawEventsFrom = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["id", "name", "publicKey", "timezone", "createdAt", "analytics", "rawEventsFrom"]

    @extend_schema_field(ProductAnalyticsSerializer)
    def get_analytics(self, product: Product) -> dict:
        """Feature Usage's state: recounting in a new time zone (with progress), or ready; and its lag."""
        if product.recounting:
            # "pending": no worker on it yet (queued, or its worker died: the beat's sweep re-enqueues it).
            recount = services.product_recount_status(product, stale_seconds=settings.RECOUNT_STALE_SECONDS)
            state = {"state": "recounting", "progressPct": product.recount_progress, "recount": recount}
        else:
            state = {"state": "ready"}
        for _, fields in product_analytics_state.send(sender=Product, product=product):
            state.update(fields or {})
        return state

    @extend_schema_field(OpenApiTypes.DATE)
    def get_rawEventsFrom(self, product: Product) -> str:  # noqa: N802 (DRF names it after the field)
        return raw_events_from().isoformat()


class LicenseOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    customerEmail = serializers.CharField(source="customer_email", help_text="An email address, or '' when none.")
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    maxSites = serializers.IntegerField(
        source="max_sites", allow_null=True, help_text="Sites allowed; null: unlimited."
    )

    class Meta:
        model = License
        fields = ["id", "key", "customerEmail", "status", "createdAt", "expiresAt", "maxSites"]


class ProductListApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="ProductCreate")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        timezone = TimeZoneField(required=False, default="UTC")

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=ProductOutputSerializer(many=True),
        operation_id="products_list",
        description=LIST_DESCRIPTION,
    )
    def get(self, request):
        return paginated_response(
            request, selectors.product_list(organization=self.organization), ProductOutputSerializer
        )

    @extend_schema(request=InputSerializer, responses={201: ProductOutputSerializer}, operation_id="products_create")
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(organization=self.organization, **serializer.validated_data, actor=self.actor)
        return Response({"data": ProductOutputSerializer(product).data}, status=status.HTTP_201_CREATED)


class ProductDetailApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="ProductUpdate")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200, required=False)
        timezone = TimeZoneField(required=False)

    @extend_schema(responses=ProductOutputSerializer, operation_id="products_retrieve")
    def get(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        return Response({"data": ProductOutputSerializer(product).data})

    @extend_schema(request=InputSerializer, responses=ProductOutputSerializer, operation_id="products_update")
    def patch(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_update(product=product, **serializer.validated_data, actor=self.actor)
        return Response({"data": ProductOutputSerializer(product).data})


class LicenseListApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="LicenseCreate")
    class InputSerializer(serializers.Serializer):
        key = StrictCharField(max_length=200, required=False)
        customerEmail = serializers.EmailField(source="customer_email", required=False, allow_blank=True, default="")
        status = serializers.ChoiceField(choices=License.Status.choices, required=False, default=License.Status.ACTIVE)
        expiresAt = serializers.DateTimeField(source="expires_at", required=False, allow_null=True, default=None)
        maxSites = serializers.IntegerField(
            source="max_sites", required=False, allow_null=True, default=None, min_value=1, max_value=MAX_SITES_LIMIT
        )

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=LicenseOutputSerializer(many=True),
        operation_id="licenses_list",
        description=LIST_DESCRIPTION,
    )
    def get(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        return paginated_response(request, selectors.license_list(product=product), LicenseOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: LicenseOutputSerializer},
        operation_id="licenses_create",
        description=cross_field_rules("`key` is not already a license of this product (`duplicate_key`)."),
    )
    def post(self, request, product_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        license = services.license_create(product=product, **serializer.validated_data)
        return Response({"data": LicenseOutputSerializer(license).data}, status=status.HTTP_201_CREATED)


class LicenseDetailApi(OrganizationAPIView):
    @extend_schema_serializer(component_name="LicenseUpdate")
    class InputSerializer(serializers.Serializer):
        customerEmail = serializers.EmailField(source="customer_email", required=False, allow_blank=True)
        status = serializers.ChoiceField(choices=License.Status.choices, required=False)
        expiresAt = serializers.DateTimeField(source="expires_at", required=False, allow_null=True)
        maxSites = serializers.IntegerField(
            source="max_sites", required=False, allow_null=True, min_value=1, max_value=MAX_SITES_LIMIT
        )

    @extend_schema(responses=LicenseOutputSerializer, operation_id="licenses_retrieve")
    def get(self, request, product_id: str, license_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        license = selectors.license_get(product=product, license_id=license_id)
        return Response({"data": LicenseOutputSerializer(license).data})

    @extend_schema(
        request=InputSerializer,
        responses=LicenseOutputSerializer,
        operation_id="licenses_update",
        description=cross_field_rules(
            "`status` changes only as a license's life allows: a revoked license stays revoked "
            "(`invalid_status_change`)."
        ),
    )
    def patch(self, request, product_id: str, license_id: str):
        product = selectors.product_get(organization=self.organization, product_id=product_id)
        license = selectors.license_get(product=product, license_id=license_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        license = services.license_update(license=license, **serializer.validated_data)
        return Response({"data": LicenseOutputSerializer(license).data})
