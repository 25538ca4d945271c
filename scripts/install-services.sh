#!/usr/bin/env bash
# Installs the real services that the credentials tests and the quickstart run, idempotently: PostgreSQL from
# Debian's packages (server binaries only; the scripts run their own cluster, never the package's). OpenBao (`bao`)
# comes from scripts/install-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}

if d=$(pg_bindir); then
  echo "postgresql present ($("$d/postgres" --version))"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL server binaries are missing; install them with: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "installing postgresql (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  # The package's own cluster on 5432 is of no use here: policy-rc.d keeps it from starting during the install.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  [ "$created_policy" -eq 1 ] && rm -f "$policy"
  d=$(pg_bindir) || { echo "postgresql installed but initdb not found" >&2; exit 1; }
  echo "postgresql installed ($("$d/postgres" --version))"
fi
