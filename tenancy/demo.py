"""The demo organization that `make run` shows: a console login on a paid plan."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from tenancy import services
from tenancy.models import Membership, Organization, Plan

DEMO_ORG_SLUG = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_SEED = 20260601


@dataclass
class DemoContext:
    """What each app's seeder reads and adds to; ``summary`` is printed at the end."""

    organization: Organization
    now: datetime
    rng: random.Random
    progress: bool = True
    summary: list[str] = field(default_factory=list)


def demo_organization_create(*, progress: bool = True) -> DemoContext:
    """(Re)create the demo organization, its owner login and an API key."""
    for old in Organization.objects.filter(slug=DEMO_ORG_SLUG):
        services.organization_delete(organization=old)
    organization = services.organization_create(
        name="Demo Software", slug=DEMO_ORG_SLUG, plan=Plan.objects.get(slug="pro")
    )
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.com"})
    user.set_password(DEMO_PASSWORD)
    user.save()
    services.membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
    _, raw_key = services.api_key_create(organization=organization, name="Demo key")
    context = DemoContext(
        organization=organization, now=timezone.now(), rng=random.Random(DEMO_SEED), progress=progress
    )
    context.summary += [
        f"Console login: {DEMO_USERNAME} / {DEMO_PASSWORD}",
        f"API key (sk_): {raw_key}",
    ]
    return context
