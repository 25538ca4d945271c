#!/usr/bin/env bash
# A development OpenBao (`bao server -dev`, in memory) for the credentials tests and the quickstart, and the Vault
# side of the demo: the database secrets engine against scripts/start-postgres.sh's PostgreSQL (roles analyst-ro
# and oncall-rw), a KV v2 secret, and an AppRole login for the gateway. Idempotent.
#
#   scripts/start-vault.sh start | configure | stop | status | env
#
# start      starts the server on 127.0.0.1:$VAULT_PORT (default 58200) unless it already answers
# configure  (re)applies the demo configuration; safe to repeat, e.g. after a restart, which forgets everything
#
# Environment: VAULT_PORT, VAULT_STATE (default .run/vault: root token, AppRole ids, pid, log),
# DB_DEFAULT_TTL / DB_MAX_TTL (database role lease TTLs, default 2m / 10m),
# APPROLE_TOKEN_TTL / APPROLE_TOKEN_MAX_TTL (the gateway's own token, default 20m / 1h),
# VAULT_AUDIT_FILE (a file audit device with log_raw, for tests that look for leaked secrets; off by default),
# and PG_PORT / PG_DB / PG_ADMIN_PASSWORD_FILE as for scripts/start-postgres.sh.
#
# The AppRole role id and secret id are fixed (generated once into $VAULT_STATE) so that the gateway can log in
# again with the same files after the in-memory server has been restarted and reconfigured.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BAO="$ROOT/.tools/bin/bao"
VAULT_PORT=${VAULT_PORT:-58200}
STATE=${VAULT_STATE:-$ROOT/.run/vault}
PG_PORT=${PG_PORT:-55432}
PG_DB=${PG_DB:-portcullis_demo}
PG_ADMIN_PASSWORD_FILE=${PG_ADMIN_PASSWORD_FILE:-$ROOT/.run/pg-admin.password}
DB_DEFAULT_TTL=${DB_DEFAULT_TTL:-2m}
DB_MAX_TTL=${DB_MAX_TTL:-10m}
APPROLE_TOKEN_TTL=${APPROLE_TOKEN_TTL:-20m}
APPROLE_TOKEN_MAX_TTL=${APPROLE_TOKEN_MAX_TTL:-1h}
[ -x "$BAO" ] || { echo "bao is not installed: run scripts/install-tools.sh" >&2; exit 1; }
mkdir -p "$STATE"
chmod 700 "$STATE"

export VAULT_ADDR="http://127.0.0.1:$VAULT_PORT"
export BAO_ADDR="$VAULT_ADDR"

