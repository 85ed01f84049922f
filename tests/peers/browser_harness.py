#!/usr/bin/env python3
"""Run browser_client.html in headless Debian Chromium against a signaling server.

    python3 browser_harness.py --signal ws://127.0.0.1:PORT/ [--timeout 40] [--echoes 5]
                               [--room NAME] [--chromium /usr/bin/chromium]

Serves the page on http://127.0.0.1:<free port>/, starts Chromium headless on it (fake camera
and microphone, a fresh profile, background networking off), waits for the page to POST its
result, prints that JSON on stdout (one object), kills Chromium, and exits 0 when the page
connected, got every data-channel echo and received audio and video RTP back; 1 otherwise
(2 on bad arguments). The page's progress lines are copied to stderr as they arrive.
Standard library only: any python3 runs it.
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
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "browser_client.html")

# The flags of the brief, plus two:
#  * --host-resolver-rules: even with background networking, component update and sync off,
#    Chromium 156 still looks up accounts.google.com, clients2.google.com and
#    update.googleapis.com at start (seen with tcpdump: DNS queries leaving on eth0). Every
#    name now fails at once inside Chromium, with no query sent; the page uses IP literals.
#  * WebRtcHideLocalIpsWithMdns off, so that host candidates carry raw IPs (127.0.0.1) rather
#    than random `.local` names that need multicast DNS. (Chromium already gives raw IPs once
#    getUserMedia was granted, as it is here; the flag makes it hold for data-only pages too,
#    and stops Chromium registering names over multicast.)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def loopback_ws_url(url, lab=None):
    """Check that `url` is ws://<loopback, or an address in `lab`>:port/...; return it or raise
    ValueError."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("ws", "wss") or not u.hostname or not u.port:
        raise ValueError(f"{url!r} is not ws://HOST:PORT/")
    host = "127.0.0.1" if u.hostname == "localhost" else u.hostname
    address = ipaddress.ip_address(host)
    if not (address.is_loopback or (lab is not None and address in lab)):
        raise ValueError(f"{url!r}: only loopback signaling servers are allowed (or --lab-net)")
    return url


def die_with_parent():
    """In the child: ask Linux for SIGKILL when the parent (this harness) exits."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Handler(http.server.BaseHTTPRequestHandler):
    """GET the page; POST /log (a progress line) and /result (the final JSON)."""

    result = None
    done = threading.Event()

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path not in ("/", "/browser_client.html"):
            self.send_error(404)
            return
        with open(PAGE, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/log":
            print(f"page: {body.decode('utf-8', 'replace')}", file=sys.stderr, flush=True)
        elif self.path == "/result" and not Handler.done.is_set():
            try:
                Handler.result = json.loads(body)
            except ValueError:
                Handler.result = {"ok": False, "error": f"unparsable result: {body[:200]!r}"}
            Handler.done.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # keep stderr for the page's own lines
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signal", required=True, help="ws://127.0.0.1:PORT/")
    ap.add_argument("--timeout", type=float, default=40.0, help="seconds for the whole run")
    ap.add_argument("--echoes", type=int, default=5)
    ap.add_argument("--room", default="browser")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--lab-net", help="an IPv4 network (A.B.C.D/N) inside network namespaces the "
                    "caller made, allowed beside loopback for signaling and candidates")
    args = ap.parse_args()
    lab = None
    if args.lab_net:
        try:
            lab = ipaddress.IPv4Network(args.lab_net)
        except ValueError as e:
            ap.error(f"--lab-net {args.lab_net}: {e}")
        if not lab.is_private:
            ap.error(f"--lab-net {args.lab_net}: only a private network inside namespaces")
    try:
        loopback_ws_url(args.signal, lab)
    except ValueError as e:
        ap.error(str(e))
    if not os.access(args.chromium, os.X_OK):
        ap.error(f"{args.chromium} not found: apt-get install -y chromium")

    started = time.monotonic()
    # SIGTERM (a test runner's kill) runs the cleanup below too: Chromium is killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    page_timeout_ms = int(max(1.0, args.timeout - 3.0) * 1000)  # leave time to POST
    fields = {"signal": args.signal, "room": args.room, "echoes": args.echoes,
              "timeout_ms": page_timeout_ms}
    if lab is not None:
        fields["lab"] = str(lab)
    query = urllib.parse.urlencode(fields)
    url = f"http://127.0.0.1:{server.server_address[1]}/browser_client.html?{query}"

    profile = tempfile.mkdtemp(prefix="trtc-chromium-")
    chrome_log = open(os.path.join(profile, "chromium.log"), "wb")
    flags = list(CHROMIUM_FLAGS)
    if lab is not None:
        # The resolver rules map every name, IP literals included, to "not found": let the lab's
        # signaling address through too.
        host = urllib.parse.urlsplit(args.signal).hostname
        flags = [f"{flag}, EXCLUDE {host}" if flag.startswith("--host-resolver-rules=") else flag
                 for flag in flags]
    cmd = [args.chromium, *flags, f"--user-data-dir={profile}", url]
    print(f"harness: {' '.join(cmd)}", file=sys.stderr, flush=True)
    # Own process group, so that Chromium and all its children are killed together.
    # Chromium gets SIGKILL if this harness dies (even by SIGKILL). preexec_fn runs before
    # the HTTP server's thread starts, so the fork has no other thread to worry about.
    chrome = subprocess.Popen(cmd, stdout=chrome_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True,
                              preexec_fn=die_with_parent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        if not Handler.done.wait(args.timeout):
            Handler.result = {"ok": False, "error": f"no result from the page in {args.timeout} s"}
        if chrome.poll() is not None and Handler.result.get("error"):
            Handler.result["chromium_exit"] = chrome.returncode
    finally:
        try:
            os.killpg(chrome.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        chrome.wait()
        server.shutdown()
        chrome_log.close()
        result = Handler.result or {"ok": False, "error": "interrupted"}
        if not result.get("ok"):
            with open(os.path.join(profile, "chromium.log"), "rb") as f:
                tail = f.read()[-3000:].decode("utf-8", "replace")
            print(f"harness: chromium log tail:\n{tail}", file=sys.stderr)
        shutil.rmtree(profile, ignore_errors=True)

    result["harness_ms"] = round((time.monotonic() - started) * 1000)
    inbound = result.get("inbound_packets") or {}
    passed = bool(result.get("ok")) and inbound.get("audio", 0) > 0 and inbound.get("video", 0) > 0
    result["passed"] = passed
    print(json.dumps(result), flush=True)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
