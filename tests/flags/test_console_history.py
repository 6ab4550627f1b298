from __future__ import annotations

import pytest

from flags import services
from tenancy.audit import Actor
from tests.flags.console_helpers import signed_in
from tests.flags.factories import ProjectFactory

pytestmark = pytest.mark.django_db

API = Actor(type="api_key", name="CI (sk_abcdefgh…)")


@pytest.fixture
def changes(org, project, owner):
    """In order: staging created (with its SDK key) by the API, a flag created and switched on by alice."""
    staging, _ = services.environment_create(project=project, name="staging", actor=API)
    flag = services.flag_create(
        project=project,
        key="dark-mode",
        type="boolean",
        variants={"on": True, "off": False},
        actor=Actor.for_user(owner),
    )
    services.flag_environment_set(
        flag=flag, environment=staging, settings={"enabled": True}, actor=Actor.for_user(owner)
    )
    return flag, staging


def actions(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('data-action="')[1:]]


def test_a_project_history_lists_its_changes_newest_first_with_their_actors(client, org, viewer, project, changes):
    page = signed_in(client, viewer).get(f"/o/{org.slug}/projects/{project.public_id}/history/").content.decode()

    assert actions(page) == ["flag.environment_updated", "flag.created", "sdk_key.created", "environment.created"]
    assert 'data-actor="alice"' in page and 'data-actor="CI (sk_abcdefgh…)"' in page


def test_a_flag_history_lists_only_that_flag_with_before_and_after(client, org, owner, project, changes):
    flag, _ = changes
    page = (
        signed_in(client, owner)
        .get(f"/o/{org.slug}/projects/{project.public_id}/flags/{flag.key}/history/")
        .content.decode()
    )

    assert actions(page) == ["flag.environment_updated", "flag.created"]
    assert '<del class="mono">false</del> → <ins class="mono">true</ins>' in page


def test_a_project_history_shows_nothing_of_another_project(client, org, owner, project, changes):
    other = ProjectFactory(organization=org)
    page = signed_in(client, owner).get(f"/o/{org.slug}/projects/{other.public_id}/history/").content.decode()
    assert actions(page) == []


def test_an_outsider_gets_a_404(client, org, outsider, project, changes):
    flag, _ = changes
    signed_in(client, outsider)
    assert client.get(f"/o/{org.slug}/projects/{project.public_id}/history/").status_code == 404
    assert client.get(f"/o/{org.slug}/projects/{project.public_id}/flags/{flag.key}/history/").status_code == 404
