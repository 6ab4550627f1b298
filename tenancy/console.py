"""What every console page needs: the signed-in user's organizations and tenancy checks.

A console user may belong to several organizations; every page names one in
its URL and answers 404 (never 403) when the user is not a member, exactly as
the API does for another organization's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from django.db.models import QuerySet
from django.http import Http404

from lib.errors import NotFound
from lib.windows import days_ending
from tenancy.models import Membership, Organization
from tenancy.permissions import role_may_write

T = TypeVar("T")


def user_organizations(*, user) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).select_related("plan").order_by("name")


def membership_get(*, user, org_slug: str) -> Membership:
    """The user's membership of that organization, or 404."""
    membership = (
        Membership.objects.select_related("organization__plan").filter(user=user, organization__slug=org_slug).first()
    )
    if membership is None:
        raise Http404("No such organization.")
    return membership


def or_404(lookup: Callable[..., T], **kwargs) -> T:
    """Run an API selector, turning its NotFound (a JSON API error) into the console's 404 page."""
    try:
        return lookup(**kwargs)
    except NotFound as exc:
        raise Http404(str(exc.detail)) from exc


def can_edit(membership: Membership) -> bool:
    """Whether a page shows its edit forms; the refusal itself is tenancy.permissions' one rule."""
    return role_may_write(membership.role)


def days_ending_today(*, today: date, days: int) -> dict[str, str]:
    """The API window of ``days`` days ending today, both ends included: 7 → today − 6 … today."""
    first, last = days_ending(today, days=days)
    return {"from": first.isoformat(), "to": last.isoformat()}


def console_window(
    get, *, today: date, presets: tuple[int, ...], default_preset: int
) -> tuple[dict[str, str], int | None]:
    """The API's ``from``/``to`` for a console URL, and the preset it shows (None: custom).

    Explicit ``from``/``to`` win. ``days=N`` (one of ``presets``, else the default
    preset) is ``days_ending_today(N)``, one meaning across the console. The default
    preset sends its window too: the APIs' own defaults differ by contract (Feature
    Usage's is 31 days, flag usage's 30; lib.windows), and a page labelled
    "30 days" shows 30 days.
    """
    date_from, date_to = get.get("from", "").strip(), get.get("to", "").strip()
    if date_from or date_to:
        return {key: value for key, value in (("from", date_from), ("to", date_to)) if value}, None
    days = get.get("days", "")
    preset = int(days) if days.isdigit() and int(days) in presets else default_preset
    return days_ending_today(today=today, days=preset), preset
