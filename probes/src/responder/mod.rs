//! STUN server side for `serve`: a binding responder that is safe on a public address.
//!
//! # Shape
//!
//! [`Responder`] is sans-IO: it holds no socket and reads no clock. Each datagram (or each STUN
//! frame read from a stream) goes in with the time and the source address,
//! [`Responder::respond`]`(now, bytes, source)`, and a [`Decision`] comes out: the bytes to send
//! back to that source, or the reason to send nothing. The thin tokio loops in this module,
//! [`serve_udp`] and [`serve_tcp`] / [`serve_tcp_with`], own the sockets and the clock, and do
//! nothing else. For TLS, [`serve_tcp_with`] takes an acceptor hook (the handshake) and
//! [`serve_stream`] serves any `AsyncRead + AsyncWrite`.
//!
//! # What is answered
//!
//! Only a well-formed binding request: class request, method binding, the magic cookie, a length
//! field that matches the bytes received, attributes that stay in bounds, FINGERPRINT correct when
//! present, no comprehension-required attribute other than USERNAME, MESSAGE-INTEGRITY and
//! PADDING. The answer is a binding success response with the request's transaction id and exactly
//! two attributes, XOR-MAPPED-ADDRESS and FINGERPRINT, so its size depends only on the source's
//! address family, never on the request:
//!
//! | source | bare request | answer | ratio |
//! |---|---|---|---|
//! | IPv4 (or IPv4-mapped IPv6) | 20 bytes | [`ANSWER_LEN_V4`] = 40 bytes | 2.0× |
//! | IPv6 | 20 bytes | [`ANSWER_LEN_V6`] = 52 bytes | 2.6× |
//!
//! PADDING in a request (MTU probes) is never echoed. A request that presents the configured token
//! (STUN short-term credentials: USERNAME, any value, and MESSAGE-INTEGRITY keyed with the token)
//! also gets MESSAGE-INTEGRITY in its answer, before FINGERPRINT, so the client can verify it:
//! [`ANSWER_LEN_V4_AUTHENTICATED`] = 64 bytes, [`ANSWER_LEN_V6_AUTHENTICATED`] = 76 bytes, to a
//! request of at least 52 bytes (20 + USERNAME of 1 to 4 bytes + MESSAGE-INTEGRITY 24).
//!
//! # Quality bursts: counting what arrived (token holders only)
//!
//! The quality probe splits loss into uplink and downlink with `serve`'s help. A token holder's
//! binding request may carry, before MESSAGE-INTEGRITY (so the HMAC covers it), the
//! comprehension-optional attribute **TRTC-PREFLIGHT-BURST** ([`ATTR_BURST`] = `0xC7A1`, our own,
//! in the range RFC 8489 leaves to expert review and that no registered attribute uses): 8 bytes,
//! a burst id (32 bits, chosen at random by the client for each burst) and the request's sequence
//! number in the burst (32 bits, from 0; [`BURST_QUERY`] = `0xFFFFFFFF` asks without being
//! counted). The answer then carries, before its MESSAGE-INTEGRITY, **TRTC-PREFLIGHT-BURST-COUNT**
//! ([`ATTR_BURST_COUNT`] = `0xC7A2`): 12 bytes, the burst id echoed, the distinct sequence numbers
//! of that burst received so far from that source address and port, and the copies received
//! twice. Its answers are [`ANSWER_LEN_V4_BURST`] = 80 and [`ANSWER_LEN_V6_BURST`] = 92 bytes,
//! whatever the request: no more than the 84-byte request the probe sends over IPv4.
//!
//! Without the token (or with a wrong one) the attribute changes nothing: such a request is
//! answered, limited or dropped exactly as it would be without it, and the answer never carries a
//! count. The counters live in a table allocated once, with the token: 32 bursts, each with a
//! bitmap of 16,384 sequence numbers (about 64 KiB in all); a new burst takes the slot of the
//! burst seen least recently.
//!
//! # Throughput (token holders only)
//!
//! [`serve_udp_with`] also serves the throughput test on the same UDP ports, for token holders
//! only, with a [`throughput::ThroughputServer`]. Its datagrams start with the byte `0xD7`, which
//! no STUN message (first byte 0 to 3) and none of the protocols RFC 7983 multiplexes with it
//! start with; every other datagram goes to the STUN responder as before. The format of each
//! datagram is in [`crate::throughput::wire`]; in short:
//!
//! - every control message (START, ACCEPT, REFUSE, ACK, STOP, REPORT) ends with an HMAC-SHA1
//!   keyed with the token; one that does not verify is dropped in silence, so `serve` never
//!   answers anyone without the token;
//! - a client asks with START for one direction, a rate and a duration; `serve` grants at most
//!   [`throughput::ThroughputLimits`]' rate (10 Mbit/s) and duration (10 s) and runs at most its
//!   number of sessions at once (2; beyond, REFUSE busy). ACCEPT names a session id `serve` chose
//!   at random, sent only to the address the START came from;
//! - uplink: `serve` counts the DATA of that session from that address (sequence, arrival,
//!   jitter), answers none of it, and sends its REPORT when the client says STOP;
//! - downlink: `serve` sends nothing until the first ACK naming the session, HMAC-sealed, comes
//!   from the client's address (so a START with a forged source cannot aim data at anyone), then
//!   paces DATA at the granted rate only while ACKs keep coming: 300 ms without one and it stops
//!   sending (it skips what fell due meanwhile rather than catching up). A session ends at its
//!   duration, and is forgotten 3 s later, or 1 s after STOP.
//!
//! Answers are at most 88 bytes (REPORT, to a 32-byte STOP), downlink data only flows to a
//! client that keeps proving, every 300 ms, that it holds the token and is where the data goes.
//!
//! # Rate limiting and memory
//!
//! Requests without credentials pass a token bucket per source IP address (ports ignored); token
//! holders skip it. The buckets live in a table allocated once, [`ResponderConfig::limiter_capacity`]
//! entries (rounded up to a power of two) of [`LIMITER_ENTRY_BYTES`] = 24 bytes each: 1.5 MiB for
//! the default 65,536, whatever the number of sources. Nothing else is kept per source.
//! When the table is full a new source takes the slot of the idlest source in its set, whose bucket
//! had refilled (or nearly): a flood of spoofed addresses can reset the bucket of a quiet source,
//! never that of a source being limited.

