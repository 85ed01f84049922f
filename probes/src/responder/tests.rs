//! Sans-IO tests of the responder: requests built and answers checked with `rtc-stun`, time
//! simulated from one `Instant`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc_stun::attributes::{
    AttrType, ATTR_CHANGE_REQUEST, ATTR_FINGERPRINT, ATTR_MESSAGE_INTEGRITY, ATTR_PADDING,
    ATTR_SOFTWARE, ATTR_USERNAME, ATTR_XORMAPPED_ADDRESS,
};
use rtc_stun::crypto::RTCCryptoProvider;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{
    Getter, Message, MessageType, Setter, TransactionId, BINDING_ERROR, BINDING_REQUEST,
    BINDING_SUCCESS, CLASS_INDICATION, CLASS_REQUEST, METHOD_ALLOCATE, METHOD_BINDING,
};
use rtc_stun::xoraddr::XorMappedAddress;

use super::*;

const TOKEN: &str = "s3cret-token";
const V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 40_001);
const V6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42)),
    40_002,
);

/// One attribute of a request under test, in order.
enum A<'a> {
    /// Raw attribute: type and value as given (padded by rtc-stun).
    Raw(AttrType, &'a [u8]),
    /// PADDING of this many zero bytes.
    Padding(usize),
    /// MESSAGE-INTEGRITY keyed with this short-term password.
    Integrity(&'a str),
    /// A correct FINGERPRINT.
    Fingerprint,
}

fn provider() -> Arc<dyn RTCCryptoProvider> {
    rtc_stun::crypto::default_provider().expect("rtc-stun's default crypto provider")
}

/// A request of type `typ` with `attrs`, built by rtc-stun, and its transaction id.
fn message(typ: MessageType, attrs: &[A<'_>]) -> (Vec<u8>, [u8; 12]) {
    let provider = provider();
    let mut m = Message::new();
    let id = TransactionId::new();
    m.build(&[Box::new(id), Box::new(typ)]).expect("header");
    for attr in attrs {
        match attr {
            A::Raw(t, v) => m.add(*t, v),
            A::Padding(n) => m.add(ATTR_PADDING, &vec![0; *n]),
            A::Integrity(key) => MessageIntegrity::new_short_term_integrity_with_provider(
                (*key).to_owned(),
                provider.crypto(),
            )
            .add_to(&mut m)
            .expect("integrity"),
            A::Fingerprint => FINGERPRINT.add_to(&mut m).expect("fingerprint"),
        }
    }
    (m.raw.clone(), id.0)
}

fn binding(attrs: &[A<'_>]) -> Vec<u8> {
    message(BINDING_REQUEST, attrs).0
}

fn bare() -> Vec<u8> {
    binding(&[])
}

/// A request presenting the token (USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
fn with_token(key: &str) -> Vec<u8> {
    binding(&[
        A::Raw(ATTR_USERNAME, b"preflight"),
        A::Integrity(key),
        A::Fingerprint,
    ])
}

fn responder(config: ResponderConfig) -> Responder {
    Responder::new(config).expect("valid config")
}

fn unlimited() -> Responder {
    responder(ResponderConfig {
        rate_limit: None,
        ..ResponderConfig::default()
    })
}

fn with_token_config() -> ResponderConfig {
    ResponderConfig {
        token: Some(TOKEN.to_owned()),
        ..ResponderConfig::default()
    }
}

fn answer(decision: Decision) -> Vec<u8> {
    match decision {
        Decision::Answer(bytes) => bytes,
        Decision::Drop(reason) => panic!("expected an answer, got a drop: {reason}"),
    }
}

fn decode(bytes: &[u8]) -> Message {
    let mut m = Message::new();
    m.raw = bytes.to_vec();
    m.decode().expect("rtc-stun decodes the answer");
    m
}

fn mapped(m: &Message) -> SocketAddr {
    let mut xor = XorMappedAddress::default();
    xor.get_from(m).expect("XOR-MAPPED-ADDRESS");
    SocketAddr::new(xor.ip, xor.port)
}

fn attribute_types(m: &Message) -> Vec<AttrType> {
    m.attributes.0.iter().map(|a| a.typ).collect()
}

fn v4(i: u32, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(i)), port)
}

// --- Answers -------------------------------------------------------------------------------

#[test]
fn bare_request_over_ipv4_gets_40_bytes_2_0x() {
    let request = bare();
    assert_eq!(request.len(), 20);
    let bytes = answer(unlimited().respond(Instant::now(), &request, V4));
    assert_eq!(bytes.len(), 40);
    assert_eq!(bytes.len(), ANSWER_LEN_V4);
    assert!(bytes.len() as f64 / request.len() as f64 <= 2.0);
}

#[test]
fn bare_request_over_ipv6_gets_52_bytes_2_6x() {
    let request = bare();
    let bytes = answer(unlimited().respond(Instant::now(), &request, V6));
    assert_eq!(bytes.len(), 52);
    assert_eq!(bytes.len(), ANSWER_LEN_V6);
    assert!(bytes.len() as f64 / request.len() as f64 <= 2.6);
}

#[test]
fn answer_is_a_binding_success_with_exactly_the_mapped_address_and_a_valid_fingerprint() {
    for source in [V4, V6] {
        let (request, id) = message(BINDING_REQUEST, &[]);
        let m = decode(&answer(unlimited().respond(
            Instant::now(),
            &request,
            source,
        )));
        assert_eq!(m.typ, BINDING_SUCCESS);
        assert_eq!(m.transaction_id.0, id, "transaction id echoed");
        assert_eq!(mapped(&m), source);
        assert_eq!(
            attribute_types(&m),
            [ATTR_XORMAPPED_ADDRESS, ATTR_FINGERPRINT]
        );
        FINGERPRINT.check(&m).expect("fingerprint verifies");
    }
}

#[test]
fn ipv4_mapped_source_of_a_dual_stack_socket_is_answered_as_ipv4() {
    let mapped_source = SocketAddr::new(
        IpAddr::V6(Ipv4Addr::new(203, 0, 113, 9).to_ipv6_mapped()),
        V4.port(),
    );
    let bytes = answer(unlimited().respond(Instant::now(), &bare(), mapped_source));
    assert_eq!(bytes.len(), ANSWER_LEN_V4);
    assert_eq!(mapped(&decode(&bytes)), V4);
}

#[test]
fn padding_is_not_echoed_and_answer_size_never_depends_on_request_size() {
    let mut r = unlimited();
    for padding in [0, 4, 100, 1_172, 1_452, 8_952, 65_000] {
        for fingerprint in [false, true] {
            let mut attrs = vec![A::Padding(padding)];
            if fingerprint {
                attrs.push(A::Fingerprint);
            }
            let request = binding(&attrs);
            for source in [V4, V6] {
                let bytes = answer(r.respond(Instant::now(), &request, source));
                let m = decode(&bytes);
                assert!(!m.contains(ATTR_PADDING), "padding {padding} echoed");
                let expected = match source {
                    SocketAddr::V4(_) => ANSWER_LEN_V4,
                    SocketAddr::V6(_) => ANSWER_LEN_V6,
                };
                assert_eq!(bytes.len(), expected, "padding {padding}");
            }
        }
    }
}

#[test]
fn comprehension_optional_attributes_are_ignored() {
    let request = binding(&[A::Raw(ATTR_SOFTWARE, b"some client 1.0"), A::Fingerprint]);
    let m = decode(&answer(unlimited().respond(Instant::now(), &request, V4)));
    assert_eq!(
        attribute_types(&m),
        [ATTR_XORMAPPED_ADDRESS, ATTR_FINGERPRINT]
    );
}

// --- Drops ---------------------------------------------------------------------------------

/// Sets the header's length field.
fn with_length(mut bytes: Vec<u8>, length: u16) -> Vec<u8> {
    bytes[2..4].copy_from_slice(&length.to_be_bytes());
    bytes
}

fn drop_cases() -> Vec<(&'static str, Vec<u8>, DropReason)> {
    use DropReason::*;
    let ok = bare();
    let with_fingerprint = binding(&[A::Raw(ATTR_SOFTWARE, b"x"), A::Fingerprint]);
    let mut bad_fingerprint = with_fingerprint.clone();
    *bad_fingerprint.last_mut().expect("non-empty") ^= 1;
    let mut body_bit_flipped = with_fingerprint.clone();
    body_bit_flipped[24] ^= 1; // inside SOFTWARE: the CRC no longer matches
    let fingerprint_not_last = binding(&[A::Fingerprint, A::Raw(ATTR_SOFTWARE, b"late")]);
    let mut bad_cookie = ok.clone();
    bad_cookie[4] ^= 0xFF;
    let mut top_bits = ok.clone();
    top_bits[0] |= 0x80;
    let mut trailing = ok.clone();
    trailing.extend_from_slice(&[0; 4]);
    let mut overrun = with_length(ok.clone(), 8);
    overrun.extend_from_slice(&[0x80, 0x22, 0x00, 0x64, 0, 0, 0, 0]); // SOFTWARE of 100 bytes
    let mut pad_overrun = with_length(ok.clone(), 8);
    pad_overrun.extend_from_slice(&[0x80, 0x22, 0x00, 0x05, 1, 2, 3, 4]); // 5 bytes need 8
    let mut odd_length = with_length(ok.clone(), 2);
    odd_length.extend_from_slice(&[0, 0]);

    vec![
        ("empty datagram", vec![], NotStun),
        ("truncated header", ok[..19].to_vec(), NotStun),
        (
            "garbage",
            (0..100_u8).map(|b| b.wrapping_mul(37) | 0xC0).collect(),
            NotStun,
        ),
        (
            "HTTP",
            b"GET / HTTP/1.1\r\nHost: stun\r\n\r\n".to_vec(),
            NotStun,
        ),
        ("bad magic cookie", bad_cookie, NotStun),
        ("top bits set", top_bits, NotStun),
        (
            "length beyond the datagram",
            with_length(ok.clone(), 8),
            Malformed,
        ),
        ("bytes beyond the length", trailing, Malformed),
        ("length not a multiple of 4", odd_length, Malformed),
        ("attribute overruns the message", overrun, Malformed),
        (
            "attribute padding overruns the message",
            pad_overrun,
            Malformed,
        ),
        (
            "allocate request",
            message(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST), &[]).0,
            NotBindingRequest,
        ),
        (
            "binding indication",
            message(MessageType::new(METHOD_BINDING, CLASS_INDICATION), &[]).0,
            NotBindingRequest,
        ),
        (
            "binding success response",
            message(BINDING_SUCCESS, &[]).0,
            NotBindingRequest,
        ),
        (
            "binding error response",
            message(BINDING_ERROR, &[]).0,
            NotBindingRequest,
        ),
        ("fingerprint value wrong", bad_fingerprint, BadFingerprint),
        (
            "body changed under the fingerprint",
            body_bit_flipped,
            BadFingerprint,
        ),
        ("fingerprint not last", fingerprint_not_last, Malformed),
        (
            "fingerprint of 8 bytes",
            binding(&[A::Raw(ATTR_FINGERPRINT, &[0; 8])]),
            Malformed,
        ),
        (
            "message-integrity of 16 bytes",
            binding(&[
                A::Raw(ATTR_USERNAME, b"u"),
                A::Raw(ATTR_MESSAGE_INTEGRITY, &[0; 16]),
            ]),
            Malformed,
        ),
        (
            "empty username",
            binding(&[A::Raw(ATTR_USERNAME, b"")]),
            Malformed,
        ),
        (
            "username of 513 bytes",
            binding(&[A::Raw(ATTR_USERNAME, &[b'u'; 513])]),
            Malformed,
        ),
        (
            "username not UTF-8",
            binding(&[A::Raw(ATTR_USERNAME, &[0xFF, 0xFE])]),
            Malformed,
        ),
        (
            "two usernames",
            binding(&[A::Raw(ATTR_USERNAME, b"a"), A::Raw(ATTR_USERNAME, b"b")]),
            Malformed,
        ),
        (
            "CHANGE-REQUEST (comprehension-required, not implemented)",
            binding(&[A::Raw(ATTR_CHANGE_REQUEST, &[0, 0, 0, 6])]),
            UnknownAttribute,
        ),
        (
            "unassigned comprehension-required attribute",
            binding(&[A::Raw(AttrType(0x7FFF), b"????")]),
            UnknownAttribute,
        ),
        (
            "larger than the largest UDP payload",
            binding(&[A::Padding(65_484)]),
            Oversized,
        ),
        (
            "username without message-integrity",
            binding(&[A::Raw(ATTR_USERNAME, b"u")]),
            BadCredentials,
        ),
        (
            "message-integrity without username",
            binding(&[A::Integrity(TOKEN)]),
            BadCredentials,
        ),
        (
            "message-integrity keyed with another secret",
            with_token("not the token"),
            BadCredentials,
        ),
    ]
}

