from __future__ import annotations

import pytest

from flags.models import Environment, Project, SdkKey
from tenancy import keys
from tests.flags.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_it_creates_lists_reads_and_renames_projects(api, org, other_org):
    response = api.post("/v1/projects", {"name": "Web shop"}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"].startswith("proj_")
    assert set(data) == {"id", "name", "productId", "createdAt"}
    ProjectFactory(organization=other_org, name="Not mine")
    listed = api.get("/v1/projects").json()
    assert [p["name"] for p in listed["data"]] == ["Web shop"]
    assert listed["nextCursor"] is None
    assert api.get(f"/v1/projects/{data['id']}").json()["data"]["name"] == "Web shop"
    response = api.patch(f"/v1/projects/{data['id']}", {"name": "Storefront"}, format="json")
    assert response.json()["data"]["name"] == "Storefront"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": 3}, {"name": "x" * 201}])
def test_it_rejects_bad_projects_and_stores_nothing(api, body):
    response = api.post("/v1/projects", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("name:")
    assert Project.objects.count() == 0


def test_another_organizations_project_is_not_found(outsider_api, org):
    project = ProjectFactory(organization=org, name="Secret")
    assert outsider_api.get(f"/v1/projects/{project.public_id}").status_code == 404
    assert outsider_api.patch(f"/v1/projects/{project.public_id}", {"name": "x"}, format="json").status_code == 404
    assert outsider_api.get(f"/v1/projects/{project.public_id}/environments").status_code == 404
    assert (
        outsider_api.post(f"/v1/projects/{project.public_id}/environments", {"name": "p"}, format="json").status_code
        == 404
    )
    assert outsider_api.get(f"/v1/projects/{project.public_id}/flags").status_code == 404
    project.refresh_from_db()
    assert project.name == "Secret"
    assert Environment.objects.count() == 0


def test_creating_an_environment_shows_its_sdk_key_once(api, org):
    project = ProjectFactory(organization=org)
    response = api.post(f"/v1/projects/{project.public_id}/environments", {"name": "production"}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"].startswith("env_")
    raw = data["sdkKey"]
    assert raw.startswith("sdk_")
    assert data["sdkKeys"] == [
        {
            "prefix": keys.display_prefix(raw),
            "createdAt": data["sdkKeys"][0]["createdAt"],
            "revokedAt": None,
            "lastUsedAt": None,
        }
    ]
    stored = SdkKey.objects.get()
    assert stored.secret_hash == keys.hash_secret(raw)
    assert raw not in str(api.get(f"/v1/projects/{project.public_id}/environments").json())
    assert api.get(f"/v1/projects/{project.public_id}/environments/{data['id']}").json()["data"]["name"] == "production"


def test_it_rejects_a_second_environment_with_the_same_name(api, org):
    project = ProjectFactory(organization=org)
    url = f"/v1/projects/{project.public_id}/environments"
    assert api.post(url, {"name": "production"}, format="json").status_code == 201
    response = api.post(url, {"name": "production"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("name:")
    assert Environment.objects.count() == 1 and SdkKey.objects.count() == 1


def test_it_makes_and_revokes_more_sdk_keys(api, org):
    project = ProjectFactory(organization=org)
    environment = api.post(f"/v1/projects/{project.public_id}/environments", {"name": "staging"}, format="json").json()[
        "data"
    ]
    base = f"/v1/projects/{project.public_id}/environments/{environment['id']}/sdk-keys"
    second = api.post(base).json()["data"]
    assert second["key"].startswith("sdk_") and second["prefix"] == keys.display_prefix(second["key"])
    assert api.delete(f"{base}/{second['prefix']}").status_code == 204
    listed = api.get(f"/v1/projects/{project.public_id}/environments/{environment['id']}").json()["data"]["sdkKeys"]
    assert [k["revokedAt"] is not None for k in listed] == [False, True]
    assert api.delete(f"{base}/sdk_nope").status_code == 404


def test_another_organization_cannot_touch_an_environments_keys(api, outsider_api, org):
    project = ProjectFactory(organization=org)
    environment = api.post(f"/v1/projects/{project.public_id}/environments", {"name": "staging"}, format="json").json()[
        "data"
    ]
    base = f"/v1/projects/{project.public_id}/environments/{environment['id']}/sdk-keys"
    assert outsider_api.post(base).status_code == 404
    assert outsider_api.delete(f"{base}/{environment['sdkKeys'][0]['prefix']}").status_code == 404
    assert SdkKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_it_links_a_project_to_a_product_of_the_organization_and_unlinks_it(api, org, other_org):
    from tests.events.factories import ProductFactory

    product = ProductFactory(organization=org)
    project = api.post("/v1/projects", {"name": "Shop"}, format="json").json()["data"]
    url = f"/v1/projects/{project['id']}"
    linked = api.patch(url, {"productId": product.public_id}, format="json")
    assert linked.status_code == 200
    assert linked.json()["data"]["productId"] == product.public_id
    assert api.get(url).json()["data"]["productId"] == product.public_id
    unlinked = api.patch(url, {"productId": None}, format="json")
    assert unlinked.json()["data"]["productId"] is None


def test_linking_refuses_another_organizations_product_and_bad_ids_leaving_the_link_alone(api, org, other_org):
    from tests.events.factories import ProductFactory

    mine, theirs = ProductFactory(organization=org), ProductFactory(organization=other_org)
    project = api.post("/v1/projects", {"name": "Shop"}, format="json").json()["data"]
    url = f"/v1/projects/{project['id']}"
    api.patch(url, {"productId": mine.public_id}, format="json")
    assert api.patch(url, {"productId": theirs.public_id}, format="json").status_code == 404
    assert api.patch(url, {"productId": "prd_nope"}, format="json").status_code == 404
    response = api.patch(url, {"productId": 42}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("productId")
    assert api.get(url).json()["data"]["productId"] == mine.public_id
