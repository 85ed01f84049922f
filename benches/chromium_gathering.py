#!/usr/bin/env python3
"""Time headless Chromium's ICE gathering against one STUN server (ANCHORS.md's recipe).

    python3 benches/chromium_gathering.py --stun 127.0.0.1:3478 [--timeout 60]
                                          [--chromium /usr/bin/chromium]

Serves a page on http://127.0.0.1:<free port>/ that creates
RTCPeerConnection({iceServers: [{urls: "stun:HOST:PORT"}]}), opens a data channel, sets a local
offer and times `icegatheringstatechange` to `complete`, recording every candidate and every
`icecandidateerror` (code, text, when). Prints one JSON object:
{"gathering_ms", "srflx", "host", "errors": [{"code", "text", "url", "at_ms"}], "timed_out"}.
Run it inside the namespace whose firewall is being measured (`ip netns exec NS python3 ...`).
Loopback STUN servers only. Standard library only.
"""

import argparse
import ctypes
import http.server
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PAGE = """<!doctype html><meta charset="utf-8"><title>gathering</title><script>
const stun = new URLSearchParams(location.search).get("stun");
const started = performance.now();
const result = { srflx: 0, host: 0, errors: [], gathering_ms: null };
const pc = new RTCPeerConnection({ iceServers: [{ urls: `stun:${stun}` }] });
pc.createDataChannel("probe");
pc.onicecandidate = e => {
  if (!e.candidate || !e.candidate.candidate) return;
  const type = e.candidate.type || (/ typ (\\w+)/.exec(e.candidate.candidate) || [])[1];
  if (type === "srflx") result.srflx += 1; else if (type === "host") result.host += 1;
};
pc.onicecandidateerror = e => result.errors.push({ code: e.errorCode, text: e.errorText, url: e.url,
  at_ms: Math.round(performance.now() - started) });
pc.onicegatheringstatechange = () => {
  if (pc.iceGatheringState !== "complete") return;
  result.gathering_ms = Math.round(performance.now() - started);
  fetch("/result", { method: "POST", body: JSON.stringify(result) });
};
pc.createOffer().then(offer => pc.setLocalDescription(offer));
</script>"""

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-loopback-in-peer-connection",
    # Every name fails at once inside Chromium (it otherwise looks up Google's hosts at start).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


class Handler(http.server.BaseHTTPRequestHandler):
    result = None
    done = threading.Event()

    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not Handler.done.is_set():
            Handler.result = json.loads(body)
            Handler.done.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def die_with_parent():
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stun", required=True, help="HOST:PORT of a loopback STUN server")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    host, _, port = args.stun.rpartition(":")
    if not ipaddress.ip_address(host.strip("[]")).is_loopback or not port.isdigit():
        ap.error(f"--stun {args.stun}: a loopback IP:PORT only")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="trtc-gathering-")
    url = f"http://127.0.0.1:{server.server_address[1]}/?stun={args.stun}"
    chrome = subprocess.Popen([args.chromium, *FLAGS, f"--user-data-dir={profile}", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, start_new_session=True,
                              preexec_fn=die_with_parent)
    try:
        timed_out = not Handler.done.wait(args.timeout)
    finally:
        try:
            os.killpg(chrome.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        chrome.wait()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    result = Handler.result or {"gathering_ms": None, "srflx": 0, "host": 0, "errors": []}
    result["timed_out"] = timed_out
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