#[test]
fn every_kind_of_bad_request_is_dropped_with_its_reason_and_counted() {
    let mut r = responder(with_token_config());
    let cases = drop_cases();
    for (name, request, reason) in &cases {
        assert_eq!(
            r.respond(Instant::now(), request, V4),
            Decision::Drop(*reason),
            "{name}"
        );
    }
    let counters = r.counters();
    assert_eq!(counters.answered, 0);
    assert_eq!(counters.dropped(), cases.len() as u64);
    for reason in DropReason::ALL {
        let expected = cases.iter().filter(|(_, _, r)| *r == reason).count() as u64;
        assert_eq!(counters.dropped_for(reason), expected, "{reason}");
    }
    assert_eq!(
        counters.rate_limited, 0,
        "the table has no rate-limited case"
    );
}

#[test]
fn oversized_follows_the_configured_limit() {
    let mut r = responder(ResponderConfig {
        max_request_len: 1_000,
        rate_limit: None,
        ..ResponderConfig::default()
    });
    let fits = binding(&[A::Padding(1_000 - 24)]);
    assert_eq!(fits.len(), 1_000);
    answer(r.respond(Instant::now(), &fits, V4));
    let over = binding(&[A::Padding(1_000 - 24 + 4)]);
    assert_eq!(
        r.respond(Instant::now(), &over, V4),
        Decision::Drop(DropReason::Oversized)
    );
}

