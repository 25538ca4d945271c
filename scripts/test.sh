#!/usr/bin/env bash
# Runs every test: Rego unit tests with the coverage floor, TypeScript unit tests, the decision corpus against
# the built WASM bundle, and the integration tests against the real gateway process. Ends with one line:
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
# npm puts node_modules/.bin first on PATH, and the `node` dev dependency (Node 22, for the conformance suite only)
# links a `node` there: drop it so everything else runs on the system Node 20.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)
export PATH
bash scripts/setup.sh || { echo "0 passed, 1 failed (set-up failed)"; exit 1; }

RESULTS=.run/test-results
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
total_pass=0
total_fail=0
status=0

add_counts() { # file with "# pass N" / "# fail N" lines (TAP summary)
  local p f
  p=$(grep -E '^# pass ' "$1" | awk '{s+=$3} END {print s+0}')
  f=$(grep -E '^# fail ' "$1" | awk '{s+=$3} END {print s+0}')
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  echo "   -> $p passed, $f failed"
}

echo "== Rego: opa test --coverage (floor 90%)"
if out=$(node dist/main.js policy test policies opa-tests --coverage-floor 90); then :; else status=1; fi
echo "$out"
p=$(echo "$out" | sed -nE 's/^opa test: ([0-9]+) passed, ([0-9]+) failed.*/\1/p'); f=$(echo "$out" | sed -nE 's/^opa test: ([0-9]+) passed, ([0-9]+) failed.*/\2/p')
total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-1}))
# A coverage miss fails the suite even when every test passed.
if [ "$status" -ne 0 ] && [ "${f:-1}" -eq 0 ]; then total_fail=$((total_fail + 1)); echo "   -> coverage floor missed (counted as a failure)"; fi

run_node_tests() { # name, files...
  local name=$1; shift
  [ $# -eq 0 ] && return 0
  echo "== $name"
  node --import tsx --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$RESULTS/$name.tap" "$@" || status=1
  add_counts "$RESULTS/$name.tap"
}

mapfile -t unit < <(find src test/unit -name '*.test.ts' 2>/dev/null | sort)
run_node_tests unit "${unit[@]}"
mapfile -t integration < <(find test/integration -name '*.test.ts' 2>/dev/null | sort)
run_node_tests integration "${integration[@]}"

# The official MCP conformance suite (Node 22), against our fixture directly and through the gateway.
for mode in direct through-gateway; do
  echo "== conformance: $mode"
  flag=""; [ "$mode" = through-gateway ] && flag="--through-gateway"
  node test/conformance/run.mjs $flag --tap "$RESULTS/conformance-$mode.tap" || status=1
  add_counts "$RESULTS/conformance-$mode.tap"
done

# The frozen requirement sets of the newer suite (0.2.0-alpha.12) through the gateway: both eras in front of the
# project's fixture, and 2026-07-28 in front of the reference everything server (2025 only).
for run in "2026-07-28 fixture" "2025-11-25 fixture" "2026-07-28 everything"; do
  set -- $run
  echo "== conformance requirements: $1 through the gateway ($2)"
  node test/conformance/requirements.mjs --revision "$1" --upstream "$2" --tap "$RESULTS/requirements-$1-$2.tap" || status=1
  add_counts "$RESULTS/requirements-$1-$2.tap"
done

echo
echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ] && [ "$status" -eq 0 ]
