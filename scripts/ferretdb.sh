#!/usr/bin/env bash
# scripts/ferretdb.sh start [port] | stop [port] — runs FerretDB on 127.0.0.1 with a throwaway SQLite dir.
# start prints MONGODB_URI=... for the caller to export.
set -euo pipefail
port="${2:-27027}"
state="${TMPDIR:-/tmp}/restitch-ferretdb-$port"
case "${1:-}" in
  start)
    bin=$("$(dirname "$0")/install-ferretdb.sh")
    rm -rf "$state"; mkdir -p "$state/data"
    "$bin" --handler=sqlite --sqlite-url="file:$state/data/" --listen-addr="127.0.0.1:$port" \
      --debug-addr="127.0.0.1:$((port + 1))" --telemetry=disable --log-level=warn >"$state/log" 2>&1 &
    echo $! >"$state/pid"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "MONGODB_URI=mongodb://127.0.0.1:$port/"; exit 0; fi
      sleep 0.1
    done
    echo "ferretdb did not start; its log:" >&2; cat "$state/log" >&2; exit 1 ;;
  stop)
    [ -f "$state/pid" ] && kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -rf "$state" ;;
  *) echo "usage: $0 start [port] | stop [port]" >&2; exit 2 ;;
esac
