#!/usr/bin/env python3
"""A WebRTC answerer nobody here wrote: aiortc behind the JSON signaling protocol of
`src/signal_server.rs`, for the Rust integration tests and the browser harness.

    python aiortc_peer.py [PORT] [--never-answer] [--trickle [--trickle-mid MID]]
                          [--ice-host 127.0.0.1] [--debug]

Listens on ws://127.0.0.1:PORT/ (0 or nothing: a free port) and prints exactly one line,
`ws 127.0.0.1:PORT`, on stdout once listening. Everything else goes to stderr.

Per connection it speaks the server side of the protocol: hello -> welcome ("answerer": true),
join -> joined, offer -> answer (candidates inside the SDP, or with --trickle sent as
`candidate` messages after it) then {"type":"candidate","candidate":""}, candidate -> added
to aiortc (or an error), leave -> left, echo -> the same text. Each incoming track is sent
back on the same transceiver (decoded and re-encoded by aiortc); each data-channel message is
sent back unchanged on its channel.

Loopback only, never any other address:
  * aioice skips 127.0.0.1 and ::1 when it gathers host candidates; we replace its
    `get_host_addresses` so that it gathers on the --ice-host addresses only (127.0.0.1 by
    default) and on no real interface.
  * No STUN or TURN server (aiortc's default is a public STUN server: we pass iceServers=[]).
  * Remote candidates whose address is not loopback are dropped, including mDNS `.local`
    names (aioice would resolve them by multicast) and those inside the offer's SDP.
  * STUN datagrams from non-loopback sources are dropped, so no peer-reflexive candidate on
    another address is ever learned (a peer gathering on eth0 may still send checks *to*
    127.0.0.1 from its eth0 address; we never answer them).
Requires aiortc and websockets (tests/peers/setup.sh makes a venv with both).
"""

import argparse
import asyncio
import ipaddress
import itertools
import json
import logging
import signal
import sys
import time

import aioice.ice
import aiortc
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.sdp import candidate_from_sdp

LOG = logging.getLogger("aiortc_peer")
MAX_MESSAGE_BYTES = 65536
IDLE_TIMEOUT_MS = 60000


def is_loopback(host):
    """True for 127.0.0.0/8 and ::1; False for anything else, hostnames (mDNS) included."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def restrict_ice_to_loopback(hosts):
    """Patch aioice: gather host candidates on `hosts` only, ignore non-loopback sources."""

    def get_host_addresses(use_ipv4, use_ipv6):
        return [
            h
            for h in hosts
            if (use_ipv4 and ipaddress.ip_address(h).version == 4)
            or (use_ipv6 and ipaddress.ip_address(h).version == 6)
        ]

    aioice.ice.get_host_addresses = get_host_addresses

    original = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr):
        if not is_loopback(addr[0]):
            LOG.debug("dropped a datagram from non-loopback %s", addr[0])
            return
        original(self, data, addr)

    aioice.ice.StunProtocol.datagram_received = datagram_received


def loopback_only_sdp(sdp):
    """Remove the a=candidate lines whose address is not loopback from an SDP."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            bits = line.split()
            if len(bits) < 8 or not is_loopback(bits[4]):
                LOG.info("offer: dropped non-loopback candidate line %r", line)
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def sdp_mids(sdp):
    """The mids of the SDP's m-lines, in order, and the first BUNDLE group (or [])."""
    mids, bundle = [], []
    for line in sdp.splitlines():
        if line.startswith("a=mid:"):
            mids.append(line[len("a=mid:"):].strip())
        elif line.startswith("a=group:BUNDLE") and not bundle:
            bundle = line.split()[1:]
    return mids, bundle


def split_candidates(sdp):
    """Take the a=candidate lines (and a=end-of-candidates) out of an SDP.

    Returns the SDP without them and [("candidate:...", mid, m-line index), ...]."""
    kept, found, index = [], [], -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        if line.startswith("a=candidate:"):
            found.append((line[2:], index))
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    mids = sdp_mids(sdp)[0]
    cands = [(c, mids[i] if i < len(mids) else "", max(i, 0)) for c, i in found]
    return "\r\n".join(kept) + "\r\n", cands


class Rooms:
    """Room bookkeeping only (members per room); nothing is relayed between clients."""

    def __init__(self):
        self.members = {}
        self.users = itertools.count(1)

    def join(self, room, conn):
        self.leave(conn)
        self.members.setdefault(room, set()).add(conn)
        conn.room = room
        return len(self.members[room])

    def leave(self, conn):
        room, conn.room = conn.room, None
        if room is not None:
            self.members.get(room, set()).discard(conn)
            if not self.members.get(room):
                self.members.pop(room, None)
        return room


