#!/usr/bin/env bash
# A project-local Prometheus (Debian's `prometheus` package) scraping the gateway: its own config and data directory
# under .run/prometheus, on 127.0.0.1:$PROM_PORT (default 9490, not the usual 9090). Idempotent: a second start
# rewrites the config and reloads the running server instead of starting another.
#
#   scripts/start-prometheus.sh [start] | stop | status | --install-only
#
# Environment:
#   PROM_PORT             listen port (default 9490)
#   PROM_DIR              config, data, pid and log (default .run/prometheus)
#   PROM_TARGETS          what to scrape: comma-separated host:port[/path] (default 127.0.0.1:8080/metrics); the
#                         first target is job "portcullis", the next ones "portcullis-2", "portcullis-3", …
#   PROM_SCRAPE_INTERVAL  scrape interval (default 15s; the integration test uses 1s)
#   PROM_BEARER_FILE      optional: a file holding the scrape token (the gateway's metrics.bearerTokenEnv value),
#                         sent as "Authorization: Bearer" to every target
set -euo pipefail
cd "$(dirname "$0")/.."
PROM_PORT=${PROM_PORT:-9490}
PROM_DIR=${PROM_DIR:-$PWD/.run/prometheus}
PROM_TARGETS=${PROM_TARGETS:-127.0.0.1:8080/metrics}
PROM_SCRAPE_INTERVAL=${PROM_SCRAPE_INTERVAL:-15s}
CMD=${1:-start}
BASE="http://127.0.0.1:$PROM_PORT"

install_prometheus() {
  if command -v prometheus >/dev/null 2>&1; then
    echo "prometheus present ($(prometheus --version 2>&1 | head -1 | cut -d' ' -f3))"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "prometheus is missing; install it with: sudo apt-get install -y prometheus" >&2
    exit 1
  fi
  echo "installing prometheus (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  # The package's own service (on 9090, with the system config) is of no use here: policy-rc.d keeps it stopped.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  [ "$created" -eq 1 ] && rm -f "$policy"
  command -v prometheus >/dev/null 2>&1 || { echo "prometheus installed but not on PATH" >&2; exit 1; }
  echo "prometheus installed ($(prometheus --version 2>&1 | head -1 | cut -d' ' -f3))"
}

write_config() {
  mkdir -p "$PROM_DIR/data"
  local cfg="$PROM_DIR/prometheus.yml" i=0 t hostport path job
  {
    echo "# Written by scripts/start-prometheus.sh; rewritten on every start."
    echo "global:"
    echo "  scrape_interval: $PROM_SCRAPE_INTERVAL"
    echo "  scrape_timeout: $PROM_SCRAPE_INTERVAL"
    echo "  evaluation_interval: $PROM_SCRAPE_INTERVAL"
    echo "scrape_configs:"
    IFS=',' read -ra list <<< "$PROM_TARGETS"
    for t in "${list[@]}"; do
      t=${t// /}
      [ -z "$t" ] && continue
      hostport=${t%%/*}
      if [ "$hostport" = "$t" ]; then path=/metrics; else path=/${t#*/}; fi
      i=$((i + 1))
      if [ "$i" -eq 1 ]; then job=portcullis; else job="portcullis-$i"; fi
      echo "  - job_name: $job"
      echo "    metrics_path: $path"
      if [ -n "${PROM_BEARER_FILE:-}" ]; then
        echo "    authorization: { type: Bearer, credentials_file: '$PROM_BEARER_FILE' }"
      fi
      echo "    static_configs:"
      echo "      - targets: ['$hostport']"
    done
  } > "$cfg.tmp"
  mv "$cfg.tmp" "$cfg"
}

ready() { curl -fsS "$BASE/-/ready" >/dev/null 2>&1; }

case "$CMD" in
  --install-only|install)
    install_prometheus
    ;;
  start)
    install_prometheus
    write_config
    if ready; then
      curl -fsS -X POST "$BASE/-/reload" >/dev/null
      echo "prometheus already running on 127.0.0.1:$PROM_PORT; configuration reloaded"
    else
      promtool_check=$(command -v promtool || true)
      [ -n "$promtool_check" ] && promtool check config "$PROM_DIR/prometheus.yml" >/dev/null
      nohup prometheus \
        --config.file="$PROM_DIR/prometheus.yml" \
        --storage.tsdb.path="$PROM_DIR/data" \
        --storage.tsdb.retention.time=2d \
        --web.listen-address="127.0.0.1:$PROM_PORT" \
        --web.enable-lifecycle \
        >"$PROM_DIR/prometheus.log" 2>&1 &
      echo $! > "$PROM_DIR/prometheus.pid"
      for _ in $(seq 1 100); do ready && break; sleep 0.1; done
      ready || { echo "prometheus did not start; see $PROM_DIR/prometheus.log:" >&2; tail -20 "$PROM_DIR/prometheus.log" >&2; exit 1; }
      echo "prometheus started on 127.0.0.1:$PROM_PORT (config and data in $PROM_DIR)"
    fi
    echo "PROMETHEUS_URL=$BASE"
    ;;
  stop)
    if [ -f "$PROM_DIR/prometheus.pid" ] && kill -0 "$(cat "$PROM_DIR/prometheus.pid")" 2>/dev/null; then
      pid=$(cat "$PROM_DIR/prometheus.pid")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      rm -f "$PROM_DIR/prometheus.pid"
      echo "prometheus on 127.0.0.1:$PROM_PORT stopped"
    else
      echo "prometheus not running from $PROM_DIR"
    fi
    ;;
  status)
    if ready; then echo "running on 127.0.0.1:$PROM_PORT"; else echo "not running on 127.0.0.1:$PROM_PORT"; exit 3; fi
    ;;
  *)
    echo "usage: scripts/start-prometheus.sh [start|stop|status|--install-only]" >&2
    exit 2
    ;;
esac
