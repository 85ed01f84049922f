#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/seeds/<target>/.

STUN and throughput messages are built here byte by byte (RFC 8489, RFC 8656 and the layouts in
probes/src/throughput/wire.rs), with real FINGERPRINTs and HMACs keyed with the targets' token,
so that no second build of the Rust dependency tree is needed just to write seeds (the
stun_responder target checks every answer it gives with the client's own parser). Tokens come from the test vectors,
profiles from the repository. The first byte of each seed is the target's selector (see the
target's doc comment). Deterministic: running it again writes the same files.
"""

import hashlib
import hmac
import json
import os
import struct
import zlib
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
COOKIE = 0x2112A442
TOKEN = b"fuzz-token"


def attr(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def message(kind, txid, attrs, integrity_key=None, fingerprint=True):
    body = b"".join(attrs)
    header = lambda length: struct.pack("!HHI", kind, length, COOKIE) + txid
    if integrity_key is not None:
        covered = header(len(body) + 24) + body
        tag = hmac.new(integrity_key, covered, hashlib.sha1).digest()
        body += attr(0x0008, tag)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += attr(0x8028, struct.pack("!I", crc))
    return header(len(body)) + body


def xor_address(ip, port, txid):
    port ^= COOKIE >> 16
    if len(ip) == 4:
        masked = bytes(a ^ b for a, b in zip(ip, struct.pack("!I", COOKIE)))
        return struct.pack("!BBH", 0, 1, port) + masked
    mask = struct.pack("!I", COOKIE) + txid
    return struct.pack("!BBH", 0, 2, port) + bytes(a ^ b for a, b in zip(ip, mask))


def text_attr(kind, text):
    return attr(kind, text.encode())


def txid(n):
    return bytes((n * 37 + i * 11) & 0xFF for i in range(12))


V4 = bytes([198, 51, 100, 7])
V6 = bytes.fromhex("20010db8000000000000000000000007")


def write(target, name, data):
    folder = FUZZ / "seeds" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def stun_responder():
    bare = message(0x0001, txid(1), [], fingerprint=False)
    with_fp = message(0x0001, txid(2), [])
    padded = message(0x0001, txid(3), [attr(0x0026, b"\0" * 96)])
    authed = message(0x0001, txid(4), [text_attr(0x0006, "fuzz")], integrity_key=TOKEN)
    burst = message(
        0x0001,
        txid(5),
        [text_attr(0x0006, "fuzz"), attr(0xC7A1, struct.pack("!II", 0xB0B0, 0))],
        integrity_key=TOKEN,
    )
    burst_query = message(
        0x0001,
        txid(6),
        [text_attr(0x0006, "fuzz"), attr(0xC7A1, struct.pack("!II", 0xB0B0, 0xFFFFFFFF))],
        integrity_key=TOKEN,
    )
    software = message(0x0001, txid(7), [text_attr(0x8022, "libwebrtc")])
    unknown = message(0x0001, txid(8), [attr(0x0024, b"\0\0\0\x01")])
    # A throughput START, sealed with the token: uplink, 1,540 kbit/s, 2 s, 1,200-byte packets.
    body = bytes([0xD7, 1, 1, 0]) + struct.pack("!Q", 0)
    body += bytes([1, 0, 0, 0]) + struct.pack("!IIH", 1540, 2000, 1200) + b"\0\0"
    body += struct.pack("!Q", 0x1234_5678_9ABC_DEF0)
    start = body + hmac.new(TOKEN, body, hashlib.sha1).digest()
    # Selector: bit 0 token, bits 1-2 family (0 IPv4, 1 IPv6, 2 IPv4-mapped), bit 7 stream.
    write("stun_responder", "bare-v4", b"\x00" + bare)
    write("stun_responder", "bare-v6", b"\x02" + bare)
    write("stun_responder", "bare-mapped", b"\x04" + bare)
    write("stun_responder", "fingerprint", b"\x00" + with_fp)
    write("stun_responder", "padded", b"\x00" + padded)
    write("stun_responder", "authenticated", b"\x01" + authed)
    write("stun_responder", "authenticated-v6", b"\x03" + authed)
    write("stun_responder", "burst", b"\x01" + b"DGRM".join([burst, burst, burst_query]))
    write("stun_responder", "software", b"\x00" + software)
    write("stun_responder", "unknown-attribute", b"\x00" + unknown)
    write("stun_responder", "many-v4", b"\x00" + b"DGRM".join([with_fp] * 5))
    write("stun_responder", "throughput-start", b"\x01" + start + b"DGRM" + authed)
    write("stun_responder", "stream", b"\x80" + with_fp + bare + padded)
    write("stun_responder", "stream-authenticated", b"\x83" + authed + burst)


def stun_client():
    t = txid(9)
    success_v4 = message(0x0101, t, [attr(0x0020, xor_address(V4, 40000, t))])
    success_v6 = message(0x0101, t, [attr(0x0020, xor_address(V6, 40001, t))])
    plain = message(0x0101, t, [attr(0x0001, struct.pack("!BBH", 0, 1, 40000) + V4)], fingerprint=False)
    error = message(0x0111, t, [attr(0x0009, bytes([0, 0, 4, 0]) + b"Bad Request")])
    realm = text_attr(0x0014, "trtc.example.com")
    nonce = text_attr(0x0015, "6f0a3c2b1d")
    software = text_attr(0x8022, "Coturn-4.6.2")
    unauthorized = message(0x0113, t, [attr(0x0009, bytes([0, 0, 4, 1]) + b"Unauthorized"), realm, nonce, software])
    stale = message(0x0113, t, [attr(0x0009, bytes([0, 0, 4, 38]) + b"Stale Nonce"), realm, nonce])
    alternate = message(0x0113, t, [attr(0x0009, bytes([0, 0, 3, 0]) + b"Try Alternate"),
                                    attr(0x8023, struct.pack("!BBH", 0, 1, 3478) + V4)])
    allocated = message(0x0103, t, [attr(0x0016, xor_address(V4, 50000, t)),
                                    attr(0x0020, xor_address(V4, 40000, t)),
                                    attr(0x000D, struct.pack("!I", 600)), software])
    data = message(0x0017, t, [attr(0x0012, xor_address(V4, 41000, t)), attr(0x0013, b"ping")], fingerprint=False)
    # Selector: bit 0 set = the expected transaction is not the one carried; bit 7 the request
    # round trip (bit 6 with a credential): username, NUL, password, NUL, padded size (u16).
    for name, seed in [("success-v4", success_v4), ("success-v6", success_v6),
                       ("mapped-address", plain), ("error-400", error), ("turn-401", unauthorized),
                       ("turn-438", stale), ("turn-300", alternate), ("turn-allocated", allocated),
                       ("turn-data", data)]:
        write("stun_client", name, b"\x00" + seed)
    write("stun_client", "stream-two", b"\x00" + success_v4 + success_v6)
    write("stun_client", "other-transaction", b"\x01" + success_v4)
    write("stun_client", "round-trip", b"\x80" + b"user\0pass\0" + struct.pack("!H", 200))
    write("stun_client", "round-trip-credential", b"\xc0" + b"preflight\0s3cret\0" + struct.pack("!H", 1200))


def tokens():
    vectors = json.loads((ROOT / "tests/data/vectors/tls-sig-api-v2.json").read_text())
    for i, vector in enumerate(vectors):
        token = vector["token"].encode()
        kind = vector["type"]
        # Selector: bit 0 wrap the rest as a token's inside, bit 1 the secret key, bit 2 string
        # room, bits 3-4 the clock, bit 5 lines (token, SDKAppID, userId, roomId), bit 6 the
        # privateMapKey is required.
        write("tokens", f"{i:02}-{kind}", b"\x02" + token)
        room = str(vector.get("room_id", vector.get("room_str", "10000"))).encode()
        lines = b"\n".join([token, str(vector["sdk_app_id"]).encode(), vector["user_id"].encode(), room])
        write("tokens", f"{i:02}-{kind}-lines", bytes([0x20 | 0x40 | (4 if "room_str" in vector else 0)]) + lines)
        inside = zlib.decompress(__import__("base64").b64decode(
            vector["token"].replace("*", "+").replace("-", "/").replace("_", "=")))
        write("tokens", f"{i:02}-{kind}-json", b"\x01" + inside)
    write("tokens", "grant", b"\x00" + bytes([1, 0, 5]) + b"alice" + struct.pack("!IIIII", 1400000000, 0, 1793000000, 0xFF, 0) + b"\0\x05room1")
    write("tokens", "not-base64", b"\x00" + b"eJyr!!!")


def profile():
    write("profile", "trtc-web", (ROOT / "src/profiles/trtc-web.toml").read_bytes())
    for path in sorted((ROOT / "examples").glob("*.toml")):
        write("profile", path.stem, path.read_bytes())
    write("profile", "outputs", b'only = ["stun", "account"]\nsdk_app_id = 1400000000\nuser_id = "alice"\n'
          b'timeout = "30s"\nfail_on = "warning"\nstun = ["stun.example.com:3478"]\n'
          b'[[output]]\nformat = "json"\npath = "report.json"\n[[output]]\nformat = "text"\n')
    write("profile", "broken", b'only = ["stun"\nudp_ports = "8000-"\n')


def signal_messages():
    messages = [
        {"type": "hello", "id": 1},
        {"type": "join", "room": "r1", "user": "alice", "id": "j"},
        {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "id": 2},
        {"type": "candidate", "candidate": "candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
        {"type": "candidate", "candidate": ""},
        {"type": "echo", "data": {"n": [1, 2.5, None, True]}, "id": [1]},
        {"type": "leave", "id": None},
    ]
    text = "\n".join(json.dumps(m, separators=(",", ":")) for m in messages).encode()
    # Selector: bit 0 an answerer, bit 1 misbehaving, bits 2+ which connection starts.
    write("signal_messages", "protocol", b"\x01" + text)
    joins = "\n".join(json.dumps({"type": "join", "room": f"r{i % 3}"}) for i in range(9)).encode()
    write("signal_messages", "rooms", b"\x00" + joins)
    write("signal_messages", "bad", b"\x00" + b'[1]\n{"type":7}\n{"type":"nope"}\n{"type":"join","room":""}\nnot json')


def signal_stream():
    messages = [b'{"type":"hello"}', b'{"type":"join","room":"r1"}', b'{"type":"echo","data":"x"}', b'{"type":"leave"}']
    # Selector: bit 0 framed messages after a good upgrade (bit 1 with the token), else raw.
    write("signal_stream", "framed", b"\x01" + b"\n".join(messages))
    write("signal_stream", "framed-token", b"\x03" + b"\n".join(messages))
    upgrade = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    mask = bytes([1, 2, 3, 4])
    def frame(opcode, payload):
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    raw = upgrade + frame(1, b'{"type":"hello","id":1}') + frame(9, b"ping") + frame(8, struct.pack("!H", 1000))
    write("signal_stream", "raw", b"\x00" + raw)
    write("signal_stream", "not-websocket", b"\x00" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def agent_http():
    write("agent_http", "get-page", b"GET /?token=abc%20d+e HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/html\r\n\r\n")
    write("agent_http", "options", b"OPTIONS /api/v1/checks HTTP/1.1\r\nHost: localhost:8080\r\n"
          b"Origin: HTTPS://App.Example.com:443/\r\nAccess-Control-Request-Method: POST\r\n\r\n")
    write("agent_http", "post-check", b"POST /api/v1/checks HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
          b"Authorization: Bearer 0123\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"
          b'{"browser":true}')
    results = {
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0 Safari/537.36",
        "browser": {"name": "Chromium", "version": "156.0.8078.108", "mobile": False},
        "apis": {"RTCPeerConnection": True, "getUserMedia": True, "enumerateDevices": True, "WebSocket": True, "AudioContext": False},
        "devices": {
            "enumerated": {"audioinput": 1, "videoinput": 1, "audiooutput": 1},
            "microphone": {"ok": False, "error": {"name": "NotAllowedError", "message": "Permission denied"}},
            "camera": {"ok": True, "error": None, "label": "cam", "width": 640, "height": 480, "frames": 0, "mean_luma": 4.0, "black": True, "max_luma": 9.0, "duration_ms": 1130},
        },
        "h264": {"send": False, "receive": True, "send_profiles": [], "receive_profiles": ["42e01f"], "source": "capabilities"},
        "autoplay": {"tested_at": "load", "allowed": False, "error": "NotAllowedError"},
        "webrtc": [{"mode": "relay", "url": "ws://127.0.0.1:1/", "connected": False, "error": "ice failed", "failed_stage": "ice",
                    "stages_ms": {"signaling": 47, "answer": 61}, "candidates": {"host": 0, "srflx": 0, "relay": 0, "prflx": 0},
                    "ice_state": "failed", "connection_state": "failed", "duration_ms": 10159}],
        "page_errors": ["TypeError: x is undefined"],
        "elapsed_ms": 2327,
    }
    body = json.dumps(results).encode()
    write("agent_http", "browser-results", b"POST /api/v1/checks/1/browser HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
          + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


if __name__ == "__main__":
    for make in [stun_responder, stun_client, tokens, profile, signal_messages, signal_stream, agent_http]:
        make()
    for folder in sorted((FUZZ / "seeds").iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds")
