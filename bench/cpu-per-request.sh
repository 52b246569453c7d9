#!/usr/bin/env bash
# CPU per request of one `restitch serve` of bench/app under autocannon: the number to compare when A/B-ing
# two builds (run them alternately, several times: single runs swing ±10-30% on a small shared machine).
#
#   bench/cpu-per-request.sh <label> <port> <endpoint> [restitch serve flags…]
#   e.g. bench/cpu-per-request.sh default 18001 hello
#        bench/cpu-per-request.sh silent 18002 hello --log-level silent --workers 0
#
# Env: REPO (checkout to run, default this one), SECS (measured seconds, 5), RATE (req/s, 0 = as fast as it
# answers), SRVCPU / ACCPU (cores the server and autocannon are pinned to: 1 and 0). Prints req/s, p99, and
# CPU µs per request of the server's whole process tree (supervisor + workers) and of its first process.
set -euo pipefail
label=$1 port=$2 ep=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
repo=${REPO:-$(dirname "$here")}
ac=$here/node_modules/.bin/autocannon
data=$(mktemp -d)
log=$(mktemp)
out=$(mktemp)
taskset -c "${SRVCPU:-1}" node --no-node-snapshot "$repo/packages/cli/bin/restitch.js" serve "$repo/bench/app" --port "$port" --data-dir "$data" "$@" > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$log" "$out"' EXIT
url="http://127.0.0.1:$port/app/bench-abcde/endpoint/$ep"
for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.2; done
rate=()
[ "${RATE:-0}" != 0 ] && rate=(-R "$RATE")
ticks() { local s=0 p; for p in $pid $(pgrep -P $pid || true); do s=$((s + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $s; }
taskset -c "${ACCPU:-0}" "$ac" -c 50 -d 2 "${rate[@]}" "$url" > /dev/null 2>&1
t0=$(ticks) m0=$(awk '{print $14+$15}' /proc/$pid/stat)
taskset -c "${ACCPU:-0}" "$ac" -j -c 50 -d "${SECS:-5}" "${rate[@]}" "$url" > "$out" 2>/dev/null
t1=$(ticks) m1=$(awk '{print $14+$15}' /proc/$pid/stat)
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const ok = r["2xx"], hz = Number(process.argv[5]);
const us = (ticks) => ((Number(ticks) * 1e6) / hz / ok).toFixed(0);
console.log(`${process.argv[2].padEnd(12)} ${(ok / r.duration).toFixed(0).padStart(6)} req/s  p99 ${String(r.latency.p99).padStart(3)} ms  ${us(process.argv[3]).padStart(4)} µs CPU/request (first process ${us(process.argv[4])})`);
' "$out" "$label" $((t1 - t0)) $((m1 - m0)) "$(getconf CLK_TCK)"