mod bursts;
mod limiter;
mod tcp;
pub mod throughput;
mod udp;
mod wire;

#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use rtc_stun::crypto::{HmacAlgorithm, Mac};

pub use bursts::BURST_QUERY;
pub use limiter::ENTRY_BYTES as LIMITER_ENTRY_BYTES;
pub use tcp::{serve_stream, serve_tcp, serve_tcp_with, ConnectionEnd, TcpConfig, TcpSummary};
pub use udp::{serve_udp, serve_udp_with, UdpServeError};
pub use wire::{
    ANSWER_LEN_V4, ANSWER_LEN_V4_AUTHENTICATED, ANSWER_LEN_V4_BURST, ANSWER_LEN_V6,
    ANSWER_LEN_V6_AUTHENTICATED, ANSWER_LEN_V6_BURST, ATTR_BURST, ATTR_BURST_COUNT,
    BURST_COUNT_LEN, BURST_LEN,
};

/// The largest request accepted by default: the largest UDP payload over IPv4 (65,535 − 20 − 8),
/// so that padded MTU probes of any size are answered (with an answer of the usual size).
pub const DEFAULT_MAX_REQUEST_LEN: usize = 65_507;

/// Per-source token bucket: `per_second` tokens a second, at most `burst` saved up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second answered for one source address (at least 1).
    pub per_second: u32,
    /// Requests answered back to back from a source that has been quiet (at least 1).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 requests a second, bursts of 40.
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 40,
        }
    }
}

