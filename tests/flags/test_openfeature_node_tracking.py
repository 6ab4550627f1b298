"""The stock OpenFeature Node server SDK and OFREP provider, given PackEdge tracking by the JS SDK's
``tracking().provider()``, against the live server: a flag evaluated, ``client.track()`` called, and the
tracked event counted in the flag's effect under the variant that license was served.

Needs Node and the OpenFeature packages: ``OPENFEATURE_JS_DIR`` names a directory whose
``node_modules`` holds ``@openfeature/server-sdk`` and ``@openfeature/ofrep-provider``;
``.ci/steps/45-openfeature-tracking.sh`` installs them from npm and runs this file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from events.models import Event
from flags import recording, services
from tests.conftest import api_client_for
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, environment_with_key

pytestmark = pytest.mark.django_db(transaction=True)

OPENFEATURE_DIR = os.environ.get("OPENFEATURE_JS_DIR", "")
BUILT_SDK = Path(__file__).resolve().parents[2] / "static" / "sdk" / "packedge.mjs"

SCRIPT = """
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { tracking } from "%(sdk)s";

const [base, key] = process.argv.slice(2);
const edge = tracking({ endpoint: base, sdkKey: key, flushInterval: 50 });
const provider = edge.provider(new OFREPProvider({ baseUrl: base, headers: [["Authorization", `Bearer ${key}`]] }));
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();
const context = { targetingKey: "LIC-B" };
const value = await client.getBooleanValue("new-checkout", false, context);
client.track("export_csv", context, { value: 2 });
client.track("export_csv", context);
await edge.flush();
console.log(JSON.stringify({ value, stats: edge.stats() }));
await OpenFeature.close();
"""


@pytest.mark.skipif(
    not OPENFEATURE_DIR or shutil.which("node") is None, reason="OPENFEATURE_JS_DIR and node (CI step 45) needed"
)
def test_client_track_from_the_stock_node_sdk_counts_in_the_flags_effect(live_server, org, tmp_path):
    product = ProductFactory(organization=org, name="Shop plugin")
    LicenseFactory(product=product, key="LIC-B")
    project = ProjectFactory(organization=org, product=product)
    environment, sdk_key = environment_with_key(project, "production")
    services.flag_create(
        project=project,
        key="new-checkout",
        type="boolean",
        variants={"on": True, "off": False},
        environments={environment.public_id: {"enabled": True, "defaultVariant": "on"}},
    )
    script = Path(OPENFEATURE_DIR) / f"track-{tmp_path.name}.mjs"
    script.write_text(SCRIPT % {"sdk": BUILT_SDK.as_uri()})
    try:
        run = subprocess.run(
            ["node", str(script), live_server.url, sdk_key], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        script.unlink()
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer == {"value": True, "stats": {"queued": 0, "sent": 2, "dropped": 0, "rejected": 0}}
    events = list(Event.objects.filter(product=product).values_list("feature", "license__key", "properties"))
    assert events == [("export_csv", "LIC-B", {"value": 2}), ("export_csv", "LIC-B", {})]
    recording.flush()
    effect = api_client_for(org).get(
        f"/v1/projects/{project.public_id}/flags/new-checkout/effect",
        {"environmentId": environment.public_id, "feature": "export_csv"},
    )
    assert effect.status_code == 200
    on = effect.json()["variants"][0]
    assert (on["variant"], on["licenses"], on["licensesUsing"], on["events"], on["eventsPerLicense"]) == (
        "on",
        1,
        1,
        2,
        2.0,
    )
