# Shared by the compat install scripts (sourced): Debian packages installed once, without
# starting their services (the tests start their own instances on loopback).

# install_debian PKG...: installs those not yet installed; waits for another install's dpkg lock.
install_debian() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "compat: installing ${missing[*]} (Debian)"
  local SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  local apt=(apt-get -o DPkg::Lock::Timeout=600) blocked=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; blocked=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${missing[@]}" >/dev/null \
    || { $SUDO "${apt[@]}" update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${missing[@]}" >/dev/null; }
  if [[ -n $blocked ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
}
