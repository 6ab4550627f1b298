"""GET /v1/products/{id}/licenses/{licenseId}/flags: what one license was served, on exposure's fixture."""

from __future__ import annotations

import pytest

from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.test_exposure_api import D1, D3, at, shop  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


def url(license, query=""):
    return f"/v1/products/{license.product.public_id}/licenses/{license.public_id}/flags?{query}"


def test_it_lists_each_flag_and_environment_served_with_its_variants(api, shop):  # noqa: F811
    project, production, _, licenses = shop
    response = api.get(url(licenses["a"]))
    assert response.status_code == 200
    # LIC-A: on twice on D1, off on D2 (its error serves no variant), on on D3 at 08:00.
    body = response.json()
    assert body.pop("countedThrough")  # tests/packedge/test_freshness.py has its value
    assert body == {
        "data": [
            {
                "projectId": project.public_id,
                "flagKey": "new-checkout",
                "environmentId": production.public_id,
                "environment": "production",
                "evaluations": 4,
                "variants": {"off": 1, "on": 3},
                "lastVariant": "on",
                "lastSeenAt": at(D3, 8).isoformat().replace("+00:00", "Z"),
            }
        ],
        "nextCursor": None,
    }
    # user-2 matched by its targeting key: off on D1 and D2.
    assert api.get(url(licenses["b"])).json()["data"][0]["variants"] == {"off": 2}
    assert api.get(url(licenses["c"])).json()["data"] == []


def test_the_window_decides(api, shop):  # noqa: F811
    licenses = shop[3]
    data = api.get(url(licenses["a"], f"from={D1}&to={D1}")).json()["data"]
    assert data[0]["variants"] == {"on": 2}


def test_another_organizations_license_is_404_and_a_bad_window_400(api, outsider_api, shop, other_org):  # noqa: F811
    licenses = shop[3]
    assert outsider_api.get(url(licenses["a"])).status_code == 404
    assert api.get(url(LicenseFactory(product=ProductFactory(organization=other_org)))).status_code == 404
    response = api.get(url(licenses["a"], f"from={D3}&to={D1}"))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("from:")
