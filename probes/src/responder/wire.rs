//! The bytes on the wire: a strict, allocation-free reader for binding requests and a writer for
//! the one answer the responder ever sends.
//!
//! The reader walks the attribute list once and keeps borrowed slices; nothing is copied and
//! nothing is allocated until an answer is built. `rtc-stun` is used where it is exact and cheap
//! (the CRC-32 of FINGERPRINT, the HMAC-SHA1 of MESSAGE-INTEGRITY); its `Message` type is not,
//! because it copies every attribute value and is lenient about what it accepts.

use std::net::{IpAddr, SocketAddr};

use rtc_stun::crypto::Mac;
use rtc_stun::fingerprint::fingerprint_value;

use super::DropReason;

/// Size of the STUN message header (RFC 8489 §5).
pub(crate) const HEADER_LEN: usize = 20;
/// The magic cookie every RFC 5389/8489 message carries in bytes 4..8.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Message type of a binding request (method 0x001, class request).
const BINDING_REQUEST: u16 = 0x0001;
/// Message type of a binding success response.
const BINDING_SUCCESS: u16 = 0x0101;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_PADDING: u16 = 0x0026;
const ATTR_FINGERPRINT: u16 = 0x8028;
/// TRTC-PREFLIGHT-BURST (comprehension-optional, our own): a quality burst's id and the
/// request's sequence number, 4 + 4 bytes. See the module documentation of [`super`].
pub const ATTR_BURST: u16 = 0xC7A1;
/// TRTC-PREFLIGHT-BURST-COUNT (comprehension-optional, our own), in answers to token holders
/// whose request carried [`ATTR_BURST`]: the burst id, the distinct requests of that burst
/// received so far and the duplicates seen, 4 + 4 + 4 bytes.
pub const ATTR_BURST_COUNT: u16 = 0xC7A2;
/// Value length of [`ATTR_BURST`].
pub const BURST_LEN: usize = 8;
/// Value length of [`ATTR_BURST_COUNT`].
pub const BURST_COUNT_LEN: usize = 12;

/// USERNAME must hold fewer than 513 bytes (RFC 5389 §15.3).
const MAX_USERNAME_LEN: usize = 512;
/// Value length of MESSAGE-INTEGRITY (an HMAC-SHA1).
const INTEGRITY_LEN: usize = 20;
/// Value length of FINGERPRINT (a CRC-32).
const FINGERPRINT_LEN: usize = 4;

/// XOR-MAPPED-ADDRESS for an IPv4 source: 4-byte attribute header, 8-byte value.
const XOR_MAPPED_V4_LEN: usize = 4 + 8;
/// XOR-MAPPED-ADDRESS for an IPv6 source: 4-byte attribute header, 20-byte value.
const XOR_MAPPED_V6_LEN: usize = 4 + 20;
/// MESSAGE-INTEGRITY attribute with its header.
const INTEGRITY_ATTR_LEN: usize = 4 + INTEGRITY_LEN;
/// FINGERPRINT attribute with its header.
const FINGERPRINT_ATTR_LEN: usize = 4 + FINGERPRINT_LEN;
/// TRTC-PREFLIGHT-BURST-COUNT attribute with its header.
const BURST_COUNT_ATTR_LEN: usize = 4 + BURST_COUNT_LEN;

/// The size of an answer to an IPv4 source without credentials: header, XOR-MAPPED-ADDRESS,
/// FINGERPRINT.
pub const ANSWER_LEN_V4: usize = HEADER_LEN + XOR_MAPPED_V4_LEN + FINGERPRINT_ATTR_LEN;
/// The size of an answer to an IPv6 source without credentials.
pub const ANSWER_LEN_V6: usize = HEADER_LEN + XOR_MAPPED_V6_LEN + FINGERPRINT_ATTR_LEN;
/// The size of an answer to an IPv4 source that presented the token: MESSAGE-INTEGRITY added.
pub const ANSWER_LEN_V4_AUTHENTICATED: usize = ANSWER_LEN_V4 + INTEGRITY_ATTR_LEN;
/// The size of an answer to an IPv6 source that presented the token.
pub const ANSWER_LEN_V6_AUTHENTICATED: usize = ANSWER_LEN_V6 + INTEGRITY_ATTR_LEN;
/// The size of an answer to an IPv4 token holder whose request carried a burst id: the burst's
/// counters added.
pub const ANSWER_LEN_V4_BURST: usize = ANSWER_LEN_V4_AUTHENTICATED + BURST_COUNT_ATTR_LEN;
/// The size of an answer to an IPv6 token holder whose request carried a burst id.
pub const ANSWER_LEN_V6_BURST: usize = ANSWER_LEN_V6_AUTHENTICATED + BURST_COUNT_ATTR_LEN;

