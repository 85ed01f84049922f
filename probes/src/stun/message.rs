//! Binding requests and responses on the wire, on top of `rtc-stun`.
//!
//! Pure functions: bytes in, bytes or typed facts out. [`binding_request`] encodes a request
//! (optionally padded to an exact size, optionally with short-term credentials, always with
//! FINGERPRINT); [`parse_response`] decodes what came back and says precisely why it is not a
//! usable answer when it is not; [`split_frame`] cuts STUN messages out of a TCP or TLS byte
//! stream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rtc_stun::attributes::{
    RawAttribute, ATTR_FINGERPRINT, ATTR_MAPPED_ADDRESS, ATTR_PADDING, ATTR_USERNAME,
    ATTR_XORMAPPED_ADDRESS,
};
use rtc_stun::error_code::ErrorCodeAttribute;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{
    Getter, Message, Setter, BINDING_REQUEST, CLASS_ERROR_RESPONSE, CLASS_SUCCESS_RESPONSE,
    MAGIC_COOKIE, MESSAGE_HEADER_SIZE, METHOD_BINDING,
};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;

pub use rtc_stun::message::TransactionId;

/// The largest STUN message this module builds or accepts from a stream: 64 KiB.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Size of an attribute's type and length fields.
const ATTRIBUTE_HEADER: usize = 4;
/// Size of the MESSAGE-INTEGRITY attribute (header and HMAC-SHA1).
const INTEGRITY_ATTRIBUTE: usize = ATTRIBUTE_HEADER + 20;
/// Size of the FINGERPRINT attribute (header and CRC-32).
const FINGERPRINT_ATTRIBUTE: usize = ATTRIBUTE_HEADER + 4;
/// The longest USERNAME STUN allows: fewer than 513 bytes (RFC 5389, section 15.3), as our
/// responder checks.
const MAX_USERNAME: usize = 512;

/// A fresh transaction id from the operating system's secure random source (through `rtc-stun`).
///
/// Use this for real traffic; tests and reproducible runs use [`IdSequence`].
pub fn random_transaction_id() -> TransactionId {
    TransactionId::new()
}

/// A deterministic source of transaction ids, from a seed (SplitMix64).
///
/// For tests and replays only: ids from a known seed are guessable, which real traffic must not
/// allow (a guessed id lets an off-path host forge an answer).
#[derive(Debug, Clone)]
pub struct IdSequence {
    state: u64,
}

impl IdSequence {
    /// A sequence that always yields the same ids for the same seed.
    pub fn seeded(seed: u64) -> Self {
        IdSequence { state: seed }
    }

    /// The next id of the sequence.
    pub fn next_id(&mut self) -> TransactionId {
        let mut id = [0u8; 12];
        let a = self.next_u64().to_be_bytes();
        let b = self.next_u64().to_be_bytes();
        id[..8].copy_from_slice(&a);
        id[8..].copy_from_slice(&b[..4]);
        TransactionId(id)
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A STUN short-term credential: USERNAME plus MESSAGE-INTEGRITY keyed with the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ShortTermCredential {
    /// Sent in clear as USERNAME (at most 512 bytes).
    pub username: String,
    /// Keys the HMAC-SHA1 of MESSAGE-INTEGRITY; never sent.
    pub password: String,
}

impl std::fmt::Debug for ShortTermCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortTermCredential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to build a binding request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingOptions {
    /// Make the whole STUN message exactly this many bytes (the UDP payload), with a PADDING
    /// attribute; for MTU probing. Must be a multiple of 4 and at least the unpadded size.
    pub pad_to: Option<usize>,
    /// Authenticate the request (USERNAME and MESSAGE-INTEGRITY).
    pub credential: Option<ShortTermCredential>,
}

/// Why a binding request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The requested padded size cannot be produced.
    #[error(
        "cannot pad a binding request to {target} bytes: the size must be a multiple of 4 \
         between {min} and {max} bytes"
    )]
    PaddingTarget {
        /// The size asked for.
        target: usize,
        /// The smallest size possible with these options.
        min: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The username is longer than STUN allows.
    #[error("the STUN username is {len} bytes long; STUN allows at most 512")]
    UsernameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// `rtc-stun` or its crypto provider failed.
    #[error("could not encode the binding request: {0}")]
    Encode(String),
}

