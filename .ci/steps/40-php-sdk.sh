#!/usr/bin/env bash
# The PHP SDK (sdk/php): PHPUnit with Debian's php-cli and phpunit, against fake receivers that
# PHP's built-in server runs on 127.0.0.1:8173-8175 (8179 must stay free: the "server down" case).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v php >/dev/null || ! command -v phpunit >/dev/null || ! php -m | grep -qx curl || ! php -m | grep -qx mbstring; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli phpunit php-curl php-mbstring php-xml >/dev/null
fi

php -v | head -n1
# Syntax check with the oldest PHP the package supports is not available on Debian; lint with this one.
for file in sdk/php/src/*.php sdk/php/tests/*.php sdk/php/tests/fixtures/*.php; do
  php -l "$file" >/dev/null
done
cd sdk/php
timeout 300 phpunit --colors=never
