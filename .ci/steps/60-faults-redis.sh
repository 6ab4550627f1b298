#!/usr/bin/env bash
# Issue 25 (items 2, 3, 8): Redis down and a worker killed mid-recount, against a private
# redis-server on 8291 (the tests start and stop it) and a private PostgreSQL cluster on 8292.
# Each test asserts acknowledged ⊆ stored once and exact answers afterwards. Bounded: 15 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
export SECRET_KEY=ci-faults REDIS_FAULT_PORT=8291
TESTS="tests/packedge/test_redis_down.py tests/analytics/test_worker_crash.py"
# SQLite: the in-process cases (the worker case needs PostgreSQL and skips).
timeout 300 .venv/bin/python -m pytest -q -p no:cacheprovider $TESTS
# PostgreSQL: a private cluster, so that a killed worker never touches a shared server.
timeout 900 .venv/bin/python - "$TESTS" <<'PY'
import os
import subprocess
import sys

from tests.live.servers import private_postgres

with private_postgres(8292) as cluster:
    env = {**os.environ, "DATABASE_URL": cluster.url}
    code = subprocess.call(
        [".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *sys.argv[1].split()], env=env
    )
sys.exit(code)
PY
