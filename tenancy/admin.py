from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from tenancy import services
from tenancy.audit import Actor
from tenancy.models import ApiKey, AuditEntry, Membership, Organization, Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_paid", "flag_retention_days"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "created_at"]
    list_filter = ["plan"]
    list_select_related = ["plan"]
    search_fields = ["name", "slug", "memberships__user__email", "memberships__user__username"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    # An organization's audit log goes with it, and only through this service (see migration 0004).
    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Entries cannot be deleted one by one (no delete permission), but they do go with their organization.
        perms_needed.discard(AuditEntry._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.organization_delete(organization=obj)

    def delete_queryset(self, request, queryset):
        for organization in queryset:
            services.organization_delete(organization=organization)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organization", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["organization"]
    search_fields = ["prefix", "name", "organization__name", "organization__slug"]
    fields = ["organization", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # The organization of an existing key never changes: a key moves by being revoked and re-made.
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            services.api_key_rename(
                api_key=ApiKey.objects.get(pk=obj.pk), name=obj.name, actor=Actor.for_staff(request.user)
            )
            return
        api_key, raw = services.api_key_create(
            organization=obj.organization, name=obj.name, actor=Actor.for_staff(request.user)
        )
        obj.pk = api_key.pk
        obj.refresh_from_db()
        self.message_user(request, f"Copy this key now, it is not shown again: {raw}", level=messages.WARNING)

    def response_add(self, request, obj, post_url_continue=None):
        # The page that shows the secret is this POST's response, not the page after a redirect:
        # a message read in the same request is never stored, so the secret reaches neither
        # the message cookie nor the session (where a message goes once the cookie is full).
        context = {**self.admin_site.each_context(request), "title": "API key created", "opts": self.opts}
        response = TemplateResponse(request, "admin/packedge/apikey/created.html", {**context, "original": obj})
        add_never_cache_headers(response)
        return response

    def delete_model(self, request, obj):
        services.api_key_delete(api_key=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for api_key in queryset.select_related("organization"):
            services.api_key_delete(api_key=api_key, actor=Actor.for_staff(request.user))

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, actor=Actor.for_staff(request.user))
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are looked at, never added, changed or deleted here."""

    list_display = ["at", "organization", "actor_type", "actor_name", "action", "target_type", "target_id"]
    list_filter = ["action", "actor_type"]
    list_select_related = ["organization"]
    search_fields = ["public_id", "target_id", "project_id", "actor_name", "organization__slug"]
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