/// The unpadded size of a binding request built with `options`.
pub fn unpadded_request_size(options: &BindingOptions) -> usize {
    let credential = options.credential.as_ref().map_or(0, |c| {
        ATTRIBUTE_HEADER + c.username.len().next_multiple_of(4) + INTEGRITY_ATTRIBUTE
    });
    MESSAGE_HEADER_SIZE + credential + FINGERPRINT_ATTRIBUTE
}

/// Encodes a binding request: USERNAME (with a credential), PADDING (with `pad_to`),
/// MESSAGE-INTEGRITY (with a credential) and FINGERPRINT, in that order.
pub fn binding_request(
    id: TransactionId,
    options: &BindingOptions,
) -> Result<Vec<u8>, RequestError> {
    let unpadded = unpadded_request_size(options);
    let padding = match options.pad_to {
        None => None,
        Some(target) if target == unpadded => None,
        Some(target) => {
            if target % 4 != 0 || target < unpadded + ATTRIBUTE_HEADER || target > MAX_MESSAGE_SIZE
            {
                return Err(RequestError::PaddingTarget {
                    target,
                    min: unpadded,
                    max: MAX_MESSAGE_SIZE,
                });
            }
            Some(target - unpadded - ATTRIBUTE_HEADER)
        }
    };
    if let Some(c) = &options.credential {
        if c.username.len() > MAX_USERNAME {
            return Err(RequestError::UsernameTooLong {
                len: c.username.len(),
            });
        }
    }

    fn encode(e: impl std::fmt::Display) -> RequestError {
        RequestError::Encode(e.to_string())
    }
    let mut m = Message::new();
    m.build(&[Box::new(id), Box::new(BINDING_REQUEST)])
        .map_err(encode)?;
    if let Some(c) = &options.credential {
        TextAttribute::new(ATTR_USERNAME, c.username.clone())
            .add_to(&mut m)
            .map_err(encode)?;
    }
    if let Some(len) = padding {
        RawAttribute {
            typ: ATTR_PADDING,
            length: 0,
            value: vec![0; len],
        }
        .add_to(&mut m)
        .map_err(encode)?;
    }
    if let Some(c) = &options.credential {
        let provider = rtc_stun::crypto::default_provider().map_err(encode)?;
        MessageIntegrity::new_short_term_integrity_with_provider(
            c.password.clone(),
            provider.crypto(),
        )
        .add_to(&mut m)
        .map_err(encode)?;
    }
    FINGERPRINT.add_to(&mut m).map_err(encode)?;
    Ok(m.raw)
}

/// A usable answer to a binding request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingResponse {
    /// The address the server saw us at: XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when the server
    /// sent only that.
    pub mapped: SocketAddr,
    /// Whether `mapped` came from the plain MAPPED-ADDRESS (an RFC 3489 server, or no
    /// XOR-MAPPED-ADDRESS).
    pub mapped_is_plain: bool,
    /// Whether the response carried a FINGERPRINT (it verified, or it would not be here).
    pub fingerprint_present: bool,
    /// Bytes received.
    pub size: usize,
}

