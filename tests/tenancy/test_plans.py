from __future__ import annotations

import pytest

from tenancy.models import Plan

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_three_plans_of_the_product():
    plans = {p.slug: (p.is_paid, p.flag_retention_days) for p in Plan.objects.all()}
    assert plans == {"free": (False, 7), "pro": (True, 90), "enterprise": (True, 90)}
