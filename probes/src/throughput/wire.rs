//! The throughput test's datagrams, both sides: pure encoders and decoders.
//!
//! They share `serve`'s UDP ports with STUN and are told apart by the first byte, [`MARKER`]
//! (`0xD7`): STUN's first byte is 0 to 3, and RFC 7983's other multiplexed protocols (ZRTP 16-19,
//! DTLS 20-63, TURN channels 64-79, RTP and RTCP 128-191) never start with it either. Every
//! datagram starts with the same 12-byte header, all integers big-endian:
//!
//! ```text
//!  0        1        2        3
//! +--------+--------+--------+--------+
//! |  0xD7  |  type  | ver. 1 |   0    |
//! +--------+--------+--------+--------+
//! |        session id (64 bits)       |
//! |   (0 in START and REFUSE)         |
//! +-----------------------------------+
//! ```
//!
//! Control messages (every type but DATA) end with a 20-byte HMAC-SHA1, keyed with the `serve`
//! token (`TRTC_PREFLIGHT_TOKEN`), over every byte before it: a message whose HMAC does not
//! verify is dropped silently, so without the token nothing is ever answered. DATA carries no
//! HMAC; it counts only for a session whose id `serve` chose at random and sent only to the
//! token holder's address.
//!
//! | type | name | from | body after the header (then the HMAC, except DATA) | bytes |
//! |---|---|---|---|---|
//! | 1 | START | client | direction (1 up, 2 down), 3 zero bytes, rate kbps (32), duration ms (32), packet bytes (16), 2 zero bytes, nonce (64) | 56 |
//! | 2 | ACCEPT | serve | the same fields as granted (rate, duration and size clamped to serve's limits), the START's nonce | 56 |
//! | 3 | REFUSE | serve | reason (1 busy, 2 bad request), 3 zero bytes, the START's nonce (64) | 44 |
//! | 4 | DATA | either | sequence (32), the sender's clock in µs since the session began (64), zero padding to the packet size | packet size |
//! | 5 | ACK | client | packets received so far (32), highest sequence received (32) | 40 |
//! | 6 | STOP | client | nothing | 32 |
//! | 7 | REPORT | serve | direction, 3 zero bytes, sent (32), received (32), duplicates (32), reordered (32), highest sequence + 1 (32), bytes received (64), first and last arrival in µs since the session began (64 each), RFC 3550 jitter in µs (32), flags (32: bit 0, downlink paused for lack of ACKs) | 88 |

use rtc_stun::crypto::{HmacAlgorithm, Mac};

/// The first byte of every throughput datagram.
pub const MARKER: u8 = 0xD7;
/// The version this build speaks.
pub const VERSION: u8 = 1;
/// The common header: marker, type, version, zero, session id.
pub const HEADER_LEN: usize = 12;
/// The HMAC-SHA1 that ends every control message.
pub const HMAC_LEN: usize = 20;
/// A DATA header (common header, sequence, timestamp): the smallest DATA datagram.
pub const DATA_HEADER_LEN: usize = HEADER_LEN + 4 + 8;
/// The smallest packet size a session may use.
pub const MIN_PACKET: u16 = 64;
/// The largest packet size a session may use (fits a 1,500-byte path over IPv6 with room).
pub const MAX_PACKET: u16 = 1400;

/// START and ACCEPT.
pub const START_LEN: usize = HEADER_LEN + 24 + HMAC_LEN;
/// REFUSE.
pub const REFUSE_LEN: usize = HEADER_LEN + 12 + HMAC_LEN;
/// ACK.
pub const ACK_LEN: usize = HEADER_LEN + 8 + HMAC_LEN;
/// STOP.
pub const STOP_LEN: usize = HEADER_LEN + HMAC_LEN;
/// REPORT.
pub const REPORT_LEN: usize = HEADER_LEN + 56 + HMAC_LEN;

const START: u8 = 1;
const ACCEPT: u8 = 2;
const REFUSE: u8 = 3;
const DATA: u8 = 4;
const ACK: u8 = 5;
const STOP: u8 = 6;
const REPORT: u8 = 7;

/// Whether a datagram is meant for the throughput test (rather than STUN).
pub fn is_throughput(bytes: &[u8]) -> bool {
    bytes.first() == Some(&MARKER)
}

