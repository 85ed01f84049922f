//! `serve`'s STUN responder on what a public address receives: datagrams (UDP, with the
//! throughput test's datagrams beside them) and byte streams (TCP and TLS, through the same loop
//! the server runs).
//!
//! The input's first byte chooses the set-up (token or not, the source's address family, UDP or
//! TCP); the rest is up to eight datagrams separated by `DGRM`, or one stream. Invariants beyond
//! "no panic":
//!
//! - an answer goes only to a binding request and is never more than 2.0 times the request's
//!   size from an IPv4 source, 2.6 times from an IPv6 one (DESIGN.md, "Test endpoints"), and
//!   has exactly one of the documented sizes;
//! - every answer decodes with the client's own parser (`parse_response`) as the answer to that
//!   request's transaction, with the source's address mapped;
//! - over a stream, everything written back is at most the same multiple of everything read;
//! - the throughput server only ever sends to the address that spoke to it, and a control
//!   message it decodes encodes back to the same message.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use preflight_probes::responder::throughput::{ThroughputLimits, ThroughputServer};
use preflight_probes::responder::{
    serve_stream, Decision, RateLimit, Responder, ResponderConfig, TcpConfig, ANSWER_LEN_V4,
    ANSWER_LEN_V4_AUTHENTICATED, ANSWER_LEN_V4_BURST, ANSWER_LEN_V6, ANSWER_LEN_V6_AUTHENTICATED,
    ANSWER_LEN_V6_BURST,
};
use preflight_probes::stun::message::{parse_response, split_frame, TransactionId};
use preflight_probes::throughput::wire;
use trtc_preflight_fuzz::{block_on, parts, selector};

/// The token the seeds' authenticated requests and sealed throughput messages use.
const TOKEN: &str = "fuzz-token";

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn source(choice: u8) -> SocketAddr {
    match choice % 3 {
        0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40_000),
        1 => SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
            40_001,
        ),
        // A dual-stack socket's view of an IPv4 client: answered as IPv4.
        _ => SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(198, 51, 100, 8).to_ipv6_mapped()),
            40_002,
        ),
    }
}

fn responder(with_token: bool) -> Responder {
    Responder::new(ResponderConfig {
        token: with_token.then(|| TOKEN.to_string()),
        rate_limit: Some(RateLimit {
            per_second: 2,
            burst: 3,
        }),
        // The smallest table: eviction is exercised as much as lookup.
        limiter_capacity: 8,
        ..ResponderConfig::default()
    })
    .expect("a valid responder configuration")
}

/// Numerator of the amplification bound, over 10: 2.0x for IPv4, 2.6x for IPv6.
fn bound_tenths(source: SocketAddr) -> usize {
    match source.ip().to_canonical() {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 26,
    }
}

fn check_answer(request: &[u8], answer: &[u8], source: SocketAddr) {
    assert_eq!(
        &request[..2],
        &[0x00, 0x01],
        "answered something else than a binding request"
    );
    assert!(
        answer.len() * 10 <= request.len() * bound_tenths(source),
        "amplification: {} bytes answered to {} from {source}",
        answer.len(),
        request.len()
    );
    let sizes = match source.ip().to_canonical() {
        IpAddr::V4(_) => [
            ANSWER_LEN_V4,
            ANSWER_LEN_V4_AUTHENTICATED,
            ANSWER_LEN_V4_BURST,
        ],
        IpAddr::V6(_) => [
            ANSWER_LEN_V6,
            ANSWER_LEN_V6_AUTHENTICATED,
            ANSWER_LEN_V6_BURST,
        ],
    };
    assert!(
        sizes.contains(&answer.len()),
        "an answer of {} bytes",
        answer.len()
    );
    let mut id = [0_u8; 12];
    id.copy_from_slice(&request[8..20]);
    let decoded = parse_response(answer, TransactionId(id))
        .unwrap_or_else(|error| panic!("our client cannot read our answer: {error}"));
    let canonical = SocketAddr::new(source.ip().to_canonical(), source.port());
    assert_eq!(decoded.mapped, canonical);
    assert!(decoded.fingerprint_present && !decoded.mapped_is_plain);
}

fn datagrams(with_token: bool, source: SocketAddr, step_ms: u64, input: &[u8]) {
    let mut responder = responder(with_token);
    let mut throughput = with_token.then(|| {
        ThroughputServer::new(TOKEN, ThroughputLimits::default()).expect("a throughput server")
    });
    let mut key = wire::Key::new(TOKEN).expect("a key");
    let local = SocketAddr::from(([192, 0, 2, 1], 3478));
    for (i, datagram) in parts(input, b"DGRM", 8).into_iter().enumerate() {
        let now = epoch() + Duration::from_millis(step_ms * i as u64);
        if let Ok(message) = wire::decode(datagram, &mut key) {
            if !matches!(message, wire::Message::Data { .. }) {
                let again = wire::decode(&wire::encode(&message, &mut key), &mut key);
                assert_eq!(again.as_ref(), Ok(&message), "throughput round trip");
            }
        }
        if let Some(server) = throughput
            .as_mut()
            .filter(|_| wire::is_throughput(datagram))
        {
            server.handle(now, datagram, source, local);
            while let Some((_, to)) = server.poll_transmit(now, local) {
                assert_eq!(to, source, "throughput data to an address that never spoke");
            }
            continue;
        }
        match responder.respond(now, datagram, source) {
            Decision::Answer(answer) => check_answer(datagram, &answer, source),
            Decision::Drop(_) => {}
        }
    }
    let counters = responder.counters();
    assert!(counters.answered_authenticated <= counters.answered);
}

fn stream(with_token: bool, source: SocketAddr, input: &[u8]) {
    let responder = Mutex::new(responder(with_token));
    let config = TcpConfig::default();
    let mut joined = tokio::io::join(input, Vec::new());
    block_on(serve_stream(&mut joined, source, &responder, &config));
    let (unread, written) = joined.into_inner();
    let read = input.len() - unread.len();
    assert!(
        written.len() * 10 <= read * bound_tenths(source),
        "amplification over a stream: {} bytes written for {read} read",
        written.len()
    );
    // Every answer is a whole STUN message our client can frame and read.
    let mut rest = &written[..];
    while !rest.is_empty() {
        let len = split_frame(rest)
            .expect("answers are STUN")
            .expect("answers are whole messages");
        parse_response(&rest[..len], {
            let mut id = [0_u8; 12];
            id.copy_from_slice(&rest[8..20]);
            TransactionId(id)
        })
        .expect("our client reads our answer");
        rest = &rest[len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let (choice, input) = selector(data);
    let with_token = choice & 1 != 0;
    let source = source(choice >> 1);
    if choice & 0x80 != 0 {
        stream(with_token, source, input);
    } else {
        // Between 0 and 30 ms between datagrams: the limiter refills or not.
        datagrams(
            with_token,
            source,
            u64::from((choice >> 3) & 0x0F) * 2,
            input,
        );
    }
});
