#!/usr/bin/env bash
# Benchmark: is the harness the bottleneck? Builds the release binary, starts the reference
# gateway on loopback, and measures three workloads with hyperfine (medians), plus peak RSS.
#   W1  bootstrap + 500 sequential authenticated GETs with 3 JSON assertions each,
#       against a floor: the same 500 GETs by curl over one keep-alive connection.
#   W2  one health request (process start, config and suite parse, one request, exit).
#   W3  50 suites × 10 steps, --jobs 1 vs --jobs 8, with 20 ms added upstream latency.
# Not yet scripted: the same workloads under Hurl (see the README's Performance section).
# Usage: bench/run.sh [--runs N]      (loopback only; nothing leaves 127.0.0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10
[[ "${1:-}" == "--runs" ]] && RUNS="$2"

if ! command -v hyperfine >/dev/null; then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    apt-get install -y -qq hyperfine >/dev/null
  else
    echo "hyperfine is required (Debian: apt-get install hyperfine)" >&2
    exit 1
  fi
fi

cargo build --release --quiet
BIN="$PWD/target/release/smokegate"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a reference gateway; its URL is left in $REPLY. (Not a $(…) substitution: that would
# run in a subshell, and the PID would never reach the EXIT trap.)
start_refgate() {
  local log="$WORK/refgate-$1.log"; shift
  "$BIN" refgate --port 0 "$@" >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q '^refgate gateway=' "$log" 2>/dev/null && break
    sleep 0.05
  done
  REPLY=$(sed -n 's/^refgate gateway=\([^ ]*\).*/\1/p' "$log" | head -1)
}

peak_rss_mib() { # command… → peak RSS of the command in MiB
  /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'
}

start_refgate fast
GW=$REPLY
start_refgate slow --latency 20ms
GW_SLOW=$REPLY
STATE="$WORK/state"
export GATEWAY_BASE_URL="$GW"

# W1 suite: one create, 500 reads with 3 assertions each, one teardown.
mkdir -p "$WORK/w1" "$WORK/w2" "$WORK/w3"
{
  echo 'name: w1'
  echo 'steps:'
  echo '  - name: create'
  echo '    request: { method: POST, path: /api/orders, json: { sku: bench, qty: 1 } }'
  echo '    expect: { status: 201 }'
  echo '    capture: { id: $.id }'
  for i in $(seq 500); do
    echo "  - name: read $i"
    echo '    request: { path: "/api/orders/{{ id }}" }'
    echo '    expect: { status: 200, json: { $.id: "{{ id }}", $.sku: bench, $.qty: 1 } }'
  done
  echo 'teardown:'
  echo '  - request: { method: DELETE, path: "/api/orders/{{ id }}" }'
  echo '    expect: { status: [200, 204, 404] }'
} >"$WORK/w1/w1.yaml"
printf 'name: w2\nauth: none\nsteps:\n  - request: { path: /health/live }\n' >"$WORK/w2/w2.yaml"
for s in $(seq -w 50); do
  {
    echo "name: w3-$s"
    echo 'steps:'
    for i in $(seq 10); do
      echo "  - request: { path: /api/orders }"
      echo '    expect: { status: 200, json: { $: { type: array } } }'
    done
  } >"$WORK/w3/s$s.yaml"
done

# The floor for W1: curl, one process, one keep-alive connection, the same 500 GETs.
TOKEN=$("$BIN" token --raw --state-dir "$STATE")
ORDER=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"sku":"bench","qty":1}' "$GW/api/orders" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
URLS=()
for _ in $(seq 500); do URLS+=("$GW/api/orders/$ORDER"); done
printf '%s\n' "${URLS[@]/#/url = }" >"$WORK/curl.cfg"
printf 'header = "Authorization: Bearer %s"\noutput = /dev/null\n' "$TOKEN" >>"$WORK/curl.cfg"
# (the token is in a file of this run's temp dir only, never on a command line)

RUN="$BIN run --state-dir $STATE -q"
HF=(hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/hf.json")

echo "== W1: bootstrap + 500 authenticated GETs (3 JSON assertions each)"
"${HF[@]}" -n curl-floor "curl -s -K $WORK/curl.cfg" -n smokegate "$RUN $WORK/w1" >"$WORK/w1.txt"
W1=$(python3 - "$WORK/hf.json" <<'PY'
import json, sys
r = {x["command"]: sorted(x["times"])[len(x["times"]) // 2] for x in json.load(open(sys.argv[1]))["results"]}
floor, sg = r["curl-floor"], r["smokegate"]
print(f"floor {floor*1000:.1f} ms · smokegate {sg*1000:.1f} ms · overhead {(sg-floor)/500*1e6:.0f} µs/request · ratio {sg/floor:.2f}×")
PY
)
echo "$W1"

echo "== W2: one health request"
"${HF[@]}" -n smokegate "$RUN $WORK/w2" >"$WORK/w2.txt"
W2=$(python3 -c "import json;r=json.load(open('$WORK/hf.json'))['results'][0];t=sorted(r['times']);print(f'{t[len(t)//2]*1000:.1f} ms')")
echo "median $W2"

echo "== W3: 50 suites × 10 steps, 20 ms upstream latency"
"${HF[@]}" -n jobs1 "$BIN run --gateway $GW_SLOW --state-dir $STATE -q --jobs 1 $WORK/w3" \
  -n jobs8 "$BIN run --gateway $GW_SLOW --state-dir $STATE -q --jobs 8 $WORK/w3" >"$WORK/w3.txt"
W3=$(python3 - "$WORK/hf.json" <<'PY'
import json, sys
r = {x["command"]: sorted(x["times"])[len(x["times"]) // 2] for x in json.load(open(sys.argv[1]))["results"]}
print(f"--jobs 1 {r['jobs1']*1000:.0f} ms · --jobs 8 {r['jobs8']*1000:.0f} ms · speed-up {r['jobs1']/r['jobs8']:.1f}×")
PY
)
echo "$W3"

echo "== peak RSS"
RSS1=$(peak_rss_mib $RUN "$WORK/w1")
RSS2=$(peak_rss_mib $RUN "$WORK/w2")
RSS3=$(peak_rss_mib "$BIN" run --gateway "$GW_SLOW" --state-dir "$STATE" -q --jobs 8 "$WORK/w3")
echo "W1 ${RSS1} MiB · W2 ${RSS2} MiB · W3 (--jobs 8) ${RSS3} MiB"

"$BIN" logout --state-dir "$STATE" >/dev/null
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
echo "W1: $W1"
echo "W2: median $W2"
echo "W3: $W3"
echo "peak RSS: W1 ${RSS1} MiB · W2 ${RSS2} MiB · W3 ${RSS3} MiB"
