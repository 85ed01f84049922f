//! Test helpers: responses built with `rtc-stun`, and tiny loopback responders.

use std::net::SocketAddr;

use rtc_stun::error_code::ErrorCode;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::message::{
    Message, Setter, TransactionId, BINDING_ERROR, BINDING_REQUEST, BINDING_SUCCESS,
};
use rtc_stun::xoraddr::XorMappedAddress;

/// A binding success response built by `rtc-stun`.
pub(crate) fn success_response(
    id: TransactionId,
    mapped: impl Into<Option<SocketAddr>>,
    fingerprint: bool,
) -> Vec<u8> {
    let mut setters: Vec<Box<dyn Setter>> = vec![Box::new(id), Box::new(BINDING_SUCCESS)];
    if let Some(addr) = mapped.into() {
        setters.push(Box::new(XorMappedAddress {
            ip: addr.ip(),
            port: addr.port(),
        }));
    }
    if fingerprint {
        setters.push(Box::new(FINGERPRINT));
    }
    let mut m = Message::new();
    m.build(&setters).unwrap();
    m.raw
}

/// A binding error response built by `rtc-stun` (with the code's standard reason).
pub(crate) fn error_response(id: TransactionId, code: u16) -> Vec<u8> {
    let mut m = Message::new();
    m.build(&[
        Box::new(id),
        Box::new(BINDING_ERROR),
        Box::new(ErrorCode(code)),
        Box::new(FINGERPRINT),
    ])
    .unwrap();
    m.raw
}

/// The transaction id of `bytes` when they are a well-formed binding request.
pub(crate) fn request_id(bytes: &[u8]) -> Option<TransactionId> {
    let mut m = Message::new();
    m.unmarshal_binary(bytes).ok()?;
    (m.typ == BINDING_REQUEST).then_some(m.transaction_id)
}