/// How a [`Responder`] behaves.
#[derive(Clone)]
pub struct ResponderConfig {
    /// The secret of STUN short-term credentials: a request with USERNAME and a
    /// MESSAGE-INTEGRITY keyed with it skips the rate limiter. `None`: every request is limited and
    /// any request carrying MESSAGE-INTEGRITY is dropped.
    pub token: Option<String>,
    /// The per-source limit for requests without credentials; `None` disables limiting (for
    /// loopback tests and demos only).
    pub rate_limit: Option<RateLimit>,
    /// Entries in the limiter's table (rounded up to a power of two, at least 8); the table
    /// takes `capacity × LIMITER_ENTRY_BYTES` bytes.
    pub limiter_capacity: usize,
    /// Requests longer than this are dropped as [`DropReason::Oversized`].
    pub max_request_len: usize,
}

impl Default for ResponderConfig {
    /// No token, 20 requests a second with bursts of 40 per source, 65,536 limiter entries
    /// (1.5 MiB), requests up to [`DEFAULT_MAX_REQUEST_LEN`].
    fn default() -> Self {
        Self {
            token: None,
            rate_limit: Some(RateLimit::default()),
            limiter_capacity: 65_536,
            max_request_len: DEFAULT_MAX_REQUEST_LEN,
        }
    }
}

impl fmt::Debug for ResponderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponderConfig")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("rate_limit", &self.rate_limit)
            .field("limiter_capacity", &self.limiter_capacity)
            .field("max_request_len", &self.max_request_len)
            .finish()
    }
}

/// A [`ResponderConfig`] that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The token is the empty string.
    #[error("the STUN token is empty: give a non-empty secret, or no token at all")]
    EmptyToken,
    /// A rate limit of zero requests a second.
    #[error("the STUN rate limit is 0 requests a second: give at least 1, or disable the limit")]
    ZeroRate,
    /// A burst of zero.
    #[error("the STUN burst is 0: give at least 1 (the number of requests answered back to back)")]
    ZeroBurst,
    /// A limiter table of zero entries.
    #[error("the STUN limiter capacity is 0 entries: give at least 8")]
    ZeroCapacity,
    /// A maximum request length below a STUN header.
    #[error("the largest STUN request accepted is {0} bytes, below the 20-byte header: give at least 20")]
    MaxRequestTooSmall(usize),
    /// The crypto provider could not key HMAC-SHA1 with the token.
    #[error("could not key HMAC-SHA1 with the STUN token: {0}")]
    Crypto(String),
}

/// Why a request got no answer. Every drop is counted in [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not STUN at all: under 20 bytes, top bits set, or no magic cookie.
    NotStun,
    /// STUN, but not a binding request (another method, or an indication or a response).
    NotBindingRequest,
    /// A binding request whose length field or attributes are inconsistent.
    Malformed,
    /// A binding request with a comprehension-required attribute this responder does not
    /// implement (RFC 8489 would answer 420; a public responder stays silent).
    UnknownAttribute,
    /// FINGERPRINT present and wrong.
    BadFingerprint,
    /// MESSAGE-INTEGRITY that does not verify with the token (or no token configured), or
    /// USERNAME and MESSAGE-INTEGRITY not both present.
    BadCredentials,
    /// The source address has used up its bucket.
    RateLimited,
    /// Longer than [`ResponderConfig::max_request_len`] (or, on a stream,
    /// [`TcpConfig::max_message_len`]).
    Oversized,
}

impl DropReason {
    /// Every reason, in [`Counters`] order.
    pub const ALL: [DropReason; 8] = [
        DropReason::NotStun,
        DropReason::NotBindingRequest,
        DropReason::Malformed,
        DropReason::UnknownAttribute,
        DropReason::BadFingerprint,
        DropReason::BadCredentials,
        DropReason::RateLimited,
        DropReason::Oversized,
    ];

    /// A stable snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotStun => "not_stun",
            DropReason::NotBindingRequest => "not_binding_request",
            DropReason::Malformed => "malformed",
            DropReason::UnknownAttribute => "unknown_attribute",
            DropReason::BadFingerprint => "bad_fingerprint",
            DropReason::BadCredentials => "bad_credentials",
            DropReason::RateLimited => "rate_limited",
            DropReason::Oversized => "oversized",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send these bytes back to the request's source.
    Answer(Vec<u8>),
    /// Send nothing.
    Drop(DropReason),
}

