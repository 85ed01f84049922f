#!/usr/bin/env bash
# The benchmark suite: every performance figure of the README's "Performance" section in one
# run, printed as one table (Markdown), with the peers that can run here measured beside us in
# the same run (headless Chromium's ICE gathering, coturn). Not a test: it prints numbers.
#
#   sudo bash benches/suite.sh        (root: namespaces and nftables; about 3 minutes)
#
# Needs: coturn, chromium, hyperfine, jq, GNU time (apt-get install coturn chromium hyperfine jq
# time nftables iproute2). RUNS (default 20) sets the runs of the quick commands.
#
# The lab: a network namespace of this script's own with coturn (STUN only) on 127.0.0.1:3478
# over UDP and TCP; our `check` and Chromium's gathering (benches/chromium_gathering.py, the
# ANCHORS.md recipe) run inside it against the same server, healthy, then with UDP 3478 dropped
# and rejected by nftables. `serve` and a TURN coturn run on loopback for the other rows.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in turnserver chromium hyperfine jq /usr/bin/time nft ip python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (see the head of this script)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root: network namespaces and nftables" >&2; exit 2; }

runs=${RUNS:-20}
echo "building (release)…" >&2
cargo build --release --quiet --bin trtc-preflight
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
export TRTC_PREFLIGHT_TOKEN=bench-token   # serve's limiter lets the tool's own bursts through

work=$(mktemp -d)
ns="tpsuite$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rows=()
# row FIGURE OURS PEER NOTE
row() {
  rows+=("| $1 | $2 | $3 | $4 |")
  echo "  $1: $2 | $3 | $4" >&2
}
# median_ms PREFIX... -- COMMAND : hyperfine's median wall time of COMMAND (a string), in ms.
median_ms() {
  local prefix=()
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  shift
  "${prefix[@]}" hyperfine -N --style none --warmup 2 --runs "$runs" --export-json "$work/h.json" "$1" >/dev/null 2>&1 \
    || "${prefix[@]}" hyperfine -N -i --style none --warmup 1 --runs "$runs" --export-json "$work/h.json" "$1" >/dev/null 2>&1
  jq '.results[0].median * 1000 | round' "$work/h.json"
}
# wall_ms PREFIX... -- ARGS... : one run's wall time in ms (the exit status is ignored).
wall_ms() {
  local prefix=() start end
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  shift
  start=$(date +%s%N)
  "${prefix[@]}" "$@" >"$work/out.json" 2>/dev/null || true
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.0fx faster", b / a; else print "–" }'; }
start_bg() { "$@" & pids+=($!); }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# A port free on 127.0.0.1 for both TCP and UDP (coturn takes both and cannot take port 0).
free_port() {
  python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass'
}
# tcp_ready PREFIX... -- PORT : waits until 127.0.0.1:PORT accepts TCP (coturn listens on TCP
# and UDP together, and prints nothing when ready).
tcp_ready() {
  local prefix=()
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
  for _ in $(seq 200); do
    "${prefix[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" 2>/dev/null && return
    sleep 0.05
  done
  echo "nothing accepts TCP on 127.0.0.1:$2" >&2; exit 1
}
# wait_for FILE PATTERN
wait_for() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.05; done
  echo "timed out waiting for /$2/ in $1:" >&2; cat "$1" >&2; exit 1
}

echo "== time to a verdict about UDP, beside Chromium's ICE gathering (same server, same firewall)" >&2
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
start_bg ip netns exec "$ns" turnserver -n --no-cli --stun-only --no-tls --no-dtls \
  --listening-ip 127.0.0.1 --listening-port 3478 --log-file stdout --simple-log >"$work/coturn-ns.log" 2>&1
