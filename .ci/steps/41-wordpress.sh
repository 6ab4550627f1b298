#!/usr/bin/env bash
# The PHP SDK inside a real WordPress (tests/wordpress/run_wordpress.py): Debian's wordpress,
# php-cli, php-mysql, the machine's MariaDB (started here if it is not running), PHP's built-in
# server on 127.0.0.1:8171 and a fresh PackEdge (SQLite) on 127.0.0.1:8172. Bounded: 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
[ -f /usr/share/wordpress/wp-settings.php ] || need+=(wordpress)
command -v php >/dev/null || need+=(php-cli)
php -m 2>/dev/null | grep -qx mysqli || need+=(php-mysql)
php -m 2>/dev/null | grep -qx curl || need+=(php-curl)
php -m 2>/dev/null | grep -qx mbstring || need+=(php-mbstring)
command -v mysqld >/dev/null || command -v mariadbd >/dev/null || need+=(mariadb-server)
command -v mysql >/dev/null || need+=(mariadb-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! mysqladmin -h 127.0.0.1 -P 3306 ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  if [ -x /etc/init.d/mariadb ]; then
    /etc/init.d/mariadb start >/dev/null || true
  fi
  if ! mysqladmin -h 127.0.0.1 -P 3306 ping >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    (mysqld_safe --bind-address=127.0.0.1 --port=3306 >/dev/null 2>&1 &)
  fi
  for _ in $(seq 60); do mysqladmin -h 127.0.0.1 -P 3306 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# Root over TCP without a password, else over the socket (Debian's default: unix_socket auth).
if mysql -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  export WP_MYSQL_ARGS="-h 127.0.0.1 -P 3306 -u root"
else
  export WP_MYSQL_ARGS="-u root"
fi

PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
export WP_DB="${WP_DB:-wp_ci_$$}"
timeout 900 "$PYTHON" tests/wordpress/run_wordpress.py
