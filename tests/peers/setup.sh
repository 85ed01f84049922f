#!/usr/bin/env bash
# Make (or check) the venv of the Python test peers and print its python's path, last line.
#   bash tests/peers/setup.sh        ->  /var/tmp/trtc-preflight-peers/venv/bin/python
# Idempotent: when the venv already holds exactly requirements.txt it only prints the path.
# Needs a python3 with venv and ensurepip (Debian's /usr/bin/python3 with python3-venv, or
# the machine's pyenv python3) and PyPI. TRTC_PEERS_VENV overrides the venv's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${TRTC_PEERS_VENV:-/var/tmp/trtc-preflight-peers/venv}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

mkdir -p "$(dirname "$venv")"
# One setup at a time (parallel test binaries may all call this).
exec 9>"$(dirname "$venv")/.setup.lock"
flock 9

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
   && "$venv/bin/python" -c 'import aiortc, websockets, av' 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi

# The first python3 that can make a venv with pip in it.
py=""
for cand in "${TRTC_PEERS_PYTHON:-}" /usr/bin/python3 "$(command -v python3 || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import venv, ensurepip' 2>/dev/null; then
    py="$cand"
    break
  fi
done
if [ -z "$py" ]; then
  echo "setup.sh: no python3 with venv and ensurepip (apt-get install -y python3-venv)" >&2
  exit 1
fi

echo "setup.sh: making $venv with $py ($("$py" --version 2>&1))" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
"$venv/bin/python" -c 'import aiortc, websockets, av; print("setup.sh: aiortc", aiortc.__version__, "websockets", websockets.__version__, "av", av.__version__)' >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
