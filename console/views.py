"""Console pages of the tenancy core: sign-in, the organization home, API keys."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from flags.selectors import project_list
from lib.identifiers import key_prefix_shaped
from tenancy import services
from tenancy.audit import Actor
from tenancy.console import membership_get, user_organizations
from tenancy.models import ApiKey, Membership

API_KEY_NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


@login_required
def home(request):
    organizations = list(user_organizations(user=request.user))
    if len(organizations) == 1:
        return redirect("console:organization", org_slug=organizations[0].slug)
    return render(request, "console/home.html", {"organizations": organizations})


@login_required
def organization(request, org_slug: str):
    membership = membership_get(user=request.user, org_slug=org_slug)
    org = membership.organization
    return render(
        request,
        "console/organization.html",
        {
            "membership": membership,
            "organization": org,
            "products": org.products.annotate(license_count=Count("licenses")).order_by("name"),
            "projects": project_list(organization=org)
            .annotate(flag_count=Count("flags", distinct=True), environment_count=Count("environments", distinct=True))
            .order_by("name"),
        },
    )


@never_cache
@login_required
def api_keys(request, org_slug: str):
    return _api_keys_page(request, membership_get(user=request.user, org_slug=org_slug))


def _api_keys_page(request, membership: Membership, *, new_secret: dict | None = None):
    org = membership.organization
    context = {
        "membership": membership,
        "organization": org,
        "api_keys": org.api_keys.order_by("revoked_at", "-created_at"),
        "is_owner": membership.role == Membership.Role.OWNER,
        "new_secret": new_secret,
        "name_max_length": API_KEY_NAME_MAX_LENGTH,
    }
    return render(request, "console/api_keys.html", context)


def _owner_membership(request, org_slug: str) -> Membership:
    membership = membership_get(user=request.user, org_slug=org_slug)
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner can manage API keys.")
    return membership


@never_cache  # it shows a new key's secret: no browser or proxy may keep a copy
@login_required
@require_POST
def api_key_create(request, org_slug: str):
    membership = _owner_membership(request, org_slug)
    name = request.POST.get("name", "").strip()[:API_KEY_NAME_MAX_LENGTH] or "API key"
    api_key, raw = services.api_key_create(
        organization=membership.organization, name=name, actor=Actor.for_user(request.user)
    )
    # Shown on this POST's own response, never kept anywhere in between: a session row
    # (or a message cookie) would hold a live secret until the next page view, or for
    # good when there is none. A reload asks before posting again, as for any form.
    new_secret = {"name": api_key.name, "prefix": api_key.prefix, "secret": raw}
    return _api_keys_page(request, membership, new_secret=new_secret)


@login_required
def api_key_revoke(request, org_slug: str, prefix: str):
    """GET asks for confirmation (a revoked key cannot be restored); POST revokes."""
    membership = _owner_membership(request, org_slug)
    if not key_prefix_shaped(prefix, kind="sk"):
        raise Http404("No such API key.")
    active = membership.organization.api_keys.filter(prefix=prefix, revoked_at__isnull=True)
    if request.method == "POST":
        for api_key in active:
            services.api_key_revoke(api_key=api_key, actor=Actor.for_user(request.user))
        return redirect("console:api-keys", org_slug=org_slug)
    api_key = active.first()
    if api_key is None:
        raise Http404("No such active API key.")
    context = {"membership": membership, "organization": membership.organization, "api_key": api_key}
    return render(request, "console/api_key_revoke.html", context)
