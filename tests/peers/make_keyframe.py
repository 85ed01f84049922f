#!/usr/bin/env python3
"""Regenerate keyframe.vp8: `$(bash tests/peers/setup.sh) tests/peers/make_keyframe.py`

Writes one VP8 key frame (the raw frame, as it goes after the VP8 payload descriptor of RFC
7741: no IVF header, no RTP) of 160x120 colour bars, encoded by libvpx through PyAV, then
checks that both FFmpeg's own VP8 decoder and libvpx decode it back to 160x120 with the bars'
colours. Real decoders (aiortc's libvpx, Chromium's) drop garbage payloads, so the Rust probe
sends this frame, again and again, as its video.
"""

import fractions
import os
import sys

import av

WIDTH, HEIGHT = 160, 120
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keyframe.vp8")
# 100% colour bars in BT.601 limited-range YUV: white, yellow, cyan, green, magenta, red,
# blue, black.
BARS = [(235, 128, 128), (210, 16, 146), (170, 166, 16), (145, 54, 34),
        (106, 202, 222), (81, 90, 240), (41, 240, 110), (16, 128, 128)]


def bars_frame(width, height):
    """A yuv420p frame of eight vertical bars (no numpy: each plane is written row by row)."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for i, (pw, ph) in enumerate([(width, height), (width // 2, height // 2),
                                  (width // 2, height // 2)]):
        plane = frame.planes[i]
        row = bytes(BARS[x * 8 // pw][i] for x in range(pw)) + bytes(plane.line_size - pw)
        plane.update(row * ph)
    return frame


def encode_keyframe():
    """Encode one frame with libvpx; the first frame of a stream is always a key frame."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.framerate = 30
    ctx.bit_rate = 300_000
    frame = bars_frame(WIDTH, HEIGHT)
    frame.pts, frame.time_base = 0, ctx.time_base
    packets = ctx.encode(frame) + ctx.encode(None)
    assert packets and packets[0].is_keyframe, "libvpx gave no key frame"
    return bytes(packets[0])


def check(data):
    """Decode with FFmpeg's vp8 and with libvpx; check the size and the bars' luma."""
    # VP8 key frame header (RFC 6386 9.1): frame tag bit 0 = 0 (key frame), start code
    # 9d 01 2a, then 14-bit width and height, little-endian.
    assert data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a", "not a VP8 key frame"
    w = int.from_bytes(data[6:8], "little") & 0x3FFF
    h = int.from_bytes(data[8:10], "little") & 0x3FFF
    assert (w, h) == (WIDTH, HEIGHT), (w, h)
    for decoder in ("vp8", "libvpx"):
        ctx = av.CodecContext.create(decoder, "r")
        frames = ctx.decode(av.Packet(data)) + ctx.decode(None)
        assert len(frames) == 1, f"{decoder}: {len(frames)} frames"
        f = frames[0]
        y = f.planes[0]
        row = bytes(y)[(HEIGHT // 2) * y.line_size:][:WIDTH]
        lumas = [row[(2 * b + 1) * WIDTH // 16] for b in range(8)]
        assert all(abs(a - e[0]) <= 8 for a, e in zip(lumas, BARS)), (decoder, lumas)
        print(f"{decoder}: decoded {f.width}x{f.height} {f.format.name}, bar luma {lumas}",
              file=sys.stderr)


def main():
    data = encode_keyframe()
    check(data)
    with open(OUT, "wb") as f:
        f.write(data)
    print(f"{OUT}: VP8 key frame {WIDTH}x{HEIGHT}, {len(data)} bytes")


if __name__ == "__main__":
    main()
