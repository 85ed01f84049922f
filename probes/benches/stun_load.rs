//! Binding answers per second from a STUN server on the wire: the same load for `serve` and for
//! coturn, so that their figures stand side by side. Not a test: it prints one line.
//!
//! ```text
//! STUN_LOAD_TARGET=127.0.0.1:3478 [STUN_LOAD_SECONDS=3] [STUN_LOAD_SOCKETS=4] \
//!   cargo test --release -p preflight-probes --bench stun_load -- --ignored --nocapture
//! ```
//!
//! Each of `STUN_LOAD_SOCKETS` threads owns a socket and keeps up to `WINDOW` bare 20-byte
//! binding requests in flight: it tops the window up, then reads answers for up to
//! `STALL`; a read that times out gives the window back (those requests count as lost).
//! Only success responses that carry the transaction id of a request in flight are counted.
//! Loopback targets only (the tests' and benchmarks' rule).

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WINDOW: usize = 32;
const STALL: Duration = Duration::from_millis(20);

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

/// A bare binding request with the transaction id `id` (its low 8 bytes; the rest is the
/// thread's number).
fn request(thread: u32, id: u64) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]);
    m[8..12].copy_from_slice(&thread.to_be_bytes());
    m[12..20].copy_from_slice(&id.to_be_bytes());
    m
}

/// The id of a success response to one of `thread`'s requests.
fn answered(thread: u32, datagram: &[u8]) -> Option<u64> {
    let header_ok = datagram.len() >= 20
        && datagram[..2] == [0x01, 0x01]
        && datagram[4..8] == [0x21, 0x12, 0xA4, 0x42]
        && datagram[8..12] == thread.to_be_bytes();
    header_ok.then(|| u64::from_be_bytes(datagram[12..20].try_into().unwrap()))
}

struct Totals {
    sent: AtomicU64,
    answered: AtomicU64,
    answered_bytes: AtomicU64,
}

fn load(thread: u32, target: SocketAddr, stop: &AtomicBool, totals: &Totals) {
    let local = if target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let socket = UdpSocket::bind(local).expect("bind");
    socket.connect(target).expect("connect");
    socket.set_read_timeout(Some(STALL)).expect("timeout");
    let mut in_flight = HashSet::with_capacity(WINDOW);
    let mut next = 0u64;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        while in_flight.len() < WINDOW {
            next += 1;
            if socket.send(&request(thread, next)).is_ok() {
                in_flight.insert(next);
                totals.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                if let Some(id) = answered(thread, &buf[..n]) {
                    if in_flight.remove(&id) {
                        totals.answered.fetch_add(1, Ordering::Relaxed);
                        totals.answered_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            // Silence (or ICMP refusal): what is in flight is lost; start a fresh window.
            Err(_) => in_flight.clear(),
        }
    }
}

#[test]
#[ignore = "a benchmark: run with --ignored and STUN_LOAD_TARGET"]
fn answers_per_second() {
    let target: SocketAddr = std::env::var("STUN_LOAD_TARGET")
        .expect("STUN_LOAD_TARGET=HOST:PORT")
        .parse()
        .expect("STUN_LOAD_TARGET is an IP:PORT");
    assert!(
        target.ip().is_loopback(),
        "STUN_LOAD_TARGET {target}: loopback targets only"
    );
    let seconds: f64 = setting("STUN_LOAD_SECONDS", 3.0);
    let sockets: u32 = setting("STUN_LOAD_SOCKETS", 4);
    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals {
        sent: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        answered_bytes: AtomicU64::new(0),
    });
    let started = Instant::now();
    let threads: Vec<_> = (0..sockets)
        .map(|thread| {
            let (stop, totals) = (stop.clone(), totals.clone());
            std::thread::spawn(move || load(thread, target, &stop, &totals))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a load thread panicked");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = totals.sent.load(Ordering::Relaxed);
    let answered = totals.answered.load(Ordering::Relaxed);
    let bytes = totals.answered_bytes.load(Ordering::Relaxed);
    println!(
        "stun load {target}: {:.0} answers/s ({answered} of {sent} requests answered in {elapsed:.1} s, {sockets} sockets, window {WINDOW}); answer size {:.0} bytes for 20",
        answered as f64 / elapsed,
        if answered > 0 { bytes as f64 / answered as f64 } else { 0.0 },
    );
}