tcp_ready ip netns exec "$ns" -- 3478
stun_check="$bin check --only stun --stun 127.0.0.1:3478 --stun tcp:127.0.0.1:3478 --format json"
gather() {
  ip netns exec "$ns" python3 benches/chromium_gathering.py --stun 127.0.0.1:3478 --timeout 60
}
firewall() {
  ip netns exec "$ns" nft flush ruleset
  [ "$1" = none ] && return
  printf 'table inet suite {\n chain input {\n type filter hook input priority 0; policy accept;\n udp dport 3478 %s\n }\n}\n' "$1" \
    | ip netns exec "$ns" nft -f -
}
for case in none drop reject; do
  firewall "$case"
  case $case in
    none) label="STUN answered (healthy lab)";;
    drop) label="UDP to the STUN port dropped";;
    reject) label="UDP rejected (ICMP port unreachable)";;
  esac
  ours=$(median_ms ip netns exec "$ns" -- "$stun_check")
  verdict=$(ip netns exec "$ns" $stun_check | jq -r '[.probes[] | "\(.id | split("/")[1]) \(.status)"] | join(", ")')
  gathered=$(gather)
  chromium=$(jq -r 'if .timed_out then "no verdict in 60 s" else "\(.gathering_ms)" end' <<<"$gathered")
  errors=$(jq -r '[.errors[] | "\(.code) \(.text)"] | unique | join("; ")' <<<"$gathered")
  note="ours: $verdict${errors:+; Chromium: $errors}"
  if [[ $chromium =~ ^[0-9]+$ ]]; then
    row "$label: whole \`check\` (ms) vs Chromium gathering complete (ms)" "$ours" "$chromium" "$(ratio "$ours" "$chromium"); $note"
  else
    row "$label: whole \`check\` (ms) vs Chromium gathering complete (ms)" "$ours" "$chromium" "$note"
  fi
done
firewall none

echo "== the 2,000-port matrix (1,000 UDP + 1,000 TCP ports of serve on loopback)" >&2
zeros=$(printf '0%.0s,' $(seq 1000)); zeros=${zeros%,}
start_bg "$bin" serve --listen 127.0.0.1 --stun-udp "$zeros" --stun-tcp "$zeros" >"$work/serve-ports.out" 2>&1
serve_ports=$!
wait_for "$work/serve-ports.out" "^ready"
udp=$(grep '^stun/udp ' "$work/serve-ports.out" | sed 's/.*://' | paste -sd, -)
tcp=$(grep '^stun/tcp ' "$work/serve-ports.out" | sed 's/.*://' | paste -sd, -)
matrix="$bin check --only ports --ports 127.0.0.1 --udp-ports $udp --tcp-ports $tcp --format json"
saved_runs=$runs; runs=5
matrix_ms=$(median_ms -- "$matrix"); runs=$saved_runs
matrix_kib=$(/usr/bin/time -f %M $matrix 2>&1 >/dev/null | tail -n 1)
open=$($matrix | jq -r '.probes[0].metrics | "open: \(.open.udp | length) UDP, \(.open.tcp | length) TCP; closed: \(.closed.udp | length + (.closed.tcp | length))"' || true)
row "2,000-port matrix: whole \`check\` (ms)" "$matrix_ms" "–" "peak memory $((matrix_kib / 1024)) MiB${open:+; $open}"
stop "$serve_ports"

echo "== serve beside coturn: binding answers a second (the same load, 4 sockets, loopback)" >&2
start_bg "$bin" serve --listen 127.0.0.1 --stun-udp 0 --rate 10000000 --burst 10000000 >"$work/serve-load.out" 2>&1
serve_load=$!
wait_for "$work/serve-load.out" "^ready"
serve_port=$(grep '^stun/udp ' "$work/serve-load.out" | head -n 1 | sed 's/.*://')
coturn_port=$(free_port)
start_bg turnserver -n --no-cli --stun-only --no-tls --no-dtls --listening-ip 127.0.0.1 \
  --listening-port "$coturn_port" --log-file stdout --simple-log >"$work/coturn-load.log" 2>&1
tcp_ready -- "$coturn_port"
load() {
  STUN_LOAD_TARGET="127.0.0.1:$1" STUN_LOAD_SECONDS=3 \
    cargo test --release --quiet -p preflight-probes --bench stun_load -- --ignored --nocapture 2>/dev/null | grep '^stun load'
}
ours_load=$(load "$serve_port"); coturn_load=$(load "$coturn_port")
ours_rate=$(sed 's/.*: \([0-9]*\) answers.*/\1/' <<<"$ours_load"); coturn_rate=$(sed 's/.*: \([0-9]*\) answers.*/\1/' <<<"$coturn_load")
ours_size=$(sed 's/.*answer size \([0-9]*\) bytes.*/\1/' <<<"$ours_load"); coturn_size=$(sed 's/.*answer size \([0-9]*\) bytes.*/\1/' <<<"$coturn_load")
row "serve: binding answers a second (limiter off) vs coturn" "$ours_rate" "$coturn_rate" \
  "$(awk -v a="$ours_rate" -v b="$coturn_rate" 'BEGIN { printf "%.2f of coturn", a / b }')"
