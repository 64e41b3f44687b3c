#!/usr/bin/env bash
# Installs the Apache → Cognito (moto) stack, pinned: moto's server and boto3 from PyPI into
# target/compat/venv-cognito (a venv of its own: moto[server] pulls ~70 packages, among them
# a botocore that the other stacks do not need), Apache httpd and mod_auth_openidc from Debian.
# Idempotent: a stamp of the pinned versions skips the PyPI work when nothing changed. Starts
# nothing (run-by-hand.sh, or the tests, start every server on loopback and stop each by PID).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${SMOKEGATE_COMPAT_DIR:-target/compat}

# moto 5.2.5: Cognito IDP, Secrets Manager and IAM in one server process. boto3 only for
# service/setup.py; requests for the probes. NOTES.md records what these versions do.
PY_PKGS=("moto[server]==5.2.5" boto3==1.44.18 requests==2.34.2)
# Debian 12: apache2 2.4.x, libapache2-mod-auth-openidc 2.4.12.3.
DEBIAN_PKGS=(apache2 libapache2-mod-auth-openidc)

stamp="$DEST/.installed-cognito"
want="${PY_PKGS[*]} ${DEBIAN_PKGS[*]}"

source compat/lib.sh
install_debian "${DEBIAN_PKGS[@]}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "compat: apache-cognito stack already installed in $DEST"
  exit 0
fi
echo "compat: installing ${PY_PKGS[*]} (PyPI)"
mkdir -p "$DEST"
[[ -x "$DEST/venv-cognito/bin/python" ]] || python3 -m venv "$DEST/venv-cognito"
"$DEST/venv-cognito/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
echo "$want" > "$stamp"
echo "compat: apache-cognito stack installed in $DEST"
