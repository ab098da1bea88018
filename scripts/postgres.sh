#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and benchmarks: Debian's postgresql, initdb into
# a folder of our own, loopback only, password authentication.
#
#   scripts/postgres.sh start DIR [PORT]   initdb (first time) and start; prints the admin URL
#   scripts/postgres.sh stop DIR           stop it (fast shutdown)
#   scripts/postgres.sh url DIR            print the admin URL again
#
# PG_SHARED_BUFFERS (default 128MB) sizes the server's buffer cache: the benchmarks at
# 100,000 hosts give it what a database machine would (bench/fleet/README.md).
# The admin URL names the role `helpline` (CREATEDB, not superuser) and the `postgres`
# database; tests create a database of their own each (TestPostgres in the Swift tests).
# `helpline` is a member of `helpline_fleet_query`, the role fleet queries run under: the
# one-time step docs/fleet.md asks of an admin, so the collector needs no CREATEROLE.
# Runs the server as the `postgres` user when started as root (initdb refuses root).
set -euo pipefail

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2; }
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bindir/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql); scripts/setup.sh installs it" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

password_file="$dir/helpline-password"
port_file="$dir/helpline-port"

url() {
  echo "postgres://helpline:$(cat "$password_file")@127.0.0.1:$(cat "$port_file")/postgres?sslmode=disable"
}

case "$cmd" in
start)
  port="${3:-}"
  if [ -z "$port" ]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  mkdir -p "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    as_owner bash -c "umask 077; echo '$password' > '$dir/superuser-password'"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/superuser-password" \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$password" > "$password_file"
    chmod 600 "$password_file"
  fi
  echo "$port" > "$port_file"
  # Loopback only; fsync stays on (the tests check durability); a socket folder of our own.
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=1000 -c shared_buffers=${PG_SHARED_BUFFERS:-128MB}" start >/dev/null \
    || { tail -20 "$dir/server.log" >&2; exit 1; }
  PGPASSWORD="$(cat "$dir/superuser-password")" "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "SET client_min_messages = warning" -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpline') THEN
          CREATE ROLE helpline LOGIN CREATEDB PASSWORD '$(cat "$password_file")'; END IF; END \$\$;" \
    -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpline_fleet_query') THEN
          CREATE ROLE helpline_fleet_query NOLOGIN; END IF; END \$\$;" \
    -c "GRANT helpline_fleet_query TO helpline;" >/dev/null
  url
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  ;;
url)
  url
  ;;
*)
  echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2
  ;;
esac