/// What a [`Responder`] has done since it was built, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests answered (with or without credentials).
    pub answered: u64,
    /// Of those, requests that presented the token and skipped the limiter.
    pub answered_authenticated: u64,
    /// Dropped: [`DropReason::NotStun`].
    pub not_stun: u64,
    /// Dropped: [`DropReason::NotBindingRequest`].
    pub not_binding_request: u64,
    /// Dropped: [`DropReason::Malformed`].
    pub malformed: u64,
    /// Dropped: [`DropReason::UnknownAttribute`].
    pub unknown_attribute: u64,
    /// Dropped: [`DropReason::BadFingerprint`].
    pub bad_fingerprint: u64,
    /// Dropped: [`DropReason::BadCredentials`].
    pub bad_credentials: u64,
    /// Dropped: [`DropReason::RateLimited`].
    pub rate_limited: u64,
    /// Dropped: [`DropReason::Oversized`].
    pub oversized: u64,
}

impl Counters {
    /// Requests dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::NotStun => self.not_stun,
            DropReason::NotBindingRequest => self.not_binding_request,
            DropReason::Malformed => self.malformed,
            DropReason::UnknownAttribute => self.unknown_attribute,
            DropReason::BadFingerprint => self.bad_fingerprint,
            DropReason::BadCredentials => self.bad_credentials,
            DropReason::RateLimited => self.rate_limited,
            DropReason::Oversized => self.oversized,
        }
    }

    /// Requests dropped for any reason.
    pub fn dropped(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped_for(*r)).sum()
    }

    fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::NotStun => &mut self.not_stun,
            DropReason::NotBindingRequest => &mut self.not_binding_request,
            DropReason::Malformed => &mut self.malformed,
            DropReason::UnknownAttribute => &mut self.unknown_attribute,
            DropReason::BadFingerprint => &mut self.bad_fingerprint,
            DropReason::BadCredentials => &mut self.bad_credentials,
            DropReason::RateLimited => &mut self.rate_limited,
            DropReason::Oversized => &mut self.oversized,
        };
        *counter += 1;
    }
}

/// The sans-IO binding responder: requests in, answers (or counted drops) out.
pub struct Responder {
    /// HMAC-SHA1 keyed with the token, once.
    mac: Option<Box<dyn Mac>>,
    limiter: Option<limiter::Limiter>,
    /// The quality bursts' counters (token holders only: allocated only with a token).
    bursts: Option<bursts::BurstTable>,
    max_request_len: usize,
    counters: Counters,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("token", &self.mac.as_ref().map(|_| "[REDACTED]"))
            .field("limiter_capacity", &self.limiter_capacity())
            .field("max_request_len", &self.max_request_len)
            .field("counters", &self.counters)
            .finish()
    }
}

impl Responder {
    /// A responder for `config`; the limiter's table is allocated here, once.
    pub fn new(config: ResponderConfig) -> Result<Self, ConfigError> {
        if config.max_request_len < wire::HEADER_LEN {
            return Err(ConfigError::MaxRequestTooSmall(config.max_request_len));
        }
        let limiter = match config.rate_limit {
            None => None,
            Some(RateLimit { per_second: 0, .. }) => return Err(ConfigError::ZeroRate),
            Some(RateLimit { burst: 0, .. }) => return Err(ConfigError::ZeroBurst),
            Some(_) if config.limiter_capacity == 0 => return Err(ConfigError::ZeroCapacity),
            Some(limit) => Some(limiter::Limiter::new(
                limit.per_second,
                limit.burst,
                config.limiter_capacity,
            )),
        };
        let mac = match config.token {
            None => None,
            Some(token) if token.is_empty() => return Err(ConfigError::EmptyToken),
            Some(token) => {
                let provider = rtc_stun::crypto::default_provider()
                    .map_err(|e| ConfigError::Crypto(e.to_string()))?;
                let mac = provider
                    .crypto()
                    .new_hmac(HmacAlgorithm::Sha1, token.as_bytes())
                    .map_err(|e| ConfigError::Crypto(e.to_string()))?;
                Some(mac)
            }
        };
        Ok(Self {
            bursts: mac.as_ref().map(|_| bursts::BurstTable::new()),
            mac,
            limiter,
            max_request_len: config.max_request_len,
            counters: Counters::default(),
        })
    }

