#!/usr/bin/env bash
# Issue 22: group commit of single events survives kill -9 of a gunicorn worker mid-load
# (acknowledged ⊆ stored, no uuid twice; tests/live/group_commit_kill_test.py, fresh PostgreSQL database).
set -euo pipefail
cd "$(dirname "$0")/../.."
timeout 300 .venv/bin/python tests/live/group_commit_kill_test.py
# The same against the capture server (uvicorn, group commit in each worker's event loop).
GC_KILL_SERVER=capture timeout 300 .venv/bin/python tests/live/group_commit_kill_test.py
