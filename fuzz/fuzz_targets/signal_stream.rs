//! `serve`'s signaling endpoint on a whole connection: the HTTP upgrade request, its admission,
//! the WebSocket frames and the protocol behind them, through `SignalServer::serve_stream` on an
//! in-memory stream (the clock paused, so the idle and handshake timeouts cost nothing).
//!
//! The input's first byte chooses: the rest is the raw bytes a client sends (its own upgrade
//! request, frames or garbage: cut after the first blank line, the rest sent once the server has
//! answered, or all at once), or text messages (separated by a newline) that are sent, each as a
//! masked text frame, once a well-formed upgrade request (with the token header or not) has been
//! answered.
//!
//! Invariants beyond "no panic": whatever the server writes starts as an HTTP/1.1 response, and
//! the connection ends (the in-memory stream runs dry: nothing may wait for ever).

#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use trtc_preflight::signal_server::{SignalConfig, SignalServer, TOKEN_HEADER};
use trtc_preflight_fuzz::{block_on, parts, selector, TwoFlights};

const TOKEN: &str = "fuzz-token";

fn upgrade(with_token: bool) -> Vec<u8> {
    let mut request = b"GET /signal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n".to_vec();
    if with_token {
        request.extend_from_slice(format!("{TOKEN_HEADER}: {TOKEN}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// A client's text frame: FIN, opcode 1, masked (RFC 6455 section 5.2).
fn text_frame(payload: &[u8], out: &mut Vec<u8>) {
    const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
    out.push(0x81);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
}

fuzz_target!(|data: &[u8]| {
    let (choice, rest) = selector(data);
    let mut client = if choice & 1 != 0 {
        let mut frames = Vec::new();
        for message in parts(rest, b"\n", 16) {
            text_frame(message, &mut frames);
        }
        TwoFlights::new(&upgrade(choice & 2 != 0), &frames)
    } else if choice & 4 != 0 {
        // All at once, frames and all, right behind the request.
        TwoFlights::new(rest, &[])
    } else {
        // The raw bytes, cut after the request's head.
        let head = parts(rest, b"\r\n\r\n", 2)[0].len();
        let head = (head + 4).min(rest.len());
        TwoFlights::new(&rest[..head], &rest[head..])
    };
    let server = SignalServer::new(SignalConfig {
        token: Some(TOKEN.to_string()),
        ..SignalConfig::default()
    });
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let peer = SocketAddr::from(([198, 51, 100, 20], 50_000));
    let end = block_on(server.serve_stream(&mut client, peer, stopped));
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{end:?} {:?}", server.counters());
        eprintln!("{}", String::from_utf8_lossy(&client.written));
    }
    let written = &client.written;
    assert!(
        written.is_empty() || written.starts_with(b"HTTP/1.1 "),
        "the server wrote {:?}",
        String::from_utf8_lossy(&written[..written.len().min(64)])
    );
    assert_eq!(server.open_connections(), 0);
});