/// Which way the data flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to `serve`.
    Up,
    /// `serve` to client.
    Down,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Direction::Up => 1,
            Direction::Down => 2,
        }
    }

    fn of(byte: u8) -> Option<Direction> {
        match byte {
            1 => Some(Direction::Up),
            2 => Some(Direction::Down),
            _ => None,
        }
    }

    /// `uplink` or `downlink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "uplink",
            Direction::Down => "downlink",
        }
    }
}

/// What a session is asked (START) or granted (ACCEPT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Which way.
    pub direction: Direction,
    /// The rate, in kbit/s of UDP payload.
    pub rate_kbps: u32,
    /// How long data flows, in milliseconds.
    pub duration_ms: u32,
    /// Bytes of UDP payload per DATA datagram.
    pub packet_size: u16,
    /// Chosen by the client, echoed by `serve`: matches an ACCEPT or REFUSE to its START.
    pub nonce: u64,
}

/// Why `serve` refused a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// As many sessions as it allows are running.
    Busy,
    /// A parameter it cannot serve (a zero rate or duration).
    BadRequest,
}

/// What `serve` says about a session: what it sent (downlink) or received (uplink).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// DATA datagrams `serve` sent (downlink; 0 for uplink).
    pub sent: u32,
    /// Distinct DATA datagrams `serve` received (uplink; 0 for downlink).
    pub received: u32,
    /// Copies received of a sequence already seen.
    pub duplicates: u32,
    /// Datagrams that arrived after one with a higher sequence.
    pub reordered: u32,
    /// The highest sequence received, plus one (0: none).
    pub highest_plus_one: u32,
    /// UDP payload bytes received (distinct datagrams).
    pub bytes: u64,
    /// When the first datagram arrived, µs since the session began (on `serve`'s clock).
    pub first_us: u64,
    /// When the last datagram arrived, µs since the session began.
    pub last_us: u64,
    /// The RFC 3550 interarrival jitter, in µs.
    pub jitter_us: u32,
    /// Downlink: sending paused at least once because ACKs stopped coming.
    pub paused: bool,
}

/// A decoded datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A client asks for a session.
    Start(Params),
    /// `serve` accepts, with what it grants, under `session`.
    Accept {
        /// The session id `serve` chose.
        session: u64,
        /// What it grants.
        params: Params,
    },
    /// `serve` refuses.
    Refuse {
        /// Why.
        reason: RefuseReason,
        /// The START's nonce.
        nonce: u64,
    },
    /// Test data.
    Data {
        /// The session.
        session: u64,
        /// Its sequence number, from 0.
        sequence: u32,
        /// The sender's clock, µs since the session began.
        sent_us: u64,
        /// The datagram's size.
        size: usize,
    },
    /// The client is still receiving (downlink): keep sending.
    Ack {
        /// The session.
        session: u64,
        /// Distinct datagrams received so far.
        received: u32,
        /// The highest sequence received.
        highest: u32,
    },
    /// The client is done: report.
    Stop {
        /// The session.
        session: u64,
    },
    /// `serve`'s account of the session.
    Report {
        /// The session.
        session: u64,
        /// Its direction.
        direction: Direction,
        /// The figures.
        report: Report,
    },
}

/// Why bytes are not a usable throughput datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not our marker, an unknown version or type, or the wrong length for its type.
    #[error("not a throughput datagram of this version")]
    Malformed,
    /// A control message whose HMAC does not verify with the token.
    #[error("the HMAC does not verify with the token")]
    BadHmac,
}

/// HMAC-SHA1 keyed with the `serve` token.
pub struct Key {
    mac: Box<dyn Mac>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([REDACTED])")
    }
}