/// What an acceptable binding request told us, borrowed from the datagram.
pub(crate) struct BindingRequest<'a> {
    /// The transaction id, echoed in the answer.
    pub(crate) transaction_id: &'a [u8; 12],
    /// USERNAME's value, if present.
    pub(crate) username: Option<&'a [u8]>,
    /// Offset of the MESSAGE-INTEGRITY attribute header, if present.
    pub(crate) integrity_at: Option<usize>,
    /// TRTC-PREFLIGHT-BURST before MESSAGE-INTEGRITY, if present and well sized: burst id and
    /// sequence number.
    pub(crate) burst: Option<(u32, u32)>,
}

/// Whether `bytes` starts like a STUN message: at least 20 bytes, the two top bits zero and the
/// magic cookie in place (the demultiplexing test of RFC 7983 and RFC 8489 §6.3).
pub(crate) fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && bytes[0] & 0xC0 == 0
        && u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) == MAGIC_COOKIE
}

/// The value of the header's message-length field (bytes after the header).
pub(crate) fn declared_body_len(header: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([header[2], header[3]]))
}

/// Reads `message` as a binding request, strictly, and verifies FINGERPRINT when present.
///
/// Accepted: class request, method binding, a length field that is a multiple of 4 and equal to
/// the bytes that follow the header, attributes whose lengths stay inside the message, USERNAME
/// (1..=512 bytes of UTF-8), MESSAGE-INTEGRITY (20 bytes), PADDING (any length), FINGERPRINT
/// (4 bytes, last, and correct), and any comprehension-optional attribute (0x8000 and up), which is
/// ignored, except TRTC-PREFLIGHT-BURST of 8 bytes, which is read (and used only if the request
/// presents the token). Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are skipped, as
/// RFC 8489 §14.5 says. Any other comprehension-required attribute is refused.
pub(crate) fn parse_binding_request(message: &[u8]) -> Result<BindingRequest<'_>, DropReason> {
    if !looks_like_stun(message) {
        return Err(DropReason::NotStun);
    }
    if u16::from_be_bytes([message[0], message[1]]) != BINDING_REQUEST {
        return Err(DropReason::NotBindingRequest);
    }
    let body_len = declared_body_len(message);
    if !body_len.is_multiple_of(4) || HEADER_LEN + body_len != message.len() {
        return Err(DropReason::Malformed);
    }

    let mut username = None;
    let mut integrity_at = None;
    let mut burst = None;
    let mut at = HEADER_LEN;
    while at < message.len() {
        // `at` is a multiple of 4 below a length that is one, so the 4-byte header is there.
        let kind = u16::from_be_bytes([message[at], message[at + 1]]);
        let len = usize::from(u16::from_be_bytes([message[at + 2], message[at + 3]]));
        let value_at = at + 4;
        let next = value_at + len.next_multiple_of(4);
        if next > message.len() {
            return Err(DropReason::Malformed);
        }
        let value = &message[value_at..value_at + len];

        if kind == ATTR_FINGERPRINT {
            if len != FINGERPRINT_LEN || next != message.len() {
                return Err(DropReason::Malformed);
            }
            let carried = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            if carried != fingerprint_value(&message[..at]) {
                return Err(DropReason::BadFingerprint);
            }
        } else if integrity_at.is_some() {
            // Ignored: only FINGERPRINT counts after MESSAGE-INTEGRITY.
        } else {
            match kind {
                ATTR_USERNAME => {
                    if username.is_some()
                        || len == 0
                        || len > MAX_USERNAME_LEN
                        || std::str::from_utf8(value).is_err()
                    {
                        return Err(DropReason::Malformed);
                    }
                    username = Some(value);
                }
                ATTR_MESSAGE_INTEGRITY => {
                    if len != INTEGRITY_LEN {
                        return Err(DropReason::Malformed);
                    }
                    integrity_at = Some(at);
                }
                ATTR_PADDING => {}
                ATTR_BURST if len == BURST_LEN => {
                    let word = |i: usize| {
                        u32::from_be_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]])
                    };
                    burst = Some((word(0), word(4)));
                }
                k if k >= 0x8000 => {}
                _ => return Err(DropReason::UnknownAttribute),
            }
        }
        at = next;
    }

    let transaction_id = message[8..HEADER_LEN]
        .try_into()
        .map_err(|_| DropReason::Malformed)?;
    Ok(BindingRequest {
        transaction_id,
        username,
        integrity_at,
        burst,
    })
}

