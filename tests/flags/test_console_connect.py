from __future__ import annotations

import html
import re

import pytest
from django.test import override_settings

from flags.models import SdkKey
from tenancy import keys
from tenancy.models import AuditEntry
from tests.events.factories import ProductFactory
from tests.flags.factories import boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(project):
    environment, raw = environment_with_key(project, "production")
    return environment


def connect_url(org, project, environment, rest="connect/"):
    return f"/o/{org.slug}/projects/{project.public_id}/environments/{environment.public_id}/{rest}"


def snippets(response) -> dict[str, str]:
    """What each copy button copies: the text of <pre class="snippet" id="snippet-…">."""
    page = response.content.decode()
    return {
        name: html.unescape(re.sub(r"<[^>]+>", "", body))
        for name, body in re.findall(r'<pre class="snippet" id="snippet-([\w-]+)">(.*?)</pre>', page, re.S)
    }


def test_the_connect_page_needs_a_login(client, org, project, production):
    response = client.get(connect_url(org, project, production))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_another_organizations_environment_answers_404(client, owner, other_org, org):
    from tests.flags.factories import ProjectFactory

    foreign = ProjectFactory(organization=other_org)
    environment, _ = environment_with_key(foreign, "production")
    client.force_login(owner)
    assert client.get(connect_url(org, foreign, environment)).status_code == 404
    assert client.get(connect_url(other_org, foreign, environment)).status_code == 404


def test_it_lists_the_environments_keys_without_any_secret(client, owner, org, project, production):
    first = production.sdk_keys.get()
    client.force_login(owner)
    response = client.get(connect_url(org, project, production))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"{first.prefix}…" in body
    assert "never" in body  # not used yet
    assert 'id="new-sdk-key"' not in body
    assert all("YOUR_SDK_KEY" in snippets(response)[name] for name in ("web", "node", "python", "php", "curl"))


def test_creating_a_key_shows_its_secret_once_and_stores_only_its_hash(client, owner, org, project, production):
    client.force_login(owner)
    response = client.post(connect_url(org, project, production, "sdk-keys/new/"))
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="new-sdk-key-secret">(sdk_[^<]+)<', response.content.decode()).group(1)
    new = SdkKey.objects.get(environment=production, prefix=keys.display_prefix(secret))
    assert new.secret_hash == keys.hash_secret(secret)
    assert production.sdk_keys.count() == 2
    # The snippets on that page carry the new key, ready to paste.
    assert f"'Authorization', 'Bearer {secret}'" in snippets(response)["web"]
    # Never in the session, never again on a page.
    assert not any(secret in str(value) for value in client.session.values())
    assert secret not in client.get(connect_url(org, project, production)).content.decode()


def test_a_get_does_not_create_a_key(client, owner, org, project, production):
    client.force_login(owner)
    assert client.get(connect_url(org, project, production, "sdk-keys/new/")).status_code == 405
    assert production.sdk_keys.count() == 1


def test_creating_a_key_is_audit_logged_as_the_user(client, owner, org, project, production):
    client.force_login(owner)
    client.post(connect_url(org, project, production, "sdk-keys/new/"))
    entry = AuditEntry.objects.get(action="sdk_key.created", actor_name="alice")
    new = production.sdk_keys.order_by("-pk").first()
    assert (entry.target_type, entry.target_id, entry.project_id) == ("sdk_key", new.prefix, project.public_id)
    assert entry.after == {"prefix": new.prefix, "environmentId": production.public_id, "revokedAt": None}


def test_revoking_asks_for_confirmation_first(client, owner, org, project, production):
    key = production.sdk_keys.get()
    client.force_login(owner)
    page = client.get(connect_url(org, project, production, f"sdk-keys/{key.prefix}/revoke/"))
    assert page.status_code == 200
    assert 'id="confirm-revoke"' in page.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # the question changes nothing


def test_a_post_without_the_confirmation_revokes_nothing(client, owner, org, project, production):
    key = production.sdk_keys.get()
    client.force_login(owner)
    response = client.post(connect_url(org, project, production, f"sdk-keys/{key.prefix}/revoke/"))
    assert response.status_code == 400
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not AuditEntry.objects.filter(action="sdk_key.revoked").exists()


