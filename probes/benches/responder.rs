//! How many binding requests one core answers: 1,000,000 `Responder::respond` calls per case,
//! no sockets. Run with
//!
//! ```text
//! cargo test --release -p preflight-probes --bench responder -- --ignored --nocapture
//! ```

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use preflight_probes::responder::{Decision, RateLimit, Responder, ResponderConfig};

const CALLS: u32 = 1_000_000;
const TOKEN: &str = "bench-token";

/// A bare binding request (20 bytes) with transaction id `id`.
fn bare(id: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&[id; 12]);
    m
}

/// A request with USERNAME, MESSAGE-INTEGRITY (keyed with the token) and FINGERPRINT, made by
/// rtc-stun.
fn authenticated() -> Vec<u8> {
    use rtc_stun::attributes::ATTR_USERNAME;
    use rtc_stun::fingerprint::FINGERPRINT;
    use rtc_stun::integrity::MessageIntegrity;
    use rtc_stun::message::{Message, Setter, TransactionId, BINDING_REQUEST};
    use rtc_stun::textattrs::TextAttribute;

    let provider = rtc_stun::crypto::default_provider().expect("provider");
    let mut m = Message::new();
    m.build(&[Box::new(TransactionId::new()), Box::new(BINDING_REQUEST)])
        .expect("header");
    TextAttribute::new(ATTR_USERNAME, "bench".to_owned())
        .add_to(&mut m)
        .expect("username");
    MessageIntegrity::new_short_term_integrity_with_provider(TOKEN.to_owned(), provider.crypto())
        .add_to(&mut m)
        .expect("integrity");
    FINGERPRINT.add_to(&mut m).expect("fingerprint");
    m.raw
}

/// Runs `CALLS` requests from `source(i)` at simulated time `i` µs and prints the rates.
fn run(name: &str, config: ResponderConfig, request: &[u8], source: impl Fn(u32) -> SocketAddr) {
    let mut responder = Responder::new(config).expect("config");
    let t0 = Instant::now();
    let started = Instant::now();
    let mut answered = 0_u64;
    for i in 0..CALLS {
        let now = t0 + Duration::from_micros(u64::from(i));
        if let Decision::Answer(bytes) = responder.respond(now, black_box(request), source(i)) {
            answered += 1;
            black_box(bytes);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{name:<55} {:>10.0} calls/s {:>10.0} answers/s ({answered} answered, {:.0} ns/call)",
        f64::from(CALLS) / elapsed,
        answered as f64 / elapsed,
        elapsed * 1e9 / f64::from(CALLS),
    );
}

#[test]
#[ignore = "a benchmark: run it in release with --ignored --nocapture"]
fn answers_per_second() {
    let request = bare(7);
    let host = |i: u32| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i % 65_536)), 5);
    run(
        "bare, limiter on, 65,536 sources in rotation",
        ResponderConfig::default(),
        &request,
        host,
    );
    run(
        "bare, limiter on, 1,000,000 distinct sources (flood)",
        ResponderConfig::default(),
        &request,
        |i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i)), 5),
    );
    run(
        "bare, limiter on, one host on every port (mostly dropped)",
        ResponderConfig::default(),
        &request,
        |i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), (i % 65_535) as u16),
    );
    run(
        "bare, limiter off",
        ResponderConfig {
            rate_limit: None,
            ..ResponderConfig::default()
        },
        &request,
        host,
    );
    run(
        "token (USERNAME + MESSAGE-INTEGRITY + FINGERPRINT)",
        ResponderConfig {
            token: Some(TOKEN.to_owned()),
            rate_limit: Some(RateLimit::default()),
            ..ResponderConfig::default()
        },
        &authenticated(),
        host,
    );
}

/// The UDP loop end to end on loopback: the server on its own single-threaded runtime (one core),
/// a client keeping a window of requests in flight. Limiter off: all traffic is from 127.0.0.1.
#[test]
#[ignore = "a benchmark: run it in release with --ignored --nocapture"]
fn udp_loopback_answers_per_second() {
    use std::sync::{Arc, Mutex};

    const REQUESTS: usize = 200_000;
    const WINDOW: usize = 32;

    let server_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let socket = server_runtime
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .expect("bind");
    let server_addr = socket.local_addr().expect("address");
    let responder = Arc::new(Mutex::new(
        Responder::new(ResponderConfig {
            rate_limit: None,
            ..ResponderConfig::default()
        })
        .expect("config"),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn({
        let responder = Arc::clone(&responder);
        move || {
            server_runtime.block_on(preflight_probes::responder::serve_udp(
                socket,
                responder,
                async move {
                    let _ = stopped.await;
                },
            ))
        }
    });

    let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind client");
    client.connect(server_addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let request = bare(9);
    let mut buffer = [0_u8; 128];
    let mut answered = 0;
    let started = Instant::now();
    for _ in 0..REQUESTS / WINDOW {
        for _ in 0..WINDOW {
            client.send(&request).expect("send");
        }
        for _ in 0..WINDOW {
            if client.recv(&mut buffer).is_ok() {
                answered += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.send(()).expect("server running");
    server.join().expect("server thread").expect("server loop");
    println!(
        "UDP loopback, window {WINDOW}: {:.0} answers/s ({answered} of {REQUESTS} answered in {elapsed:.2} s)",
        answered as f64 / elapsed
    );
    assert_eq!(
        responder.lock().expect("not poisoned").counters().answered,
        REQUESTS as u64
    );
}
