#!/usr/bin/env bash
# Benchmarks of the WebRTC probe, side by side with headless Chromium in the same run: the time
# to a connected peer with echoed media (our probe against serve's answerer, Chromium against the
# same answerer), the time to each failure verdict (UDP dropped between two hosts, a peer that
# never answers, DTLS stalled) with Chromium's own time for the UDP case, and `demo`'s wall time.
# Not a test: it prints numbers. Needs root (namespaces), nftables, python3; Chromium is optional
# (skipped with a note when /usr/bin/chromium is missing).
#
#   sudo bash benches/webrtc.sh
#
# Environment: RUNS (default 20 probe runs), CHROMIUM_RUNS (5), DEMO_RUNS (10),
# CHROMIUM_FAILURE (1: also time Chromium with UDP dropped; it takes about 20 s).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-20}
chromium_runs=${CHROMIUM_RUNS:-5}
demo_runs=${DEMO_RUNS:-10}
chromium_failure=${CHROMIUM_FAILURE:-1}

cargo build --release --quiet --bin trtc-preflight
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"

work=$(mktemp -d)
ns_a="wbench-a-$$"
ns_b="wbench-b-$$"
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two hosts on one link, 10.239.1.1 (client) and 10.239.1.2 (serve), each with only lo besides.
ip netns add "$ns_a"
ip netns add "$ns_b"
ip -n "$ns_a" link set lo up
ip -n "$ns_b" link set lo up
ip link add "wba$$" netns "$ns_a" type veth peer name "wbb$$" netns "$ns_b"
ip -n "$ns_a" addr add 10.239.1.1/24 dev "wba$$"
ip -n "$ns_b" addr add 10.239.1.2/24 dev "wbb$$"
ip -n "$ns_a" link set "wba$$" up
ip -n "$ns_b" link set "wbb$$" up
in_a() { ip netns exec "$ns_a" "$@"; }
in_b() { ip netns exec "$ns_b" "$@"; }

# Starts serve in namespace $1 on $2 with extra flags; prints the signaling URL.
start_serve() {
  local ns=$1 listen=$2 out="$work/serve-$RANDOM"
  shift 2
  ip netns exec "$ns" env -i "$bin" serve --listen "$listen" --signal-ws 0 "$@" >"$out" 2>&1 &
  pids="$pids $!"
  for _ in $(seq 100); do
    grep -q '^ready' "$out" 2>/dev/null && break
    sleep 0.05
  done
  echo "ws://$(sed -n 's|^signal/ws ||p' "$out")/"
}

# Prints "median p90 min max" of the numbers on standard input.
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    p = int(NR * 0.9 + 0.999); if (p > NR) p = NR
    printf "median %.1f  p90 %.1f  min %.1f  max %.1f  (n=%d)\n", v[int((NR + 1) / 2)], v[p], v[1], v[NR], NR }'
}

# One JSON field of the webrtc probe of a report: $1 file, $2 python expression on `m` (metrics).
field() {
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); m=[p for p in r['probes'] if p['kind']=='webrtc'][0]['metrics']; v=$2; print('' if v is None else v)" "$1"
}

now_ms() { date +%s%3N; }

echo "== our probe against serve's answerer, both on loopback in one namespace ($runs runs)"
url=$(start_serve "$ns_a" 127.0.0.1)
: >"$work/ours"
for i in $(seq "$runs"); do
  t0=$(now_ms)
  in_a env -i "$bin" check --peer "$url" --only webrtc --format json >"$work/r.json" || true
  t1=$(now_ms)
  echo "$(field "$work/r.json" "m['timings_ms']['answer']+m['timings_ms']['ice']+m['timings_ms']['dtls']") $(field "$work/r.json" "m['timings_ms']['ready']") $(field "$work/r.json" "m['timings_ms']['connected']") $((t1 - t0))" >>"$work/ours"
