#!/usr/bin/env bash
# A project-local Redis for the approvals store (approvals.store.kind: redis), from Debian's redis-server package:
# its own directory .run/redis, on 127.0.0.1:$REDIS_PORT (default 6390, not the usual 6379). Idempotent.
#
#   scripts/start-redis.sh [start] | stop | status | --install-only
#
# Environment: REDIS_PORT, REDIS_DIR (data, pid and log; default .run/redis).
# The integration tests install the package through --install-only and then run their own throw-away servers.
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_PORT=${REDIS_PORT:-6390}
REDIS_DIR=${REDIS_DIR:-$PWD/.run/redis}
CMD=${1:-start}

install_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    echo "redis present ($(redis-server --version | cut -d' ' -f3))"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-server is missing; install it with: sudo apt-get install -y redis-server" >&2
    exit 1
  fi
  echo "installing redis-server (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  # The package's own service on 6379 is of no use here: policy-rc.d keeps it from starting during the install.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  [ "$created" -eq 1 ] && rm -f "$policy"
  echo "redis installed ($(redis-server --version | cut -d' ' -f3))"
}

running() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

case "$CMD" in
  --install-only|install)
    install_redis
    ;;
  start)
    install_redis
    mkdir -p "$REDIS_DIR"
    if running; then
      echo "redis already running on 127.0.0.1:$REDIS_PORT"
    else
      redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --daemonize yes \
        --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save 60 1 --appendonly no
      for _ in $(seq 1 50); do running && break; sleep 0.1; done
      running || { echo "redis did not start; see $REDIS_DIR/redis.log" >&2; exit 1; }
      echo "redis started on 127.0.0.1:$REDIS_PORT (data in $REDIS_DIR)"
    fi
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    ;;
  stop)
    if running; then
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
      echo "redis on 127.0.0.1:$REDIS_PORT stopped"
    else
      echo "redis not running on 127.0.0.1:$REDIS_PORT"
    fi
    ;;
  status)
    if running; then echo "running on 127.0.0.1:$REDIS_PORT"; else echo "not running on 127.0.0.1:$REDIS_PORT"; exit 3; fi
    ;;
  *)
    echo "usage: scripts/start-redis.sh [start|stop|status|--install-only]" >&2
    exit 2
    ;;
esac
