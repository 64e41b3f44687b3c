#!/usr/bin/env bash
# Brings the Apache → Cognito (moto) stack up on loopback by hand, and down again by PID.
#
#   bash compat/apache-cognito/run-by-hand.sh up [VARIANT]   # healthy (default) or auth-off
#   bash compat/apache-cognito/run-by-hand.sh down
#
# Ports: MOTO_PORT (4566), UPSTREAM_PORT (4567), GW_PORT (4568) from the environment. State,
# logs, PIDs and cognito.json (the ids and keys setup.py wrote) go to STACK_DIR
# (/tmp/apache-cognito by default). Needs compat/apache-cognito/install-cognito.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=compat/apache-cognito
V=${SMOKEGATE_COMPAT_DIR:-target/compat}/venv-cognito/bin
D=${STACK_DIR:-/tmp/apache-cognito}
MOTO_PORT=${MOTO_PORT:-4566} UPSTREAM_PORT=${UPSTREAM_PORT:-4567} GW_PORT=${GW_PORT:-4568}

wait_for() {  # url, what: polls for up to 20 s
  for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$2 did not answer on $1" >&2; return 1
}

case "${1:-}" in
up)
  VARIANT=${2:-healthy}
  mkdir -p "$D/gw"
  # 1. moto: the first 3 actions are unchecked (setup.py's IAM bootstrap), then SigV4 is enforced.
  INITIAL_NO_AUTH_ACTION_COUNT=3 "$V/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$D/moto.log" 2>&1 &
  echo $! >"$D/moto.pid"
  wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" moto
  "$V/python" "$HERE/service/setup.py" "http://127.0.0.1:$MOTO_PORT" "$D"
  POOL=$("$V/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["user_pool_id"])' "$D/cognito.json")
  # 2. the upstream (stdlib echo service).
  "$V/python" "$HERE/service/upstream.py" "$UPSTREAM_PORT" >"$D/upstream.log" 2>&1 &
  echo $! >"$D/upstream.pid"
  wait_for "http://127.0.0.1:$UPSTREAM_PORT/health" upstream
  # 3. Apache in the foreground (of its own process group) with its own config file.
  sed -e "s#@PORT@#$GW_PORT#g; s#@PREFIX@#$D/gw#g; s#@MOTO@#http://127.0.0.1:$MOTO_PORT#g; s#@POOL@#$POOL#g" \
      -e "s#@REGION@#us-east-1#g; s#@UPSTREAM@#127.0.0.1:$UPSTREAM_PORT#g; s#@VARIANT@#$VARIANT#g" \
      "$HERE/gateway/apache.conf" >"$D/gw/apache.conf"
  /usr/sbin/apache2 -f "$D/gw/apache.conf" -DFOREGROUND >"$D/gw/stdout.log" 2>&1 &
  echo $! >"$D/apache.pid"
  wait_for "http://127.0.0.1:$GW_PORT/health" apache
  echo "up: gateway http://127.0.0.1:$GW_PORT  moto http://127.0.0.1:$MOTO_PORT  ids in $D/cognito.json"
  ;;
down)
  # Apache's parent stops its child on TERM; each PID was recorded at start.
  for p in apache upstream moto; do
    if [[ -f "$D/$p.pid" ]]; then kill -TERM "$(cat "$D/$p.pid")" 2>/dev/null || true; rm -f "$D/$p.pid"; fi
  done
  echo "down"
  ;;
*)
  echo "usage: $0 up [healthy|auth-off] | down" >&2; exit 2
  ;;
esac
