"""The audit log: every app records its changes here, with the actor passed down from the view.

The actor travels as an explicit argument (an ``Actor``) from the view that
knows who asked — an API key, a console user, staff in the admin — to the
service that makes the change, which calls ``audit_record`` in the same
transaction: a change and its entry are committed together or not at all.
Secrets never reach an entry: callers pass snapshots built from public ids,
names and display prefixes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from tenancy.models import AuditEntry, Organization


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the audit log shows it."""

    type: str  # an AuditEntry.ActorType value
    name: str
    id: str = ""

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls(type=AuditEntry.ActorType.USER, name=user.get_username(), id=str(user.pk))

    @classmethod
    def for_staff(cls, user) -> Actor:
        return cls(type=AuditEntry.ActorType.STAFF, name=user.get_username(), id=str(user.pk))

    @classmethod
    def for_api_key(cls, api_key) -> Actor:
        # the key's name and display prefix tell keys apart; the secret is never known here
        return cls(type=AuditEntry.ActorType.API_KEY, name=f"{api_key.name} ({api_key.prefix}…)", id=str(api_key.pk))


# Scripts run on the server by PackEdge's operators (`demo`, `create_api_key`,
# benchmarks): the services' default, so that no change ever goes unrecorded.
SYSTEM = Actor(type=AuditEntry.ActorType.STAFF, name="system")


def _jsonable(value: Any) -> Any:
    """Snapshots may hold datetimes; stored as the API shows them (ISO 8601 strings)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def audit_record(
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    project_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry | None:
    """Record one change; nothing is recorded when before and after are equal (an update that changed nothing)."""
    before, after = _jsonable(before), _jsonable(after)
    if before is not None and after is not None and before == after:
        return None
    return AuditEntry.objects.create(
        organization=organization,
        actor_type=actor.type,
        actor_name=actor.name[:200],
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        project_id=project_id,
        before=before,
        after=after,
    )


def audit_entries(*, organization: Organization, target_id: str = "", project_id: str = "") -> QuerySet[AuditEntry]:
    """An organization's entries, optionally for one target or for everything in one project."""
    entries = AuditEntry.objects.filter(organization=organization)
    if target_id:
        entries = entries.filter(target_id=target_id)
    if project_id:
        entries = entries.filter(project_id=project_id)
    return entries
