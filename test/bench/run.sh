#!/usr/bin/env bash
# npm run bench: set-up (deps, tools, build), then the side-by-side benchmark. Writes .run/bench/report.{json,md}.
#   BENCH_QUICK=1 npm run bench     smoke run: every cell, few calls (figures not meaningful)
# Other knobs (env): BENCH_CALLS (3000), BENCH_WARMUP (200), BENCH_CONCURRENCY (1,8,32), BENCH_ARMS (A,F,B,B0,C),
# BENCH_ROUNDS (3), BENCH_LIST_CALLS (200), BENCH_SESSIONS (1000), BENCH_DECISION_ITERS (10000),
# BENCH_VISIBLE_ITERS (200), BENCH_QUIET_WAIT (30 s per cell), BENCH_MAX_FOREIGN (0.25), BENCH_RETRIES (2),
# BENCH_PROFILE (auto | 1 | 0), BENCH_PROFILE_CALLS (3000), BENCH_NODE.
# See test/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
# The node npm itself runs on (the project's Node 20), not whatever a devDependency put on PATH first.
NODE_BIN="${BENCH_NODE:-${npm_node_execpath:-$(command -v node)}}"
exec "$NODE_BIN" --expose-gc test/bench/bench.mjs