class Connection:
    """One WebSocket client and its (at most one) aiortc session."""

    ids = itertools.count(1)

    def __init__(self, ws, args, rooms):
        self.ws, self.args, self.rooms = ws, args, rooms
        self.name = f"c{next(self.ids)}"
        self.room = None
        self.pc = None
        self.offer_seen = False
        self.mids, self.bundle = [], []
        self.relay = MediaRelay()

    def log(self, fmt, *a):
        LOG.info("%s: " + fmt, self.name, *a)

    async def send(self, obj, req=None):
        if req is not None and "id" in req:
            obj["id"] = req["id"]
        await self.ws.send(json.dumps(obj))

    async def error(self, code, message, req=None):
        self.log("error %s: %s", code, message)
        await self.send({"type": "error", "code": code, "message": message}, req)

    async def run(self):
        self.log("connected from %s", self.ws.remote_address)
        try:
            async for text in self.ws:
                await self.handle(text)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.rooms.leave(self)
            await self.close_pc()
            self.log("disconnected")

    async def handle(self, text):
        if isinstance(text, bytes):
            return await self.error("bad_message", "binary frames are not accepted")
        try:
            msg = json.loads(text)
        except ValueError:
            return await self.error("bad_message", "not JSON")
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return await self.error("bad_message", "not an object with a string type")
        kind = msg["type"]
        handler = {
            "hello": self.on_hello,
            "join": self.on_join,
            "offer": self.on_offer,
            "candidate": self.on_candidate,
            "leave": self.on_leave,
        }.get(kind)
        if kind == "echo":
            # The same object, unchanged: send the very text back.
            return await self.ws.send(text)
        if handler is None:
            return await self.error("bad_message", f"unknown type {kind!r}", msg)
        await handler(msg)

    async def on_hello(self, msg):
        await self.send(
            {
                "type": "welcome",
                "server": "aiortc-peer",
                "version": aiortc.__version__,
                "time_ms": int(time.time() * 1000),
                "answerer": True,
                "max_message_bytes": MAX_MESSAGE_BYTES,
                "idle_timeout_ms": IDLE_TIMEOUT_MS,
            },
            msg,
        )

    async def on_join(self, msg):
        room, user = msg.get("room"), msg.get("user")
        if not isinstance(room, str) or (user is not None and not isinstance(user, str)):
            return await self.error("bad_message", "join needs a string room", msg)
        user = user or f"u{next(self.rooms.users)}"
        members = self.rooms.join(room, self)
        self.log("joined room %r as %r (%d members)", room, user, members)
        await self.send({"type": "joined", "room": room, "user": user, "members": members}, msg)

    async def on_leave(self, msg):
        room = self.rooms.leave(self)
        await self.close_pc()
        self.log("left room %r", room)
        await self.send({"type": "left", "room": room}, msg)

    async def close_pc(self):
        pc, self.pc = self.pc, None
        if pc is not None:
            await pc.close()
            self.log("peer connection closed")

    async def on_offer(self, msg):
        if self.room is None:
            return await self.error("not_joined", "join a room before sending an offer", msg)
        sdp = msg.get("sdp")
        if not isinstance(sdp, str):
            return await self.error("bad_message", "offer needs a string sdp", msg)
        await self.close_pc()  # a new offer replaces the previous session
        if not any(line.startswith("m=") for line in sdp.splitlines()):
            # aiortc would answer an SDP with no media section with an empty answer.
            return await self.error("answer_failed", "the offer has no m= section", msg)
        self.offer_seen = True
        if self.args.never_answer:
            self.log("offer received (%d bytes); --never-answer: not answering", len(sdp))
            return
        t0 = time.monotonic()
        sdp = loopback_only_sdp(sdp)
        self.mids, self.bundle = sdp_mids(sdp)
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        name = self.name

        @pc.on("track")
        def on_track(track):
            # Echo: send the incoming track back; addTrack reuses the offer's transceiver of
            # that kind, so the answer makes it sendrecv.
            LOG.info("%s: track %s %s: echoing it back", name, track.kind, track.id)
            pc.addTrack(self.relay.subscribe(track, buffered=False))

        @pc.on("datachannel")
        def on_datachannel(channel):
            LOG.info("%s: data channel %r (id %s)", name, channel.label, channel.id)

            @channel.on("message")
            def on_message(message):
                channel.send(message)  # unchanged, str or bytes

        @pc.on("connectionstatechange")
        def on_state():
            LOG.info("%s: connection state %s (%.0f ms after the offer)",
                     name, pc.connectionState, (time.monotonic() - t0) * 1000)

        @pc.on("iceconnectionstatechange")
        def on_ice_state():
            LOG.info("%s: ICE connection state %s", name, pc.iceConnectionState)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)  # returns once gathering is complete
        except Exception as e:  # aiortc raises ValueError and others on bad offers
            await self.close_pc()
            return await self.error("answer_failed", f"{type(e).__name__}: {e}", msg)
        self.log("answer ready in %.0f ms (mids %s, bundle %s)",
                 (time.monotonic() - t0) * 1000, self.mids, self.bundle)
        answer_sdp, candidates = pc.localDescription.sdp, []
        if self.args.trickle:
            answer_sdp, candidates = split_candidates(answer_sdp)
        await self.send({"type": "answer", "sdp": answer_sdp}, msg)
        # aiortc puts its candidates in the SDP; with --trickle they are sent here instead,
        # as serve's answerer does. Then the end of candidates.
        for line, mid, index in candidates:
            if self.args.trickle_mid is not None:
                mid = self.args.trickle_mid
            await self.send({"type": "candidate", "candidate": line, "sdpMid": mid,
                             "sdpMLineIndex": index})
        await self.send({"type": "candidate", "candidate": ""})

    async def on_candidate(self, msg):
        cand = msg.get("candidate")
        if not isinstance(cand, str):
            return await self.error("bad_message", "candidate needs a string candidate", msg)
        if not self.offer_seen:
            return await self.error("no_offer", "a candidate before any offer", msg)
        if cand == "":
            self.log("end of the client's candidates")
            return
        line = cand[2:] if cand.startswith("a=") else cand
        line = line[len("candidate:"):] if line.startswith("candidate:") else line
        try:
            ice = candidate_from_sdp(line)
        except (AssertionError, ValueError, IndexError):
            return await self.error(
                "candidate_failed",
                f"unparsable candidate {cand!r} (expected \"candidate:FOUNDATION COMPONENT "
                f"PROTOCOL PRIORITY ADDRESS PORT typ TYPE ...\")", msg)
        if not is_loopback(ice.ip):
            self.log("dropped non-loopback candidate %s %s:%s (loopback only here)",
                     ice.type, ice.ip, ice.port)
            return
        if ice.protocol.lower() != "udp":
            self.log("dropped %s candidate (aioice speaks UDP only)", ice.protocol)
            return
        if self.pc is None:  # --never-answer, or the offer failed
            self.log("candidate ignored (no session): %s", cand)
            return
        ice.sdpMid, ice.sdpMLineIndex = self.normalize_mid(msg.get("sdpMid"), msg.get("sdpMLineIndex"))
        try:
            await self.pc.addIceCandidate(ice)
        except Exception as e:
            return await self.error("candidate_failed", f"{type(e).__name__}: {e}", msg)
        self.log("added candidate %s %s:%s (mid %r)", ice.type, ice.ip, ice.port, ice.sdpMid)

    def normalize_mid(self, mid, index):
        """Map a candidate to the m-line that owns its transport.

        aiortc silently ignores a candidate whose sdpMid is "" or names a bundled m-line (it
        only adds candidates to the first m-line of a BUNDLE group), so: an unknown or empty
        mid falls back to sdpMLineIndex, then to the first m-line; a bundled mid becomes the
        group's first mid."""
        if mid not in self.mids:
            if isinstance(index, int) and 0 <= index < len(self.mids):
                mid = self.mids[index]
            elif self.mids:
                mid = self.mids[0]
        if self.bundle and mid in self.bundle:
            mid = self.bundle[0]
        return mid, (self.mids.index(mid) if mid in self.mids else 0)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", nargs="?", type=int, default=0, help="0: a free port")
    parser.add_argument("--never-answer", action="store_true",
                        help="accept offers but never answer them")
    parser.add_argument("--ice-host", action="append", default=[],
                        help="loopback address to gather ICE candidates on (repeatable; "
                             "default 127.0.0.1)")
    parser.add_argument("--trickle", action="store_true",
                        help="take the candidates out of the answer and send them as "
                             "candidate messages (as serve does)")
    parser.add_argument("--trickle-mid", default=None, metavar="MID",
                        help="with --trickle: the sdpMid to send (e.g. \"\"); default: the "
                             "m-line's own mid")
    parser.add_argument("--debug", action="store_true", help="log aiortc/aioice internals")
    args = parser.parse_args()
    hosts = args.ice_host or ["127.0.0.1"]
    for h in hosts:
        if not is_loopback(h):
            parser.error(f"--ice-host {h}: only loopback addresses are allowed")

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.debug:
        for noisy in ("aioice", "aiortc", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    restrict_ice_to_loopback(hosts)

    rooms = Rooms()

    async def handler(ws, *_path):  # websockets < 10.1 passes a path too
        await Connection(ws, args, rooms).run()

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)

    async with websockets.serve(handler, "127.0.0.1", args.port,
                                max_size=MAX_MESSAGE_BYTES) as server:
        port = server.sockets[0].getsockname()[1]
        LOG.info("aiortc %s, websockets %s, ICE on %s, never_answer=%s, trickle=%s",
                 aiortc.__version__, websockets.__version__, hosts, args.never_answer,
                 args.trickle)
        print(f"ws 127.0.0.1:{port}", flush=True)
        await stop
        LOG.info("stopping")


if __name__ == "__main__":
    asyncio.run(main())
