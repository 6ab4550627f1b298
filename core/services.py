"""Writes of the tenancy core."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core import keys
from core.models import ApiKey, Membership, Organization, Plan


def organization_create(*, name: str, plan: Plan, slug: str = "") -> Organization:
    return Organization.objects.create(name=name, slug=slug or slugify(name), plan=plan)


def membership_add(*, organization: Organization, user, role: str = Membership.Role.MEMBER) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def api_key_create(*, organization: Organization, name: str = "API key") -> tuple[ApiKey, str]:
    """Create a key; the raw secret is returned once and never stored."""
    raw = keys.new_secret("sk")
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=keys.display_prefix(raw),
        secret_hash=keys.hash_secret(raw),
    )
    return api_key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key
