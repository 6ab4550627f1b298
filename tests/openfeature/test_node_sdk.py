"""The stock Node server SDK and OFREP provider (tests/openfeature/node, exact versions in its
package-lock.json) against a live gunicorn: Node's own test runner, one test per behaviour."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.openfeature.live import HERE, PORT_BASE, expected_rollout, npm_ci, seeded_server

NODE_DIR = HERE / "node"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with seeded_server(tmp_path_factory.mktemp("openfeature-node"), PORT_BASE) as live:
        yield live


def test_the_node_server_sdk_passes_every_case_against_the_live_server(server):
    npm_ci(NODE_DIR)
    split = expected_rollout()
    assert list(split.values()).count("classic-blue") == 11  # of 40: live.CLASSIC_KEYS
    env = {
        **os.environ,
        "OFREP_BASE_URL": server.url,
        "OFREP_SDK_KEY": server.sdk_key,
        "OFREP_REVOKED_SDK_KEY": server.revoked_sdk_key,
        "OFREP_EXPECTED_ROLLOUT": json.dumps(split),
    }
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap", "ofrep.test.mjs"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(result.stdout[-6000:], result.stderr[-2000:])
    assert result.returncode == 0, "node --test failed (output above)"
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", result.stdout, re.MULTILINE))
    assert counts == {"tests": "7", "pass": "7", "fail": "0"}
