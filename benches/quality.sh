#!/usr/bin/env bash
# Benchmarks of the quality and throughput probes. Not a test: it prints numbers.
#
#   1. the accuracy table: the quality probe against `serve` through the seeded impairment relay
#      (tests/lab/impair.rs), 1,000 requests per setting, its figures beside the relay's logged
#      truth (the ignored test `bench_accuracy_table` of tests/quality.rs, in release);
#   2. the time the default burst takes (50 a second for 2 s) against `serve` on loopback (and,
#      printed under the table, through the relay with 40 ms each way and 5 % loss, where the
#      wait for stragglers counts);
#   3. the throughput probe's default run (1,540 kbit/s, 3 s each way) on loopback, and across a
#      veth limited with `tbf rate 1mbit` in namespaces of this script's own (needs root).
#
#   bash benches/quality.sh        (RUNS: timed runs of the default burst, default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-10}
cargo build --release --quiet --bin trtc-preflight
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
export TRTC_PREFLIGHT_TOKEN=bench-token

work=$(mktemp -d)
serve_pid=""
ns_client="tpqc$$"
ns_server="tpqs$$"
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$serve_pid" ] && wait "$serve_pid" 2>/dev/null || true
  ip netns del "$ns_client" 2>/dev/null || true
  ip netns del "$ns_server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_serve PREFIX... -- SERVE_ARGS... : serve in the background; waits for "ready".
start_serve() {
  local prefix=()
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  shift
  "${prefix[@]}" "$bin" serve "$@" >"$work/serve.out" 2>&1 &
  serve_pid=$!
  for _ in $(seq 200); do grep -q '^ready' "$work/serve.out" && return; sleep 0.05; done
  echo "serve did not start" >&2; cat "$work/serve.out" >&2; exit 1
}
stop_serve() { kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; }
udp_port() { grep '^stun/udp ' "$work/serve.out" | head -n 1 | sed 's/.*://'; }

echo "== 1. quality: accuracy against the relay's logged truth (1,000 requests per setting)"
cargo test --release --quiet --test quality -- --ignored bench_accuracy_table --nocapture 2>&1 \
  | grep -E '^\||^default burst'

echo
echo "== 2. quality: time of the default burst (50 a second for 2 s), $runs runs"
start_serve -- --listen 127.0.0.1 --stun-udp 0
port=$(udp_port)
: >"$work/times"
for _ in $(seq "$runs"); do
  "$bin" check --ports 127.0.0.1 --udp-ports "$port" --only quality --format json \
    | jq -r '.probes[0] | "\(.metrics.took_ms) \(.duration_ms) \(.metrics.level_name)"' >>"$work/times"
done
stop_serve
sort -n "$work/times" | awk '{t[NR]=$1; d[NR]=$2; l=$3} END {
  printf "loopback: burst and wait %d / %d / %d ms (min / median / max); the whole probe %d ms at the median; level %s\n",
    t[1], t[int((NR+1)/2)], t[NR], d[int((NR+1)/2)], l }'
echo "(TRTC's own network-quality test takes 15 s; see ../shared/ANCHORS.md)"

echo
echo "== 3. throughput: the default run (1,540 kbit/s, 3 s each way)"
start_serve -- --listen 127.0.0.1 --stun-udp 0
port=$(udp_port)
"$bin" check --ports 127.0.0.1 --udp-ports "$port" --only throughput --format json \
  | jq -r '.probes[0] | "loopback: \(.duration_ms) ms; up \(.metrics.uplink.achieved_kbps) kbit/s (\(.metrics.uplink.loss_percent) % lost), down \(.metrics.downlink.achieved_kbps) kbit/s (\(.metrics.downlink.loss_percent) % lost); fits: \(.metrics.fits)"'
stop_serve

ip netns add "$ns_client"; ip netns add "$ns_server"
for ns in "$ns_client" "$ns_server"; do ip netns exec "$ns" ip link set lo up; done
ip link add qbc$$ netns "$ns_client" type veth peer name qbs$$ netns "$ns_server"
ip netns exec "$ns_client" ip addr add 10.233.0.2/30 dev qbc$$
ip netns exec "$ns_server" ip addr add 10.233.0.1/30 dev qbs$$
ip netns exec "$ns_client" ip link set qbc$$ up
ip netns exec "$ns_server" ip link set qbs$$ up
for dev in "$ns_client qbc$$" "$ns_server qbs$$"; do
  set -- $dev
  ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 1mbit burst 32kbit latency 400ms
done
start_serve ip netns exec "$ns_server" -- --listen 10.233.0.1 --stun-udp 0
port=$(udp_port)
ip netns exec "$ns_client" "$bin" check --ports 10.233.0.1 --udp-ports "$port" --only throughput --format json \
  | jq -r '.probes[0] | "tbf 1mbit both ways: \(.duration_ms) ms; up \(.metrics.uplink.wire_kbps) kbit/s of IP packets (\(.metrics.uplink.achieved_kbps) of payload, \(.metrics.uplink.loss_percent) % lost), down \(.metrics.downlink.wire_kbps) (\(.metrics.downlink.achieved_kbps), \(.metrics.downlink.loss_percent) % lost); fits: \(.metrics.fits); status \(.status)"'
echo "(tbf counts Ethernet frames: 1 Mbit/s carries 989 kbit/s of 1,228-byte IP packets, 966 kbit/s of payload)"