#[test]
fn the_largest_stun_message_a_udp_datagram_can_carry_is_accepted() {
    // 65,507 is not a multiple of 4: the largest STUN message in a UDP datagram is 65,504 bytes.
    let request = binding(&[A::Padding(65_504 - 24)]);
    assert_eq!(request.len(), 65_504);
    assert!(request.len() <= DEFAULT_MAX_REQUEST_LEN);
    let bytes = answer(unlimited().respond(Instant::now(), &request, V4));
    assert_eq!(bytes.len(), ANSWER_LEN_V4);
}

#[test]
fn any_message_integrity_is_refused_without_a_configured_token() {
    let mut r = unlimited();
    assert_eq!(
        r.respond(Instant::now(), &with_token(TOKEN), V4),
        Decision::Drop(DropReason::BadCredentials)
    );
}

// --- Credentials ---------------------------------------------------------------------------

#[test]
fn token_holders_get_an_answer_with_message_integrity_they_can_verify() {
    let provider = provider();
    let mut r = responder(with_token_config());
    for (source, size) in [
        (V4, ANSWER_LEN_V4_AUTHENTICATED),
        (V6, ANSWER_LEN_V6_AUTHENTICATED),
    ] {
        let request = with_token(TOKEN);
        let bytes = answer(r.respond(Instant::now(), &request, source));
        assert_eq!(bytes.len(), size);
        let mut m = decode(&bytes);
        assert_eq!(
            attribute_types(&m),
            [
                ATTR_XORMAPPED_ADDRESS,
                ATTR_MESSAGE_INTEGRITY,
                ATTR_FINGERPRINT
            ]
        );
        assert_eq!(mapped(&m), source);
        FINGERPRINT.check(&m).expect("fingerprint verifies");
        MessageIntegrity::check(&mut m, TOKEN.as_bytes(), provider.crypto())
            .expect("integrity verifies with the token");
        assert!(MessageIntegrity::check(&mut m, b"other", provider.crypto()).is_err());
    }
    assert_eq!(ANSWER_LEN_V4_AUTHENTICATED, 64);
    assert_eq!(ANSWER_LEN_V6_AUTHENTICATED, 76);
    assert_eq!(r.counters().answered_authenticated, 2);
}