secret_file() { # path: created once with random content, private to this user
  [ -s "$1" ] || (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$1")
}
uuid_file() {
  [ -s "$1" ] || (umask 077 && tr -d '\n' < /proc/sys/kernel/random/uuid > "$1")
}
secret_file "$STATE/root-token"
uuid_file "$STATE/role-id"
uuid_file "$STATE/secret-id"

answers() { curl -fsS -o /dev/null --max-time 2 "$VAULT_ADDR/v1/sys/health" 2>/dev/null; }

start() {
  if answers; then
    echo "openbao already running at $VAULT_ADDR"
    return
  fi
  local extra=()
  if [ -n "${VAULT_AUDIT_FILE:-}" ]; then
    # OpenBao only takes audit devices from its configuration file, not from the API.
    cat > "$STATE/audit.hcl" <<EOF
audit "file" "raw-file" {
  options {
    file_path = "$VAULT_AUDIT_FILE"
    log_raw   = "true"
  }
}
EOF
    extra=(-config="$STATE/audit.hcl")
  fi
  # The root token goes through the environment, not argv, so that `ps` does not show it.
  BAO_DEV_ROOT_TOKEN_ID="$(cat "$STATE/root-token")" nohup "$BAO" server -dev -dev-no-store-token \
    -dev-listen-address="127.0.0.1:$VAULT_PORT" "${extra[@]}" > "$STATE/server.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pid"
  for _ in $(seq 1 100); do
    answers && { echo "openbao started at $VAULT_ADDR (pid $(cat "$STATE/pid"))"; return; }
    kill -0 "$(cat "$STATE/pid")" 2>/dev/null || { echo "openbao exited; see $STATE/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "openbao did not answer within 10 s; see $STATE/server.log" >&2
  exit 1
}

stop() {
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    kill "$(cat "$STATE/pid")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$STATE/pid")" 2>/dev/null || break; sleep 0.1; done
    echo "openbao stopped"
  else
    echo "openbao not running"
  fi
  rm -f "$STATE/pid"
}

configure() {
  answers || { echo "openbao is not running at $VAULT_ADDR" >&2; exit 1; }
  [ -s "$PG_ADMIN_PASSWORD_FILE" ] || { echo "no PostgreSQL admin password at $PG_ADMIN_PASSWORD_FILE: run scripts/start-postgres.sh" >&2; exit 1; }
  export VAULT_TOKEN BAO_TOKEN
  VAULT_TOKEN="$(cat "$STATE/root-token")"
  BAO_TOKEN="$VAULT_TOKEN"
  local b="$BAO"

  "$b" secrets list -format=json | jq -e '."database/"' >/dev/null || "$b" secrets enable database >/dev/null
  "$b" secrets list -format=json | jq -e '."secret/".options.version == "2"' >/dev/null || "$b" secrets enable -path=secret -version=2 kv >/dev/null
  "$b" auth list -format=json | jq -e '."approle/"' >/dev/null || "$b" auth enable approle >/dev/null

  # The admin password is read from its file by bao itself (@file), so it never appears in argv.
  "$b" write database/config/portcullis-demo plugin_name=postgresql-database-plugin \
    connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable" \
    username=postgres password=@"$PG_ADMIN_PASSWORD_FILE" \
    allowed_roles="analyst-ro,oncall-rw" verify_connection=true >/dev/null

  "$b" write database/roles/analyst-ro db_name=portcullis-demo default_ttl="$DB_DEFAULT_TTL" max_ttl="$DB_MAX_TTL" \
    creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT CONNECT ON DATABASE \"$PG_DB\" TO \"{{name}}\"; GRANT USAGE ON SCHEMA public TO \"{{name}}\"; GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";" \
    >/dev/null
  "$b" write database/roles/oncall-rw db_name=portcullis-demo default_ttl="$DB_DEFAULT_TTL" max_ttl="$DB_MAX_TTL" \
    creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT CONNECT ON DATABASE \"$PG_DB\" TO \"{{name}}\"; GRANT USAGE ON SCHEMA public TO \"{{name}}\"; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{{name}}\"; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{{name}}\";" \
    >/dev/null

  # A demo API key for the notes upstream, written only once so that a reconfigure does not rotate it.
  "$b" kv get -mount=secret portcullis/notes-api >/dev/null 2>&1 \
    || "$b" kv put -mount=secret portcullis/notes-api token="demo-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >/dev/null

  "$b" policy write portcullis-gateway - >/dev/null <<'HCL'
# What the Portcullis gateway may do with its AppRole token: lease credentials, read its KV secrets, and manage
# the leases and the token it holds.
path "database/creds/*"      { capabilities = ["read"] }
path "secret/data/portcullis/*" { capabilities = ["read"] }
path "sys/leases/renew"      { capabilities = ["update"] }
path "sys/leases/revoke"     { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
HCL
  "$b" write auth/approle/role/portcullis-gateway token_policies=portcullis-gateway \
    token_ttl="$APPROLE_TOKEN_TTL" token_max_ttl="$APPROLE_TOKEN_MAX_TTL" secret_id_ttl=0 >/dev/null
  "$b" write auth/approle/role/portcullis-gateway/role-id role_id=@"$STATE/role-id" >/dev/null
  if ! "$b" write -format=json auth/approle/role/portcullis-gateway/secret-id/lookup secret_id=@"$STATE/secret-id" 2>/dev/null | grep -q '"secret_id_accessor"'; then
    "$b" write auth/approle/role/portcullis-gateway/custom-secret-id secret_id=@"$STATE/secret-id" >/dev/null
  fi
  echo "openbao configured: database roles analyst-ro, oncall-rw (ttl $DB_DEFAULT_TTL, max $DB_MAX_TTL), kv secret/portcullis/notes-api, approle portcullis-gateway"
}

case "${1:-start}" in
  start) start ;;
  configure) configure ;;
  stop) stop ;;
  status) if answers; then echo "running at $VAULT_ADDR"; else echo "not running"; exit 3; fi ;;
  env)
    echo "VAULT_ADDR=$VAULT_ADDR"
    echo "VAULT_ROOT_TOKEN_FILE=$STATE/root-token"
    echo "VAULT_ROLE_ID_FILE=$STATE/role-id"
    echo "VAULT_SECRET_ID_FILE=$STATE/secret-id"
    ;;
  *) echo "usage: $0 start|configure|stop|status|env" >&2; exit 2 ;;
esac
