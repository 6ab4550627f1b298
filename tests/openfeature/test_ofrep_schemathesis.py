"""Schemathesis against the official OFREP OpenAPI description, vendored in tests/openfeature/ofrep/.

Every check on, a fixed seed, against the live seeded server (tests/openfeature/live.py)
with its SDK key. The vendored file stays as published; the few places where the
spec's own schema is wrong are corrected in a copy, each by one named patch below,
and listed in ofrep/NOTICE. Anything else Schemathesis finds is ours.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.live.servers import ROOT
from tests.openfeature.live import HERE, PORT_BASE, seeded_server

SPEC = HERE / "ofrep" / "openapi.yaml"
SCHEMATHESIS = ROOT / ".venv" / "bin" / "schemathesis"
EXAMPLES = os.environ.get("OFREP_SCHEMATHESIS_MAX_EXAMPLES", "60")


def spec_with_known_defects_fixed() -> dict:
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    # 1. An integer value matches both integerFlag (integer) and floatFlag (number), so every
    #    integer answer fails a strict `oneOf`; `anyOf` says what the spec means: one of the types.
    success = schemas["evaluationSuccess"]["allOf"][1]
    success["anyOf"] = success.pop("oneOf")
    # 2. A bulk entry is an evaluationSuccess or an evaluationFailure; neither excludes the other
    #    by its own keywords, so the same strictness problem: `anyOf`.
    items = schemas["bulkEvaluationSuccess"]["properties"]["flags"]["items"]
    items["anyOf"] = items.pop("oneOf")
    # 3. featureCacheInvalidationPolling requires a `name` it does not define (copied from
    #    configurationResponse, where `name` belongs); a polling object has no name.
    schemas["featureCacheInvalidationPolling"].pop("required")
    # 4. The request bodies are `{"context": {...}}` but declare no `type: object`, so `null`,
    #    `42` or `[]` count as valid bodies; every OFREP server must refuse them (PARSE_ERROR).
    for name in ("evaluationRequest", "bulkEvaluationRequest"):
        schemas[name]["type"] = "object"
    # 5. Not a defect, test data: the path parameter takes the spec's own `key` schema, whose
    #    example `my-flag` (a flag of the seed) lets the examples phase reach a real flag.
    key = spec["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]["parameters"][0]
    key["schema"] = {"$ref": "#/components/schemas/key"}
    return spec


def test_the_official_ofrep_description_finds_no_failure_of_ours(server_dir, tmp_path):
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: `make test` installs requirements-dev.txt")
    patched = tmp_path / "openapi.yaml"
    patched.write_text(yaml.safe_dump(spec_with_known_defects_fixed(), sort_keys=False))
    with seeded_server(server_dir, PORT_BASE + 3) as server:
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(HERE / "ofrep" / "schemathesis.toml"),
                "run",
                str(patched),
                "--url",
                server.url,
                "--checks",
                "all",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "19",
                "--workers",
                "1",
                "--header",
                f"Authorization: Bearer {server.sdk_key}",
                "--request-timeout",
                "10",
                # The key is sent explicitly (above); a generated X-API-Key beside it tests nothing of ours.
                "--generation-with-security-parameters",
                "false",
                "--suppress-health-check",
                "all",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    print(result.stdout[-15000:], result.stderr[-3000:])
    assert result.returncode == 0, "Schemathesis found a failure (output above)"


@pytest.fixture
def server_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("openfeature-schemathesis")