/// Why bytes received are not a usable answer to our binding request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not a STUN message at all: shorter than a header, no magic cookie, or a length that is
    /// not a multiple of 4.
    #[error("not a STUN message")]
    NotStun,
    /// A STUN header announcing more bytes than arrived.
    #[error("truncated STUN message: the header announces {declared} bytes, {received} arrived")]
    Truncated {
        /// Size announced by the header (header included).
        declared: usize,
        /// Bytes that arrived.
        received: usize,
    },
    /// A STUN header whose attributes cannot be decoded.
    #[error("malformed STUN message: {0}")]
    Malformed(String),
    /// A well-formed STUN message that is not a binding response (a request, an indication,
    /// another method).
    #[error("STUN message of type 0x{message_type:04x} where a binding response was expected")]
    NotBindingResponse {
        /// The message type field.
        message_type: u16,
    },
    /// A binding response to some other transaction.
    #[error("binding response for another transaction")]
    WrongTransaction {
        /// The id it carried.
        got: TransactionId,
    },
    /// A FINGERPRINT that does not match the message (or is not the last attribute).
    #[error("FINGERPRINT does not match the message")]
    BadFingerprint,
    /// The server answered with a binding error response.
    #[error("binding error response {code} {reason:?}")]
    ErrorResponse {
        /// The ERROR-CODE number (300 to 699).
        code: u16,
        /// The reason phrase, lossily decoded.
        reason: String,
    },
    /// A success response with no (decodable) mapped address.
    #[error("binding success response without a mapped address")]
    NoMappedAddress,
}

/// Decodes `bytes` as the answer to the binding request `expected`.
///
/// A FINGERPRINT is verified when present; its absence is accepted and reported.
pub fn parse_response(
    bytes: &[u8],
    expected: TransactionId,
) -> Result<BindingResponse, ResponseError> {
    let declared = match split_frame(bytes) {
        Ok(Some(n)) => n,
        Ok(None) if bytes.len() >= MESSAGE_HEADER_SIZE => {
            return Err(ResponseError::Truncated {
                declared: MESSAGE_HEADER_SIZE
                    + usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                received: bytes.len(),
            })
        }
        Ok(None) | Err(_) => return Err(ResponseError::NotStun),
    };
    let mut m = Message::new();
    m.unmarshal_binary(&bytes[..declared])
        .map_err(|e| ResponseError::Malformed(e.to_string()))?;

    let is_response = m.typ.method == METHOD_BINDING
        && (m.typ.class == CLASS_SUCCESS_RESPONSE || m.typ.class == CLASS_ERROR_RESPONSE);
    if !is_response {
        return Err(ResponseError::NotBindingResponse {
            message_type: m.typ.value(),
        });
    }
    let fingerprint_present = m.contains(ATTR_FINGERPRINT);
    if fingerprint_present {
        let last = m.attributes.0.last().map(|a| a.typ);
        if last != Some(ATTR_FINGERPRINT) || FINGERPRINT.check(&m).is_err() {
            return Err(ResponseError::BadFingerprint);
        }
    }
    if m.transaction_id != expected {
        return Err(ResponseError::WrongTransaction {
            got: m.transaction_id,
        });
    }
    if m.typ.class == CLASS_ERROR_RESPONSE {
        let mut error = ErrorCodeAttribute::default();
        error
            .get_from(&m)
            .map_err(|e| ResponseError::Malformed(format!("ERROR-CODE: {e}")))?;
        return Err(ResponseError::ErrorResponse {
            code: error.code.0,
            reason: String::from_utf8_lossy(&error.reason).into_owned(),
        });
    }
    let (mapped, mapped_is_plain) = match mapped_address(&m) {
        Some(found) => found,
        None => return Err(ResponseError::NoMappedAddress),
    };
    Ok(BindingResponse {
        mapped,
        mapped_is_plain,
        fingerprint_present,
        size: bytes.len(),
    })
}

