"""Event names, features and sites are compared and stored as a reader sees them.

Lookalike characters must not smuggle a system event into Feature Usage, and
invisible ones must not make two features that read the same.
"""

from __future__ import annotations

import json

import pytest

from events.models import Event
from tests.events.factories import ProductFactory

pytestmark = pytest.mark.django_db
URL = "/public/v1/event"


@pytest.fixture
def product(org):
    return ProductFactory(organization=org)


def post(client, product, **fields):
    body = {"public_key": product.public_key, **fields}
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    "name",
    [
        "\uff4cicense.x",  # fullwidth ｌ
        "\uff50\uff52\uff4f\uff44\uff55\uff43\uff54\uff0einstalled",  # ｐｒｏｄｕｃｔ．installed: the fullwidth full stop folds to "."
        "\uff35\uff30\uff24\uff21\uff34\uff25.available",  # ＵＰＤＡＴＥ
        "Site.Added",
        " license.activated",
        "\u00a0license.activated",  # no-break space
        "\u3000update.x",  # ideographic space
    ],
)
def test_a_reserved_prefix_in_lookalike_characters_is_a_system_event(client, product, name):
    assert post(client, product, event=name).status_code == 200
    event = Event.objects.get()
    assert event.event == name  # stored as sent
    assert event.is_system is True


def test_a_name_that_only_resembles_no_prefix_stays_a_feature(client, product):
    assert post(client, product, event="\uff45xport_pdf").status_code == 200  # ｅxport_pdf
    assert Event.objects.get().is_system is False


@pytest.mark.parametrize(
    "name",
    [
        "export\u202epdf",  # right-to-left override
        "export\u200bpdf",  # zero-width space
        "\ufeff",  # a lone byte-order mark
        "export\u2060",  # word joiner
        "export\x7f",
        "export\x85",  # next line, a C1 control
    ],
)
@pytest.mark.parametrize("where", ["event", "feature"])
def test_format_and_control_characters_are_refused_in_names_and_features(client, product, name, where):
    fields = {"event": name} if where == "event" else {"event": "feature_used", "properties": {"feature": name}}
    response = post(client, product, **fields)
    assert response.status_code == 400
    field = "event" if where == "event" else "properties.feature"
    assert response.json()["error"]["message"].startswith(f"{field}:")
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "site",
    [
        "javascript:alert(1)",
        "-1",
        "1",
        "exa mple.com",
        "-shop.example.com",
        "shop-.example.com",
        "a..b",
        "x" * 64 + ".com",
        "shop_1.example.com",
        "data:text/html,hi",
        "http://example.com:99999999",
        "ex\u200bample.com",
        "xn--zz.com",
    ],
)
def test_a_site_that_is_no_host_name_is_refused(client, product, site):
    response = post(client, product, event="x", site=site)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"].startswith("site:")
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("site", "domain"),
    [
        ("b\u00fccher.example", "b\u00fccher.example"),
        ("https://B\u00dcCHER.example/x", "b\u00fccher.example"),
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "example.com"),  # fullwidth letters map to ASCII (UTS 46)
        ("[::1]:8000", "::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("a-b.example.co.uk", "a-b.example.co.uk"),
    ],
)
def test_an_international_or_numeric_host_is_stored_in_one_form(client, product, site, domain):
    assert post(client, product, event="x", site=site).status_code == 200
    assert Event.objects.get().domain == domain
