from __future__ import annotations

import pytest

from flags.models import Flag, FlagEnvironment
from tenancy.models import AuditEntry
from tests.flags.console_helpers import field_errors, signed_in
from tests.flags.factories import boolean_flag

pytestmark = pytest.mark.django_db


@pytest.fixture
def flag(project, production):
    return boolean_flag(project, "old-banner")


def url(org, project, flag) -> str:
    return f"/o/{org.slug}/projects/{project.public_id}/flags/{flag.key}/delete/"


def test_deleting_asks_for_confirmation_first(client, org, owner, project, flag):
    page = signed_in(client, owner).get(url(org, project, flag))
    assert page.status_code == 200
    assert 'id="confirm-key"' in page.content.decode()
    assert Flag.objects.filter(pk=flag.pk).exists()


def test_an_owner_deletes_a_flag_after_typing_its_key_and_the_log_keeps_it(client, org, owner, project, flag):
    response = signed_in(client, owner).post(url(org, project, flag), {"confirm_key": "old-banner"})

    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/projects/{project.public_id}/?deleted=old-banner"
    assert not Flag.objects.filter(pk=flag.pk).exists()
    assert not FlagEnvironment.objects.filter(flag_id=flag.pk).exists()
    entry = AuditEntry.objects.get(action="flag.deleted")
    assert (entry.actor_name, entry.target_id, entry.after) == ("alice", flag.public_id, None)
    assert entry.before["key"] == "old-banner"


def test_a_wrong_confirmation_is_shown_next_to_the_field_and_deletes_nothing(client, org, owner, project, flag):
    response = signed_in(client, owner).post(url(org, project, flag), {"confirm_key": "old"})
    assert response.status_code == 400
    assert field_errors(response) == ["Type the flag's key exactly to confirm."]
    assert Flag.objects.filter(pk=flag.pk).exists()


def test_a_viewer_cannot_delete(client, org, viewer, project, flag):
    signed_in(client, viewer)
    assert 'id="read-only"' in client.get(url(org, project, flag)).content.decode()
    assert client.post(url(org, project, flag), {"confirm_key": "old-banner"}).status_code == 403
    assert Flag.objects.filter(pk=flag.pk).exists()


def test_an_outsider_gets_a_404(client, org, outsider, project, flag):
    signed_in(client, outsider)
    assert client.post(url(org, project, flag), {"confirm_key": "old-banner"}).status_code == 404
    assert Flag.objects.filter(pk=flag.pk).exists()
