"""Members of an organization: invitations, role changes, removals, each recorded in the audit log.

An organization always keeps at least one owner: the owners' rows are locked
(``select_for_update``) before a demotion or removal is checked, so two owners
demoting each other at the same time cannot both succeed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from tenancy import keys
from tenancy.audit import Actor, audit_record
from tenancy.models import Invitation, Membership, Organization

INVITATION_LIFETIME = timedelta(days=7)
ROLES = frozenset(Membership.Role.values)


class MemberChangeRefused(Exception):
    """A change that would break a rule (the last owner, an unknown role); nothing was changed."""


def membership_snapshot(membership: Membership) -> dict:
    return {"user": membership.user.get_username(), "role": membership.role}


def _audit(organization: Organization, actor: Actor, action: str, target: str, before, after) -> None:
    audit_record(
        organization=organization,
        actor=actor,
        action=action,
        target_type="member",
        target_id=target,
        before=before,
        after=after,
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise MemberChangeRefused(f"Unknown role {role!r}: choose one of {', '.join(sorted(ROLES))}.")


@transaction.atomic
def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by, actor: Actor
) -> tuple[Invitation, str]:
    """Create an invitation; the raw token (in the link) is returned once and only its hash kept."""
    _check_role(role)
    email = email.strip().lower()
    if organization.memberships.filter(user__email__iexact=email).exists():
        raise MemberChangeRefused(f"{email} is already a member of {organization.name}.")
    raw = keys.new_secret("inv")
    now = timezone.now()
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=keys.hash_secret(raw),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    _audit(organization, actor, "member.invited", email, None, {"email": email, "role": role})
    return invitation, raw


def invitation_send(*, invitation: Invitation, link: str) -> bool:
    """Mail the link when EMAIL_URL is configured; False when mail is off (the owner passes the link on)."""
    if not settings.INVITATION_EMAIL_ENABLED:
        return False
    send_mail(
        subject=f"You are invited to {invitation.organization.name} on PackEdge",
        message=(
            f"You have been invited to join {invitation.organization.name} on PackEdge as {invitation.role}.\n\n"
            f"Accept within 7 days: {link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return True


def invitation_find(*, raw_token: str) -> Invitation | None:
    """The pending invitation a link carries, or None (unknown, expired or already used)."""
    invitation = (
        Invitation.objects.select_related("organization").filter(token_hash=keys.hash_secret(raw_token)).first()
    )
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Join with the invited role; a member already in the organization keeps their role."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise MemberChangeRefused("This invitation has expired or was already used.")
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    if created:
        _audit(
            invitation.organization,
            Actor.for_user(user),
            "member.joined",
            user.get_username(),
            None,
            {**membership_snapshot(membership), "invitation": invitation.email},
        )
    return membership


def _owners_locked(organization: Organization) -> list[Membership]:
    return list(Membership.objects.select_for_update().filter(organization=organization, role=Membership.Role.OWNER))


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: Actor) -> Membership:
    _check_role(role)
    owners = _owners_locked(membership.organization)
    membership.refresh_from_db()
    if membership.role == role:
        return membership
    if membership.role == Membership.Role.OWNER and len(owners) <= 1:
        raise MemberChangeRefused("The last owner cannot be demoted: make another member an owner first.")
    before = membership_snapshot(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    _audit(
        membership.organization,
        actor,
        "member.role_changed",
        membership.user.get_username(),
        before,
        membership_snapshot(membership),
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    owners = _owners_locked(membership.organization)
    membership.refresh_from_db()
    if membership.role == Membership.Role.OWNER and len(owners) <= 1:
        raise MemberChangeRefused("The last owner cannot be removed: make another member an owner first.")
    before = membership_snapshot(membership)
    membership.delete()
    _audit(membership.organization, actor, "member.removed", before["user"], before, None)


def membership_list(*, organization: Organization):
    return organization.memberships.select_related("user").order_by("user__username")


def invitation_pending_list(*, organization: Organization):
    return organization.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()).order_by(
        "-created_at"
    )