impl Key {
    /// Keys HMAC-SHA1 with `token`.
    pub fn new(token: &str) -> Result<Key, String> {
        let provider = rtc_stun::crypto::default_provider().map_err(|e| e.to_string())?;
        let mac = provider
            .crypto()
            .new_hmac(HmacAlgorithm::Sha1, token.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(Key { mac })
    }

    fn seal(&mut self, mut body: Vec<u8>) -> Vec<u8> {
        let mut tag = [0_u8; HMAC_LEN];
        // A keyed HMAC-SHA1 always signs; a failure would leave a zero tag nobody accepts.
        let _ = self.mac.sign(&[&body], &mut tag);
        body.extend_from_slice(&tag);
        body
    }

    fn verify(&mut self, bytes: &[u8]) -> bool {
        let Some(split) = bytes.len().checked_sub(HMAC_LEN) else {
            return false;
        };
        self.mac.verify(&[&bytes[..split]], &bytes[split..]).is_ok()
    }
}

fn header(kind: u8, session: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(REPORT_LEN);
    out.extend_from_slice(&[MARKER, kind, VERSION, 0]);
    out.extend_from_slice(&session.to_be_bytes());
    out
}

fn params_body(out: &mut Vec<u8>, params: &Params) {
    out.extend_from_slice(&[params.direction.byte(), 0, 0, 0]);
    out.extend_from_slice(&params.rate_kbps.to_be_bytes());
    out.extend_from_slice(&params.duration_ms.to_be_bytes());
    out.extend_from_slice(&params.packet_size.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&params.nonce.to_be_bytes());
}

/// Encodes a control message (anything but DATA), sealed with `key`.
pub fn encode(message: &Message, key: &mut Key) -> Vec<u8> {
    let body = match message {
        Message::Start(params) => {
            let mut out = header(START, 0);
            params_body(&mut out, params);
            out
        }
        Message::Accept { session, params } => {
            let mut out = header(ACCEPT, *session);
            params_body(&mut out, params);
            out
        }
        Message::Refuse { reason, nonce } => {
            let mut out = header(REFUSE, 0);
            let reason = match reason {
                RefuseReason::Busy => 1,
                RefuseReason::BadRequest => 2,
            };
            out.extend_from_slice(&[reason, 0, 0, 0]);
            out.extend_from_slice(&nonce.to_be_bytes());
            out
        }
        Message::Data {
            session,
            sequence,
            sent_us,
            size,
        } => return data(*session, *sequence, *sent_us, *size),
        Message::Ack {
            session,
            received,
            highest,
        } => {
            let mut out = header(ACK, *session);
            out.extend_from_slice(&received.to_be_bytes());
            out.extend_from_slice(&highest.to_be_bytes());
            out
        }
        Message::Stop { session } => header(STOP, *session),
        Message::Report {
            session,
            direction,
            report,
        } => {
            let mut out = header(REPORT, *session);
            out.extend_from_slice(&[direction.byte(), 0, 0, 0]);
            for word in [
                report.sent,
                report.received,
                report.duplicates,
                report.reordered,
                report.highest_plus_one,
            ] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            for long in [report.bytes, report.first_us, report.last_us] {
                out.extend_from_slice(&long.to_be_bytes());
            }
            out.extend_from_slice(&report.jitter_us.to_be_bytes());
            out.extend_from_slice(&u32::from(report.paused).to_be_bytes());
            out
        }
    };
    key.seal(body)
}

/// Encodes a DATA datagram of `size` bytes (at least [`DATA_HEADER_LEN`]).
pub fn data(session: u64, sequence: u32, sent_us: u64, size: usize) -> Vec<u8> {
    let mut out = header(DATA, session);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&sent_us.to_be_bytes());
    out.resize(size.max(DATA_HEADER_LEN), 0);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
    fn skip(&mut self, n: usize) {
        self.at += n;
    }
}

fn params(r: &mut Reader<'_>) -> Result<Params, DecodeError> {
    let direction = Direction::of(r.u8()).ok_or(DecodeError::Malformed)?;
    r.skip(3);
    let rate_kbps = r.u32();
    let duration_ms = r.u32();
    let packet_size = r.u16();
    r.skip(2);
    let nonce = r.u64();
    Ok(Params {
        direction,
        rate_kbps,
        duration_ms,
        packet_size,
        nonce,
    })
}