#[test]
fn attributes_after_message_integrity_other_than_fingerprint_are_ignored() {
    let request = binding(&[
        A::Raw(ATTR_USERNAME, b"preflight"),
        A::Integrity(TOKEN),
        A::Raw(ATTR_SOFTWARE, b"after"),
        A::Raw(AttrType(0x0003), &[0, 0, 0, 0]),
        A::Fingerprint,
    ]);
    let bytes = answer(responder(with_token_config()).respond(Instant::now(), &request, V4));
    assert_eq!(bytes.len(), ANSWER_LEN_V4_AUTHENTICATED);
}

#[test]
fn a_valid_token_does_not_excuse_a_bad_fingerprint() {
    let mut request = with_token(TOKEN);
    *request.last_mut().expect("non-empty") ^= 0x10;
    assert_eq!(
        responder(with_token_config()).respond(Instant::now(), &request, V4),
        Decision::Drop(DropReason::BadFingerprint)
    );
}

#[test]
fn token_holders_skip_the_limiter_and_use_none_of_its_tokens() {
    let t0 = Instant::now();
    let mut r = responder(with_token_config());
    let source = |port| SocketAddr::new(V4.ip(), port);
    for i in 0..40 {
        answer(r.respond(t0, &bare(), source(1_000 + i)));
    }
    assert_eq!(
        r.respond(t0, &bare(), source(2_000)),
        Decision::Drop(DropReason::RateLimited)
    );
    for i in 0..1_000 {
        let bytes = answer(r.respond(t0, &with_token(TOKEN), source(3_000 + i)));
        assert_eq!(bytes.len(), ANSWER_LEN_V4_AUTHENTICATED);
    }
    assert_eq!(
        r.respond(t0, &bare(), source(4_000)),
        Decision::Drop(DropReason::RateLimited),
        "still limited without the token"
    );
    // 50 ms later one token has come back, not more: the 1,000 took none.
    let later = t0 + Duration::from_millis(50);
    answer(r.respond(later, &bare(), source(5_000)));
    assert_eq!(
        r.respond(later, &bare(), source(5_001)),
        Decision::Drop(DropReason::RateLimited)
    );
    let c = r.counters();
    assert_eq!(c.answered, 40 + 1_000 + 1);
    assert_eq!(c.answered_authenticated, 1_000);
    assert_eq!(c.rate_limited, 3);
}

