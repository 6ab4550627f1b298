from __future__ import annotations

import pytest

from tenancy import services as core_services
from tenancy.models import Membership
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.tenancy.factories import UserFactory


@pytest.fixture(autouse=True)
def flags_tests_record_manually(manual_recording):
    """Every flags test: evaluations stay in the buffer until it flushes them (tests/conftest.py)."""
    return manual_recording


@pytest.fixture
def project(org):
    return ProjectFactory(organization=org, name="Checkout")


@pytest.fixture
def production(project):
    return environment_with_key(project, "production")[0]


@pytest.fixture
def staging(project):
    return environment_with_key(project, "staging")[0]


@pytest.fixture
def world(org):
    """(project, production, staging, a boolean flag "new-checkout") with environments made by keys."""
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    staging = environment_with_key(project, "staging")[0]
    return project, production, staging, boolean_flag(project, "new-checkout")


@pytest.fixture
def viewer(org):
    """A member of ``org`` whose role reads flags but does not change them."""
    user = UserFactory(username="victor")
    core_services.membership_add(organization=org, user=user, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def org_admin(org):
    """A member of ``org`` with the admin role: edits flags, like an owner."""
    user = UserFactory(username="ada")
    core_services.membership_add(organization=org, user=user, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def rollup_fallback_expected():
    """Requested by a test that makes the all-environments rollup fail on purpose."""


@pytest.fixture(autouse=True)
def rollup_fast_path_holds(request, caplog):
    """The per-environment fallback writes the same rows, so a broken fast path would pass unseen: fail loudly."""
    yield
    if "rollup_fallback_expected" not in request.fixturenames:
        fallbacks = [r for r in caplog.records if r.name == "flags.rollup" and "apart" in r.getMessage()]
        assert not fallbacks, f"the all-environments rollup failed: {fallbacks[0].exc_text or fallbacks[0].message}"