/// Decodes a datagram; control messages must verify with `key`.
pub fn decode(bytes: &[u8], key: &mut Key) -> Result<Message, DecodeError> {
    if bytes.len() < HEADER_LEN || bytes[0] != MARKER || bytes[2] != VERSION {
        return Err(DecodeError::Malformed);
    }
    let kind = bytes[1];
    let expected = match kind {
        START | ACCEPT => START_LEN,
        REFUSE => REFUSE_LEN,
        ACK => ACK_LEN,
        STOP => STOP_LEN,
        REPORT => REPORT_LEN,
        DATA if bytes.len() >= DATA_HEADER_LEN => bytes.len(),
        _ => return Err(DecodeError::Malformed),
    };
    if bytes.len() != expected {
        return Err(DecodeError::Malformed);
    }
    if kind != DATA && !key.verify(bytes) {
        return Err(DecodeError::BadHmac);
    }
    let mut r = Reader { bytes, at: 4 };
    let session = r.u64();
    Ok(match kind {
        START => Message::Start(params(&mut r)?),
        ACCEPT => Message::Accept {
            session,
            params: params(&mut r)?,
        },
        REFUSE => {
            let reason = match r.u8() {
                1 => RefuseReason::Busy,
                2 => RefuseReason::BadRequest,
                _ => return Err(DecodeError::Malformed),
            };
            r.skip(3);
            Message::Refuse {
                reason,
                nonce: r.u64(),
            }
        }
        DATA => Message::Data {
            session,
            sequence: r.u32(),
            sent_us: r.u64(),
            size: bytes.len(),
        },
        ACK => Message::Ack {
            session,
            received: r.u32(),
            highest: r.u32(),
        },
        STOP => Message::Stop { session },
        _ => {
            let direction = Direction::of(r.u8()).ok_or(DecodeError::Malformed)?;
            r.skip(3);
            let report = Report {
                sent: r.u32(),
                received: r.u32(),
                duplicates: r.u32(),
                reordered: r.u32(),
                highest_plus_one: r.u32(),
                bytes: r.u64(),
                first_us: r.u64(),
                last_us: r.u64(),
                jitter_us: r.u32(),
                paused: r.u32() & 1 == 1,
            };
            Message::Report {
                session,
                direction,
                report,
            }
        }
    })
}

/// Arrival statistics of DATA datagrams, as a receiver keeps them (either side).
///
/// Jitter is RFC 3550's interarrival jitter (section 6.4.1) on the sender's timestamps:
/// `J += (|D| - J) / 16`, where `D` is the change in transit time (arrival minus sender's
/// clock) between consecutive arrivals; the two clocks' offset cancels out.
#[derive(Clone, Debug, Default)]
pub struct Arrivals {
    seen: Vec<u64>,
    /// Distinct datagrams received.
    pub received: u32,
    /// Copies of a sequence already seen.
    pub duplicates: u32,
    /// Datagrams that arrived after one with a higher sequence.
    pub reordered: u32,
    /// The highest sequence received, plus one.
    pub highest_plus_one: u32,
    /// UDP payload bytes of the distinct datagrams.
    pub bytes: u64,
    /// The size of the first datagram received.
    pub first_size: usize,
    /// First arrival, µs on the receiver's clock.
    pub first_us: Option<u64>,
    /// Last arrival, µs on the receiver's clock.
    pub last_us: u64,
    last_transit: Option<i64>,
    jitter: f64,
}