// --- Rate limiting -------------------------------------------------------------------------

#[test]
fn limiter_counts_an_address_across_all_its_ports_and_refills_over_time() {
    let t0 = Instant::now();
    let mut r = responder(ResponderConfig::default()); // 20/s, burst 40
    let host = |port| SocketAddr::new(V4.ip(), port);
    let answered = |r: &mut Responder, now, ports: std::ops::Range<u16>| {
        ports
            .filter(|p| matches!(r.respond(now, &bare(), host(*p)), Decision::Answer(_)))
            .count()
    };

    assert_eq!(
        answered(&mut r, t0, 10_000..10_100),
        40,
        "the burst, from 100 ports"
    );
    // Another address is not affected, over IPv4 or IPv6.
    answer(r.respond(t0, &bare(), v4(0xC633_6401, 9)));
    answer(r.respond(t0, &bare(), V6));
    // 20 per second: one token every 50 ms.
    assert_eq!(answered(&mut r, t0 + Duration::from_millis(49), 0..10), 0);
    assert_eq!(answered(&mut r, t0 + Duration::from_millis(50), 0..10), 1);
    assert_eq!(
        answered(&mut r, t0 + Duration::from_millis(550), 0..100),
        10
    );
    // Quiet for two seconds: the whole burst is back, and no more.
    assert_eq!(
        answered(&mut r, t0 + Duration::from_millis(2_600), 0..100),
        40
    );
    // A steady 20/s is answered in full for a minute.
    let start = t0 + Duration::from_secs(10);
    let steady = (0..1_200_u64)
        .filter(|i| {
            let now = start + Duration::from_millis(50 * i);
            matches!(r.respond(now, &bare(), host(7)), Decision::Answer(_))
        })
        .count();
    assert_eq!(steady, 1_200);
}

#[test]
fn limiter_can_be_disabled() {
    let mut r = unlimited();
    let t0 = Instant::now();
    for port in 0..10_000 {
        answer(r.respond(t0, &bare(), SocketAddr::new(V4.ip(), port)));
    }
    assert_eq!(r.limiter_capacity(), 0);
    assert_eq!(r.limiter_memory_bytes(), 0);
}

