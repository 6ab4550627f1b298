"""Writes of the tenancy core."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from tenancy import keys
from tenancy.audit import SYSTEM, Actor, audit_record
from tenancy.models import ApiKey, Membership, Organization, Plan


def organization_create(*, name: str, plan: Plan, slug: str = "") -> Organization:
    return Organization.objects.create(name=name, slug=slug or slugify(name), plan=plan)


def membership_add(*, organization: Organization, user, role: str = Membership.Role.MEMBER) -> Membership:
    membership, _ = Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def organization_delete(*, organization: Organization) -> None:
    """Delete an organization and everything it owns, its audit log included.

    The audit log's PostgreSQL trigger refuses deletes except under this
    transaction-local setting: an organization's history goes only with it.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL packedge.audit_erase = 'on'")
    organization.delete()


def api_key_snapshot(api_key: ApiKey) -> dict:
    """What the audit log keeps of a key: never its secret or hash."""
    return {"name": api_key.name, "prefix": api_key.prefix, "revokedAt": api_key.revoked_at}


@transaction.atomic
def api_key_create(*, organization: Organization, name: str = "API key", actor: Actor = SYSTEM) -> tuple[ApiKey, str]:
    """Create a key; the raw secret is returned once and never stored."""
    raw = keys.new_secret("sk")
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=keys.display_prefix(raw),
        secret_hash=keys.hash_secret(raw),
    )
    _api_key_audit(api_key, actor, "api_key.created", before=None)
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor = SYSTEM) -> ApiKey:
    if api_key.revoked_at is None:
        before = api_key_snapshot(api_key)
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        _api_key_audit(api_key, actor, "api_key.revoked", before=before)
    return api_key


@transaction.atomic
def api_key_rename(*, api_key: ApiKey, name: str, actor: Actor = SYSTEM) -> ApiKey:
    before = api_key_snapshot(api_key)
    api_key.name = name
    api_key.save(update_fields=["name"])
    _api_key_audit(api_key, actor, "api_key.updated", before=before)
    return api_key


@transaction.atomic
def api_key_delete(*, api_key: ApiKey, actor: Actor = SYSTEM) -> None:
    """Only the admin deletes keys (the API and the console revoke them); the entry outlives the key."""
    _api_key_audit(api_key, actor, "api_key.deleted", before=api_key_snapshot(api_key), deleted=True)
    api_key.delete()


def _api_key_audit(api_key: ApiKey, actor: Actor, action: str, *, before: dict | None, deleted: bool = False) -> None:
    audit_record(
        organization=api_key.organization,
        actor=actor,
        action=action,
        target_type="api_key",
        target_id=api_key.prefix,
        before=before,
        after=None if deleted else api_key_snapshot(api_key),
    )
