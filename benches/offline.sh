#!/usr/bin/env bash
# Benchmarks of the offline commands with public tools: hyperfine for wall time, GNU time for
# peak memory, stat for the binary's size. Not a test: it prints numbers.
#
#   bash benches/offline.sh            (apt-get install hyperfine time, once)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install hyperfine time" >&2; exit 2; }
done
cargo build --release --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/release/trtc-preflight"
profile=examples/account.toml
export TRTC_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e

echo "binary: $bin, $(stat -c %s "$bin") bytes"
hyperfine --warmup 5 --runs 50 -N --export-markdown /dev/stdout \
  "$bin explain 0x4003" \
  "$bin explain \"dtls transport\"" \
  "$bin codes --format json" \
  "$bin check --profile $profile --format json" \
  "$bin check --profile $profile --format junit"
for command in "explain 0x4003" "codes --format json" "check --profile $profile --format json"; do
  # shellcheck disable=SC2086
  peak=$(/usr/bin/time -f %M "$bin" $command 2>&1 >/dev/null | tail -n 1)
  echo "peak memory of \`trtc-preflight $command\`: ${peak} KiB"
done
