"""The Connect page's OpenFeature tracking snippets, text for text: what a user copies is exactly this."""

from __future__ import annotations

import json

from flags.connect import connect_snippets

BASE = "https://edge.example.net"
KEY = "sdk_test_0123456789abcdef"


def by_id(**overrides) -> dict:
    arguments = {
        "base_url": BASE,
        "sdk_key": KEY,
        "flag_key": "beta-export",
        "public_key": "pk_shop",
        "product_name": "Shop Pro",
    }
    return {snippet.id: snippet for snippet in connect_snippets(**{**arguments, **overrides})}


def test_the_web_tracking_snippet_wraps_the_ofrep_web_provider_with_the_sdks_tracking():
    snippet = by_id()["web-tracking"]
    assert snippet.install == "npm install @openfeature/web-sdk @openfeature/ofrep-web-provider @packedge/js-sdk"
    assert snippet.language == "js"
    assert snippet.code == (
        "import { OpenFeature } from '@openfeature/web-sdk';\n"
        "import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';\n"
        "import { tracking } from '@packedge/js-sdk';\n"
        "\n"
        "// Gives the OFREP provider a track() that sends to PackEdge; evaluation stays with the provider.\n"
        "const edge = tracking({ endpoint: 'https://edge.example.net', sdkKey: 'sdk_test_0123456789abcdef' });\n"
        "\n"
        "await OpenFeature.setContext({ targetingKey: 'user-123', licenseKey: 'MYPLUGIN-XXXX' });\n"
        "await OpenFeature.setProviderAndWait(\n"
        "  edge.provider(\n"
        "    new OFREPWebProvider({\n"
        "      baseUrl: 'https://edge.example.net',\n"
        "      headers: [['Authorization', 'Bearer sdk_test_0123456789abcdef']],\n"
        "      pollInterval: 30000,\n"
        "    }),\n"
        "  ),\n"
        ");\n"
        "\n"
        "const client = OpenFeature.getClient();\n"
        "client.track('export_csv', { value: 3 }); // batched: sent within 2 s, or now with edge.flush()"
    )
    assert snippet.note == (
        "Counted in the Feature Usage of Shop Pro, for the license whose key is the context's licenseKey, "
        "else its targetingKey."
    )


def test_the_curl_tracking_snippet_posts_one_event_to_ofrep_v1_track():
    snippet = by_id()["curl-tracking"]
    assert snippet.install == ""
    assert snippet.language == "shell"
    assert snippet.code == (
        "curl -s -X POST 'https://edge.example.net/ofrep/v1/track' \\\n"
        "  -H 'Authorization: Bearer sdk_test_0123456789abcdef' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        '  -d \'{"events": [{\n'
        '        "trackingEventName": "export_csv",\n'
        '        "context": {"targetingKey": "user-123", "licenseKey": "MYPLUGIN-XXXX"},\n'
        '        "trackingEventDetails": {"value": 3}\n'
        "      }]}'"
    )
    assert snippet.note == (
        "Counted in the Feature Usage of Shop Pro, for the license whose key is the context's licenseKey, "
        'else its targetingKey. Answers {"accepted": 1}; an "id" per event makes a retry count once.'
    )


def test_the_curl_tracking_body_is_the_documented_bulk_shape():
    body = by_id()["curl-tracking"].code.split("-d '", 1)[1].rstrip("'")
    assert json.loads(body) == {
        "events": [
            {
                "trackingEventName": "export_csv",
                "context": {"targetingKey": "user-123", "licenseKey": "MYPLUGIN-XXXX"},
                "trackingEventDetails": {"value": 3},
            }
        ]
    }


def test_a_project_without_a_product_is_told_that_tracking_answers_409():
    snippets = by_id(product_name="")
    expected = (
        "This project is linked to no product yet: tracking answers 409 until it is "
        "(PATCH /v1/projects/{id} with a productId)."
    )
    assert snippets["web-tracking"].note == expected
    assert snippets["curl-tracking"].note.startswith(expected + " Answers")


def test_the_tracking_snippets_follow_the_order_of_the_page():
    assert list(by_id()) == ["web", "web-tracking", "events", "node", "python", "php", "curl", "curl-tracking"]