impl Arrivals {
    /// Records DATA `sequence` of `size` bytes, sent at `sent_us` (sender's clock), arrived at
    /// `arrived_us` (receiver's clock).
    pub fn record(&mut self, sequence: u32, sent_us: u64, arrived_us: u64, size: usize) {
        let (word, bit) = ((sequence / 64) as usize, sequence % 64);
        // The bitmap grows to the highest sequence seen, up to 4 Mi sequences (512 KiB); beyond,
        // datagrams are counted without telling duplicates (no session here has that many).
        if word < 1 << 16 {
            if self.seen.len() <= word {
                self.seen.resize(word + 1, 0);
            }
            if self.seen[word] & (1 << bit) != 0 {
                self.duplicates = self.duplicates.saturating_add(1);
                return;
            }
            self.seen[word] |= 1 << bit;
        }
        self.received = self.received.saturating_add(1);
        if sequence < self.highest_plus_one {
            self.reordered = self.reordered.saturating_add(1);
        }
        self.highest_plus_one = self.highest_plus_one.max(sequence.saturating_add(1));
        self.bytes += size as u64;
        if self.first_us.is_none() {
            self.first_us = Some(arrived_us);
            self.first_size = size;
        }
        self.last_us = self.last_us.max(arrived_us);
        let transit = arrived_us as i64 - sent_us as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The jitter so far, in µs.
    pub fn jitter_us(&self) -> u32 {
        self.jitter.round().min(f64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new("s3cret").unwrap()
    }

    fn params() -> Params {
        Params {
            direction: Direction::Down,
            rate_kbps: 1540,
            duration_ms: 3000,
            packet_size: 1200,
            nonce: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn every_control_message_round_trips_with_its_documented_size() {
        let messages = [
            (Message::Start(params()), START_LEN),
            (
                Message::Accept {
                    session: 9,
                    params: params(),
                },
                START_LEN,
            ),
            (
                Message::Refuse {
                    reason: RefuseReason::Busy,
                    nonce: 5,
                },
                REFUSE_LEN,
            ),
            (
                Message::Ack {
                    session: 9,
                    received: 100,
                    highest: 120,
                },
                ACK_LEN,
            ),
            (Message::Stop { session: 9 }, STOP_LEN),
            (
                Message::Report {
                    session: 9,
                    direction: Direction::Up,
                    report: Report {
                        sent: 1,
                        received: 2,
                        duplicates: 3,
                        reordered: 4,
                        highest_plus_one: 5,
                        bytes: 6,
                        first_us: 7,
                        last_us: 8,
                        jitter_us: 9,
                        paused: true,
                    },
                },
                REPORT_LEN,
            ),
        ];
        for (message, size) in messages {
            let bytes = encode(&message, &mut key());
            assert_eq!(bytes.len(), size, "{message:?}");
            assert!(is_throughput(&bytes));
            assert_eq!(decode(&bytes, &mut key()), Ok(message));
        }
        assert_eq!(
            (START_LEN, REFUSE_LEN, ACK_LEN, STOP_LEN, REPORT_LEN),
            (56, 44, 40, 32, 88)
        );
    }

    #[test]
    fn another_token_or_a_changed_byte_does_not_verify() {
        let bytes = encode(&Message::Start(params()), &mut key());
        assert_eq!(
            decode(&bytes, &mut Key::new("other").unwrap()),
            Err(DecodeError::BadHmac)
        );
        let mut changed = bytes.clone();
        changed[17] ^= 1;
        assert_eq!(decode(&changed, &mut key()), Err(DecodeError::BadHmac));
        assert_eq!(
            decode(&bytes[..bytes.len() - 1], &mut key()),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn data_needs_no_key_and_is_padded_to_its_size() {
        let bytes = data(9, 42, 1_000_000, 1200);
        assert_eq!(bytes.len(), 1200);
        assert_eq!(
            decode(&bytes, &mut Key::new("anything").unwrap()),
            Ok(Message::Data {
                session: 9,
                sequence: 42,
                sent_us: 1_000_000,
                size: 1200
            })
        );
        assert_eq!(data(1, 1, 1, 3).len(), DATA_HEADER_LEN);
    }

    #[test]
    fn stun_and_garbage_are_not_ours() {
        assert!(!is_throughput(&[0x00, 0x01, 0x00, 0x00]));
        assert!(!is_throughput(&[]));
        assert_eq!(decode(&[MARKER], &mut key()), Err(DecodeError::Malformed));
        let mut wrong_version = data(1, 1, 1, 64);
        wrong_version[2] = 9;
        assert_eq!(
            decode(&wrong_version, &mut key()),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn arrivals_count_duplicates_reordering_and_rfc3550_jitter() {
        let mut a = Arrivals::default();
        // Sent every 10 ms; transit 5, 7, 5, 9 ms; sequence 2 arrives after 3; 1 twice.
        a.record(0, 0, 5_000, 100);
        a.record(1, 10_000, 17_000, 100);
        a.record(1, 10_000, 17_100, 100);
        a.record(3, 30_000, 39_000, 100);
        a.record(2, 20_000, 39_500, 100);
        assert_eq!(
            (a.received, a.duplicates, a.reordered, a.highest_plus_one),
            (4, 1, 1, 4)
        );
        assert_eq!(a.bytes, 400);
        assert_eq!((a.first_us, a.last_us), (Some(5_000), 39_500));
        // |D| = 2000, 2000, 10500: J = 125, 242.19, 883.3
        let mut j = 0.0_f64;
        for d in [2000.0, 2000.0, 10500.0] {
            j += (d - j) / 16.0;
        }
        assert_eq!(a.jitter_us(), j.round() as u32);
    }
}
