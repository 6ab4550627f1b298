"""A viewer reads everything and changes nothing: every URL that takes a write is enumerated, so none can forget.

The URL patterns are read from the resolver itself; a new pattern with a path
parameter this test cannot fill fails here until it is added to VALUES, and a
new route outside the organization's pages must be placed in an allowlist on
purpose.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.urls import URLResolver, get_resolver

from tenancy import services
from tenancy.models import Membership
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key
from tests.tenancy.factories import UserFactory

WRITE_METHODS = ("post", "put", "patch", "delete")
# Routes no organization member writes to as a member: signing in and out, accepting an
# invitation (anyone holding the link), and the machine endpoints authenticated by a
# product's public key or an SDK key, not by a person (ingestion, OFREP, flag evaluations).
NOT_MEMBER_WRITES = {
    "admin/login/",
    "login/",
    "logout/",
    "invite/<str:token>/",
    "public/v1/event",
    "public/v1/events",
    "public/v1/flag-evaluations",
    "ofrep/v1/configuration",
    "ofrep/v1/evaluate/flags",
    "ofrep/v1/evaluate/flags/<path:key>",
    "ofrep/v1/track",  # OpenFeature tracking events, by SDK key
    "^ofrep/",  # any other /ofrep/ path: OFREP's JSON 404
}
# Reads only, open to anyone: the API's schema and its documentation page.
READ_ONLY = {"v1/openapi.json", "docs/"}
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def url_patterns(patterns=None, prefix: str = ""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/") and route != "admin/login/":
            continue  # the admin is staff's, behind is_staff, not a member's
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, route)
        else:
            yield route


def data_snapshot() -> list:
    """Every row of the project's own apps: a refused write must leave all of it as it was."""
    rows = []
    for label in ("packedge", "events", "flags", "analytics"):
        for model in apps.get_app_config(label).get_models():
            rows.append((model.__name__, list(model.objects.order_by("pk").values())))
    return rows


@pytest.fixture
def viewer(org, owner):
    user = UserFactory(username="vera")
    services.membership_add(organization=org, user=user, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def values(org, owner):
    product = ProductFactory(organization=org)
    license_ = LicenseFactory(product=product)
    project = ProjectFactory(organization=org)
    environment, sdk_key = environment_with_key(project)
    flag = boolean_flag(project)
    api_key, _ = services.api_key_create(organization=org, name="ci")
    return {
        "org_slug": org.slug,
        "product_id": product.public_id,
        "license_id": license_.public_id,
        "project_id": project.public_id,
        "environment_id": environment.public_id,
        "flag_key": flag.key,
        "name": "export_pdf",
        "prefix": api_key.prefix,
        "member_id": str(Membership.objects.get(user=owner).pk),
    }


def fill(route: str, values: dict) -> str:
    def value(match):
        name = match.group(1)
        assert name in values, f"add a value for <{name}> in {route} to this test"
        return values[name]

    return "/" + PARAMETER.sub(value, route)


def test_every_route_is_seen():
    routes = set(url_patterns())
    assert "o/<slug:org_slug>/members/<int:member_id>/role" in routes
    assert NOT_MEMBER_WRITES <= routes, "an allowlisted route is gone: drop it from the list"


def test_a_viewer_gets_403_on_every_console_write_and_nothing_changes(client, viewer, values):
    client.force_login(viewer)
    routes = [r for r in url_patterns() if r.startswith("o/<slug:org_slug>/")]
    assert len(routes) >= 19
    before = data_snapshot()
    for route in routes:
        url = fill(route, values)
        for method in WRITE_METHODS:
            response = getattr(client, method)(url, {"role": "owner", "name": "x", "key": "x", "email": "v@x.io"})
            assert response.status_code == 403, f"{method.upper()} {url}: {response.status_code}"
    assert data_snapshot() == before


def test_a_viewer_cannot_write_through_the_api_and_nothing_changes(client, viewer, values):
    """/v1 takes only sk_ keys (an owner's); a viewer's console session signs nothing there."""
    client.force_login(viewer)
    routes = [r for r in url_patterns() if r.startswith("v1/") and r not in READ_ONLY]
    assert len(routes) >= 15
    before = data_snapshot()
    for route in routes:
        url = fill(route, values)
        for method in WRITE_METHODS:
            response = getattr(client, method)(url, {"name": "x"}, content_type="application/json")
            assert response.status_code in (401, 403), f"{method.upper()} {url}: {response.status_code}"
    assert data_snapshot() == before


def test_every_other_route_is_allowlisted_on_purpose():
    others = {r for r in url_patterns() if not r.startswith(("o/<slug:org_slug>/", "v1/"))}
    # the console's home lists organizations and writes nothing
    assert others - NOT_MEMBER_WRITES - READ_ONLY == {""}