def test_the_confirming_post_revokes_and_is_audit_logged(client, owner, org, project, production):
    key = production.sdk_keys.get()
    client.force_login(owner)
    url = connect_url(org, project, production, f"sdk-keys/{key.prefix}/revoke/")
    response = client.post(url, {"confirm": key.prefix})
    assert response.status_code == 302
    assert response["Location"] == connect_url(org, project, production) + f"?revoked={key.prefix}"
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditEntry.objects.get(action="sdk_key.revoked")
    assert (entry.actor_name, entry.target_id) == ("alice", key.prefix)
    assert entry.before["revokedAt"] is None and entry.after["revokedAt"] is not None
    # Confirming again is not a second revocation.
    client.post(url, {"confirm": key.prefix})
    assert AuditEntry.objects.filter(action="sdk_key.revoked").count() == 1
    listed = client.get(response["Location"]).content.decode()
    assert "Revoked " in listed and 'id="revoked"' in listed


def test_a_revoked_key_is_refused_by_ofrep(client, owner, org, project):
    environment, raw = environment_with_key(project, "staging")
    boolean_flag(project, "new-checkout")
    key = environment.sdk_keys.get()
    client.force_login(owner)
    client.post(connect_url(org, project, environment, f"sdk-keys/{key.prefix}/revoke/"), {"confirm": key.prefix})
    response = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        data={"context": {"targetingKey": "u1"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403


def test_an_unknown_key_prefix_is_404(client, owner, org, project, production):
    client.force_login(owner)
    assert client.get(connect_url(org, project, production, "sdk-keys/sdk_nope/revoke/")).status_code == 404


def test_a_viewer_sees_the_keys_but_cannot_create_or_revoke(client, viewer, org, project, production):
    key = production.sdk_keys.get()
    client.force_login(viewer)
    page = client.get(connect_url(org, project, production))
    body = page.content.decode()
    assert page.status_code == 200
    assert f"{key.prefix}…" in body and 'id="read-only"' in body
    assert 'id="create-sdk-key"' not in body and "Revoke…" not in body
    revoke = connect_url(org, project, production, f"sdk-keys/{key.prefix}/revoke/")
    assert client.post(connect_url(org, project, production, "sdk-keys/new/")).status_code == 403
    assert client.get(revoke).status_code == 403
    assert client.post(revoke, {"confirm": key.prefix}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert production.sdk_keys.count() == 1
    assert not AuditEntry.objects.filter(actor_name="victor").exists()


def test_an_accepted_evaluation_marks_the_key_used(client, owner, org, project):
    environment, raw = environment_with_key(project, "staging")
    boolean_flag(project, "new-checkout")
    refused = client.post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        data={"context": {"targetingKey": "u1"}},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer sdk_unknown",
    )
    assert refused.status_code == 401
    assert environment.sdk_keys.get().last_used_at is None
    client.post(
        "/ofrep/v1/evaluate/flags/new-checkout",
        data={"context": {"targetingKey": "u1"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert environment.sdk_keys.get().last_used_at is not None
    client.force_login(owner)
    assert "ago</td>" in client.get(connect_url(org, project, environment)).content.decode()


@override_settings(PUBLIC_BASE_URL="")
def test_without_public_base_url_the_snippets_use_the_consoles_origin(client, owner, org, project, production):
    boolean_flag(project, "new-checkout")
    client.force_login(owner)
    response = client.get(connect_url(org, project, production))
    code = snippets(response)
    assert "baseUrl: 'http://testserver'," in code["web"]
    assert "baseUrl: 'http://testserver'," in code["node"]
    assert '"http://testserver",' in code["python"]
    assert "wp_remote_post('http://testserver/ofrep/v1/evaluate/flags/new-checkout'" in code["php"]
    assert "curl -s -X POST 'http://testserver/ofrep/v1/evaluate/flags/new-checkout'" in code["curl"]
    assert "endpoint: 'http://testserver'," in code["events"]
    assert 'id="base-url-warning"' not in response.content.decode()


@override_settings(PUBLIC_BASE_URL="https://edge.example.net/")
def test_with_public_base_url_the_snippets_use_it_and_warn_that_it_differs(client, owner, org, project, production):
    client.force_login(owner)
    response = client.get(connect_url(org, project, production))
    code = snippets(response)
    assert "baseUrl: 'https://edge.example.net'," in code["web"]
    assert "curl -s -X POST 'https://edge.example.net/ofrep/v1/evaluate/flags/new-checkout'" in code["curl"]
    assert "http://testserver" not in "".join(code.values())
    warning = re.search(r'id="base-url-warning">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert "https://edge.example.net" in warning and "http://testserver" in warning


@override_settings(PUBLIC_BASE_URL="http://testserver")
def test_no_warning_when_public_base_url_is_the_consoles_own_origin(client, owner, org, project, production):
    client.force_login(owner)
    assert 'id="base-url-warning"' not in client.get(connect_url(org, project, production)).content.decode()


def test_the_snippets_name_the_projects_first_boolean_flag_and_its_products_public_key(
    client, owner, org, project, production
):
    project.product = ProductFactory(organization=org)
    project.save()
    boolean_flag(project, "zz-last")
    boolean_flag(project, "beta-export")
    client.force_login(owner)
    code = snippets(client.get(connect_url(org, project, production)))
    assert "client.getBooleanValue('beta-export', false)" in code["web"]
    assert f"packedge.init('{project.product.public_key}', {{" in code["events"]
    assert code["web-install"] == "npm install @openfeature/web-sdk @openfeature/ofrep-web-provider"
    assert code["node-install"] == "npm install @openfeature/server-sdk @openfeature/ofrep-provider"
    assert code["python-install"] == "pip install openfeature-sdk openfeature-provider-ofrep"
    assert code["events-install"] == "npm install @packedge/js-sdk"


def test_the_project_page_links_each_environment_to_its_connect_page(client, owner, org, project, production):
    client.force_login(owner)
    body = client.get(f"/o/{org.slug}/projects/{project.public_id}/").content.decode()
    assert f'href="{connect_url(org, project, production)}"' in body


@override_settings(PUBLIC_BASE_URL="")
def test_the_tracking_snippets_carry_the_base_url_the_new_key_and_copy_buttons(client, owner, org, project, production):
    project.product = ProductFactory(organization=org, name="Shop Pro")
    project.save()
    client.force_login(owner)
    response = client.post(connect_url(org, project, production, "sdk-keys/new/"))
    secret = re.search(r'id="new-sdk-key-secret">([^<]+)<', response.content.decode()).group(1)
    code = snippets(response)
    assert f"const edge = tracking({{ endpoint: 'http://testserver', sdkKey: '{secret}' }});" in code["web-tracking"]
    assert f"      headers: [['Authorization', 'Bearer {secret}']],\n" in code["web-tracking"]
    assert code["web-tracking-install"] == (
        "npm install @openfeature/web-sdk @openfeature/ofrep-web-provider @packedge/js-sdk"
    )
    assert code["curl-tracking"].startswith(
        f"curl -s -X POST 'http://testserver/ofrep/v1/track' \\\n  -H 'Authorization: Bearer {secret}' \\\n"
    )
    page = response.content.decode()
    for name in ("web-tracking", "curl-tracking"):
        assert f'data-copy-target="snippet-{name}" id="copy-{name}"' in page
    assert 'data-copy-target="snippet-web-tracking-install"' in page
    assert "Counted in the Feature Usage of Shop Pro" in page


def test_without_a_product_the_tracking_snippets_say_it_answers_409(client, owner, org, project, production):
    client.force_login(owner)
    response = client.get(connect_url(org, project, production))
    assert response.content.decode().count("This project is linked to no product yet: tracking answers 409") == 2
    assert "Bearer YOUR_SDK_KEY" in snippets(response)["curl-tracking"]