done
echo "offer -> connected (ms):                   $(awk '{print $1}' "$work/ours" | stats)"
echo "start -> connected (ms):                   $(awk '{print $3}' "$work/ours" | stats)"
echo "start -> data and media echoed (ms):       $(awk '{print $2}' "$work/ours" | stats)"
echo "whole process, check to exit (ms):         $(awk '{print $4}' "$work/ours" | stats)"

if [ -x /usr/bin/chromium ]; then
  echo "== headless Chromium against the same answerer ($chromium_runs runs; the page's own times)"
  : >"$work/chromium"
  for i in $(seq "$chromium_runs"); do
    in_a python3 tests/peers/browser_harness.py --signal "$url" --timeout 30 >"$work/c.json" 2>/dev/null || true
    python3 -c "
import json,sys
r=json.load(open(sys.argv[1])); s=r.get('stages_ms',{})
if 'connected' in s and 'offer_sent' in s:
    print(s['connected']-s['offer_sent'], s.get('media_both',float('nan'))-s['offer_sent'])" "$work/c.json" >>"$work/chromium"
  done
  echo "Chromium offer -> connected (ms):          $(awk '{print $1}' "$work/chromium" | stats)"
  echo "Chromium offer -> media both ways (ms):    $(awk '{print $2}' "$work/chromium" | stats)"
else
  echo "== Chromium: /usr/bin/chromium is missing; skipped"
fi

echo "== failure verdicts"
# UDP dropped between the hosts (signaling over TCP passes).
ip netns exec "$ns_a" nft -f - <<'EOF'
table inet wbench {
  chain output {
    type filter hook output priority 0;
    oifname != "lo" meta l4proto udp drop
  }
}
EOF
far=$(start_serve "$ns_b" 10.239.1.2)
t0=$(now_ms)
in_a env -i "$bin" check --peer "$far" --only webrtc --format json >"$work/f.json" || true
t1=$(now_ms)
echo "UDP dropped -> $(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); f=[f for p in r['probes'] for f in p['findings'] if f.get('code')][0]; print(f['code'], f['name'], '\"'+(f['message'] or '')+'\"')" "$work/f.json"): $((t1 - t0)) ms"
if [ -x /usr/bin/chromium ] && [ "$chromium_failure" = 1 ]; then
  t0=$(now_ms)
  in_a python3 tests/peers/browser_harness.py --signal "$far" --timeout 70 --lab-net 10.239.1.0/24 >"$work/cf.json" 2>/dev/null || true
  t1=$(now_ms)
  echo "Chromium, UDP dropped: $((t1 - t0)) ms for the harness, $(python3 -c "
import json,sys
r=json.load(open(sys.argv[1])); s=r.get('stages_ms',{}); log=r.get('log',[])
failed=[l for l in log if 'connection failed' in l]
at=float(failed[0].split(' ms')[0]) if failed else float('nan')
print(f\"{at - s.get('answer_applied', 0):.0f} ms from the answer to 'connection failed' ({str(r.get('error')).splitlines()[0]})\")" "$work/cf.json")"
fi
for how in never-answer stall-dtls; do
  bad=$(start_serve "$ns_a" 127.0.0.1 --misbehave "$how")
  t0=$(now_ms)
  in_a env -i "$bin" check --peer "$bad" --only webrtc --format json >"$work/m.json" || true
  t1=$(now_ms)
  echo "$how -> $(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); f=[f for p in r['probes'] for f in p['findings'] if f.get('code')][0]; print(f['code'], f['name'], '\"'+(f['message'] or '')+'\"')" "$work/m.json"): $((t1 - t0)) ms"
done

echo "== demo, the README's first command ($demo_runs runs)"
: >"$work/demo"
for i in $(seq "$demo_runs"); do
  t0=$(now_ms)
  in_a env -i "$bin" demo --quiet || echo "demo exited $?"
  t1=$(now_ms)
  echo $((t1 - t0)) >>"$work/demo"
done
echo "demo wall time (ms):                       $(stats <"$work/demo")"