/// XOR-MAPPED-ADDRESS if it decodes, else MAPPED-ADDRESS if it decodes; `true` for the latter.
fn mapped_address(m: &Message) -> Option<(SocketAddr, bool)> {
    if well_sized(m, ATTR_XORMAPPED_ADDRESS) {
        let mut xor = XorMappedAddress::default();
        if xor.get_from(m).is_ok() {
            return Some((SocketAddr::new(xor.ip, xor.port), false));
        }
    }
    if well_sized(m, ATTR_MAPPED_ADDRESS) {
        // `rtc-stun`'s MappedAddress accepts short values; the size was checked above, and
        // the decoding is simple enough to do here.
        let v = m.get(ATTR_MAPPED_ADDRESS).ok()?;
        let port = u16::from_be_bytes([v[2], v[3]]);
        let ip = match v[1] {
            1 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&v[4..8]).ok()?)),
            2 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&v[4..20]).ok()?)),
            _ => return None,
        };
        return Some((SocketAddr::new(ip, port), true));
    }
    None
}

/// Whether the address attribute `t` is present with the exact size its family needs.
fn well_sized(m: &Message, t: rtc_stun::attributes::AttrType) -> bool {
    match m.get(t) {
        Ok(v) if v.len() >= 4 => matches!((v[1], v.len()), (1, 8) | (2, 20)),
        _ => false,
    }
}

/// Why a byte stream cannot carry STUN messages from here on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The next bytes are not a STUN header (top bits set or no magic cookie): the peer speaks
    /// something else (an HTTP proxy, a TLS alert, ...).
    #[error("the stream does not carry STUN (first bytes {prefix:02x?})")]
    NotStun {
        /// Up to the first 8 bytes seen.
        prefix: Vec<u8>,
    },
    /// The header announces a length that is not a multiple of 4.
    #[error("STUN header announces a length of {length}, not a multiple of 4")]
    BadLength {
        /// The length field.
        length: usize,
    },
    /// The header announces a message larger than [`MAX_MESSAGE_SIZE`].
    #[error("STUN header announces {size} bytes, more than {MAX_MESSAGE_SIZE}")]
    Oversized {
        /// The announced size, header included.
        size: usize,
    },
}

