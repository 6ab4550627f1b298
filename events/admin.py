from __future__ import annotations

from django.contrib import admin

from events.models import License, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "organization", "timezone", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "public_id", "public_key", "organization__name"]
    readonly_fields = ["public_id"]


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["key", "customer_email", "product", "status", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["product"]
    search_fields = ["key", "customer_email", "public_id"]
    readonly_fields = ["public_id"]
    raw_id_fields = ["product"]
