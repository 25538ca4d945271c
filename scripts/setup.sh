#!/usr/bin/env bash
# Idempotent set-up on a fresh clone: npm dependencies, the pinned real tools (OPA, OpenBao),
# the TypeScript build and the example policy bundle. Every other script calls this first.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "== tools"
bash scripts/install-tools.sh
echo "== build"
npm run --silent build
echo "== policy bundle"
node dist/main.js policy build policies -o bundles/policy.tar.gz --revision "example-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