#[test]
fn limiter_memory_is_fixed_under_a_flood_from_a_million_addresses() {
    let t0 = Instant::now();
    let mut r = responder(ResponderConfig::default());
    let capacity = r.limiter_capacity();
    let memory = r.limiter_memory_bytes();
    assert_eq!(capacity, 65_536);
    assert_eq!(LIMITER_ENTRY_BYTES, 24);
    assert_eq!(memory, 65_536 * 24, "1.5 MiB");

    let request = bare();
    let flooder = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1);
    let mut flooder_answered = 0;
    let mut spoofed_answered = 0;
    // One simulated second: a million distinct sources, one request each, and a host sending
    // every hundredth datagram from a new port.
    for i in 0..1_000_000_u32 {
        let now = t0 + Duration::from_micros(u64::from(i));
        let source = if i % 2 == 0 {
            v4(0x0A00_0000 + i, (i % 60_000) as u16)
        } else {
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (i >> 16) as u16,
                    i as u16,
                )),
                9,
            )
        };
        if matches!(r.respond(now, &request, source), Decision::Answer(_)) {
            spoofed_answered += 1;
        }
        if i % 100 == 0 {
            let port = (i / 100) as u16;
            if matches!(
                r.respond(now, &request, SocketAddr::new(flooder.ip(), port)),
                Decision::Answer(_)
            ) {
                flooder_answered += 1;
            }
        }
    }
    let end = t0 + Duration::from_secs(1);
    assert_eq!(r.limiter_capacity(), capacity);
    assert_eq!(r.limiter_memory_bytes(), memory);
    let tracked = r.limited_sources(end);
    assert!(tracked <= capacity, "{tracked} sources tracked");
    assert!(tracked > capacity / 4, "the table is in use: {tracked}");
    // Every spoofed source sent once: each had a full bucket.
    assert_eq!(spoofed_answered, 1_000_000);
    // The flooder sent 10,000 in one second and was held to its burst plus a second's refill:
    // the churn of a million addresses never evicted the one source being limited.
    assert!(
        (40..=61).contains(&flooder_answered),
        "flooder answered {flooder_answered} times"
    );
}

// --- Configuration and counters ------------------------------------------------------------

#[test]
fn unworkable_configs_are_refused_with_a_message_naming_the_setting() {
    let base = ResponderConfig::default;
    let cases = [
        (
            ResponderConfig {
                token: Some(String::new()),
                ..base()
            },
            "token is empty",
        ),
        (
            ResponderConfig {
                rate_limit: Some(RateLimit {
                    per_second: 0,
                    burst: 1,
                }),
                ..base()
            },
            "rate limit is 0",
        ),
        (
            ResponderConfig {
                rate_limit: Some(RateLimit {
                    per_second: 1,
                    burst: 0,
                }),
                ..base()
            },
            "burst is 0",
        ),
        (
            ResponderConfig {
                limiter_capacity: 0,
                ..base()
            },
            "capacity is 0",
        ),
        (
            ResponderConfig {
                max_request_len: 19,
                ..base()
            },
            "below the 20-byte header",
        ),
    ];
    for (config, message) in cases {
        let error = Responder::new(config).expect_err(message).to_string();
        assert!(error.contains(message), "{error}");
    }
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let config = with_token_config();
    assert!(!format!("{config:?}").contains(TOKEN));
    assert!(!format!("{:?}", responder(config)).contains(TOKEN));
}

#[test]
fn counters_add_up() {
    let t0 = Instant::now();
    let mut r = responder(ResponderConfig {
        rate_limit: Some(RateLimit {
            per_second: 1,
            burst: 2,
        }),
        ..with_token_config()
    });
    answer(r.respond(t0, &bare(), V4));
    answer(r.respond(t0, &bare(), V4));
    r.respond(t0, &bare(), V4);
    answer(r.respond(t0, &with_token(TOKEN), V4));
    r.respond(t0, b"hello", V4);
    r.record_drop(DropReason::Oversized);
    assert_eq!(
        r.counters(),
        Counters {
            answered: 3,
            answered_authenticated: 1,
            not_stun: 1,
            rate_limited: 1,
            oversized: 1,
            ..Counters::default()
        }
    );
    assert_eq!(r.counters().dropped(), 3);
    let names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "not_stun",
            "not_binding_request",
            "malformed",
            "unknown_attribute",
            "bad_fingerprint",
            "bad_credentials",
            "rate_limited",
            "oversized"
        ]
    );
}

// --- Quality bursts ------------------------------------------------------------------------

