#!/usr/bin/env bash
# Peak memory (RSS, GNU time) of the release binary on the inputs that used to blow it up:
#   body-pass / body-fail   a 10 MB JSON array (112,000 objects, under the 10 MiB cap) judged by
#                           a passing `min_items: 1`, and by failing `max_items` and `contains`
#   body-numbers            a 10 MB JSON array of numbers, passing
#   body-500k-small         a 10 MB JSON array of 500,000 `{"a":{"b":[1,2,3]}}`: `min_items`, two
#                           paths into it and a capture, passing
#   alias-bomb              `check` of a 282 KB suite aliasing one 100 KiB string 60,000 times
#   suites-2000x10          2,000 suites × 10 steps against the reference gateway
#   base                    one health request: the process's own base
# and each figure's ratio to the body size. Loopback only; every server is ours, by PID.
# Usage: bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (Debian: apt-get install time)" >&2; exit 1; }
. bench/lib.sh
BASE_KB=0
# rss LABEL BODY-FILE|- command… → "label  N MiB  +M MiB over base  R× the body"
rss() {
  local kb label=$1 body=$2
  kb=$( { /usr/bin/time -f '%M' "${@:3}" >/dev/null 2>"$WORK/err"; } 2>&1; tail -1 "$WORK/err")
  if [[ $label == base ]]; then BASE_KB=$kb; fi
  local size=0
  [[ $body != - ]] && size=$(stat -c %s "$WORK/$body")
  awk -v l="$label" -v k="$kb" -v b="$BASE_KB" -v s="$size" 'BEGIN {
    line = sprintf("%-16s %7.1f MiB  %+7.1f MiB over base", l, k/1024, (k-b)/1024)
    if (s > 0) line = line sprintf("  %5.1f× the body (%.1f MB), target ≤ 4×: %s", (k-b)*1024/s, s/1e6, ((k-b)*1024/s <= 4 ? "met" : "NOT met"))
    print line }'
}

python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
objs = json.dumps([{"id": f"ord-{i}", "sku": f"smoke-sku-{i}", "qty": i % 7, "note": "x" * 20} for i in range(112000)])
nums = json.dumps(list(range(1_100_000)))
small = json.dumps([{"a": {"b": [1, 2, 3]}}] * 500_000, separators=(",", ":"))
for name, body in (("objects", objs), ("numbers", nums), ("small", small)):
    open(f"{w}/{name}.json", "w").write(body)
print(f"bodies: objects {len(objs)/1e6:.1f} MB, numbers {len(nums)/1e6:.1f} MB, small {len(small)/1e6:.1f} MB")
PY
PORT=$(free_port)
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/objects.json" -o /dev/null 2>/dev/null && break; sleep 0.1; done
STATIC="http://127.0.0.1:$PORT"

mkdir -p "$WORK/s"
cat >"$WORK/s/pass.yaml" <<'Y'
auth: none
steps:
  - request: { path: /objects.json }
    expect: { json: { $: { min_items: 1 } } }
Y
cat >"$WORK/s/fail.yaml" <<'Y'
auth: none
steps:
  - request: { path: /objects.json }
    expect: { json: { $: { max_items: 1 }, "$[*].id": { contains: nope } } }
Y
cat >"$WORK/s/numbers.yaml" <<'Y'
auth: none
steps:
  - request: { path: /numbers.json }
    expect: { json: { $: { min_items: 1 } } }
Y
cat >"$WORK/s/small.yaml" <<'Y'
auth: none
steps:
  - request: { path: /small.json }
    expect: { json: { $: { min_items: 1 }, "$[0].a.b": { contains: 2 }, "$[-1].a.b[2]": 3 } }
    capture: { first: "$[0].a" }
Y
cat >"$WORK/s/health.yaml" <<'Y'
auth: none
steps:
  - request: { path: /numbers.json, method: HEAD }
Y
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/bomb.yaml", "w") as f:
    f.write('big: &big "' + "x" * 102400 + '"\nsteps:\n  - request: { path: /x }\nvars:\n  many: [' + ", ".join(["*big"] * 60000) + "]\n")
import os
os.makedirs(f"{w}/many", exist_ok=True)
steps = "".join(f"  - name: s{i}\n    request: {{ path: /health/live }}\n" for i in range(10))
for n in range(2000):
    open(f"{w}/many/s{n:04}.yaml", "w").write(f"auth: none\nsteps:\n{steps}")
PY

"$BIN" refgate --port 0 >"$WORK/refgate.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'gateway=' "$WORK/refgate.log" 2>/dev/null && break; sleep 0.05; done
GW=$(grep -o 'gateway=[^ ]*' "$WORK/refgate.log" | head -1 | cut -d= -f2)

# From the scratch folder: from the repository's root, a suite without a config of its own
# would pick up ./smoke-suites/smokegate.yaml (and load its OpenAPI document).
cd "$WORK"
echo "== peak RSS (release binary); the ratio is what the process holds above its base, per byte of body"
rss base - "$BIN" run "$WORK/s/health.yaml" --gateway "$STATIC" -q
rss body-pass objects.json "$BIN" run "$WORK/s/pass.yaml" --gateway "$STATIC" -q || true
rss body-fail objects.json "$BIN" run "$WORK/s/fail.yaml" --gateway "$STATIC" -q || true
rss body-numbers numbers.json "$BIN" run "$WORK/s/numbers.yaml" --gateway "$STATIC" -q || true
rss body-500k-small small.json "$BIN" run "$WORK/s/small.yaml" --gateway "$STATIC" -q || true
rss alias-bomb - "$BIN" check "$WORK/bomb.yaml" || true
rss suites-2000x10 - "$BIN" run "$WORK/many" --gateway "$GW" --jobs 8 -q --state-dir "$WORK/state"
