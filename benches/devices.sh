#!/usr/bin/env bash
# Device probes: the time to a verdict (microphone through a user-mode PulseAudio with a null
# sink, warm and with the late start of an idle sink; camera and microphone with nothing there)
# and the CPU their analysis costs (synthetic 720p frames, 48 kHz audio). Not a test: it prints
# numbers. Needs pulseaudio, pulseaudio-utils and python3 (apt-get install pulseaudio
# pulseaudio-utils).
#
#   bash benches/devices.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in pulseaudio paplay parec python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install pulseaudio pulseaudio-utils python3" >&2; exit 2; }
done
cargo build --release --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
runs=${RUNS:-20}

echo "== analysis CPU (one core, no I/O)"
cargo test --release --quiet -p preflight-probes --bench device_analysis -- --ignored --nocapture 2>/dev/null |
  grep -E 'CPU per second'

# Verdict times of `check --only KIND` over RUNS runs: median and max of the probe's verdict_ms
# and of the whole process's wall time.
times() {
  local label=$1 count=$2; shift 2
  python3 - "$label" "$count" "$@" <<'EOF'
import json, statistics, subprocess, sys, time
label, runs, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
verdicts, walls = [], []
for _ in range(runs):
    start = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True).stdout
    walls.append((time.monotonic() - start) * 1000)
    verdicts.append(json.loads(out)["probes"][0]["metrics"].get("verdict_ms") or 0)
print(f"{label}: verdict median {statistics.median(verdicts):.0f} ms, max {max(verdicts):.0f} ms; "
      f"process median {statistics.median(walls):.0f} ms ({runs} runs)")
EOF
}

echo "== nothing there (this machine's own devices, no sound server)"
times "camera, none" "$runs" env -i PATH="$PATH" "$bin" check --only camera --format json
times "microphone, no server and no card" "$runs" env -i PATH="$PATH" "$bin" check --only microphone --format json

echo "== microphone through a user-mode PulseAudio (null sink, its monitor the default source)"
dir=$(mktemp -d)
export HOME=$dir/home XDG_RUNTIME_DIR=$dir/runtime PULSE_RUNTIME_PATH=$dir/runtime/pulse \
  PULSE_STATE_PATH=$dir/state PULSE_SERVER=unix:$dir/native
mkdir -p "$HOME"
pulseaudio --daemonize=no -n --use-pid-file=no --exit-idle-time=60 --log-target=stderr \
  -L "module-native-protocol-unix socket=$dir/native auth-anonymous=1" \
  -L "module-null-sink sink_name=trtc_null rate=48000 channels=2 format=s16le" 2>"$dir/pulse.log" &
pulse=$!
player=
cleanup() { [ -n "$player" ] && kill "$player" 2>/dev/null; kill "$pulse" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
until [ -S "$dir/native" ] && pactl info >/dev/null 2>&1; do sleep 0.05; done

times "microphone, first run on an idle null sink (late start)" 1 "$bin" check --only microphone --format json
python3 - "$dir/tone.wav" <<'EOF'
import math, struct, sys
rate, seconds = 48000, 120
with open(sys.argv[1], "wb") as f:
    n = rate * seconds
    f.write(b"RIFF" + struct.pack("<I", 36 + n * 4) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16))
    f.write(b"data" + struct.pack("<I", n * 4))
    one = b"".join(struct.pack("<hh", v, v) for v in (round(3277 * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(48)))
    f.write(one * (n // 48))
EOF
paplay --latency-msec=20 "$dir/tone.wav" & player=$!
parec --latency-msec=20 --raw -d trtc_null.monitor 2>/dev/null | head -c 19200 >/dev/null || true
times "microphone, a -20 dBFS tone playing" "$runs" "$bin" check --only microphone --format json
"$bin" check --only microphone --format json | python3 -c '
import json, sys
m = json.load(sys.stdin)["probes"][0]["metrics"]
print("  one run:", {k: m[k] for k in ("list_ms", "open_ms", "first_audio_ms", "window_ms", "verdict_ms", "rms_dbfs", "peak_dbfs")})'
