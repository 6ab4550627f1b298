"""The members page: invitations, accepting them, role changes, removals and the last-owner rule."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from tenancy import keys, services
from tenancy.models import ApiKey, AuditEntry, Invitation, Membership


def _invite(client, org, email="carol@example.com", role="member"):
    response = client.post(f"/o/{org.slug}/members/invite", {"email": email, "role": role}, follow=True)
    assert response.status_code == 200
    return response.context["new_invitation"]["link"]


def test_an_owner_invites_and_the_link_is_shown_once_and_stored_hashed(client, owner, org):
    client.force_login(owner)
    link = _invite(client, org)
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get(organization=org)
    assert (invitation.email, invitation.role) == ("carol@example.com", "member")
    assert invitation.token_hash == keys.hash_secret(token) and token not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert token.encode() not in client.get(f"/o/{org.slug}/members/").content
    entry = AuditEntry.objects.get(action="member.invited")
    assert (entry.actor_name, entry.before, entry.after) == (
        "alice",
        None,
        {"email": "carol@example.com", "role": "member"},
    )
    assert mail.outbox == []  # EMAIL_URL unset: nothing is mailed


@override_settings(INVITATION_EMAIL_ENABLED=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_with_email_configured_the_link_is_mailed(client, owner, org):
    client.force_login(owner)
    link = _invite(client, org, role="viewer")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carol@example.com"] and link in mail.outbox[0].body


def test_a_new_user_signs_up_through_the_link_and_joins_with_the_role(client, owner, org):
    client.force_login(owner)
    link = _invite(client, org, role="admin")
    client.logout()
    path = link.split("testserver", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and b"Sign up and join" in page.content
    response = client.post(
        path, {"username": "carol@example.com", "password1": "a-long pass 42", "password2": "a-long pass 42"}
    )
    assert response.status_code == 302 and response["Location"] == f"/o/{org.slug}/"
    carol = get_user_model().objects.get(username="carol@example.com")
    assert Membership.objects.get(user=carol, organization=org).role == "admin"
    assert AuditEntry.objects.get(action="member.joined").after["role"] == "admin"
    # used once: the same link is now a 404 and joins nobody else
    client.logout()
    assert client.get(path).status_code == 404


def test_a_signed_in_user_accepts_and_an_expired_link_is_refused(client, owner, outsider, org):
    client.force_login(owner)
    path = _invite(client, org, email="mallory@example.com").split("testserver", 1)[1]
    client.force_login(outsider)
    assert client.post(path).status_code == 302
    assert Membership.objects.get(user=outsider, organization=org).role == "member"
    client.force_login(owner)
    path = _invite(client, org, email="dave@example.com").split("testserver", 1)[1]
    Invitation.objects.filter(email="dave@example.com").update(expires_at=timezone.now() - timedelta(seconds=1))
    client.logout()
    assert (
        client.post(
            path, {"username": "dave", "password1": "a-long pass 42", "password2": "a-long pass 42"}
        ).status_code
        == 404
    )
    assert not get_user_model().objects.filter(username="dave").exists()


def test_an_owner_changes_a_role_with_before_and_after_in_the_audit_log(client, owner, teammate, org):
    client.force_login(owner)
    member = Membership.objects.get(user=teammate)
    assert client.post(f"/o/{org.slug}/members/{member.pk}/role", {"role": "viewer"}).status_code == 302
    member.refresh_from_db()
    assert member.role == "viewer"
    entry = AuditEntry.objects.get(action="member.role_changed")
    assert (entry.target_id, entry.before, entry.after) == (
        "bob",
        {"user": "bob", "role": "member"},
        {"user": "bob", "role": "viewer"},
    )


def test_the_last_owner_cannot_be_demoted_or_removed(client, owner, teammate, org):
    client.force_login(owner)
    mine = Membership.objects.get(user=owner)
    response = client.post(f"/o/{org.slug}/members/{mine.pk}/role", {"role": "admin"})
    assert response.status_code == 400 and b"last owner" in response.content
    response = client.post(f"/o/{org.slug}/members/{mine.pk}/remove")
    assert response.status_code == 400 and b"last owner" in response.content
    mine.refresh_from_db()
    assert mine.role == "owner"
    assert not AuditEntry.objects.filter(action__startswith="member.").exists()


def test_with_a_second_owner_the_first_may_step_down(client, owner, teammate, org):
    client.force_login(owner)
    bob = Membership.objects.get(user=teammate)
    client.post(f"/o/{org.slug}/members/{bob.pk}/role", {"role": "owner"})
    mine = Membership.objects.get(user=owner)
    assert client.post(f"/o/{org.slug}/members/{mine.pk}/role", {"role": "viewer"}).status_code == 302
    assert Membership.objects.get(user=owner).role == "viewer"


def test_removing_asks_for_confirmation_then_removes(client, owner, teammate, org):
    client.force_login(owner)
    bob = Membership.objects.get(user=teammate)
    page = client.get(f"/o/{org.slug}/members/{bob.pk}/remove")
    assert page.status_code == 200 and b"Remove bob?" in page.content
    assert Membership.objects.filter(pk=bob.pk).exists()
    assert client.post(f"/o/{org.slug}/members/{bob.pk}/remove").status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    entry = AuditEntry.objects.get(action="member.removed")
    assert (entry.before, entry.after) == ({"user": "bob", "role": "member"}, None)


def test_an_unknown_role_is_a_400_and_nothing_changes(client, owner, teammate, org):
    client.force_login(owner)
    bob = Membership.objects.get(user=teammate)
    assert client.post(f"/o/{org.slug}/members/{bob.pk}/role", {"role": "god"}).status_code == 400
    assert client.post(f"/o/{org.slug}/members/invite", {"email": "x@example.com", "role": "god"}).status_code == 400
    assert client.post(f"/o/{org.slug}/members/invite", {"email": "not-an-email", "role": "member"}).status_code == 400
    bob.refresh_from_db()
    assert bob.role == "member" and not Invitation.objects.exists()


def test_a_member_sees_the_list_but_no_forms_and_cannot_change(client, owner, teammate, org):
    client.force_login(teammate)
    page = client.get(f"/o/{org.slug}/members/")
    assert page.status_code == 200 and b"alice" in page.content
    assert b'id="invite-form"' not in page.content and b"Remove" not in page.content
    mine = Membership.objects.get(user=owner)
    assert client.post(f"/o/{org.slug}/members/{mine.pk}/remove").status_code == 403
    assert client.post(f"/o/{org.slug}/members/invite", {"email": "x@example.com", "role": "owner"}).status_code == 403
    assert Membership.objects.filter(pk=mine.pk).exists() and not Invitation.objects.exists()


def test_an_outsider_gets_404(client, owner, outsider, org):
    client.force_login(outsider)
    mine = Membership.objects.get(user=owner)
    assert client.get(f"/o/{org.slug}/members/").status_code == 404
    assert client.post(f"/o/{org.slug}/members/{mine.pk}/role", {"role": "viewer"}).status_code == 404
    assert Membership.objects.get(pk=mine.pk).role == "owner"


def test_revoking_an_api_key_asks_for_confirmation_first(client, owner, org):
    api_key, _ = services.api_key_create(organization=org, name="CI")
    client.force_login(owner)
    listing = client.get(f"/o/{org.slug}/api-keys/")
    assert f'href="/o/{org.slug}/api-keys/{api_key.prefix}/revoke"'.encode() in listing.content
    page = client.get(f"/o/{org.slug}/api-keys/{api_key.prefix}/revoke")
    assert page.status_code == 200 and b"cannot be restored" in page.content
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None  # a GET never writes
    assert client.post(f"/o/{org.slug}/api-keys/{api_key.prefix}/revoke").status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
