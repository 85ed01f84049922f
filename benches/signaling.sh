#!/usr/bin/env bash
# Benchmarks of signaling on loopback: the time to an open WebSocket over wss, step by step, with
# the probe's overhead against a bare tokio-tungstenite connect (same process, alternately);
# `serve` holding many idle signaling WebSockets (its VmRSS before, while held, after); and
# echo messages per second. Not a test: it prints numbers. The client is examples/ws_bench.rs.
#
#   bash benches/signaling.sh
#
# Environment: IDLE_CONNECTIONS (default 10000), OPEN_RUNS (200), ECHO_SECONDS (5),
# ECHO_CONNECTIONS (8).
set -euo pipefail
cd "$(dirname "$0")/.."

idle_n=${IDLE_CONNECTIONS:-10000}
open_runs=${OPEN_RUNS:-200}
echo_seconds=${ECHO_SECONDS:-5}
echo_connections=${ECHO_CONNECTIONS:-8}
aim_kib=$((200 * 1000 * 1000 / 1024))   # 200 MB (decimal), in KiB

# Every idle WebSocket is one descriptor in serve and one in ws_bench: raise the open-files limit
# (inherited by both). Without CAP_SYS_RESOURCE the hard limit caps it; enough is enough.
want=65536
if ! ulimit -n "$want" 2>/dev/null; then
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] || ulimit -n "$hard"
  echo "note: cannot raise the open-files limit to $want (hard limit $hard, and no CAP_SYS_RESOURCE); using $(ulimit -n)"
fi
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((idle_n + 512)) ]; then
  echo "the open-files limit ($nofile) is too low for $idle_n idle connections; raise the hard limit (ulimit -Hn) or set IDLE_CONNECTIONS" >&2
  exit 2
fi

cargo build --release --quiet --bin trtc-preflight --example ws_bench
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
bench="$target_dir/release/examples/ws_bench"
# serve's token: its holders skip the per-source connection rate (10/s, bursts of 20) and the
# per-connection message rate, which would otherwise refuse this benchmark's bursts.
TRTC_PREFLIGHT_TOKEN="bench-$$-$RANDOM$RANDOM"
export TRTC_PREFLIGHT_TOKEN

work=$(mktemp -d)
serve_pid=""
idle_pid=""
cleanup() {
  exec 3>&- || true
  for pid in $idle_pid $serve_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $idle_pid $serve_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { kill -0 "$1" 2>/dev/null; }
status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB, %.1f MB", k / 1024, k * 1.024 / 1000 }'; }

echo "== serve: --listen 127.0.0.1 --signal-ws 0 --signal-wss 0 --signal-connections 20000 (open-files limit $nofile)"
"$bin" serve --listen 127.0.0.1 --signal-ws 0 --signal-wss 0 --signal-connections 20000 \
  > "$work/serve.out" 2> "$work/serve.err" &
serve_pid=$!
for _ in $(seq 200); do
  grep -q '^ready' "$work/serve.out" && break
  alive "$serve_pid" || break
  sleep 0.05
done
if ! grep -q '^ready' "$work/serve.out"; then
  echo "serve did not start" >&2; cat "$work/serve.out" "$work/serve.err" >&2; exit 1
fi
ws_addr=$(sed -n 's|^signal/ws ||p' "$work/serve.out" | head -n 1)
wss_addr=$(sed -n 's|^signal/wss ||p' "$work/serve.out" | head -n 1)
pin=$(sed -n 's|^tls ||p' "$work/serve.out" | head -n 1)
port=${ws_addr##*:}
echo "serve pid $serve_pid: ws://$ws_addr/, wss://$wss_addr/ (pin $pin)"
echo "serve VmRSS at start: $(status_kib "$serve_pid" VmRSS) KiB"

echo
echo "== 1. time to an open WebSocket over wss on loopback: the probe vs a bare connect, $open_runs each"
"$bench" open "wss://$wss_addr/" "$pin" "$open_runs"

echo
echo "== 2. serve holding $idle_n idle signaling WebSockets (ws://, token header)"
rss_before=$(status_kib "$serve_pid" VmRSS)
mkfifo "$work/idle.in"
"$bench" idle "ws://$ws_addr/" "$idle_n" 600 < "$work/idle.in" > "$work/idle.out" 2>&1 &
idle_pid=$!
exec 3> "$work/idle.in"   # opens the FIFO's writing end; a line on it releases the connections
for _ in $(seq 1200); do
  grep -q '^held ' "$work/idle.out" && break
  alive "$idle_pid" || break
  sleep 0.1
done
if ! grep -q '^held ' "$work/idle.out"; then
  echo "ws_bench idle did not report its connections held" >&2; cat "$work/idle.out" >&2; exit 1
fi
sleep 2   # let every connection settle into serve's loop
held=$(sed -n 's/^held //p' "$work/idle.out")
rss_held=$(status_kib "$serve_pid" VmRSS)
hwm_held=$(status_kib "$serve_pid" VmHWM)
established=$(ss -Htn state established "( sport = :$port )" | wc -l)
echo >&3
exec 3>&-
idle_status=0
wait "$idle_pid" || idle_status=$?
idle_pid=""
sleep 1
rss_after=$(status_kib "$serve_pid" VmRSS)
grep -v '^held ' "$work/idle.out"
[ "$idle_status" -eq 0 ] || echo "ws_bench idle exited with status $idle_status"
echo "opened and held by the client: $held of $idle_n; TCP connections established at serve's ws port while held: $established"
echo "serve VmRSS before: $rss_before KiB ($(mib "$rss_before"))"
echo "serve VmRSS while $held are held: $rss_held KiB ($(mib "$rss_held")); VmHWM $hwm_held KiB"
if [ "$held" -gt 0 ]; then
  awk -v a="$rss_held" -v b="$rss_before" -v n="$held" \
    'BEGIN { printf "serve memory per held WebSocket: %.1f KiB ((held - before) / %d)\n", (a - b) / n, n }'
fi
echo "serve VmRSS after they closed: $rss_after KiB ($(mib "$rss_after"))"
if [ "$idle_n" -ne 10000 ]; then
  echo "aim (10,000 idle under 200 MB): not measured here (IDLE_CONNECTIONS=$idle_n)"
elif [ "$held" -ge 10000 ] && [ "$rss_held" -lt "$aim_kib" ]; then
  echo "aim (10,000 idle under 200 MB): met ($(mib "$rss_held"))"
else
  echo "aim (10,000 idle under 200 MB): NOT met (held $held, VmRSS $(mib "$rss_held"))"
fi

echo
echo "== 3. echo messages per second: $echo_connections connections, $echo_seconds s, 32 in flight each"
"$bench" echo "ws://$ws_addr/" "$echo_seconds" "$echo_connections"

echo
echo "== serve's own counters (at Ctrl-C)"
kill -INT "$serve_pid"
wait "$serve_pid" || true
serve_pid=""
grep -E '^(signaling|stopped):' "$work/serve.err" || cat "$work/serve.err"
