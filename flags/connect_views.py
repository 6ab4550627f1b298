"""Console pages to connect an app to an environment: its SDK keys and the stock clients' snippets.

A new key's secret is on the response to the POST that created it and
nowhere else: not in the session, not in a redirect, not in any cache.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from flags import connect, selectors, services
from flags.models import Flag, SdkKey
from flags.views import project_context
from lib.base_url import public_base_url
from tenancy.audit import Actor
from tenancy.console import can_edit, or_404


def _environment_context(request, org_slug: str, project_id: str, environment_id: str) -> dict:
    context = project_context(request, org_slug, project_id)
    project = context["project"]
    context["environment"] = or_404(selectors.environment_get, project=project, environment_id=environment_id)
    context["environments"] = list(selectors.environment_list(project=project).order_by("pk"))
    context["can_edit"] = can_edit(context["membership"])
    return context


def _require_editor(context: dict) -> None:
    if not context["can_edit"]:
        raise PermissionDenied("Your role in this organization can see SDK keys but not create or revoke them.")


def _connect_page(request, context: dict, *, new_key: tuple[SdkKey, str] | None = None, status: int = 200):
    project, environment = context["project"], context["environment"]
    # Active keys first, newest first: the one to use is at the top.
    sdk_keys = sorted(environment.sdk_keys.all(), key=lambda k: (k.revoked_at is not None, -k.pk))
    example = (
        selectors.flag_list(project=project).filter(type=Flag.Type.BOOLEAN).order_by("key").first()
        or selectors.flag_list(project=project).order_by("key").first()
    )
    base = public_base_url(request)
    context.update(
        {
            "base": base,
            "sdk_keys": sdk_keys,
            "new_key": {"key": new_key[0], "secret": new_key[1]} if new_key else None,
            "example_flag": example.key if example else connect.EXAMPLE_FLAG_KEY,
            "snippets": connect.connect_snippets(
                base_url=base.url,
                sdk_key=new_key[1] if new_key else connect.SDK_KEY_PLACEHOLDER,
                flag_key=example.key if example else connect.EXAMPLE_FLAG_KEY,
                public_key=project.product.public_key if project.product else connect.PUBLIC_KEY_PLACEHOLDER,
                product_name=project.product.name if project.product else "",
            ),
            "revoked": request.GET.get("revoked", "")[:40],
        }
    )
    return render(request, "flags/environment_connect.html", context, status=status)


@login_required
@require_GET
def environment_connect(request, org_slug: str, project_id: str, environment_id: str):
    return _connect_page(request, _environment_context(request, org_slug, project_id, environment_id))


@never_cache  # Cache-Control: no-store: the page carries a secret no browser or proxy may keep
@login_required
@require_POST
def sdk_key_create(request, org_slug: str, project_id: str, environment_id: str):
    context = _environment_context(request, org_slug, project_id, environment_id)
    _require_editor(context)
    created = services.sdk_key_create(environment=context["environment"], actor=Actor.for_user(request.user))
    # Read again so that the list includes the new key.
    context["environment"] = selectors.environment_get(project=context["project"], environment_id=environment_id)
    return _connect_page(request, context, new_key=created, status=201)


@login_required
@require_http_methods(["GET", "POST"])
def sdk_key_revoke(request, org_slug: str, project_id: str, environment_id: str, prefix: str):
    """GET asks for confirmation; only the confirming POST revokes."""
    context = _environment_context(request, org_slug, project_id, environment_id)
    _require_editor(context)
    key = next((k for k in context["environment"].sdk_keys.all() if k.prefix == prefix), None)
    if key is None:
        raise Http404("No such SDK key in this environment.")
    connect_url = reverse("console:environment-connect", args=[org_slug, project_id, environment_id])
    if key.revoked_at is not None:
        return redirect(f"{connect_url}?revoked={key.prefix}")
    context["key"] = key
    if request.method == "POST":
        if request.POST.get("confirm") != key.prefix:
            context["error"] = "Confirm with the button below to revoke this key."
            return render(request, "flags/sdk_key_revoke.html", context, status=400)
        services.sdk_key_revoke(
            environment=context["environment"], prefix=key.prefix, actor=Actor.for_user(request.user)
        )
        return redirect(f"{connect_url}?revoked={key.prefix}")
    return render(request, "flags/sdk_key_revoke.html", context)
