#!/usr/bin/env bash
# Idempotent set-up on a fresh clone: npm dependencies, the pinned real tools (OPA, OpenBao),
# the TypeScript build and the example policy bundle. Every other script calls this first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Run on the system Node 20 even under `npm start`: node_modules/.bin holds the Node 22 used only by conformance.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "== tools"
bash scripts/install-tools.sh
echo "== approvals: redis-server and chromium (Debian packages)"
bash scripts/start-redis.sh --install-only
echo "== metrics: prometheus (Debian package) for the metrics test"
bash scripts/start-prometheus.sh --install-only
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && echo "chromium installed"
  else
    echo "chromium is missing (approvals browser test): sudo apt-get install -y chromium" >&2
  fi
fi
echo "== services: PostgreSQL (Debian package) for the credentials tests and the quickstart"
bash scripts/install-services.sh
echo "== build"
npm run --silent build
echo "== policy bundle"
node dist/main.js policy build policies -o bundles/policy.tar.gz --revision "example-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
