"""A catalogue of hostile inputs sent to every endpoint: each answers 4xx in its error shape and stores nothing.

/v1 answers ``{"error": {"code", "message"}}``, /ofrep/ its own
``{"errorCode", "errorDetails"}``, /public/ the /v1 shape with ``"success": false``
(its own catalogue is tests/events/test_ingest_malformed.py), the console an
error page. PostgreSQL refuses a NUL character with an error rather than
finding no row, so the catalogue matters most there (CI runs it on both).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from django.apps import apps
from django.test import Client

from flags import recording
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

NUL = "\x00"
# What a path segment or a query parameter may be made of by someone probing.
HOSTILE_TEXT = [
    ("NUL", NUL),
    ("NUL inside an id", "prd_abc\x00def"),
    ("escape sequence", "\x1b[31m"),
    ("right-to-left override", "a\u202eb"),
    ("5000 characters", "x" * 5000),
    ("SQL", "' OR 1=1 --"),
]
DEEP_JSON = "[" * 100_000
HOSTILE_BODIES = [
    ("100,000 nested [", DEEP_JSON),
    ("50,000 nested objects", '{"a": ' * 50_000 + "1" + "}" * 50_000),
    ("not JSON", "{not json"),
    ("not UTF-8", b"\xff\xfe{}"),
    ("a string", '"just a string"'),
    ("a list", "[1, 2]"),
    ("NUL in strings", '{"name": "a\\u0000b", "key": "a\\u0000b", "variants": {"on": "a\\u0000b"}}'),
    ("lone surrogate", '{"name": "bad\\ud800", "variants": {"on": "\\ud800"}}'),
    ("deep variant", '{"variants": {"on": ' + "[" * 5000 + "]" * 5000 + "}}"),
]


@pytest.fixture(autouse=True)
def manual_recording():
    """OFREP evaluations stay in the buffer until ``_stored`` flushes them: no background thread in tests."""
    mode = recording.recorder.mode
    recording.recorder.mode = "manual"
    recording.recorder.discard()
    yield
    recording.recorder.discard()
    recording.recorder.mode = mode


@pytest.fixture
def world(org, owner):
    product = ProductFactory(organization=org, name="Desktop")
    license = LicenseFactory(product=product)
    project = ProjectFactory(organization=org, name="Checkout")
    environment, sdk_key = environment_with_key(project, "production")
    flag = boolean_flag(
        project, "new-checkout", environments={environment.public_id: {"enabled": True, "defaultVariant": "on"}}
    )
    return {
        "prd": product.public_id,
        "lic": license.public_id,
        "proj": project.public_id,
        "env": environment.public_id,
        "flag": flag.key,
        "sdk": sdk_key,
        "public_key": product.public_key,
    }


def _stored() -> dict:
    """Every row of every table of ours: nothing a refused request does may change it."""
    recording.flush()
    tables = {}
    for model in apps.get_models():
        if model._meta.app_label in {"packedge", "events", "analytics", "flags"}:
            # An API key's last use is bookkeeping of the request itself, not data it stored.
            fields = [f.attname for f in model._meta.concrete_fields if f.name != "last_used_at"]
            tables[model._meta.label] = sorted(map(repr, model.objects.values_list(*fields)))
    return tables


# /v1 paths, each slot filled with a valid id except the one under test.
V1_READS = [
    "/v1/products/{prd}",
    "/v1/products/{prd}/licenses",
    "/v1/products/{prd}/licenses/{lic}",
    "/v1/products/{prd}/analytics/feature-usage",
    "/v1/products/{prd}/analytics/feature-usage.csv?table=features",
    "/v1/products/{prd}/analytics/installs",
    "/v1/products/{prd}/analytics/installs/feedback",
    "/v1/products/{prd}/analytics/license-sharing",
    "/v1/products/{prd}/analytics/features/export_pdf/licenses",
    "/v1/products/{prd}/analytics/features/export_pdf/time-to-first-use",
    "/v1/products/{prd}/licenses/{lic}/usage",
    "/v1/products/{prd}/licenses/{lic}/flags",
    "/v1/projects/{proj}",
    "/v1/projects/{proj}/environments",
    "/v1/projects/{proj}/environments/{env}",
    "/v1/projects/{proj}/flags",
    "/v1/projects/{proj}/flags/{flag}",
    "/v1/projects/{proj}/flags/{flag}/usage?environmentId={env}",
    "/v1/projects/{proj}/flags/{flag}/exposure?environmentId={env}",
    "/v1/projects/{proj}/unknown-flags?environmentId={env}",
]
V1_WRITES = [
    ("post", "/v1/products"),
    ("patch", "/v1/products/{prd}"),
    ("post", "/v1/products/{prd}/licenses"),
    ("patch", "/v1/products/{prd}/licenses/{lic}"),
    ("post", "/v1/projects"),
    ("patch", "/v1/projects/{proj}"),
    ("post", "/v1/projects/{proj}/environments"),
    ("post", "/v1/projects/{proj}/flags"),
    ("patch", "/v1/projects/{proj}/flags/{flag}"),
    ("put", "/v1/projects/{proj}/flags/{flag}/environments/{env}"),
]
V1_ID_SLOTS = [
    (method, path, slot)
    for method, path in [("get", p) for p in V1_READS]
    + V1_WRITES
    + [
        ("delete", "/v1/projects/{proj}/flags/{flag}"),
        ("post", "/v1/projects/{proj}/environments/{env}/sdk-keys"),
        ("delete", "/v1/projects/{proj}/environments/{env}/sdk-keys/{sdkprefix}"),
    ]
    for slot in ("prd", "lic", "proj", "env", "flag", "sdkprefix")
    if "{" + slot + "}" in path
]
V1_QUERY_PARAMETERS = [
    ("/v1/products/{prd}/analytics/feature-usage", name) for name in ("from", "to", "event", "license_id")
] + [
    ("/v1/products/{prd}/analytics/feature-usage.csv?table=features", "event"),
    ("/v1/products/{prd}/analytics/feature-usage.csv", "table"),
    ("/v1/projects/{proj}/flags/{flag}/usage?from=2026-01-01", "environmentId"),
    ("/v1/projects/{proj}/flags/{flag}/usage?environmentId={env}", "to"),
    ("/v1/projects/{proj}/flags/{flag}/exposure?from=2026-01-01", "environmentId"),
    ("/v1/projects/{proj}/flags/{flag}/exposure?environmentId={env}", "from"),
    ("/v1/projects/{proj}/flags/{flag}/exposure?environmentId={env}", "cursor"),
    ("/v1/projects/{proj}/unknown-flags", "environmentId"),
    ("/v1/products", "cursor"),
    ("/v1/projects/{proj}/flags", "limit"),
    ("/v1/audit-log", "cursor"),
    ("/v1/audit-log", "limit"),
    ("/v1/audit-log", "target"),
]


def _bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")


def _fill(path: str, world: dict, **override) -> str:
    values = {**world, "sdkprefix": "sdk_AbCd1234", **override}
    return path.format(**{k: quote(v, safe="") for k, v in values.items()})


def _assert_api_error(response, statuses, case: str = ""):
    assert response.status_code in statuses, (case, response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] and body["error"]["message"]


@pytest.mark.parametrize(("method", "path", "slot"), V1_ID_SLOTS, ids=lambda v: v if isinstance(v, str) else None)
def test_a_hostile_id_in_a_v1_path_is_a_404_in_the_error_shape(api, world, method, path, slot):
    before = _stored()
    for name, value in HOSTILE_TEXT:
        url = _fill(path, world, **{slot: value})
        if method == "get":
            response = api.get(url)
        else:
            response = getattr(api, method)(url, data="{}", content_type="application/json")
        # environmentId travels in the query string: a bad one is a bad parameter (400), not a missing page.
        _assert_api_error(response, statuses={400} if "=" + "{" + slot in path else {404}, case=name)
    assert _stored() == before


@pytest.mark.parametrize(("path", "name"), V1_QUERY_PARAMETERS)
def test_a_hostile_query_parameter_is_a_4xx_in_the_error_shape(api, world, path, name):
    for case, value in HOSTILE_TEXT[:3]:  # the control characters
        url = _fill(path, world)
        url += ("&" if "?" in url else "?") + f"{name}={quote(value, safe='')}"
        _assert_api_error(api.get(url), statuses={400, 404}, case=case)


def test_a_cursor_beyond_any_integer_is_refused_or_empty(api, world):
    cursor = base64.urlsafe_b64encode(b"o:" + b"9" * 40).decode()
    response = api.get(f"/v1/products?cursor={cursor}")
    assert response.status_code in {200, 400}
    if response.status_code == 400:
        _assert_api_error(response, {400})


@pytest.mark.parametrize(("method", "path"), V1_WRITES)
def test_a_hostile_v1_body_is_a_400_and_stores_nothing(api, world, method, path):
    before = _stored()
    for case, body in HOSTILE_BODIES:
        response = getattr(api, method)(_fill(path, world), data=_bytes(body), content_type="application/json")
        _assert_api_error(response, statuses={400}, case=case)
    assert _stored() == before


@pytest.mark.parametrize(
    ("method", "path", "field", "extra"),
    [
        ("post", "/v1/products", "name", {}),
        ("patch", "/v1/products/{prd}", "name", {}),
        ("post", "/v1/projects", "name", {}),
        ("patch", "/v1/projects/{proj}", "name", {}),
        ("post", "/v1/projects/{proj}/environments", "name", {}),
        ("post", "/v1/products/{prd}/licenses", "key", {}),
        ("post", "/v1/projects/{proj}/flags", "key", {"type": "boolean", "variants": {"on": True, "off": False}}),
        ("patch", "/v1/projects/{proj}/flags/{flag}", "description", {}),
    ],
)
@pytest.mark.parametrize("text", ["Acme\x00", "Acme\x1b[2J", "Acme\u202e", "\u200b", "Acme\x7f", "Acme\ud800"])
def test_control_and_format_characters_are_refused_in_names(api, world, method, path, field, extra, text):
    before = _stored()
    body = json.dumps({field: text, **extra}).encode()
    response = getattr(api, method)(_fill(path, world), data=body, content_type="application/json")
    _assert_api_error(response, statuses={400})
    if "\x00" not in text and "\ud800" not in text:  # those two are refused by the parser, for any field
        assert field in response.json()["error"]["message"]
    assert _stored() == before


def test_a_flag_description_may_hold_line_breaks(api, world):
    response = api.patch(
        _fill("/v1/projects/{proj}/flags/{flag}", world), data={"description": "Line one\nLine two"}, format="json"
    )
    assert response.status_code == 200


# ---------------------------------------------------------------- OFREP


def _assert_ofrep_error(response, statuses, case: str = ""):
    assert response.status_code in statuses, (case, response.status_code, response.content[:300])
    body = response.json()
    assert {"errorCode", "errorDetails"} <= set(body) <= {"key", "errorCode", "errorDetails"}, body


def test_a_hostile_flag_key_on_ofrep_is_flag_not_found(client, world):
    before = _stored()
    for case, value in HOSTILE_TEXT:
        response = client.post(
            f"/ofrep/v1/evaluate/flags/{quote(value, safe='')}",
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {world['sdk']}",
        )
        _assert_ofrep_error(response, {404}, case)
        assert response.json()["errorCode"] == "FLAG_NOT_FOUND"
    assert _stored() == before


@pytest.mark.parametrize("path", ["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/{flag}"])
def test_a_hostile_ofrep_body_is_a_parse_error(client, world, path):
    for case, body in HOSTILE_BODIES[:6]:
        response = client.post(
            _fill(path, world),
            data=_bytes(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {world['sdk']}",
        )
        _assert_ofrep_error(response, {400}, case)
        assert response.json()["errorCode"] == "PARSE_ERROR", case


@pytest.mark.parametrize("value", ["sdk_\x00", "sdk_" + "x" * 5000, "\x00", "sdk_\u202e"])
def test_a_hostile_sdk_key_is_a_401_in_ofreps_shape(client, world, value):
    response = client.post("/ofrep/v1/evaluate/flags", data="{}", content_type="application/json", HTTP_X_API_KEY=value)
    _assert_ofrep_error(response, {401})


# ---------------------------------------------------------------- /public


@pytest.mark.parametrize("path", ["/public/v1/event", "/public/v1/events"])
def test_a_hostile_public_key_is_a_401_in_the_error_shape(client, world, path):
    before = _stored()
    for public_key in ["pk_a\x00", "\x00", "pk_" + "a" * 5000, "pk_\u202eabc", "pk_\x1b[2J"]:
        body = {"public_key": public_key, "event": "x"}
        if path.endswith("events"):
            body = {"public_key": public_key, "events": [{"event": "x"}]}
        response = client.post(path, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 401, public_key
        assert response.json()["success"] is False
        assert set(response.json()["error"]) == {"code", "message"}
    assert _stored() == before


# ---------------------------------------------------------------- the console


CONSOLE_PAGES = [
    "/o/acme/products/{prd}/",
    "/o/acme/products/{prd}/licenses/",
    "/o/acme/products/{prd}/settings/",
    "/o/acme/products/{prd}/analytics/feature-usage/",
    "/o/acme/products/{prd}/analytics/feature-usage.csv?table=features",
    "/o/acme/projects/{proj}/",
    "/o/acme/projects/{proj}/flags/{flag}/",
    "/o/acme/projects/{proj}/history/",
    "/o/acme/projects/{proj}/flags/{flag}/settings/",
    "/o/acme/projects/{proj}/flags/{flag}/environments/{env}/",
    "/o/acme/projects/{proj}/flags/{flag}/history/",
]


@pytest.fixture
def console(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.mark.parametrize(
    ("path", "slot"), [(p, s) for p in CONSOLE_PAGES for s in ("prd", "proj", "flag") if "{" + s + "}" in p]
)
def test_a_hostile_id_in_a_console_url_is_a_404_page(console, world, path, slot):
    for case, value in HOSTILE_TEXT:
        response = console.get(_fill(path, world, **{slot: value}))
        assert response.status_code == 404, case


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/o/acme/products/{prd}/licenses/", "q"),
        ("/o/acme/products/{prd}/licenses/", "page"),
        ("/o/acme/products/{prd}/analytics/feature-usage/", "event"),
        ("/o/acme/products/{prd}/analytics/feature-usage/", "license_id"),
        ("/o/acme/products/{prd}/analytics/feature-usage/", "from"),
        ("/o/acme/projects/{proj}/flags/{flag}/", "environmentId"),
        ("/o/acme/projects/{proj}/flags/{flag}/", "from"),
    ],
)
def test_a_hostile_console_query_parameter_is_never_a_server_error(console, world, path, name):
    for case, value in HOSTILE_TEXT[:4]:
        response = console.get(_fill(path, world) + f"?{name}={quote(value, safe='')}")
        assert response.status_code in {200, 400, 404}, case
        if name == "q" and NUL in value:
            assert response.status_code == 400, case


def test_a_hostile_api_key_prefix_on_revoke_is_a_404(console, world):
    before = _stored()
    for case, value in HOSTILE_TEXT:
        response = console.post(f"/o/acme/api-keys/{quote(value, safe='')}/revoke")
        assert response.status_code == 404, case
    assert _stored() == before


def test_a_nul_in_the_admins_search_is_a_400(client, db):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "staff-password-1")
    client.force_login(staff)
    for path in ["/admin/packedge/apikey/", "/admin/events/product/", "/admin/flags/flag/", "/admin/auth/user/"]:
        assert client.get(path + "?q=a%00b").status_code == 400, path
        assert client.get(path + "?q=ab").status_code == 200, path
