#!/usr/bin/env bash
# Issue 25 (item 5): 64 slow clients (idle sockets, headers and bodies a byte at a time) cannot
# starve the server behind the shipped deploy/nginx.conf, and do starve gunicorn alone. A real
# gunicorn (4 gthread workers x 4 threads, as docs/operations.md runs it) and nginx on loopback
# ports 8461-8462, a SQLite file database. Bounded: 5 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
SLOW_CLIENT_TESTS=1 SECRET_KEY=ci-slow-clients timeout 300 \
  .venv/bin/python -m pytest -q -p no:cacheprovider -p no:xdist tests/packedge/test_slow_clients.py
