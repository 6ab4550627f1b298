"""One live PackEdge for the stock OpenFeature clients: gunicorn on a fresh SQLite file, seeded.

The seed is one organization (with a secret API key for /v1), one project with a
"production" environment, two SDK keys (the second revoked before the server
starts) and the flags below, one per behaviour the clients are checked for.
``expected_rollout`` is the server's own bucketing (``flags.evaluation``) for the
fixed targeting keys, computed here in Python: what every client must be served.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from flags.evaluation import rollout_variant
from tests.live.servers import django_script, gunicorn, manage, migrate, port_free, server_env

HERE = Path(__file__).resolve().parent
# CI's loopback ports for these servers; a developer on a shared machine sets their own.
PORT_BASE = int(os.environ.get("OPENFEATURE_PORT_BASE", "8470"))

ROLLOUT_FLAG = "checkout-theme"
ROLLOUT = [{"variant": "classic", "weight": 30}, {"variant": "fresh", "weight": 70}]
ROLLOUT_VALUES = {"classic": "classic-blue", "fresh": "fresh-green"}
ROLLOUT_KEYS = [f"user-{n}" for n in range(40)]

# key -> (type, variants, environment settings, off variant)
FLAGS: dict[str, tuple[str, dict, dict, str | None]] = {
    # Targeting: on for the pro and team plans only.
    "new-checkout": (
        "boolean",
        {"on": True, "off": False},
        {
            "enabled": True,
            "defaultVariant": "off",
            "rules": [
                {"conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}], "variant": "on"}
            ],
        },
        None,
    ),
    # Percentage rollout over every context with a targeting key.
    ROLLOUT_FLAG: (
        "string",
        ROLLOUT_VALUES,
        {"enabled": True, "defaultVariant": "classic", "rules": [{"conditions": [], "rollout": ROLLOUT}]},
        None,
    ),
    "max-seats": ("number", {"few": 3, "many": 50}, {"enabled": True, "defaultVariant": "many"}, None),
    "discount": ("number", {"none": 0.0, "some": 12.5}, {"enabled": True, "defaultVariant": "some"}, None),
    "limits": (
        "object",
        {"basic": {"projects": 3}, "big": {"projects": 100, "sso": True}},
        {"enabled": True, "defaultVariant": "big"},
        None,
    ),
    # Off in production: serves its off variant ("legacy"), never the default variant nor the caller's default.
    "search-engine": (
        "string",
        {"legacy": "legacy-search", "vector": "vector-search"},
        {"enabled": False, "defaultVariant": "vector"},
        "legacy",
    ),
    # The flag the web test turns on and off through /v1 while the page polls.
    "live-banner": ("boolean", {"on": True, "off": False}, {"enabled": True, "defaultVariant": "off"}, None),
    # The spec's own example key, so Schemathesis's examples reach a real (integer) flag.
    "my-flag": ("number", {"one": 1, "two": 2}, {"enabled": True, "defaultVariant": "two"}, None),
}

SEED = """
import json
from tenancy.models import Organization
from flags import services
from tenancy import keys
org = Organization.objects.get(slug="openfeature")
project = services.project_create(organization=org, name="Shop")
environment, sdk_key = services.environment_create(project=project, name="production")
_, revoked = services.sdk_key_create(environment=environment)
services.sdk_key_revoke(environment=environment, prefix=keys.display_prefix(revoked))
flags = json.loads({flags!r})
for key, (type_, variants, settings, off_variant) in flags.items():
    services.flag_create(project=project, key=key, type=type_, variants=variants,
                         environments={{environment.public_id: settings}}, off_variant=off_variant)
print(json.dumps({{"sdkKey": sdk_key, "revokedSdkKey": revoked, "projectId": project.public_id,
                  "environmentId": environment.public_id}}))
"""


@dataclass(frozen=True)
class LiveServer:
    url: str
    api_key: str
    sdk_key: str
    revoked_sdk_key: str
    project_id: str
    environment_id: str
    log: Path

    def flag_environment_url(self, flag_key: str) -> str:
        return f"{self.url}/v1/projects/{self.project_id}/flags/{flag_key}/environments/{self.environment_id}"


# Worked out once from sha256("checkout-theme/user-N") (first 8 bytes, mod 10,000, under 30.00 %):
# 11 of the 40 keys fall in the 30 % "classic" share, 29 in the 70 % "fresh" one.
CLASSIC_KEYS = {f"user-{n}" for n in (3, 5, 17, 20, 21, 22, 28, 30, 33, 34, 36)}


def expected_rollout() -> dict[str, str]:
    """targeting key -> served value, by the server's bucketing function (and equal to CLASSIC_KEYS)."""
    split = {key: ROLLOUT_VALUES[rollout_variant(ROLLOUT_FLAG, key, ROLLOUT)] for key in ROLLOUT_KEYS}
    assert {key for key, value in split.items() if value == ROLLOUT_VALUES["classic"]} == CLASSIC_KEYS
    return split


@contextmanager
def seeded_server(directory: Path, port: int) -> Iterator[LiveServer]:
    if not port_free(port):
        pytest.fail(f"port {port} is taken (set OPENFEATURE_PORT_BASE to a free range)")
    log = directory / "gunicorn.log"
    env = server_env(
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        GUNICORN_LOG=str(log),
        # The polling test changes a flag in one worker and expects the other to serve it soon.
        FLAG_CONFIG_CACHE_SECONDS="0.5",
        OFREP_RATE_LIMIT="100000/s",
        INGEST_RATE_LIMIT="100000/s",
    )
    migrate(env)
    api_key = manage(env, "create_api_key", "openfeature", "--create-org", "--plan", "pro").strip().splitlines()[-1]
    seeded = json.loads(django_script(env, SEED.format(flags=json.dumps(FLAGS))).strip().splitlines()[-1])
    with gunicorn(env, port, workers=2, threads=4):
        yield LiveServer(
            url=f"http://127.0.0.1:{port}",
            api_key=api_key,
            sdk_key=seeded["sdkKey"],
            revoked_sdk_key=seeded["revokedSdkKey"],
            project_id=seeded["projectId"],
            environment_id=seeded["environmentId"],
            log=log,
        )


def npm_ci(package_dir: Path) -> Path:
    """``npm ci`` from the committed package-lock.json (exact versions); returns node_modules."""
    if not shutil.which("npm"):
        pytest.fail("npm is missing: .ci/steps/45-openfeature.sh installs nodejs and npm from Debian")
    modules = package_dir / "node_modules"
    lock = package_dir / "package-lock.json"
    stamp = modules / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=package_dir, check=True, timeout=300
        )
    return modules
