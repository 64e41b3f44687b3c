#!/usr/bin/env bash
# The shell steps of smokegate's GitHub Action (action.yml), kept in one file so they can be
# run and tested outside GitHub (tests/action.rs runs them against the reference gateway).
#   smokegate.sh install   download the release binary for this runner (SHA-256 checked), or
#                          use INPUT_BINARY, and put it on GITHUB_PATH
#   smokegate.sh run       smokegate run with the action's inputs; exits with its code
#   smokegate.sh cleanup   smokegate cleanup (always, even after a failed or cancelled run)
set -euo pipefail

bin_dir="${RUNNER_TEMP:?}/smokegate-bin"
exe=""
[[ "${RUNNER_OS:-Linux}" == "Windows" ]] && exe=".exe"
sg="$bin_dir/smokegate$exe"

target() {
  case "${RUNNER_OS:-Linux}/${RUNNER_ARCH:-X64}" in
    Linux/X64) echo x86_64-unknown-linux-musl ;;
    Linux/ARM64) echo aarch64-unknown-linux-musl ;;
    macOS/ARM64) echo aarch64-apple-darwin ;;
    macOS/X64) echo x86_64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) echo "smokegate: no release binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; pass \`binary:\`" >&2; return 1 ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

install() {
  mkdir -p "$bin_dir"
  if [[ -n "${INPUT_BINARY:-}" ]]; then
    cp "$INPUT_BINARY" "$sg"
  else
    local t name base
    t="$(target)"
    name="smokegate-$t$exe"
    if [[ "${INPUT_VERSION:-latest}" == "latest" ]]; then
      base="${SMOKEGATE_DOWNLOAD_BASE:-https://github.com/${ACTION_REPOSITORY:?}/releases/latest/download}"
    else
      base="${SMOKEGATE_DOWNLOAD_BASE:-https://github.com/${ACTION_REPOSITORY:?}/releases/download/${INPUT_VERSION}}"
    fi
    curl -fsSL --retry 3 -o "$sg" "$base/$name"
    local want got
    want="$(curl -fsSL --retry 3 "$base/$name.sha256" | cut -d' ' -f1)"
    got="$(sha256 "$sg")"
    if [[ -z "$want" || "$want" != "$got" ]]; then
      rm -f "$sg"
      echo "smokegate: checksum mismatch for $name (expected ${want:-nothing}, got $got); not installed" >&2
      exit 1
    fi
  fi
  chmod +x "$sg"
  echo "$bin_dir" >> "${GITHUB_PATH:?}"
  "$sg" --version
}

run() {
  local args=(run)
  # Paths are whitespace-separated, like a shell command line without globbing.
  read -r -a paths <<< "${INPUT_PATHS:-smoke-suites}"
  args+=("${paths[@]}")
  [[ -n "${INPUT_WAIT_READY:-}" ]] && args+=(--wait-ready "$INPUT_WAIT_READY")
  [[ "${INPUT_AUTH_PROBES:-false}" == "true" ]] && args+=(--auth-probes)
  [[ -n "${INPUT_JUNIT:-}" ]] && args+=(--junit "$INPUT_JUNIT")
  [[ -n "${INPUT_JSON:-}" ]] && args+=(--json "$INPUT_JSON")
  [[ -n "${INPUT_LOG_FILE:-}" ]] && args+=(--log-file "$INPUT_LOG_FILE")
  if [[ -n "${INPUT_ARGS:-}" ]]; then
    read -r -a extra <<< "$INPUT_ARGS"
    args+=("${extra[@]}")
  fi
  "$sg" "${args[@]}"
}

cleanup() {
  "$sg" cleanup
}

case "${1:-}" in
  install) install ;;
  run) run ;;
  cleanup) cleanup ;;
  *) echo "usage: smokegate.sh install|run|cleanup" >&2; exit 2 ;;
esac
