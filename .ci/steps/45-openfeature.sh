#!/usr/bin/env bash
# The stock OpenFeature clients against a live gunicorn (tests/openfeature, docs/openfeature.md):
# the Node server SDK + OFREP provider, the web SDK + OFREP web provider in Chromium from another
# origin (polling, 304s), and Schemathesis with the official OFREP OpenAPI description.
# npm packages at the exact versions of the committed package-lock.json files; ports 8470-8473.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "node $(node --version), npm $(npm --version)"

for dir in tests/openfeature/node tests/openfeature/web; do
  (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
done

OPENFEATURE_TESTS=1 SECRET_KEY=${SECRET_KEY:-test-only-secret} timeout 900 \
  .venv/bin/python -m pytest -q -p no:xdist -s tests/openfeature
