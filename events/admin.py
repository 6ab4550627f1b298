from __future__ import annotations

from django.contrib import admin

from events import services
from events.models import License, Product
from tenancy.audit import Actor


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "organization", "timezone", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "public_id", "public_key", "organization__name"]
    readonly_fields = ["public_id"]

    def get_readonly_fields(self, request, obj=None):
        # name and time zone go through the audited service; the keys and dates are the service's to set
        fixed = [*self.readonly_fields, "public_key", "created_at"]
        return [*fixed, "organization"] if obj else fixed

    def save_model(self, request, obj, form, change):
        actor = Actor.for_staff(request.user)
        if change:
            services.product_update(
                product=Product.objects.get(pk=obj.pk), name=obj.name, timezone=obj.timezone, actor=actor
            )
        else:
            obj.pk = services.product_create(
                organization=obj.organization, name=obj.name, timezone=obj.timezone, actor=actor
            ).pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.product_delete(product=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for product in queryset.select_related("organization"):
            services.product_delete(product=product, actor=Actor.for_staff(request.user))


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["key", "customer_email", "product", "status", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["product"]
    search_fields = ["key", "customer_email", "public_id"]
    readonly_fields = ["public_id"]
    raw_id_fields = ["product"]
