"""The Connect page's snippets: each stock client pointed at this server with an environment's SDK key.

Plain text built here, escaped by the template, so that a test reads exactly
what a user copies. The SDK key is the real one only on the page that has
just created it; everywhere else a placeholder the user replaces.

Two snippets send OpenFeature tracking events (``client.track``) to
``POST /ofrep/v1/track`` (flags/ofrep_tracking.py): the JS SDK's ``tracking``
wrapped around the stock web provider, and the same call with curl. Both
count only when the project is linked to a product (else 409), so their note
says which product, or that one is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SDK_KEY_PLACEHOLDER = "YOUR_SDK_KEY"
EXAMPLE_FLAG_KEY = "new-checkout"
PUBLIC_KEY_PLACEHOLDER = "YOUR_PRODUCT_PUBLIC_KEY"
EXAMPLE_TRACKING_EVENT = "export_csv"


@dataclass(frozen=True)
class Snippet:
    id: str  # the <pre id="snippet-…"> a test and the copy button find it by
    title: str
    language: str
    install: str  # the install command, its own copy button; empty when nothing to install
    code: str
    note: str = ""


def tracking_note(product_name: str) -> str:
    """Where a tracking event lands: the linked product's Feature Usage, or nowhere yet (409)."""
    if not product_name:
        return (
            "This project is linked to no product yet: tracking answers 409 until it is "
            "(PATCH /v1/projects/{id} with a productId)."
        )
    return (
        f"Counted in the Feature Usage of {product_name}, for the license whose key is the "
        "context's licenseKey, else its targetingKey."
    )


