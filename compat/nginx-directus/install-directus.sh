#!/usr/bin/env bash
# Installs the nginx → Directus stack, pinned: Directus from npm into target/compat/directus (its
# own package.json, apart from the other stacks' node_modules: ~1100 packages, ~470 MB) and nginx
# from Debian. Idempotent: a stamp of the pinned versions skips the work. Starts nothing.
# To be folded into compat/install.sh (NODE_PKGS of its own directory, DEBIAN_PKGS shared).
#
# directus@11.3.5 is the newest release whose `engines` accept Node 20 (>=18.0.0); from 11.4.0
# on (and 12.x) they require Node >= 22. sqlite3 is an optional dependency of @directus/api,
# pinned here explicitly: DB_CLIENT=sqlite3 needs it. Its native binding comes prebuilt from
# GitHub when reachable, else it is compiled (python3, make, g++; a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${SMOKEGATE_COMPAT_DIR:-target/compat}/directus

DIRECTUS_PKGS=(directus@11.3.5 sqlite3@5.1.7)
DEBIAN_PKGS=(nginx)

stamp="$DEST/.installed"
want="${DIRECTUS_PKGS[*]} ${DEBIAN_PKGS[*]} node-$(node --version | cut -d. -f1)"

source compat/lib.sh
install_debian "${DEBIAN_PKGS[@]}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "compat: Directus already installed in $DEST"
  exit 0
fi
mkdir -p "$DEST"
echo "compat: installing ${DIRECTUS_PKGS[*]} (npm)"
(cd "$DEST" && { [[ -f package.json ]] || echo '{"private":true}' > package.json; } \
  && npm install --save-exact --no-audit --no-fund --loglevel=error "${DIRECTUS_PKGS[@]}" >/dev/null)
node -e 'require(process.argv[1])' "$(cd "$DEST" && pwd)/node_modules/sqlite3"   # the native binding loads
echo "$want" > "$stamp"
echo "compat: installed in $DEST"
