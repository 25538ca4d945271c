#!/usr/bin/env bash
# A project-local PostgreSQL for the credentials tests and the quickstart: its own cluster in .run/pg, on
# 127.0.0.1:$PG_PORT (default 55432, not the usual 5432), with a random superuser password in
# .run/pg-admin.password and a seeded demo database. Idempotent.
#
#   scripts/start-postgres.sh start | stop | status | env | reset
#
# Environment: PG_PORT, PG_DATA (data directory), PG_DB (demo database, default portcullis_demo),
# PG_ADMIN_PASSWORD_FILE (superuser password, created on first start), PG_LOG (server log).
# PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN="$ROOT/.run"
PG_PORT=${PG_PORT:-55432}
PG_DB=${PG_DB:-portcullis_demo}
PG_ADMIN=postgres
PWFILE=${PG_ADMIN_PASSWORD_FILE:-$RUN/pg-admin.password}
LOG=${PG_LOG:-$RUN/pg.log}
mkdir -p "$RUN"

BIN=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then BIN=$d; break; fi
done
[ -n "$BIN" ] || { echo "PostgreSQL is not installed: run scripts/install-services.sh" >&2; exit 1; }

as_pg() { # run a PostgreSQL server command as a user it accepts
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server user must be able to reach its data directory; a clone under a private home (e.g. /root) is not
# reachable by `postgres`, so the cluster then lives in a per-project directory under /tmp, linked from .run/pg.
default_data() {
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
    echo "$RUN/pg"
  else
    echo "${TMPDIR:-/tmp}/portcullis-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
  fi
}
DEFAULT_DATA=0
if [ -z "${PG_DATA:-}" ]; then PG_DATA=$(default_data); DEFAULT_DATA=1; fi

running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

psql_admin() { # psql as the superuser over TCP; extra args follow
  PGPASSWORD="$(cat "$PWFILE")" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ADMIN" "$@"
}

init_cluster() {
  echo "initialising PostgreSQL cluster in $PG_DATA"
  if [ ! -f "$PWFILE" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$PWFILE")
  fi
  mkdir -p "$PG_DATA"
  chmod 700 "$PG_DATA"
  local pw
  pw=$(mktemp)
  cp "$PWFILE" "$pw"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DATA" "$pw"; fi
  as_pg "$BIN/initdb" -D "$PG_DATA" -U "$PG_ADMIN" --pwfile="$pw" --auth-host=scram-sha-256 --auth-local=peer \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  cat >> "$PG_DATA/postgresql.conf" <<EOF
# portcullis: loopback only, no Unix socket, short logs.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
log_min_messages = warning
EOF
  if [ "$DEFAULT_DATA" -eq 1 ] && [ "$PG_DATA" != "$RUN/pg" ]; then ln -sfn "$PG_DATA" "$RUN/pg"; fi
}

seed() {
  if ! psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    psql_admin -d postgres -c "CREATE DATABASE \"$PG_DB\""
  fi
  psql_admin -d "$PG_DB" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS inventory (
  id   serial PRIMARY KEY,
  item text NOT NULL,
  qty  integer NOT NULL
);
INSERT INTO inventory (item, qty)
SELECT * FROM (VALUES ('widget', 10), ('gadget', 3), ('gizmo', 42)) AS v(item, qty)
WHERE NOT EXISTS (SELECT 1 FROM inventory);
SQL
}

start() {
  if [ -f "$PG_DATA/PG_VERSION" ] && [ ! -f "$PWFILE" ]; then
    echo "$PG_DATA exists but $PWFILE is missing: run '$0 reset'" >&2
    exit 1
  fi
  [ -f "$PG_DATA/PG_VERSION" ] || init_cluster
  if running; then
    echo "postgres already running on 127.0.0.1:$PG_PORT ($PG_DATA)"
  else
    : > "$LOG"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$LOG"; fi
    as_pg "$BIN/pg_ctl" -D "$PG_DATA" -l "$LOG" -o "-p $PG_PORT" -w -t 30 start >/dev/null
    echo "postgres started on 127.0.0.1:$PG_PORT ($PG_DATA)"
  fi
  seed
}

stop() {
  if running; then
    as_pg "$BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null
    echo "postgres stopped"
  else
    echo "postgres not running"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$PG_PORT ($PG_DATA)"; else echo "not running"; exit 3; fi ;;
  env)
    echo "PG_HOST=127.0.0.1"
    echo "PG_PORT=$PG_PORT"
    echo "PG_DB=$PG_DB"
    echo "PG_ADMIN=$PG_ADMIN"
    echo "PG_ADMIN_PASSWORD_FILE=$PWFILE"
    echo "PG_DATA=$PG_DATA"
    ;;
  reset)
    stop
    rm -rf "$PG_DATA" "$PWFILE"
    if [ "$DEFAULT_DATA" -eq 1 ] && [ -L "$RUN/pg" ]; then rm -f "$RUN/pg"; fi
    echo "postgres cluster removed"
    ;;
  *) echo "usage: $0 start|stop|status|env|reset" >&2; exit 2 ;;
esac
