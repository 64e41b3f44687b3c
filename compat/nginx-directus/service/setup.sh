#!/usr/bin/env bash
# Configures a running Directus for disposable users, over its own API with the admin's static
# token: a "smoke-user" policy with app access (which lets a user read its own directus_users
# row, i.e. GET /users/me, and nothing else on users: no self-delete), a role holding it, and
# public registration into that role without email verification. Idempotent: does nothing when
# registration already points at a role.
#
#   setup.sh BASE_URL         (Directus itself or the gateway's /api; default http://127.0.0.1:8055)
set -euo pipefail
BASE=${1:-${DIRECTUS_URL:-http://127.0.0.1:8055}}
TOKEN=${SMOKE_ADMIN_TOKEN:-smoke-admin-token}
api() { # METHOD PATH [JSON]
  curl -fsS -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+--data "$3"}
}
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)["data"]; print(v[sys.argv[1]] if v and v.get(sys.argv[1]) is not None else "")' "$1"; }

for _ in $(seq 100); do curl -fsS -o /dev/null "$BASE/server/health" && break; sleep 0.2; done
if [[ -n $(api GET '/settings?fields=public_registration_role' | field public_registration_role) ]]; then
  echo "setup.sh: registration already configured"; exit 0
fi
policy=$(api POST /policies '{"name":"smoke-user","icon":"badge","app_access":true,"admin_access":false}' | field id)
role=$(api POST /roles "{\"name\":\"smoke-user\",\"icon\":\"person\",\"policies\":[{\"policy\":\"$policy\"}]}" | field id)
api PATCH /settings "{\"public_registration\":true,\"public_registration_verify_email\":false,\"public_registration_role\":\"$role\"}" >/dev/null
echo "setup.sh: public registration into role $role (policy $policy)"