/// A token holder's request of `burst` with `sequence` (TRTC-PREFLIGHT-BURST before
/// MESSAGE-INTEGRITY).
fn burst_request(key: &str, burst: u32, sequence: u32) -> Vec<u8> {
    let mut value = burst.to_be_bytes().to_vec();
    value.extend_from_slice(&sequence.to_be_bytes());
    binding(&[
        A::Raw(ATTR_USERNAME, b"preflight"),
        A::Raw(AttrType(ATTR_BURST), &value),
        A::Integrity(key),
        A::Fingerprint,
    ])
}

fn burst_count(m: &Message) -> (u32, u32, u32) {
    let value = m.get(AttrType(ATTR_BURST_COUNT)).expect("the burst count");
    assert_eq!(value.len(), BURST_COUNT_LEN);
    let word = |i: usize| u32::from_be_bytes(value[i..i + 4].try_into().unwrap());
    (word(0), word(4), word(8))
}

#[test]
fn token_holders_bursts_are_counted_in_an_answer_of_fixed_size_they_can_verify() {
    let provider = provider();
    let mut r = responder(with_token_config());
    let t0 = Instant::now();
    for (source, size) in [(V4, ANSWER_LEN_V4_BURST), (V6, ANSWER_LEN_V6_BURST)] {
        let mut last = None;
        for sequence in [0, 1, 1, 3] {
            let request = burst_request(TOKEN, 0xB0B0, sequence);
            let bytes = answer(r.respond(t0, &request, source));
            assert_eq!(bytes.len(), size);
            let mut m = decode(&bytes);
            assert_eq!(
                attribute_types(&m),
                [
                    ATTR_XORMAPPED_ADDRESS,
                    AttrType(ATTR_BURST_COUNT),
                    ATTR_MESSAGE_INTEGRITY,
                    ATTR_FINGERPRINT
                ]
            );
            FINGERPRINT.check(&m).expect("fingerprint verifies");
            MessageIntegrity::check(&mut m, TOKEN.as_bytes(), provider.crypto())
                .expect("integrity covers the count");
            last = Some(burst_count(&m));
        }
        assert_eq!(last, Some((0xB0B0, 3, 1)), "{source}");
        // The query counts nothing and says the same.
        let query = burst_request(TOKEN, 0xB0B0, BURST_QUERY);
        let m = decode(&answer(r.respond(t0, &query, source)));
        assert_eq!(burst_count(&m), (0xB0B0, 3, 1));
    }
    assert_eq!(ANSWER_LEN_V4_BURST, 80);
    assert_eq!(ANSWER_LEN_V6_BURST, 92);
    // Never more than the request: 84 bytes with this USERNAME.
    assert!(burst_request(TOKEN, 1, 1).len() >= ANSWER_LEN_V4_BURST);
    assert!(r.burst_memory_bytes() > 0 && r.burst_memory_bytes() < 80 * 1024);
}

#[test]
fn the_burst_attribute_changes_nothing_for_anyone_without_the_token() {
    let mut value = 7_u32.to_be_bytes().to_vec();
    value.extend_from_slice(&0_u32.to_be_bytes());
    let plain = binding(&[A::Raw(AttrType(ATTR_BURST), &value), A::Fingerprint]);
    for mut r in [unlimited(), responder(with_token_config())] {
        let bytes = answer(r.respond(Instant::now(), &plain, V4));
        assert_eq!(bytes.len(), ANSWER_LEN_V4);
        assert_eq!(
            attribute_types(&decode(&bytes)),
            [ATTR_XORMAPPED_ADDRESS, ATTR_FINGERPRINT]
        );
    }
    // A wrong token with the attribute: dropped like any bad credential.
    assert_eq!(
        responder(with_token_config()).respond(Instant::now(), &burst_request("guess", 7, 0), V4),
        Decision::Drop(DropReason::BadCredentials)
    );
    // No token configured: no table at all.
    assert_eq!(unlimited().burst_memory_bytes(), 0);
}

#[test]
fn a_burst_attribute_of_the_wrong_size_is_ignored() {
    let request = binding(&[
        A::Raw(ATTR_USERNAME, b"preflight"),
        A::Raw(AttrType(ATTR_BURST), &[1, 2, 3, 4]),
        A::Integrity(TOKEN),
        A::Fingerprint,
    ]);
    let bytes = answer(responder(with_token_config()).respond(Instant::now(), &request, V4));
    assert_eq!(bytes.len(), ANSWER_LEN_V4_AUTHENTICATED);
}
