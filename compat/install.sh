#!/usr/bin/env bash
# Installs the compatibility matrix's real stacks from the package registries, pinned, into
# target/compat/ (npm and PyPI) and the system (Debian's nginx and haproxy). Idempotent: a stamp
# of the pinned versions skips the work when nothing changed. Starts nothing: the tests start
# every server on loopback and stop each by its PID (tests/compat.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${SMOKEGATE_COMPAT_DIR:-target/compat}

# The versions the README's matrix names. Change them here and there together.
NODE_PKGS=(json-server-auth@2.1.0 json-server@0.17.4)
PY_PKGS=(Django==5.2.19 djangorestframework==3.18.3 djoser==2.3.5 djangorestframework-simplejwt==5.5.1
         gunicorn==27.0.1 httpbin==0.10.4)
DEBIAN_PKGS=(nginx haproxy)

stamp="$DEST/.installed"
want="${NODE_PKGS[*]} ${PY_PKGS[*]} ${DEBIAN_PKGS[*]}"

source compat/lib.sh
install_debian "${DEBIAN_PKGS[@]}"

# nginx → Directus: its own folder and stamp (about 1100 npm packages, kept apart).
bash compat/nginx-directus/install-directus.sh
# Apache + mod_auth_openidc → Cognito emulated by moto: its own venv and stamp.
bash compat/apache-cognito/install-cognito.sh

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "compat: stacks already installed in $DEST"
  exit 0
fi
mkdir -p "$DEST/node"
echo "compat: installing ${NODE_PKGS[*]} (npm)"
(cd "$DEST/node" && { [[ -f package.json ]] || echo '{"private":true}' > package.json; } \
  && npm install --no-audit --no-fund --loglevel=error "${NODE_PKGS[@]}" >/dev/null)
echo "compat: installing ${PY_PKGS[*]} (PyPI)"
[[ -x "$DEST/venv/bin/python" ]] || python3 -m venv "$DEST/venv"
"$DEST/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
echo "$want" > "$stamp"
echo "compat: installed in $DEST"
