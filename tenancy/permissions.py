"""Who may change what: one rule, keyed on the HTTP method, for every console page and every /v1 API.

A viewer reads everything and changes nothing. Rather than each view checking
(and a new view forgetting), the rule sits in two places every request passes:
``ViewerReadOnlyMiddleware`` for the console (every organization page names the
organization in its URL as ``org_slug``) and ``IsAuthenticatedWriter``, DRF's
default permission class, for the /v1 API. Finer rules (API keys and members
are an owner's) stay with the views that need them, on top of this one.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from tenancy.authentication import ApiKeyPrincipal
from tenancy.models import Membership

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Who may change projects, products and flags; a viewer reads only.
WRITING_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.MEMBER})
VIEWER_MESSAGE = "Your role in this organization (viewer) can read but not change anything."


def role_may_write(role: str) -> bool:
    return role in WRITING_ROLES


class ViewerReadOnlyMiddleware:
    """403 for a write (POST, PUT, PATCH, DELETE) by a viewer to any organization's console page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        org_slug = view_kwargs.get("org_slug")
        if org_slug is None or request.method in SAFE_METHODS:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # the view's login_required sends them to sign in
        role = Membership.objects.filter(user=user, organization__slug=org_slug).values_list("role", flat=True).first()
        if role is not None and not role_may_write(role):
            raise PermissionDenied(VIEWER_MESSAGE)
        return None  # not a member: the view answers 404, as for an unknown organization


class IsAuthenticatedWriter:
    """DRF's default permission: authenticated, and for a write a principal whose role may write.

    An ``sk_`` key is created by an owner and acts with an owner's rights; any
    other principal (a console user, should the API ever accept sessions) is
    held to its membership's role.
    """

    message = VIEWER_MESSAGE

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if request.method in SAFE_METHODS or isinstance(user, ApiKeyPrincipal):
            return True
        organization = getattr(view, "organization", None)
        role = (
            Membership.objects.filter(user=user, organization=organization).values_list("role", flat=True).first()
            if organization is not None
            else None
        )
        return role is not None and role_may_write(role)

    def has_object_permission(self, request, view, obj) -> bool:
        return True