/// Checks the request's MESSAGE-INTEGRITY (at `integrity_at`) with the keyed `mac`.
///
/// The HMAC covers the header, with its length field rewritten to end just after
/// MESSAGE-INTEGRITY, and every attribute before it (RFC 8489 §14.5).
pub(crate) fn integrity_is_valid(message: &[u8], integrity_at: usize, mac: &mut dyn Mac) -> bool {
    let mut header = [0_u8; HEADER_LEN];
    header.copy_from_slice(&message[..HEADER_LEN]);
    let covered_len = integrity_at + INTEGRITY_ATTR_LEN - HEADER_LEN;
    let Ok(covered_len) = u16::try_from(covered_len) else {
        return false;
    };
    header[2..4].copy_from_slice(&covered_len.to_be_bytes());
    let value_at = integrity_at + 4;
    mac.verify(
        &[&header, &message[HEADER_LEN..integrity_at]],
        &message[value_at..value_at + INTEGRITY_LEN],
    )
    .is_ok()
}

/// Builds the binding success response to `source` for `transaction_id`: XOR-MAPPED-ADDRESS,
/// TRTC-PREFLIGHT-BURST-COUNT when `burst_count` is given (token holders only: the caller
/// gives it only with a `mac`), MESSAGE-INTEGRITY when `mac` is given, FINGERPRINT; nothing else.
///
/// Returns `None` only if the MAC refuses to sign, which a keyed HMAC-SHA1 never does.
pub(crate) fn binding_success(
    transaction_id: &[u8; 12],
    source: SocketAddr,
    burst_count: Option<[u8; BURST_COUNT_LEN]>,
    mac: Option<&mut dyn Mac>,
) -> Option<Vec<u8>> {
    let (mapped_len, integrity_len) = (
        match source.ip() {
            IpAddr::V4(_) => XOR_MAPPED_V4_LEN,
            IpAddr::V6(_) => XOR_MAPPED_V6_LEN,
        },
        if mac.is_some() { INTEGRITY_ATTR_LEN } else { 0 },
    );
    let burst_len = if burst_count.is_some() {
        BURST_COUNT_ATTR_LEN
    } else {
        0
    };
    let total = HEADER_LEN + mapped_len + burst_len + integrity_len + FINGERPRINT_ATTR_LEN;
    let mut out = Vec::with_capacity(total);

    // Header; the length field is written before each attribute that covers it.
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction_id);

    // XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
    let port = source.port() ^ (MAGIC_COOKIE >> 16) as u16;
    out.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
    match source.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&8_u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x01]);
            out.extend_from_slice(&port.to_be_bytes());
            let masked = u32::from(ip) ^ MAGIC_COOKIE;
            out.extend_from_slice(&masked.to_be_bytes());
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&20_u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x02]);
            out.extend_from_slice(&port.to_be_bytes());
            let mut mask = [0_u8; 16];
            mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            mask[4..].copy_from_slice(transaction_id);
            for (byte, m) in ip.octets().iter().zip(mask) {
                out.push(byte ^ m);
            }
        }
    }

    if let Some(value) = burst_count {
        out.extend_from_slice(&ATTR_BURST_COUNT.to_be_bytes());
        out.extend_from_slice(&(BURST_COUNT_LEN as u16).to_be_bytes());
        out.extend_from_slice(&value);
    }

    if let Some(mac) = mac {
        set_body_len(&mut out, mapped_len + burst_len + INTEGRITY_ATTR_LEN);
        let mut tag = [0_u8; INTEGRITY_LEN];
        mac.sign(&[&out], &mut tag).ok()?;
        out.extend_from_slice(&ATTR_MESSAGE_INTEGRITY.to_be_bytes());
        out.extend_from_slice(&(INTEGRITY_LEN as u16).to_be_bytes());
        out.extend_from_slice(&tag);
    }

    set_body_len(&mut out, total - HEADER_LEN);
    let crc = fingerprint_value(&out);
    out.extend_from_slice(&ATTR_FINGERPRINT.to_be_bytes());
    out.extend_from_slice(&(FINGERPRINT_LEN as u16).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(out.len(), total);
    Some(out)
}

/// Writes `len` into the header's message-length field.
fn set_body_len(message: &mut [u8], len: usize) {
    // At most 20 + 24 + 16 + 24 + 8 bytes: always fits.
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    message[2..4].copy_from_slice(&len.to_be_bytes());
}
