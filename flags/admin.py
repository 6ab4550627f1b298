from __future__ import annotations

from django.contrib import admin, messages

from flags import services
from flags.models import Environment, Flag, FlagEnvironment, FlagUsageDay, Project, SdkKey
from tenancy.audit import Actor


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "organization", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["name", "public_id", "organization__name", "organization__slug"]
    readonly_fields = ["public_id", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a project to another organization would take its flags out of their audit log's reach.
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        actor = Actor.for_staff(request.user)
        if change:
            services.project_update(project=Project.objects.get(pk=obj.pk), name=obj.name, actor=actor)
        else:
            obj.pk = services.project_create(organization=obj.organization, name=obj.name, actor=actor).pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.project_delete(project=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for project in queryset.select_related("organization"):
            services.project_delete(project=project, actor=Actor.for_staff(request.user))


class SdkKeyInline(admin.TabularInline):
    model = SdkKey
    extra = 0
    fields = ["prefix", "created_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # keys are made through the API, which shows the secret once


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "project", "config_version", "created_at"]
    list_select_related = ["project"]
    search_fields = ["name", "public_id", "project__name", "sdk_keys__prefix"]
    readonly_fields = ["public_id", "config_version", "created_at"]
    inlines = [SdkKeyInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "project"] if obj else self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False  # made through the API or the console, which show the first SDK key once

    def save_model(self, request, obj, form, change):
        services.environment_update(
            environment=Environment.objects.select_related("project__organization").get(pk=obj.pk),
            name=obj.name,
            actor=Actor.for_staff(request.user),
        )

    def delete_model(self, request, obj):
        services.environment_delete(environment=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for environment in queryset.select_related("project__organization"):
            services.environment_delete(environment=environment, actor=Actor.for_staff(request.user))


@admin.register(SdkKey)
class SdkKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "environment", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["environment__project"]
    search_fields = ["prefix", "environment__public_id", "environment__project__name"]
    fields = ["prefix", "environment", "created_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj):
        services.sdk_key_delete(key=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for key in queryset.select_related("environment__project__organization"):
            services.sdk_key_delete(key=key, actor=Actor.for_staff(request.user))

    @admin.action(description="Revoke selected SDK keys")
    def revoke(self, request, queryset):
        for key in queryset.select_related("environment"):
            services.sdk_key_revoke(environment=key.environment, prefix=key.prefix, actor=Actor.for_staff(request.user))
        self.message_user(request, f"Revoked {queryset.count()} key(s).", level=messages.SUCCESS)


class FlagEnvironmentInline(admin.TabularInline):
    model = FlagEnvironment
    extra = 0
    fields = ["environment", "enabled", "default_variant", "rules"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # rules are validated by the API; the admin only shows them


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["key", "type", "project", "updated_at"]
    list_filter = ["type"]
    list_select_related = ["project"]
    search_fields = ["key", "public_id", "project__name"]
    readonly_fields = ["public_id", "project", "key", "type", "variants", "variant_order", "created_at", "updated_at"]
    inlines = [FlagEnvironmentInline]

    def has_add_permission(self, request) -> bool:
        return False  # definitions are validated by the API and the console

    def save_model(self, request, obj, form, change):
        services.flag_update(
            flag=Flag.objects.select_related("project__organization").get(pk=obj.pk),
            description=obj.description,
            actor=Actor.for_staff(request.user),
        )

    def delete_model(self, request, obj):
        services.flag_delete(flag=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for flag in queryset.select_related("project__organization"):
            services.flag_delete(flag=flag, actor=Actor.for_staff(request.user))


@admin.register(FlagUsageDay)
class FlagUsageDayAdmin(admin.ModelAdmin):
    list_display = [
        "date",
        "flag",
        "environment",
        "total_evaluations",
        "rule_match_count",
        "default_count",
        "error_count",
    ]
    list_select_related = ["flag", "environment"]
    date_hierarchy = "date"
    search_fields = ["flag__key", "environment__public_id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
