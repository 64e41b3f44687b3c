# Shared by the bench scripts (sourced): the release binary, a scratch folder, and the servers
# they start, ended by PID when the script exits.
# SMOKEGATE_BIN measures another build (say, one with symbols for a profiler) instead.
if [[ -z ${SMOKEGATE_BIN:-} ]]; then cargo build --release --quiet; fi
BIN=${SMOKEGATE_BIN:-$PWD/target/release/smokegate}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
