"""The JS SDK is served by the app itself, to any origin, also with DEBUG off."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "marker"),
    [("/static/sdk/packedge.js", b"sendBeacon"), ("/static/sdk/packedge.mjs", b"export default packedge")],
)
def test_the_sdk_is_served_to_any_origin(client, path, marker):
    response = client.get(path, HTTP_ORIGIN="https://customer-site.example")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "javascript" in response["Content-Type"]
    body = b"".join(response.streaming_content)
    assert marker in body
