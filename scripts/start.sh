#!/usr/bin/env bash
# The quickstart: sets up, starts the example upstreams and the gateway on the example config, and prints the URL
# and two development tokens. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
mkdir -p .run
NOTES_PORT=${NOTES_PORT:-9001}
node examples/servers/notes-server.mjs --port "$NOTES_PORT" 2> .run/notes-server.log &
NOTES_PID=$!
trap 'kill $NOTES_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q listening .run/notes-server.log 2>/dev/null && break; sleep 0.1; done
node dist/main.js serve --config "${PORTCULLIS_CONFIG:-examples/quickstart/portcullis.yaml}" &
GW_PID=$!
trap 'kill -TERM $GW_PID 2>/dev/null; wait $GW_PID 2>/dev/null; kill $NOTES_PID 2>/dev/null || true' EXIT INT TERM
wait $GW_PID
