"""The tenancy core: plans, organizations, their members and API keys."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.keys import new_audit_entry_id


class Plan(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    is_paid = models.BooleanField(default=False)
    flag_retention_days = models.PositiveIntegerField(
        default=7, help_text="How many days of flag analytics the usage endpoint serves."
    )

    def __str__(self) -> str:
        return self.name


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="organizations")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        # owner: everything, API keys included; admin and member: edit projects and flags; viewer: reads only
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiKey(models.Model):
    """A secret ``sk_…`` key for the /v1 API; only its hash is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="API key")
    prefix = models.CharField(max_length=20, help_text="The first characters, shown to tell keys apart.")
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AuditEntry(models.Model):
    """One recorded change: who, when, what, and the target before and after.

    Append-only: no API, console page or admin action changes or deletes an
    entry, and on PostgreSQL a trigger refuses UPDATE and DELETE (migration
    0004) except while an organization itself is deleted. Targets are named by
    their public id (or a key's display prefix), never by a foreign key, so an
    entry outlives what it describes.
    """

    class ActorType(models.TextChoices):
        USER = "user", "Console user"
        API_KEY = "api_key", "API key"
        STAFF = "staff", "Staff"

    public_id = models.CharField(max_length=40, unique=True, default=new_audit_entry_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_entries")
    at = models.DateTimeField(default=timezone.now)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_name = models.CharField(max_length=200)
    # the user's or the key's id as text: a deleted user or key leaves the entry intact
    actor_id = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=30)
    target_id = models.CharField(max_length=100)
    # the project a flag, environment or SDK key belongs to: a project's history in one indexed read
    project_id = models.CharField(max_length=40, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-id"], name="audit_org_newest"),
            models.Index(fields=["organization", "target_id", "-id"], name="audit_org_target"),
            models.Index(fields=["organization", "project_id", "-id"], name="audit_org_project"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.target_id} by {self.actor_name}"

    @property
    def environment_id(self) -> str:
        """The environment a ``flag.environment_updated`` entry is about ("" for other entries)."""
        return (self.after or self.before or {}).get("environmentId", "")

    @property
    def changes(self) -> list[tuple[str, str | None, str | None]]:
        """(field, before, after) as short JSON for each top-level field that differs: what a history page shows."""
        before, after = self.before or {}, self.after or {}
        rows = []
        for key in [*before, *(k for k in after if k not in before)]:
            old, new = before.get(key), after.get(key)
            if old != new or self.before is None or self.after is None:
                rows.append(
                    (
                        key,
                        _short(old) if self.before is not None else None,
                        _short(new) if self.after is not None else None,
                    )
                )
        return rows


HISTORY_VALUE_CHARS = 300


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= HISTORY_VALUE_CHARS else text[: HISTORY_VALUE_CHARS - 1] + "…"


class Invitation(models.Model):
    """An owner's invitation to join an organization with a role; only the token's hash is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()
