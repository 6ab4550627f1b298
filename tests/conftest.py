"""Shared fixtures: an organization with an owner and a teammate, and an outsider in another.

Every test can ask for the outsider's client to check what must stay invisible.
"""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from lib.process_cache import process_caches_clear
from tenancy import services
from tenancy.models import Membership, Plan
from tests.tenancy.factories import OrganizationFactory, UserFactory, ensure_plans

# Playwright's sync API runs an event loop in the test thread; Django refuses
# ORM calls from such a thread unless told the loop is not ours to worry about.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Ids are reused between tests on SQLite: nothing a worker process caches may outlive a test.

    The shared cache too: rate-limit counters (failed sign-ins from 127.0.0.1) must not add up across tests.
    """
    process_caches_clear()
    cache.clear()
    yield
    process_caches_clear()


@pytest.fixture(autouse=True)
def plans_as_migrated(request):
    """Every test that uses the database finds the plans the data migration made.

    A transactional test ends with a flush, which removes them too; the test files run in
    any order (pytest-xdist deals them out), so each database test makes sure of them first
    (three get-or-creates, inside its own transaction when it has one).
    """
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    uses = {"db", "transactional_db", "django_db_reset_sequences", "live_server"} & names
    if marker is None and not uses:
        yield
        return
    if marker is None:
        transactional = bool({"transactional_db", "live_server", "django_db_reset_sequences"} & names)
        request.getfixturevalue("transactional_db" if transactional else "db")
    ensure_plans()
    yield


@pytest.fixture
def pro_plan(db) -> Plan:
    ensure_plans()
    return Plan.objects.get(slug="pro")


@pytest.fixture
def free_plan(db) -> Plan:
    ensure_plans()
    return Plan.objects.get(slug="free")


@pytest.fixture
def org(pro_plan):
    return OrganizationFactory(name="Acme", slug="acme", plan=pro_plan)


@pytest.fixture
def other_org(pro_plan):
    return OrganizationFactory(name="Globex", slug="globex", plan=pro_plan)


@pytest.fixture
def owner(org):
    user = UserFactory(username="alice")
    services.membership_add(organization=org, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def teammate(org):
    user = UserFactory(username="bob")
    services.membership_add(organization=org, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsider(other_org):
    user = UserFactory(username="mallory")
    services.membership_add(organization=other_org, user=user, role=Membership.Role.OWNER)
    return user


def api_client_for(organization) -> APIClient:
    _, raw = services.api_key_create(organization=organization, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.raw_key = raw
    return client


@pytest.fixture
def api(org) -> APIClient:
    """A /v1 client signed with an sk_ key of ``org``."""
    return api_client_for(org)


@pytest.fixture
def outsider_api(other_org) -> APIClient:
    """A /v1 client signed with a key of another organization."""
    return api_client_for(other_org)


@pytest.fixture(autouse=True)
def flag_evaluations_stay_in_their_test():
    """The flag recorder's buffer emptied before and after every test. Outside tests/flags the
    recorder flushes from a background thread, and an evaluation a test left behind was written
    into a later test's database (ids restart, so its flag and environment existed there: a
    transactional test of tests/flags/test_key_migrations.py counted 2 evaluations for 1)."""
    from flags import recording

    recording.recorder.discard()
    yield
    recording.recorder.discard()


@pytest.fixture
def manual_recording():
    """Evaluations stay in the recorder's buffer until a test flushes it: no background thread
    writing after the test (or its database) is gone. Autouse for tests/flags/."""
    from flags import recording

    mode = recording.recorder.mode
    recording.recorder.mode = "manual"
    recording.recorder.discard()
    yield recording.recorder
    recording.recorder.discard()
    recording.recorder.mode = mode


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """SQLite: test in a WAL file database, as the app runs, not Django's shared-cache memory one.

    Shared-cache memory databases lock whole tables between connections, so a reader
    and a writer in two threads fail at once ("table is locked") instead of working
    side by side as they do in WAL mode: the concurrency tests need the real behaviour.
    """
    import tempfile

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = os.path.join(
            tempfile.gettempdir(), f"packedge-test-{os.getpid()}.sqlite3"
        )
    if database["ENGINE"] == "django.db.backends.sqlite3":
        from tests import sqlite_template

        sqlite_template.install()  # every migration once per set of migrations, then a file copy


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Passwords hashed with MD5 in tests: PBKDF2's million rounds cost about 0.4 s of CPU per hash on
    this 2-core machine, and a user is made (and often signed in) by most console tests.

    Only the test process changes: the gunicorn servers some tests start keep the default hashers
    (none of them signs in a user the test made). What a password protects is tested through the
    login form and the throttle (tests/console/test_auth.py, test_login_throttle.py), which do not
    depend on the algorithm."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def audit_log_erasable_by_the_test_flush():
    """PostgreSQL refuses TRUNCATE of the audit log (the tenancy migration 0005) unless ``packedge.audit_erase``
    is on for the transaction: the flush that ends each transactional test sets it, as an
    organization's deletion does. Nothing else in the suite may empty the log."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL packedge.audit_erase = 'on'", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


@pytest.fixture
def staff_client(client):
    """The test client signed in as a superuser (the Django admin's tests)."""
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client.force_login(staff)
    return client
