#!/usr/bin/env bash
# The quickstart: sets up, starts PostgreSQL and OpenBao (the postgres upstream's credentials), the example upstreams
# and the gateway on the example config, and prints the URL and two development tokens. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
# Run on the system Node 20 even under `npm start`: node_modules/.bin holds the Node 22 used only by conformance.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
bash scripts/setup.sh >&2
mkdir -p .run
bash scripts/start-postgres.sh start >&2
bash scripts/start-vault.sh start >&2
bash scripts/start-vault.sh configure >&2
eval "$(bash scripts/start-postgres.sh env | grep -E '^PG_(PORT|DB)=')"
PG_SERVER_PORT=${PG_SERVER_PORT:-9002}
PG_PORT=$PG_PORT PG_DB=$PG_DB node examples/servers/postgres-server.mjs --port "$PG_SERVER_PORT" > /dev/null 2> .run/postgres-server.log &
PGS_PID=$!
NOTES_PORT=${NOTES_PORT:-9001}
node examples/servers/notes-server.mjs --port "$NOTES_PORT" 2> .run/notes-server.log &
NOTES_PID=$!
trap 'kill $NOTES_PID $PGS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q listening .run/notes-server.log 2>/dev/null && grep -q listening .run/postgres-server.log 2>/dev/null && break; sleep 0.1; done
node dist/main.js serve --config "${PORTCULLIS_CONFIG:-examples/quickstart/portcullis.yaml}" &
GW_PID=$!
# The gateway goes first: it revokes its Vault leases on the way out, so Vault stops after it.
trap 'kill -TERM $GW_PID 2>/dev/null; wait $GW_PID 2>/dev/null; kill $NOTES_PID $PGS_PID 2>/dev/null || true; bash scripts/start-vault.sh stop >&2 || true; bash scripts/start-postgres.sh stop >&2 || true' EXIT INT TERM
wait $GW_PID