/// The length of the first complete STUN message at the start of `buf` (STUN over TCP or TLS is
/// a byte stream), `None` when more bytes are needed, or why the stream is not STUN.
pub fn split_frame(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let not_stun = || FrameError::NotStun {
        prefix: buf[..buf.len().min(8)].to_vec(),
    };
    if buf.first().is_some_and(|b| b & 0xC0 != 0) {
        return Err(not_stun());
    }
    if buf.len() >= 8 && u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) != MAGIC_COOKIE {
        return Err(not_stun());
    }
    if buf.len() < 4 {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if length % 4 != 0 {
        return Err(FrameError::BadLength { length });
    }
    let size = MESSAGE_HEADER_SIZE + length;
    if size > MAX_MESSAGE_SIZE {
        return Err(FrameError::Oversized { size });
    }
    if buf.len() < size {
        return Ok(None);
    }
    Ok(Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_stun::addr::MappedAddress;
    use rtc_stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_SOFTWARE};
    use rtc_stun::error_code::ErrorCode;
    use rtc_stun::message::{BINDING_ERROR, BINDING_SUCCESS};

    fn id(n: u64) -> TransactionId {
        IdSequence::seeded(n).next_id()
    }

    /// A response built with `rtc-stun`, from a list of setters.
    pub(crate) fn response(setters: &[Box<dyn Setter + '_>]) -> Vec<u8> {
        let mut m = Message::new();
        m.build(setters).unwrap();
        m.raw
    }

    fn decode(bytes: &[u8]) -> Message {
        let mut m = Message::new();
        m.unmarshal_binary(bytes).unwrap();
        m
    }

    fn xor(addr: SocketAddr) -> XorMappedAddress {
        XorMappedAddress {
            ip: addr.ip(),
            port: addr.port(),
        }
    }

    fn credential() -> ShortTermCredential {
        ShortTermCredential {
            username: "preflight:token".into(),
            password: "s3cret".into(),
        }
    }

    #[test]
    fn seeded_ids_repeat_and_differ() {
        let mut a = IdSequence::seeded(7);
        let mut b = IdSequence::seeded(7);
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, a.next_id());
        assert_ne!(id(1), id(2));
        assert_ne!(random_transaction_id(), random_transaction_id());
    }

    #[test]
    fn bare_request_round_trips_through_rtc_stun() {
        let tid = id(1);
        let bytes = binding_request(tid, &BindingOptions::default()).unwrap();
        assert_eq!(bytes.len(), 28, "header + FINGERPRINT");
        assert_eq!(
            bytes.len(),
            unpadded_request_size(&BindingOptions::default())
        );
        let m = decode(&bytes);
        assert_eq!(m.typ, BINDING_REQUEST);
        assert_eq!(m.transaction_id, tid);
        FINGERPRINT.check(&m).unwrap();
        assert_eq!(m.attributes.0.len(), 1);
    }

    #[test]
    fn padding_makes_exact_sizes() {
        for target in [
            28,
            32,
            36,
            100,
            576,
            1200,
            1280,
            1452,
            1472,
            9000,
            MAX_MESSAGE_SIZE,
        ] {
            let options = BindingOptions {
                pad_to: Some(target),
                credential: None,
            };
            let bytes = binding_request(id(2), &options).unwrap();
            assert_eq!(bytes.len(), target);
            let m = decode(&bytes);
            FINGERPRINT.check(&m).unwrap();
            assert_eq!(m.contains(ATTR_PADDING), target > 28, "target {target}");
        }
    }

    #[test]
    fn padding_with_credentials_is_exact_and_still_verifies() {
        let options = BindingOptions {
            pad_to: Some(1200),
            credential: Some(credential()),
        };
        let bytes = binding_request(id(3), &options).unwrap();
        assert_eq!(bytes.len(), 1200);
        let mut m = decode(&bytes);
        let order: Vec<_> = m.attributes.0.iter().map(|a| a.typ).collect();
        assert_eq!(
            order,
            [
                ATTR_USERNAME,
                ATTR_PADDING,
                ATTR_MESSAGE_INTEGRITY,
                ATTR_FINGERPRINT
            ]
        );
        let provider = rtc_stun::crypto::default_provider().unwrap();
        MessageIntegrity::check(&mut m, b"s3cret", provider.crypto()).unwrap();
        FINGERPRINT.check(&m).unwrap();
    }

    #[test]
    fn impossible_padding_targets_are_refused() {
        for target in [0, 24, 30, 31, MAX_MESSAGE_SIZE + 4] {
            let options = BindingOptions {
                pad_to: Some(target),
                credential: None,
            };
            assert!(
                matches!(
                    binding_request(id(4), &options),
                    Err(RequestError::PaddingTarget { min: 28, .. })
                ),
                "target {target}"
            );
        }
    }

    #[test]
    fn credentials_verify_with_rtc_stun_and_a_wrong_password_does_not() {
        let options = BindingOptions {
            pad_to: None,
            credential: Some(credential()),
        };
        let bytes = binding_request(id(5), &options).unwrap();
        assert_eq!(bytes.len(), unpadded_request_size(&options));
        let mut m = decode(&bytes);
        let user = TextAttribute::get_from_as(&m, ATTR_USERNAME).unwrap();
        assert_eq!(user.text, "preflight:token");
        let provider = rtc_stun::crypto::default_provider().unwrap();
        MessageIntegrity::check(&mut m, b"s3cret", provider.crypto()).unwrap();
        assert!(MessageIntegrity::check(&mut m, b"wrong", provider.crypto()).is_err());
        assert!(!format!("{:?}", credential()).contains("s3cret"));
    }

    #[test]
    fn too_long_username_is_refused() {
        let options = BindingOptions {
            pad_to: None,
            credential: Some(ShortTermCredential {
                username: "u".repeat(514),
                password: String::new(),
            }),
        };
        assert_eq!(
            binding_request(id(6), &options),
            Err(RequestError::UsernameTooLong { len: 514 })
        );
    }

    /// Found by fuzz/fuzz_targets/stun_client.rs: a 513-byte USERNAME was sent, and our own
    /// responder (rightly, RFC 5389 section 15.3) dropped the request as malformed.
    #[test]
    fn the_longest_username_sent_is_one_our_responder_answers() {
        use crate::responder::{Decision, Responder, ResponderConfig};
        let options = |len: usize| BindingOptions {
            pad_to: None,
            credential: Some(ShortTermCredential {
                username: "u".repeat(len),
                password: "s3cret".into(),
            }),
        };
        assert_eq!(
            binding_request(id(6), &options(513)),
            Err(RequestError::UsernameTooLong { len: 513 })
        );
        let request = binding_request(id(6), &options(512)).unwrap();
        let mut responder = Responder::new(ResponderConfig {
            token: Some("s3cret".into()),
            ..ResponderConfig::default()
        })
        .unwrap();
        let source = "192.0.2.1:5000".parse().unwrap();
        let now = std::time::Instant::now();
        assert!(matches!(
            responder.respond(now, &request, source),
            Decision::Answer(_)
        ));
    }

    #[test]
    fn success_with_xor_mapped_address_and_fingerprint() {
        let tid = id(7);
        let addr: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
            Box::new(FINGERPRINT),
        ]);
        let r = parse_response(&bytes, tid).unwrap();
        assert_eq!(
            r,
            BindingResponse {
                mapped: addr,
                mapped_is_plain: false,
                fingerprint_present: true,
                size: bytes.len()
            }
        );
    }

    #[test]
    fn ipv6_mapped_addresses_xor_and_plain() {
        let tid = id(8);
        let addr: SocketAddr = "[2001:db8::7]:5000".parse().unwrap();
        let bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
        ]);
        assert_eq!(parse_response(&bytes, tid).unwrap().mapped, addr);
        let plain = MappedAddress {
            ip: addr.ip(),
            port: addr.port(),
        };
        let bytes = response(&[Box::new(tid), Box::new(BINDING_SUCCESS), Box::new(plain)]);
        let r = parse_response(&bytes, tid).unwrap();
        assert_eq!((r.mapped, r.mapped_is_plain), (addr, true));
    }

    #[test]
    fn xor_mapped_address_is_preferred_and_mapped_address_is_the_fallback() {
        let tid = id(9);
        let a: SocketAddr = "198.51.100.1:1111".parse().unwrap();
        let b: SocketAddr = "198.51.100.2:2222".parse().unwrap();
        let plain = MappedAddress {
            ip: b.ip(),
            port: b.port(),
        };
        let both = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(plain),
            Box::new(xor(a)),
        ]);
        assert_eq!(parse_response(&both, tid).unwrap().mapped, a);
        let plain = MappedAddress {
            ip: b.ip(),
            port: b.port(),
        };
        let only = response(&[Box::new(tid), Box::new(BINDING_SUCCESS), Box::new(plain)]);
        let r = parse_response(&only, tid).unwrap();
        assert_eq!((r.mapped, r.mapped_is_plain), (b, true));
        assert!(!r.fingerprint_present, "absent FINGERPRINT is accepted");
    }

    #[test]
    fn success_without_mapped_address() {
        let tid = id(10);
        let soft = TextAttribute::new(ATTR_SOFTWARE, "x".into());
        let bytes = response(&[Box::new(tid), Box::new(BINDING_SUCCESS), Box::new(soft)]);
        assert_eq!(
            parse_response(&bytes, tid),
            Err(ResponseError::NoMappedAddress)
        );
        // A mapped address of the wrong size counts as none.
        let short = RawAttribute {
            typ: ATTR_XORMAPPED_ADDRESS,
            length: 0,
            value: vec![0, 1, 0, 0, 1, 2],
        };
        let bytes = response(&[Box::new(tid), Box::new(BINDING_SUCCESS), Box::new(short)]);
        assert_eq!(
            parse_response(&bytes, tid),
            Err(ResponseError::NoMappedAddress)
        );
    }

    #[test]
    fn error_response_carries_code_and_reason() {
        let tid = id(11);
        let bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_ERROR),
            Box::new(ErrorCode(401)),
            Box::new(FINGERPRINT),
        ]);
        assert_eq!(
            parse_response(&bytes, tid),
            Err(ResponseError::ErrorResponse {
                code: 401,
                reason: "Unauthorized".into()
            })
        );
    }

    #[test]
    fn wrong_transaction_id() {
        let addr: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let bytes = response(&[
            Box::new(id(12)),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
        ]);
        assert_eq!(
            parse_response(&bytes, id(13)),
            Err(ResponseError::WrongTransaction { got: id(12) })
        );
    }

    #[test]
    fn bad_fingerprint_is_rejected() {
        let tid = id(14);
        let addr: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mut bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
            Box::new(FINGERPRINT),
        ]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            parse_response(&bytes, tid),
            Err(ResponseError::BadFingerprint)
        );
        // A flipped bit in the mapped address is caught by the same check.
        let mut bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
            Box::new(FINGERPRINT),
        ]);
        bytes[25] ^= 0x40;
        assert_eq!(
            parse_response(&bytes, tid),
            Err(ResponseError::BadFingerprint)
        );
    }

    #[test]
    fn requests_and_other_methods_are_not_answers() {
        let tid = id(15);
        let request = binding_request(tid, &BindingOptions::default()).unwrap();
        assert_eq!(
            parse_response(&request, tid),
            Err(ResponseError::NotBindingResponse {
                message_type: 0x0001
            })
        );
    }

    #[test]
    fn truncated_and_garbage_are_rejected() {
        let tid = id(16);
        let addr: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let bytes = response(&[
            Box::new(tid),
            Box::new(BINDING_SUCCESS),
            Box::new(xor(addr)),
            Box::new(FINGERPRINT),
        ]);
        assert_eq!(
            parse_response(&bytes[..bytes.len() - 4], tid),
            Err(ResponseError::Truncated {
                declared: bytes.len(),
                received: bytes.len() - 4
            })
        );
        for garbage in [
            &b""[..],
            b"\0\x01",
            &bytes[..19],
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            &[0u8; 40],
        ] {
            assert_eq!(
                parse_response(garbage, tid),
                Err(ResponseError::NotStun),
                "{garbage:?}"
            );
        }
        // An attribute running past the end of the message.
        let mut bad = bytes.clone();
        bad[22..24].copy_from_slice(&200u16.to_be_bytes());
        assert!(matches!(
            parse_response(&bad, tid),
            Err(ResponseError::Malformed(_))
        ));
    }

    #[test]
    fn frames_split_a_byte_stream() {
        let a = binding_request(id(17), &BindingOptions::default()).unwrap();
        let b = binding_request(
            id(18),
            &BindingOptions {
                pad_to: Some(100),
                credential: None,
            },
        )
        .unwrap();
        let stream = [a.clone(), b.clone()].concat();
        assert_eq!(split_frame(&stream), Ok(Some(a.len())));
        assert_eq!(split_frame(&stream[a.len()..]), Ok(Some(100)));
        for cut in 0..a.len() {
            assert_eq!(split_frame(&a[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(matches!(
            split_frame(b"HTTP/1.1 200"),
            Err(FrameError::NotStun { .. })
        ));
        assert!(matches!(
            split_frame(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"),
            Err(FrameError::NotStun { .. })
        ));
        let mut odd = a.clone();
        odd[2..4].copy_from_slice(&6u16.to_be_bytes());
        assert_eq!(split_frame(&odd), Err(FrameError::BadLength { length: 6 }));
        let mut huge = a;
        huge[2..4].copy_from_slice(&0xFFFCu16.to_be_bytes());
        assert_eq!(
            split_frame(&huge),
            Err(FrameError::Oversized { size: 20 + 0xFFFC })
        );
    }
}
