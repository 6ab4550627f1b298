"""Console pages for an organization's members: the list, invitations, role changes and removals.

Viewers are refused every write by tenancy.permissions before these views run;
changing who is in the organization is, on top of that, an owner's.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tenancy import members
from tenancy.audit import Actor
from tenancy.console import membership_get
from tenancy.models import Membership

# The link of an invitation just created waits here for the one page view that shows it.
NEW_INVITATION_SESSION_KEY = "console_new_invitation"


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class SignUpForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


def _owner_membership(request, org_slug: str) -> Membership:
    membership = membership_get(user=request.user, org_slug=org_slug)
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner can invite, change roles or remove members.")
    return membership


def _members_page(request, membership: Membership, *, error: str = "", form=None, status: int = 200):
    org = membership.organization
    is_owner = membership.role == Membership.Role.OWNER
    context = {
        "membership": membership,
        "organization": org,
        "members": members.membership_list(organization=org),
        "invitations": members.invitation_pending_list(organization=org) if is_owner else [],
        "is_owner": is_owner,
        "roles": Membership.Role.choices,
        "invite_form": form or InviteForm(),
        "error": error,
        "new_invitation": request.session.pop(NEW_INVITATION_SESSION_KEY, None) if is_owner else None,
    }
    return render(request, "console/members.html", context, status=status)


@never_cache  # it shows a new invitation's link once: no browser or proxy may keep a copy
@login_required
def members_page(request, org_slug: str):
    return _members_page(request, membership_get(user=request.user, org_slug=org_slug))


@login_required
@require_POST
def member_invite(request, org_slug: str):
    membership = _owner_membership(request, org_slug)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, form=form, status=400)
    try:
        invitation, raw = members.invitation_create(
            organization=membership.organization,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            actor=Actor.for_user(request.user),
        )
    except members.MemberChangeRefused as exc:
        return _members_page(request, membership, form=form, error=str(exc), status=400)
    link = request.build_absolute_uri(reverse("console:invitation-accept", args=[raw]))
    mailed = members.invitation_send(invitation=invitation, link=link)
    request.session[NEW_INVITATION_SESSION_KEY] = {
        "email": invitation.email,
        "role": invitation.role,
        "link": link,
        "mailed": mailed,
    }
    return redirect("console:members", org_slug=org_slug)


@login_required
@require_POST
def member_role(request, org_slug: str, member_id: int):
    membership = _owner_membership(request, org_slug)
    target = get_object_or_404(Membership, pk=member_id, organization=membership.organization)
    try:
        members.membership_role_change(
            membership=target, role=request.POST.get("role", ""), actor=Actor.for_user(request.user)
        )
    except members.MemberChangeRefused as exc:
        return _members_page(request, membership, error=str(exc), status=400)
    return redirect("console:members", org_slug=org_slug)


@login_required
def member_remove(request, org_slug: str, member_id: int):
    """GET asks for confirmation; POST removes."""
    membership = _owner_membership(request, org_slug)
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=member_id, organization=membership.organization
    )
    if request.method == "POST":
        try:
            members.membership_remove(membership=target, actor=Actor.for_user(request.user))
        except members.MemberChangeRefused as exc:
            return _members_page(request, membership, error=str(exc), status=400)
        if target.user_id == request.user.pk:
            return redirect("console:home")
        return redirect("console:members", org_slug=org_slug)
    context = {"membership": membership, "organization": membership.organization, "target": target}
    return render(request, "console/member_remove.html", context)


@never_cache
def invitation_accept(request, token: str):
    """The invite link: sign up (or sign in first), then join with the invited role."""
    invitation = members.invitation_find(raw_token=token)
    if invitation is None:
        raise Http404("This invitation link is unknown, expired or already used.")
    form = None
    if request.method == "POST":
        user = request.user
        if not user.is_authenticated:
            form = SignUpForm(request.POST)
            if form.is_valid():
                user = form.save(commit=False)
                user.email = invitation.email
                user.save()
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if user.is_authenticated:
            try:
                members.invitation_accept(invitation=invitation, user=user)
            except members.MemberChangeRefused as exc:
                raise Http404(str(exc)) from exc
            return redirect("console:organization", org_slug=invitation.organization.slug)
    elif not request.user.is_authenticated:
        form = SignUpForm(initial={"username": invitation.email})
    context = {"invitation": invitation, "form": form, "next": request.path}
    return render(request, "console/invitation_accept.html", context, status=400 if form and form.errors else 200)
