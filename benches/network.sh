#!/usr/bin/env bash
# Benchmarks of the network probes and of `serve`, on loopback and in a network namespace of
# this script's own (needs root for the namespace). Not a test: it prints numbers.
#
#   bash benches/network.sh          (apt-get install hyperfine time nftables, once)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
export TRTC_PREFLIGHT_TOKEN=bench-token   # serve's limiter lets the tool's own sweeps through
work=$(mktemp -d)
ns="tpbench$$"
cleanup() { pkill -P $$ 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# serve ARGS... : starts serve (in "$@" context), waits for "ready", leaves the listeners in $work/serve.out
start_serve() {
  "$@" serve --listen 127.0.0.1 "${serve_args[@]}" > "$work/serve.out" 2>&1 &
  for _ in $(seq 200); do grep -q '^ready' "$work/serve.out" && return; sleep 0.05; done
  echo "serve did not start" >&2; cat "$work/serve.out" >&2; exit 1
}
ports_of() { grep "^stun/$1 " "$work/serve.out" | sed 's/.*://' | paste -sd, -; }

echo "== 1. healthy loopback: one STUN server (UDP + TCP) and the TRTC matrix (6 UDP, 2 TCP) against serve"
serve_args=(--stun-udp 0,0,0,0,0,0 --stun-tcp 0,0)
start_serve "$bin"
udp=$(ports_of udp); tcp=$(ports_of tcp); first_udp=${udp%%,*}; first_tcp=${tcp%%,*}
hyperfine -N --style basic --warmup 3 --runs 30 --export-markdown /dev/stdout -n "stun (udp+tcp) + 8-port matrix" \
  "$bin check --only stun,ports --stun 127.0.0.1:$first_udp --stun tcp:127.0.0.1:$first_tcp --ports 127.0.0.1 --udp-ports $udp --tcp-ports $tcp --format json"
pkill -P $$ -f "trtc-preflight serve" || true; sleep 0.2

echo "== 2. UDP silently dropped, TCP open on the same host (nftables drop in a namespace)"
ip netns add "$ns"; ip netns exec "$ns" ip link set lo up
serve_args=(--stun-udp 0 --stun-tcp 0)
start_serve ip netns exec "$ns" "$bin"
udp=$(ports_of udp); tcp=$(ports_of tcp)
printf 'table inet b {\n chain input {\n type filter hook input priority 0; policy accept;\n udp dport %s drop\n }\n}\n' "$udp" \
  | ip netns exec "$ns" nft -f -
hyperfine -N --style basic --runs 5 --export-markdown /dev/stdout -n "udp dropped, tcp open" \
  "ip netns exec $ns $bin check --only stun --stun 127.0.0.1:$udp --stun tcp:127.0.0.1:$tcp --format json"
echo "(Chromium 156 needs 39.9 s for this verdict; see ../shared/ANCHORS.md)"
pkill -P $$ -f "trtc-preflight serve" || true; ip netns del "$ns"; sleep 0.2

echo "== 3. 1,000 UDP and 1,000 TCP ports against serve on loopback"
zeros=$(printf '0%.0s,' $(seq 1000)); zeros=${zeros%,}
serve_args=(--stun-udp "$zeros" --stun-tcp "$zeros")
start_serve "$bin"
udp=$(ports_of udp); tcp=$(ports_of tcp)
hyperfine -N --style basic --runs 5 --export-markdown /dev/stdout -n "1,000 udp + 1,000 tcp ports" \
  "$bin check --only ports --ports 127.0.0.1 --udp-ports $udp --tcp-ports $tcp --format json"
peak=$(/usr/bin/time -f %M "$bin" check --only ports --ports 127.0.0.1 --udp-ports "$udp" --tcp-ports "$tcp" --format json 2>&1 >/dev/null | tail -n 1)
echo "peak memory of the 2,000-port check: ${peak} KiB"
pkill -P $$ -f "trtc-preflight serve" || true

echo "== 4. serve: binding answers per second on one core"
cargo test --release --quiet -p preflight-probes --bench responder -- --ignored --nocapture --test-threads=1 2>&1 \
  | grep -Ei 'answers|drops|calls' || true