def connect_snippets(
    *, base_url: str, sdk_key: str, flag_key: str, public_key: str, product_name: str = ""
) -> list[Snippet]:
    evaluate_url = f"{base_url}/ofrep/v1/evaluate/flags/{flag_key}"
    context = {"targetingKey": "user-123", "licenseKey": "MYPLUGIN-XXXX"}
    body = json.dumps({"context": context})
    # One event of the bulk body, an attribute a line: the line a reader edits is the name.
    track_body = f"""{{"events": [{{
        "trackingEventName": "{EXAMPLE_TRACKING_EVENT}",
        "context": {json.dumps(context)},
        "trackingEventDetails": {{"value": 3}}
      }}]}}"""
    note = tracking_note(product_name)
    return [
        Snippet(
            id="web",
            title="Browser: OpenFeature web SDK + OFREP provider",
            language="js",
            install="npm install @openfeature/web-sdk @openfeature/ofrep-web-provider",
            code=f"""import {{ OpenFeature }} from '@openfeature/web-sdk';
import {{ OFREPWebProvider }} from '@openfeature/ofrep-web-provider';

await OpenFeature.setContext({{ targetingKey: 'user-123', licenseKey: 'MYPLUGIN-XXXX' }});
await OpenFeature.setProviderAndWait(
  new OFREPWebProvider({{
    baseUrl: '{base_url}',
    headers: [['Authorization', 'Bearer {sdk_key}']],
    pollInterval: 30000, // re-polls answer 304 until a flag changes
  }}),
);

const client = OpenFeature.getClient();
if (client.getBooleanValue('{flag_key}', false)) {{
  // the new code path
}}""",
            note="The key ships to browsers: an SDK key only evaluates flags of this environment.",
        ),
        Snippet(
            id="web-tracking",
            title="Browser: OpenFeature tracking (client.track) with the PackEdge JS SDK",
            language="js",
            install="npm install @openfeature/web-sdk @openfeature/ofrep-web-provider @packedge/js-sdk",
            code=f"""import {{ OpenFeature }} from '@openfeature/web-sdk';
import {{ OFREPWebProvider }} from '@openfeature/ofrep-web-provider';
import {{ tracking }} from '@packedge/js-sdk';

// Gives the OFREP provider a track() that sends to PackEdge; evaluation stays with the provider.
const edge = tracking({{ endpoint: '{base_url}', sdkKey: '{sdk_key}' }});

await OpenFeature.setContext({{ targetingKey: 'user-123', licenseKey: 'MYPLUGIN-XXXX' }});
await OpenFeature.setProviderAndWait(
  edge.provider(
    new OFREPWebProvider({{
      baseUrl: '{base_url}',
      headers: [['Authorization', 'Bearer {sdk_key}']],
      pollInterval: 30000,
    }}),
  ),
);

const client = OpenFeature.getClient();
client.track('{EXAMPLE_TRACKING_EVENT}', {{ value: 3 }}); // batched: sent within 2 s, or now with edge.flush()""",
            note=note,
        ),
        Snippet(
            id="events",
            title="Browser: PackEdge JS SDK (usage events)",
            language="js",
            install="npm install @packedge/js-sdk",
            code=f"""import packedge from '@packedge/js-sdk';

packedge.init('{public_key}', {{
  licenseKey: 'MYPLUGIN-XXXX', // optional
  endpoint: '{base_url}',
}});

packedge.track('feature_used', {{ feature: 'export' }});""",
            note="Events use the product's public key, not the SDK key.",
        ),
        Snippet(
            id="node",
            title="Node: OpenFeature server SDK + OFREP provider",
            language="js",
            install="npm install @openfeature/server-sdk @openfeature/ofrep-provider",
            code=f"""import {{ OpenFeature }} from '@openfeature/server-sdk';
import {{ OFREPProvider }} from '@openfeature/ofrep-provider';

await OpenFeature.setProviderAndWait(
  new OFREPProvider({{
    baseUrl: '{base_url}',
    headers: [['Authorization', 'Bearer {sdk_key}']],
  }}),
);

const client = OpenFeature.getClient();
const enabled = await client.getBooleanValue('{flag_key}', false, {{
  targetingKey: 'user-123',
  licenseKey: 'MYPLUGIN-XXXX',
}});""",
        ),
        Snippet(
            id="python",
            title="Python: OpenFeature SDK + OFREP provider",
            language="python",
            install="pip install openfeature-sdk openfeature-provider-ofrep",
            code=f"""from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

api.set_provider(
    OFREPProvider(
        "{base_url}",
        headers_factory=lambda: {{"Authorization": "Bearer {sdk_key}"}},
    )
)
client = api.get_client()
enabled = client.get_boolean_value(
    "{flag_key}",
    False,
    EvaluationContext(targeting_key="user-123", attributes={{"licenseKey": "MYPLUGIN-XXXX"}}),
)""",
        ),
        Snippet(
            id="php",
            title="PHP (WordPress): plain HTTP",
            language="php",
            install="",
            code=f"""$response = wp_remote_post('{evaluate_url}', [
  'headers' => [
    'Authorization' => 'Bearer {sdk_key}',
    'Content-Type'  => 'application/json',
  ],
  'body'    => wp_json_encode(['context' => [
    'targetingKey' => (string) get_current_user_id(),
    'licenseKey'   => $license_key,
  ]]),
  'timeout' => 2,
]);
$flag    = json_decode(wp_remote_retrieve_body($response), true);
$enabled = is_array($flag) && ($flag['value'] ?? false) === true; // any failure: off""",
            note="Without WordPress, the same request with curl_init() and CURLOPT_POSTFIELDS.",
        ),
        Snippet(
            id="curl",
            title="curl: flag evaluation",
            language="shell",
            install="",
            code=f"""curl -s -X POST '{evaluate_url}' \\
  -H 'Authorization: Bearer {sdk_key}' \\
  -H 'Content-Type: application/json' \\
  -d '{body}'""",
        ),
        Snippet(
            id="curl-tracking",
            title="curl: OpenFeature tracking event",
            language="shell",
            install="",
            code=f"""curl -s -X POST '{base_url}/ofrep/v1/track' \\
  -H 'Authorization: Bearer {sdk_key}' \\
  -H 'Content-Type: application/json' \\
  -d '{track_body}'""",
            note=f'{note} Answers {{"accepted": 1}}; an "id" per event makes a retry count once.',
        ),
    ]