    /// Decides what to send back to `source` for `request`, received at `now`, and counts it.
    ///
    /// The answer's size depends only on `source`'s family and on whether the request presented
    /// the token (see the module documentation). An IPv4-mapped IPv6 source (a dual-stack socket)
    /// is answered and limited as the IPv4 address it is.
    pub fn respond(&mut self, now: Instant, request: &[u8], source: SocketAddr) -> Decision {
        match self.decide(now, request, source) {
            Ok((answer, authenticated)) => {
                self.counters.answered += 1;
                self.counters.answered_authenticated += u64::from(authenticated);
                Decision::Answer(answer)
            }
            Err(reason) => {
                self.counters.count_drop(reason);
                Decision::Drop(reason)
            }
        }
    }

    /// Counts a drop decided outside [`respond`](Self::respond), by a transport that could not
    /// even frame the request (a stream whose header is not STUN or announces too much).
    pub fn record_drop(&mut self, reason: DropReason) {
        self.counters.count_drop(reason);
    }

    /// What has been answered and dropped so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Entries in the limiter's table (fixed at construction); 0 without a limit.
    pub fn limiter_capacity(&self) -> usize {
        self.limiter.as_ref().map_or(0, limiter::Limiter::capacity)
    }

    /// Bytes the limiter's table takes (fixed at construction); 0 without a limit.
    pub fn limiter_memory_bytes(&self) -> usize {
        self.limiter
            .as_ref()
            .map_or(0, limiter::Limiter::memory_bytes)
    }

    /// Bytes the quality bursts' counters take (fixed; allocated only with a token).
    pub fn burst_memory_bytes(&self) -> usize {
        self.bursts
            .as_ref()
            .map_or(0, bursts::BurstTable::memory_bytes)
    }

    /// Sources the limiter holds a partly used bucket for at `now` (at most the capacity).
    /// Walks the whole table: call it for metrics, not per packet.
    pub fn limited_sources(&self, now: Instant) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.tracked(now))
    }

    fn decide(
        &mut self,
        now: Instant,
        request: &[u8],
        source: SocketAddr,
    ) -> Result<(Vec<u8>, bool), DropReason> {
        if request.len() > self.max_request_len {
            return Err(DropReason::Oversized);
        }
        let parsed = wire::parse_binding_request(request)?;
        let source = SocketAddr::new(source.ip().to_canonical(), source.port());

        let authenticated = match (parsed.username, parsed.integrity_at) {
            (None, None) => false,
            (Some(_), Some(at)) => {
                let valid = match self.mac.as_mut() {
                    Some(mac) => wire::integrity_is_valid(request, at, &mut **mac),
                    None => false,
                };
                if !valid {
                    return Err(DropReason::BadCredentials);
                }
                true
            }
            _ => return Err(DropReason::BadCredentials),
        };
        if !authenticated {
            if let Some(limiter) = self.limiter.as_mut() {
                if !limiter.allow(now, source.ip()) {
                    return Err(DropReason::RateLimited);
                }
            }
        }
        let burst_count = match (authenticated, parsed.burst, self.bursts.as_mut()) {
            (true, Some((burst, sequence)), Some(table)) => {
                let count = table.record(now, source, burst, sequence);
                let mut value = [0_u8; BURST_COUNT_LEN];
                value[..4].copy_from_slice(&count.burst.to_be_bytes());
                value[4..8].copy_from_slice(&count.received.to_be_bytes());
                value[8..].copy_from_slice(&count.duplicates.to_be_bytes());
                Some(value)
            }
            _ => None,
        };
        let mac = match self.mac.as_mut() {
            Some(mac) if authenticated => Some(&mut **mac as &mut dyn Mac),
            _ => None,
        };
        let answer = wire::binding_success(parsed.transaction_id, source, burst_count, mac)
            .ok_or(DropReason::BadCredentials)?;
        Ok((answer, authenticated))
    }
}
