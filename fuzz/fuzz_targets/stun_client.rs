//! What the STUN client and the TURN client do with bytes from the network: the binding
//! response parser, the transaction engine that feeds on it, the stream framing of STUN over
//! TCP and TLS, and the TURN message parser.
//!
//! Invariants beyond "no panic":
//!
//! - the engine ends a transaction on exactly the bytes `parse_response` accepts (or reports as
//!   an error response), and ignores everything after its end;
//! - `split_frame` never claims more bytes than it was given, and only whole STUN headers;
//! - a TURN answer carries the transaction id of the bytes it came from;
//! - a binding request our client builds from the input's username, password and padding is
//!   answered by our own responder, and the answer reads back with the client's parser.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use preflight_probes::responder::{
    Decision, DropReason, Responder, ResponderConfig, DEFAULT_MAX_REQUEST_LEN,
};
use preflight_probes::stun::engine::{Handled, Ignored, RetransmitConfig, Transaction};
use preflight_probes::stun::message::{
    binding_request, parse_response, split_frame, BindingOptions, ResponseError,
    ShortTermCredential, TransactionId,
};
use preflight_probes::turn::message::{parse, Inbound};
use trtc_preflight_fuzz::{parts, selector};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The transaction id the input's bytes 8..20 carry (so that answers can match), or a fixed one.
fn id_of(bytes: &[u8], matching: bool) -> TransactionId {
    let mut id = [0x5A_u8; 12];
    if matching {
        if let Some(carried) = bytes.get(8..20) {
            id.copy_from_slice(carried);
        }
    }
    TransactionId(id)
}

fn engine(bytes: &[u8], matching: bool) {
    let id = id_of(bytes, matching);
    let request = binding_request(id, &BindingOptions::default()).expect("a bare request");
    let now = epoch();
    let mut transaction = Transaction::new(now, RetransmitConfig::default(), request, id);
    assert!(transaction.poll_transmit(now).is_some());
    let parsed = parse_response(bytes, id);
    let handled = transaction.handle_input(now + Duration::from_millis(30), bytes);
    match (&parsed, handled) {
        (Ok(_), Handled::Answered) => assert!(transaction.is_finished()),
        (Err(ResponseError::ErrorResponse { .. }), Handled::ErrorResponse) => {
            assert!(transaction.is_finished())
        }
        (Err(_), Handled::Ignored(_)) => assert!(!transaction.is_finished()),
        (parsed, handled) => panic!("the engine did {handled:?} with {parsed:?}"),
    }
    if transaction.is_finished() {
        assert!(transaction.poll_event().is_some());
        assert_eq!(
            transaction.handle_input(now + Duration::from_millis(40), bytes),
            Handled::Ignored(Ignored::AfterEnd)
        );
    }
}

fn frames(bytes: &[u8]) {
    let mut rest = bytes;
    while let Ok(Some(len)) = split_frame(rest) {
        assert!(len >= 20 && len <= rest.len() && len % 4 == 0);
        let _ = parse_response(&rest[..len], id_of(rest, true));
        rest = &rest[len..];
    }
}

fn turn(bytes: &[u8]) {
    if let Ok(Inbound::Answer(answer)) = parse(bytes) {
        assert_eq!(Some(&answer.id[..]), bytes.get(8..20));
    }
}

/// Our request, built from the input, through our responder and back.
fn round_trip(bytes: &[u8], choice: u8) {
    let pieces = parts(bytes, b"\0", 3);
    let username = String::from_utf8_lossy(pieces[0]).into_owned();
    let password = String::from_utf8_lossy(pieces.get(1).copied().unwrap_or(b"")).into_owned();
    let credential =
        (choice & 0x40 != 0 && !username.is_empty() && !password.is_empty()).then(|| {
            ShortTermCredential {
                username,
                password: password.clone(),
            }
        });
    let pad_to = pieces
        .get(2)
        .and_then(|p| p.get(..2))
        .map(|p| usize::from(u16::from_be_bytes([p[0], p[1]])));
    let options = BindingOptions { pad_to, credential };
    let id = id_of(bytes, false);
    let Ok(request) = binding_request(id, &options) else {
        return;
    };
    if let Some(target) = options.pad_to {
        assert_eq!(request.len(), target, "padding to {target}");
    }
    let mut responder = Responder::new(ResponderConfig {
        token: options.credential.as_ref().map(|_| password),
        rate_limit: None,
        ..ResponderConfig::default()
    })
    .expect("a responder");
    let source = SocketAddr::from(([203, 0, 113, 9], 5000));
    match responder.respond(epoch(), &request, source) {
        Decision::Answer(answer) => {
            let response = parse_response(&answer, id).expect("our answer reads back");
            assert_eq!(response.mapped, source);
        }
        // Beyond the largest UDP payload over IPv4: no datagram can carry it anyway.
        Decision::Drop(DropReason::Oversized) if request.len() > DEFAULT_MAX_REQUEST_LEN => {}
        Decision::Drop(reason) => {
            panic!("our responder dropped our own request ({reason}): {options:?}")
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (choice, bytes) = selector(data);
    let matching = choice & 1 == 0;
    engine(bytes, matching);
    frames(bytes);
    turn(bytes);
    if choice & 0x80 != 0 {
        round_trip(bytes, choice);
    }
});
