#!/usr/bin/env bash
# Benchmarks of the TURN probe on loopback, side by side with coturn's own client in the same
# run: the time to a verified relay (allocation with the 401 challenge, a second allocation,
# permissions, data through both relays, deletion) over UDP, TCP and TLS, against
# `turnutils_uclient` doing the same client-to-client allocation and one message. Not a test:
# it prints numbers. Needs coturn (turnserver, turnutils_uclient) and openssl.
#
#   bash benches/turn.sh
#
# Environment: RUNS (default 20 of ours per transport), UCLIENT_RUNS (5 per transport).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-20}
uclient_runs=${UCLIENT_RUNS:-5}

cargo build --release --quiet --bin trtc-preflight
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"

work=$(mktemp -d)
coturn_pid=""
cleanup() {
  [ -n "$coturn_pid" ] && kill "$coturn_pid" 2>/dev/null || true
  [ -n "$coturn_pid" ] && wait "$coturn_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
port=$(free_port)
tls_port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
pin="sha256:$(openssl x509 -in "$work/cert.pem" -outform der | sha256sum | cut -d' ' -f1)"
turnserver -n --no-cli --no-dtls --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 \
  --listening-port "$port" --tls-listening-port "$tls_port" --cert "$work/cert.pem" --pkey "$work/key.pem" \
  --lt-cred-mech --user alice:s3cret --realm lab --allow-loopback-peers --log-file stdout --simple-log \
  >"$work/coturn.log" 2>&1 &
coturn_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    p = int(NR * 0.9 + 0.999); if (p > NR) p = NR
    printf "median %.2f  p90 %.2f  min %.2f  max %.2f  (n=%d)\n", v[int((NR + 1) / 2)], v[p], v[1], v[NR], NR }'
}
now_ms() { date +%s%3N; }

for transport in udp tcp tls; do
  case $transport in
    udp) url="turn:127.0.0.1:$port?transport=udp"; uflags=(-p "$port") ;;
    tcp) url="turn:127.0.0.1:$port?transport=tcp"; uflags=(-t -p "$port") ;;
    tls) url="turns:127.0.0.1:$tls_port"; uflags=(-t -S -p "$tls_port") ;;
  esac
  : >"$work/ours"
  for _ in $(seq "$runs"); do
    t0=$(now_ms)
    TRTC_PREFLIGHT_TURN_PASSWORD=s3cret "$bin" check --only turn --turn "$url" --turn-user alice --pin "$pin" \
      --format json >"$work/r.json" || true
    t1=$(now_ms)
    python3 -c "
import json,sys
r=json.load(open(sys.argv[1])); m=[p for p in r['probes'] if p['kind']=='turn'][0]['metrics']
print(m['allocation']['took_ms'] if m['allocation'] else 'nan', m['took_ms'], int(sys.argv[2]))" "$work/r.json" $((t1 - t0)) >>"$work/ours"
  done
  : >"$work/uclient"
  for _ in $(seq "$uclient_runs"); do
    t0=$(now_ms)
    timeout 30 turnutils_uclient -y -n 1 -m 1 -u alice -w s3cret "${uflags[@]}" 127.0.0.1 >/dev/null 2>&1 || true
    t1=$(now_ms)
    echo $((t1 - t0)) >>"$work/uclient"
  done
  echo "== TURN over ${transport^^}"
  echo "ours: allocation (challenge included), ms:        $(awk '{print $1}' "$work/ours" | stats)"
  echo "ours: verified relay (2 allocations, data, delete): $(awk '{print $2}' "$work/ours" | stats)"
  echo "ours: whole check process, ms:                     $(awk '{print $3}' "$work/ours" | stats)"
  echo "turnutils_uclient -y -n 1 -m 1, whole process, ms: $(stats <"$work/uclient")"
done