row "bytes answered to a bare 20-byte binding request (IPv4) vs coturn" "$ours_size ($(awk -v s="$ours_size" 'BEGIN { printf "%.1f", s / 20 }')x)" \
  "$coturn_size ($(awk -v s="$coturn_size" 'BEGIN { printf "%.1f", s / 20 }')x)" "DESIGN.md's bound: 2.0x over IPv4, 2.6x over IPv6"
stop "$serve_load"

echo "== a full check: every probe against serve and a TURN relay on loopback" >&2
turn_port=$(free_port)
start_bg turnserver -n --no-cli --no-tls --no-dtls --fingerprint --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 \
  --listening-port "$turn_port" --lt-cred-mech --user "bench:bench-pass" --realm bench \
  --allow-loopback-peers --log-file stdout --simple-log >"$work/coturn-turn.log" 2>&1
tcp_ready -- "$turn_port"
start_bg "$bin" serve --listen 127.0.0.1 --stun-udp 0,0 --stun-tcp 0 --stun-tls 0 --signal-ws 0 >"$work/serve-full.out" 2>&1
serve_full=$!
wait_for "$work/serve-full.out" "^ready"
listener() { grep "^$1 " "$work/serve-full.out" | head -n 1 | sed 's/.*://'; }
full_udp=$(grep '^stun/udp ' "$work/serve-full.out" | sed 's/.*://' | paste -sd, -)
full=("$bin" check --stun "127.0.0.1:$(listener stun/udp)" --stun "tcp:127.0.0.1:$(listener stun/tcp)"
  --ports 127.0.0.1 --udp-ports "$full_udp" --tcp-ports "$(listener stun/tcp)"
  --signal "ws://127.0.0.1:$(listener signal/ws)/" --peer "ws://127.0.0.1:$(listener signal/ws)/"
  --turn "turn:127.0.0.1:$turn_port?transport=udp" --turn "turn:127.0.0.1:$turn_port?transport=tcp" --turn-user bench
  --format json)
export TRTC_PREFLIGHT_TURN_PASSWORD=bench-pass
/usr/bin/time -f %M -o "$work/full.mem" "${full[@]}" >"$work/full.json" 2>/dev/null || true
full_kib=$(tail -n 1 "$work/full.mem")
summary=$(jq -r '"\(.probes | length) probes, verdict \(.verdict): " + ([.probes[] | "\(.kind) \(.status)"] | group_by(.) | map("\(.[0]) \(length)") | join(", "))' "$work/full.json")
row "a full check: peak memory (MiB)" "$((full_kib / 1024))" "–" "$summary; $(jq .duration_ms "$work/full.json") ms"
stop "$serve_full"

echo "== demo, binary size" >&2
row "\`demo\`: wall time (ms)" "$(median_ms -- "$bin demo --format json")" "–" "every network probe against endpoints it starts on loopback"
row "release binary (MiB)" "$(awk -v s="$(stat -c %s "$bin")" 'BEGIN { printf "%.1f", s / 1048576 }')" "–" "stripped of debug info"

echo "== the quality probe's accuracy against the impairment relay's logged truth" >&2
accuracy=$(cargo test --release --quiet --test quality -- --ignored bench_accuracy_table --nocapture 2>&1 | grep -E '^\|' || true)

echo
echo "| figure | trtc-preflight | peer | note |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "The quality probe against the impairment relay (1,000 requests per setting; the truth is the relay's own log):"
echo
echo "$accuracy"
echo
echo "($(nproc) cores, $(uname -r), $(chromium --version 2>/dev/null | head -n 1), coturn $(turnserver --version 2>/dev/null | head -n 1); RUNS=$runs)"
