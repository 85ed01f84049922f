#!/usr/bin/env bash
# Fuzzes every target of fuzz/ for a fixed time each, then minimises its corpus, and prints one
# line per target: runs executed, crashes, corpus size. Exits 1 if any target crashed (the input
# is in fuzz/artifacts/TARGET/, the log in fuzz/target/fuzz-logs/). Not run in CI: a session
# takes a few minutes of a core per target.
#
#   fuzz/run.sh                                 # every target, 60 s each
#   SECONDS_PER_TARGET=600 fuzz/run.sh          # longer
#   TARGETS="stun_responder tokens" fuzz/run.sh # some targets only
#   CMIN=0 fuzz/run.sh                          # keep every new input (do not commit that)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); this script installs nothing. On a stable
# toolchain it sets RUSTC_BOOTSTRAP=1, since cargo-fuzz passes nightly flags (sancov, -Z); it
# builds without a sanitizer (`--sanitizer none`: every crate forbids `unsafe`, and the address
# sanitizer would only slow the search) and with debug assertions and overflow checks.
#
# Every target is built once, before the first runs, and the binaries are run directly: the
# whole session tests one state of the code, however the tree changes meanwhile. Each target
# reads corpus/TARGET (the minimised corpus, where new inputs go) and seeds/TARGET (the named
# seeds and regression inputs, which it never changes).
set -euo pipefail

cd "$(dirname "$0")"
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-60}
CMIN=${CMIN:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: install it with \`cargo install cargo-fuzz\`, then run $0 again" >&2
    exit 2
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
targets=${TARGETS:-$(cargo fuzz list)}
cargo fuzz build --sanitizer none --debug-assertions
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"

logs=target/fuzz-logs
mkdir -p "$logs"
failed=0
printf '%-16s %12s %8s %8s %10s\n' target runs crashes inputs bytes
for target in $targets; do
    log="$logs/$target.log"
    mkdir -p "corpus/$target" "seeds/$target" "artifacts/$target"
    status=0
    "$bin/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "corpus/$target" "seeds/$target" \
        >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # it died without writing its input: see the log
    fi
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "$target crashed: see $PWD/$log" >&2
    elif [ "$CMIN" = 1 ]; then
        # Keep the smallest set of inputs that reaches every edge the corpus and the seeds
        # reach (hit counts aside: -use_counters=0 keeps the committed corpus a few times
        # smaller, and the next session finds the counts again in seconds).
        minimised=$(mktemp -d "target/cmin-$target.XXXXXX")
        "$bin/$target" -merge=1 -use_counters=0 "$minimised" "corpus/$target" "seeds/$target" \
            >"$logs/$target.cmin.log" 2>&1
        rm -rf "corpus/$target"
        mv "$minimised" "corpus/$target"
    fi
    inputs=$(find "corpus/$target" -type f | wc -l)
    bytes=$(find "corpus/$target" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    printf '%-16s %12s %8s %8s %10s\n' "$target" "${runs:-?}" "$crashes" "$inputs" "$bytes"
done
# The profile target's files (it loads each input from a file, as `check --profile` does).
rm -rf "${TMPDIR:-/tmp}/trtc-preflight-fuzz"
exit "$failed"
