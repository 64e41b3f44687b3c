#!/usr/bin/env bash
# Starts a fresh Directus (npm `directus`, unmodified) on loopback with its own SQLite file, in
# the foreground: `exec` makes this script's PID the server's, so a test stops it by that PID.
#
#   start.sh DATA_DIR PORT        (or DIRECTUS_DATA / DIRECTUS_PORT in the environment)
#
# The first run bootstraps DATA_DIR/directus.db (system tables, migrations, the first admin with
# ADMIN_EMAIL / ADMIN_PASSWORD and the static token SMOKE_ADMIN_TOKEN); later runs skip that.
# Public registration and its role are set afterwards, over the API, by setup.sh (Directus has no
# environment variables for project settings; they live in the database).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DATA=${1:-${DIRECTUS_DATA:?usage: start.sh DATA_DIR PORT}}
PORT=${2:-${DIRECTUS_PORT:-8055}}
INSTALL=${DIRECTUS_HOME:-$here/../../../target/compat/directus}
# @directus/api's own CLI: the `directus` package's cli.js only adds an update check that calls
# the npm registry and prints a banner before every command.
cli="$INSTALL/node_modules/@directus/api/dist/cli/run.js"
[[ -f $cli ]] || { echo "start.sh: no Directus in $INSTALL (run install-directus.sh)" >&2; exit 1; }
mkdir -p "$DATA/uploads" "$DATA/extensions"
# Directus also looks for extensions among the packages of the working directory's package.json.
[[ -f $DATA/package.json ]] || echo '{"private":true}' > "$DATA/package.json"
cd "$DATA"   # EXTENSIONS_PATH and STORAGE_LOCAL_ROOT are relative to the working directory

export CONFIG_PATH="$DATA/directus.env"   # not created: no stray .env from the cwd is read
export HOST=127.0.0.1 PORT PUBLIC_URL="http://127.0.0.1:$PORT"
export DB_CLIENT=sqlite3 DB_FILENAME="$DATA/directus.db"
export KEY=${DIRECTUS_KEY:-smokegate-compat-key} SECRET=${DIRECTUS_SECRET:-smokegate-compat-secret}
export ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com} ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin-password}
export ADMIN_TOKEN=${SMOKE_ADMIN_TOKEN:-smoke-admin-token}   # the admin's static token (bootstrap only)
export ACCESS_TOKEN_TTL=${ACCESS_TOKEN_TTL:-15m} REFRESH_TOKEN_TTL=${REFRESH_TOKEN_TTL:-7d}
# Registration is rate limited per IP by default (5 per 60 s); behind the gateway every client is
# 127.0.0.1, so a test suite would trip it. The general limiters are off by default already.
export RATE_LIMITER_REGISTRATION_ENABLED=${RATE_LIMITER_REGISTRATION_ENABLED:-false}
export RATE_LIMITER_ENABLED=${RATE_LIMITER_ENABLED:-false} RATE_LIMITER_GLOBAL_ENABLED=false
export TELEMETRY=false SERVE_APP=false WEBSOCKETS_ENABLED=false CACHE_ENABLED=false
export EMAIL_TRANSPORT=sendmail EMAIL_VERIFY_SETUP=false
export LOG_LEVEL=${LOG_LEVEL:-warn} LOG_STYLE=raw

# Bootstrap once per data directory (about 14 s cold here, 5 s even when there is nothing to do,
# so a stamp skips it). DIRECTUS_TEMPLATE_DB: copy an already bootstrapped (and set up) database
# instead, e.g. one made by a first start.sh + setup.sh; its admin token is the one it was made with.
if [[ ! -f $DATA/.bootstrapped ]]; then
  if [[ -n ${DIRECTUS_TEMPLATE_DB:-} ]]; then cp "$DIRECTUS_TEMPLATE_DB" "$DB_FILENAME"; else node "$cli" bootstrap; fi
  touch "$DATA/.bootstrapped"
fi
exec node "$cli" start
