//! The `quality` probe: a paced burst of STUN binding requests to one UDP port, and what came
//! back: round-trip times (min, median, p95, max), RFC 3550 jitter, loss, reordering, duplicates,
//! and answers that came back too late to be of use in a call, counted apart from the lost ones.
//!
//! # The burst
//!
//! `rate` requests a second for `duration` (50 a second for 2 s by default: 100 requests), each
//! with its own transaction id, each sent once: a request that gets no answer is a lost packet,
//! not something to retransmit. Request `i` is due `i / rate` after the first; each one's real
//! send time is what its round trip is measured from.
//!
//! An answer is matched to its request by transaction id. The first copy is **on time** when it
//! arrives within the cut-off (1 s by default) of its request, **late** after it; further copies
//! are **duplicates**. A first copy whose request was sent before that of an answer already
//! received is **reordered** (RFC 4737's reordered packet). **Lost** is every request with no
//! answer at all by the end. RTT figures and jitter are over the on-time answers; jitter is RFC
//! 3550's interarrival jitter (section 6.4.1), `J += (|D| - J) / 16`, in arrival order, where `D`
//! is the change in transit time between consecutive answers: with a request's send time as the
//! "timestamp" and its answer's arrival as the arrival, the transit time is the round trip.
//!
//! After the last send the probe waits for stragglers: three times the largest round trip seen
//! plus 100 ms, at least 300 ms and at most the cut-off (when nothing at all came back, 300 ms).
//! It stops waiting as soon as every request is answered. The default burst takes about 2.3 s.
//!
//! # Uplink and downlink, with a `serve` token
//!
//! With the short-term credential of a `serve` token, each request also carries a burst id and
//! its sequence number in a comprehension-optional attribute (`TRTC-PREFLIGHT-BURST`, see
//! [`crate::responder`]), and `serve` says in each answer how many requests of the burst it has
//! received. After the wait the probe asks once more (a query, sent up to 5 times 150 ms apart)
//! and gets the final count `R`: of `N` requests sent, `N - R` were lost on the way up, and of the
//! `R` answers sent, `R - A` on the way down (`A` answers received, on time or late). Other STUN
//! servers ignore the attribute; without a token the probe sends plain requests and reports the
//! loss of the round trip only.
//!
//! # Shape
//!
//! [`Burst`] is the burst as a state machine with no I/O, in the style of
//! [`crate::stun::engine`]:
//!
//! ```text
//! loop {
//!     now = Instant::now()
//!     burst.handle_timeout(now)
//!     while let Some(bytes) = burst.poll_transmit(now) { send bytes }
//!     if burst.is_done() { return burst.figures() }
//!     select! {
//!         datagram received  => burst.handle_input(now, bytes)
//!         ICMP unreachable   => burst.handle_rejected(now)
//!         burst.poll_timeout() passes
//!     }
//! }
//! ```
//!
//! [`probe`] is that loop on a UDP socket connected to the target (so that an ICMP "port
//! unreachable" shows as a refused receive).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rtc_stun::attributes::{RawAttribute, ATTR_USERNAME};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{Message, Setter, BINDING_REQUEST};
use rtc_stun::textattrs::TextAttribute;
use tokio::net::UdpSocket;

use crate::responder::{ATTR_BURST, ATTR_BURST_COUNT, BURST_COUNT_LEN, BURST_QUERY};
use crate::stun::message::{
    binding_request, parse_response, random_transaction_id, BindingOptions, IdSequence,
    RequestError, ResponseError, ShortTermCredential, TransactionId,
};

/// Requests a second by default.
pub const DEFAULT_RATE: u32 = 50;
/// How long the burst lasts by default.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(2);
/// An answer later than this after its request is late (counted apart from lost).
pub const DEFAULT_CUTOFF: Duration = Duration::from_secs(1);
/// The shortest wait for stragglers after the last send.
pub const MIN_DRAIN: Duration = Duration::from_millis(300);
/// The highest rate accepted.
pub const MAX_RATE: u32 = 1000;
/// The longest burst accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(10);
/// Sends of the final count query, and the time between them.
const QUERY_SENDS: u32 = 5;
const QUERY_INTERVAL: Duration = Duration::from_millis(150);

/// Settings of the probe.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Requests a second (1 to [`MAX_RATE`]).
    pub rate: u32,
    /// How long requests are sent for (up to [`MAX_DURATION`]).
    pub duration: Duration,
    /// An answer later than this after its request is late.
    pub cutoff: Duration,
    /// A `serve` token's short-term credential: requests skip its rate limit, and loss is split
    /// into uplink and downlink.
    pub credential: Option<ShortTermCredential>,
    /// Transaction ids (and the burst id) from this seed instead of the secure random source:
    /// for tests only.
    pub seed: Option<u64>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            rate: DEFAULT_RATE,
            duration: DEFAULT_DURATION,
            cutoff: DEFAULT_CUTOFF,
            credential: None,
            seed: None,
        }
    }
}

impl Settings {
    /// Requests in the burst: rate × duration, at least 1.
    pub fn count(&self) -> u32 {
        let count = (f64::from(self.rate) * self.duration.as_secs_f64()).round();
        (count as u32).max(1)
    }

    /// The time between requests.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.rate.max(1)
    }
}

/// Round-trip time figures of the on-time answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttStats {
    /// The smallest.
    pub min: Duration,
    /// The median (the mean of the two middle values of an even count).
    pub median: Duration,
    /// The 95th percentile (nearest rank).
    pub p95: Duration,
    /// The largest.
    pub max: Duration,
}

impl RttStats {
    /// The figures of `values` (in any order); `None` when empty.
    pub fn of(values: &[Duration]) -> Option<RttStats> {
        let mut sorted = values.to_vec();
        sorted.sort();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        let rank = (n * 95).div_ceil(100).max(1);
        Some(RttStats {
            min: sorted[0],
            median,
            p95: sorted[rank - 1],
            max: sorted[n - 1],
        })
    }
}

/// Loss split into the two directions, from `serve`'s count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Distinct requests of the burst `serve` received.
    pub server_received: u32,
    /// Copies of requests `serve` received twice.
    pub server_duplicates: u32,
    /// Requests lost on the way to `serve`.
    pub uplink_lost: u32,
    /// Answers lost on the way back (of the `server_received` sent).
    pub downlink_lost: u32,
}

impl Split {
    /// Uplink loss as a fraction of the requests sent.
    pub fn uplink_loss(&self, sent: u32) -> f64 {
        fraction(self.uplink_lost, sent)
    }

    /// Downlink loss as a fraction of the answers `serve` sent.
    pub fn downlink_loss(&self) -> f64 {
        fraction(self.downlink_lost, self.server_received)
    }
}

fn fraction(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Why loss could not be split although a credential was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSplit {
    /// No answer carried `serve`'s count: the server is not our `serve`, or it has no token.
    NotCounted,
    /// The final count query was never answered.
    QueryUnanswered,
    /// The count is lower than the answers received (the burst was forgotten by `serve`).
    Inconsistent,
}

/// What the burst measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Requests sent.
    pub sent: u32,
    /// Requests whose first answer came on time.
    pub on_time: u32,
    /// Requests whose first answer came after the cut-off.
    pub late: u32,
    /// Requests with no answer at all.
    pub lost: u32,
    /// Extra copies of answers.
    pub duplicates: u32,
    /// First answers that arrived after the answer to a later request.
    pub reordered: u32,
    /// Of the answers, binding error responses (the path carried them all the same).
    pub error_responses: u32,
    /// Datagrams that answered none of our requests.
    pub ignored: u32,
    /// Round trips of the on-time answers.
    pub rtt: Option<RttStats>,
    /// Each request's round trip in send order; `None` when its answer was lost or late (for
    /// the RTT-over-the-burst chart).
    pub samples: Vec<Option<Duration>>,
    /// RFC 3550 interarrival jitter of the on-time answers (needs two).
    pub jitter: Option<Duration>,
    /// Uplink and downlink loss, with a `serve` token.
    pub split: Result<Split, NoSplit>,
    /// Whether the split was asked for (a credential was given).
    pub split_asked: bool,
    /// ICMP "port unreachable" came back before any answer: the burst stopped at once.
    pub rejected: bool,
    /// From the first send to the end of the wait.
    pub elapsed: Duration,
}

impl Figures {
    /// Lost as a fraction of the requests sent.
    pub fn loss(&self) -> f64 {
        fraction(self.lost, self.sent)
    }

    /// Late as a fraction of the requests sent.
    pub fn late_fraction(&self) -> f64 {
        fraction(self.late, self.sent)
    }

    /// Whether anything came back at all.
    pub fn any_answer(&self) -> bool {
        self.on_time + self.late > 0
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Sending,
    Draining { until: Instant },
    Querying { started: Instant, sends: u32 },
    Done,
}

#[derive(Clone, Debug)]
struct Slot {
    id: TransactionId,
    sent_at: Option<Instant>,
    answered: bool,
    /// The round trip of an on-time first answer.
    rtt: Option<Duration>,
}

enum Ids {
    Random,
    Seeded(IdSequence),
}

impl Ids {
    fn next(&mut self) -> TransactionId {
        match self {
            Ids::Random => random_transaction_id(),
            Ids::Seeded(sequence) => sequence.next_id(),
        }
    }
}

/// The burst as a state machine: no sockets, no clock (see the module documentation).
pub struct Burst {
    settings: Settings,
    start: Instant,
    interval: Duration,
    slots: Vec<Slot>,
    by_id: HashMap<TransactionId, u32>,
    next: u32,
    phase: Phase,
    burst_id: u32,
    query_id: TransactionId,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    rtts: Vec<Duration>,
    late: u32,
    duplicates: u32,
    reordered: u32,
    error_responses: u32,
    ignored: u32,
    highest: Option<u32>,
    last_transit: Option<Duration>,
    jitter: Option<f64>,
    counted: bool,
    query_answer: Option<(u32, u32)>,
    rejected: bool,
    ended: Option<Instant>,
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst")
            .field("sent", &self.next)
            .field("count", &self.slots.len())
            .field("phase", &self.phase)
            .finish()
    }
}

impl Burst {
    /// A burst whose first request is due at `now`.
    pub fn new(now: Instant, settings: Settings) -> Burst {
        let mut ids = match settings.seed {
            Some(seed) => Ids::Seeded(IdSequence::seeded(seed)),
            None => Ids::Random,
        };
        let query_id = ids.next();
        let burst_id =
            u32::from_be_bytes([query_id.0[0], query_id.0[1], query_id.0[2], query_id.0[3]]);
        let count = settings.count();
        let slots: Vec<Slot> = (0..count)
            .map(|_| Slot {
                id: ids.next(),
                sent_at: None,
                answered: false,
                rtt: None,
            })
            .collect();
        let by_id = slots
            .iter()
            .enumerate()
            .map(|(index, slot)| (slot.id, index as u32))
            .collect();
        Burst {
            interval: settings.interval(),
            settings,
            start: now,
            slots,
            by_id,
            next: 0,
            phase: Phase::Sending,
            burst_id,
            query_id,
            first_send: None,
            last_send: None,
            rtts: Vec::new(),
            late: 0,
            duplicates: 0,
            reordered: 0,
            error_responses: 0,
            ignored: 0,
            highest: None,
            last_transit: None,
            jitter: None,
            counted: false,
            query_answer: None,
            rejected: false,
            ended: None,
        }
    }

    /// The burst id carried in requests (with a credential).
    pub fn burst_id(&self) -> u32 {
        self.burst_id
    }

    /// Whether the burst is over: [`figures`](Self::figures) are final.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn split_asked(&self) -> bool {
        self.settings.credential.is_some()
    }

    fn due(&self, index: u32) -> Instant {
        self.start + self.interval * index
    }

    fn request(&self, id: TransactionId, sequence: u32) -> Result<Vec<u8>, RequestError> {
        let Some(credential) = &self.settings.credential else {
            return binding_request(id, &BindingOptions::default());
        };
        fn encode(e: impl std::fmt::Display) -> RequestError {
            RequestError::Encode(e.to_string())
        }
        let mut m = Message::new();
        m.build(&[Box::new(id), Box::new(BINDING_REQUEST)])
            .map_err(encode)?;
        TextAttribute::new(ATTR_USERNAME, credential.username.clone())
            .add_to(&mut m)
            .map_err(encode)?;
        let mut value = self.burst_id.to_be_bytes().to_vec();
        value.extend_from_slice(&sequence.to_be_bytes());
        RawAttribute {
            typ: rtc_stun::attributes::AttrType(ATTR_BURST),
            length: 0,
            value,
        }
        .add_to(&mut m)
        .map_err(encode)?;
        let provider = rtc_stun::crypto::default_provider().map_err(encode)?;
        MessageIntegrity::new_short_term_integrity_with_provider(
            credential.password.clone(),
            provider.crypto(),
        )
        .add_to(&mut m)
        .map_err(encode)?;
        FINGERPRINT.add_to(&mut m).map_err(encode)?;
        Ok(m.raw)
    }

    /// Moves on with time: ends the wait, the query, the burst.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Draining { until } => {
                let all = self.slots.iter().all(|slot| slot.answered);
                if now >= until || all {
                    self.after_drain(now);
                }
            }
            Phase::Querying { started, .. } => {
                if self.query_answer.is_some()
                    || now >= started + QUERY_INTERVAL * (QUERY_SENDS + 1)
                {
                    self.finish(now);
                }
            }
            Phase::Sending | Phase::Done => {}
        }
    }

    fn after_drain(&mut self, now: Instant) {
        if self.split_asked() && self.counted {
            self.phase = Phase::Querying {
                started: now,
                sends: 0,
            };
        } else {
            self.finish(now);
        }
    }

    fn finish(&mut self, now: Instant) {
        self.phase = Phase::Done;
        self.ended = Some(now);
    }

    /// The next datagram to send at `now`, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.handle_timeout(now);
        match self.phase {
            Phase::Sending => {
                if self.due(self.next) > now {
                    return None;
                }
                let index = self.next;
                let id = self.slots[index as usize].id;
                let bytes = self.request(id, index).ok();
                self.slots[index as usize].sent_at = Some(now);
                self.first_send.get_or_insert(now);
                self.last_send = Some(now);
                self.next += 1;
                if self.next as usize == self.slots.len() {
                    self.phase = Phase::Draining {
                        until: now + self.drain(),
                    };
                }
                // An encoding failure (never with valid settings) is a request lost here.
                bytes.or_else(|| self.poll_transmit(now))
            }
            Phase::Querying { started, sends } => {
                if sends >= QUERY_SENDS || started + QUERY_INTERVAL * sends > now {
                    return None;
                }
                self.phase = Phase::Querying {
                    started,
                    sends: sends + 1,
                };
                self.request(self.query_id, BURST_QUERY).ok()
            }
            Phase::Draining { .. } | Phase::Done => None,
        }
    }

    /// How long to wait for stragglers after the last send.
    fn drain(&self) -> Duration {
        let largest = self.rtts.iter().max().copied();
        let any_late = self.late > 0;
        match largest {
            _ if any_late => self.settings.cutoff,
            Some(rtt) => (rtt * 3 + Duration::from_millis(100))
                .clamp(MIN_DRAIN, self.settings.cutoff.max(MIN_DRAIN)),
            None => MIN_DRAIN,
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_transmit`](Self::poll_transmit) next; `None` once done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sending => Some(self.due(self.next)),
            Phase::Draining { until } => Some(until),
            Phase::Querying { started, sends } => Some(if sends < QUERY_SENDS {
                started + QUERY_INTERVAL * sends
            } else {
                started + QUERY_INTERVAL * (QUERY_SENDS + 1)
            }),
            Phase::Done => None,
        }
    }

    /// ICMP "port unreachable" came back: before any answer, the burst ends now.
    pub fn handle_rejected(&mut self, now: Instant) {
        if self.rtts.is_empty() && self.late == 0 && !self.is_done() {
            self.rejected = true;
            self.finish(now);
        }
    }

    /// A datagram arrived at `now`.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let Some(id) = bytes
            .get(8..20)
            .and_then(|id| <[u8; 12]>::try_from(id).ok())
        else {
            self.ignored += 1;
            return;
        };
        let id = TransactionId(id);
        let is_query = id == self.query_id;
        let index = match (is_query, self.by_id.get(&id)) {
            (true, _) => None,
            (false, Some(index)) => Some(*index),
            (false, None) => {
                self.ignored += 1;
                return;
            }
        };
        let error_response = match parse_response(bytes, id) {
            Ok(_) => false,
            Err(ResponseError::ErrorResponse { .. }) => true,
            Err(_) => {
                self.ignored += 1;
                return;
            }
        };
        let count = burst_count(bytes).filter(|(burst, _, _)| *burst == self.burst_id);
        if count.is_some() {
            self.counted = true;
        }
        let Some(index) = index else {
            if let Some((_, received, duplicates)) = count {
                self.query_answer.get_or_insert((received, duplicates));
            }
            return;
        };
        let slot = &mut self.slots[index as usize];
        let Some(sent_at) = slot.sent_at else {
            self.ignored += 1;
            return;
        };
        if slot.answered {
            self.duplicates += 1;
            return;
        }
        slot.answered = true;
        self.error_responses += u32::from(error_response);
        if self.highest.is_some_and(|highest| index < highest) {
            self.reordered += 1;
        }
        self.highest = Some(self.highest.map_or(index, |highest| highest.max(index)));
        let rtt = now.saturating_duration_since(sent_at);
        if rtt > self.settings.cutoff {
            self.late += 1;
            return;
        }
        self.rtts.push(rtt);
        self.slots[index as usize].rtt = Some(rtt);
        if let Some(last) = self.last_transit {
            let d = rtt.abs_diff(last).as_secs_f64();
            let j = self.jitter.unwrap_or(0.0);
            self.jitter = Some(j + (d - j) / 16.0);
        }
        self.last_transit = Some(rtt);
    }

    /// The figures so far (final once [`is_done`](Self::is_done)).
    pub fn figures(&self) -> Figures {
        let sent = self.next;
        let answered = self.slots.iter().filter(|slot| slot.answered).count() as u32;
        let split = match (self.counted, self.query_answer) {
            (false, _) => Err(NoSplit::NotCounted),
            (true, None) => Err(NoSplit::QueryUnanswered),
            (true, Some((received, _))) if received < answered => Err(NoSplit::Inconsistent),
            (true, Some((received, duplicates))) => Ok(Split {
                server_received: received,
                server_duplicates: duplicates,
                uplink_lost: sent.saturating_sub(received),
                downlink_lost: received - answered,
            }),
        };
        Figures {
            sent,
            on_time: self.rtts.len() as u32,
            late: self.late,
            lost: sent - answered,
            duplicates: self.duplicates,
            reordered: self.reordered,
            error_responses: self.error_responses,
            ignored: self.ignored,
            rtt: RttStats::of(&self.rtts),
            samples: self
                .slots
                .iter()
                .take(sent as usize)
                .map(|slot| slot.rtt)
                .collect(),
            jitter: self.jitter.map(Duration::from_secs_f64),
            split,
            split_asked: self.split_asked(),
            rejected: self.rejected,
            elapsed: match (self.first_send, self.ended) {
                (Some(first), Some(end)) => end.saturating_duration_since(first),
                _ => Duration::ZERO,
            },
        }
    }
}

/// `(burst id, received, duplicates)` from an answer's TRTC-PREFLIGHT-BURST-COUNT.
fn burst_count(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    let end = 20 + usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    let mut at = 20;
    while at + 4 <= end.min(bytes.len()) {
        let kind = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let value = bytes.get(at + 4..at + 4 + len)?;
        if kind == ATTR_BURST_COUNT && len == BURST_COUNT_LEN {
            let word =
                |i: usize| u32::from_be_bytes([value[i], value[i + 1], value[i + 2], value[i + 3]]);
            return Some((word(0), word(4), word(8)));
        }
        at += 4 + len.next_multiple_of(4);
    }
    None
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Where the requests went.
    pub target: SocketAddr,
    /// The local address they left from.
    pub local: Option<SocketAddr>,
    /// Requests a second.
    pub rate: u32,
    /// How long requests were sent for.
    pub duration: Duration,
    /// The late cut-off.
    pub cutoff: Duration,
    /// What happened.
    pub outcome: Outcome,
}

/// How the probe ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The burst ran (possibly with nothing answered).
    Measured(Figures),
    /// The probe could not run here (no socket, no route), with the reason.
    NotRun {
        /// What failed.
        reason: String,
    },
}

/// Runs the burst against `target` over UDP.
pub async fn probe(target: SocketAddr, settings: &Settings) -> Observation {
    let observe = |local, outcome| Observation {
        target,
        local,
        rate: settings.rate,
        duration: settings.duration,
        cutoff: settings.cutoff,
        outcome,
    };
    let bind = match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(socket) => socket,
        Err(error) => {
            return observe(
                None,
                Outcome::NotRun {
                    reason: format!("could not bind a UDP socket on {bind}: {error}"),
                },
            )
        }
    };
    if let Err(error) = socket.connect(target).await {
        return observe(
            None,
            Outcome::NotRun {
                reason: format!(
                    "could not connect a UDP socket to {target}: {error} (is there a route to it?)"
                ),
            },
        );
    }
    let local = socket.local_addr().ok();
    let mut burst = Burst::new(Instant::now(), settings.clone());
    let mut buffer = vec![0_u8; 2048];
    loop {
        let now = Instant::now();
        burst.handle_timeout(now);
        while let Some(bytes) = burst.poll_transmit(now) {
            match socket.send(&bytes).await {
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    burst.handle_rejected(Instant::now());
                }
                // Anything else loses this request only (a full buffer, a route flap).
                Err(_) => {}
            }
        }
        let Some(wake) = burst.poll_timeout() else {
            return observe(local, Outcome::Measured(burst.figures()));
        };
        tokio::select! {
            received = socket.recv(&mut buffer) => match received {
                Ok(n) => burst.handle_input(Instant::now(), &buffer[..n]),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    burst.handle_rejected(Instant::now());
                }
                Err(_) => {}
            },
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::{Decision, Responder, ResponderConfig};

    const TOKEN: &str = "s3cret";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn settings(rate: u32, duration: Duration, token: bool) -> Settings {
        Settings {
            rate,
            duration,
            credential: token.then(|| ShortTermCredential {
                username: "trtc-preflight".into(),
                password: TOKEN.into(),
            }),
            seed: Some(7),
            ..Settings::default()
        }
    }

    fn responder() -> Responder {
        Responder::new(ResponderConfig {
            token: Some(TOKEN.into()),
            rate_limit: None,
            ..ResponderConfig::default()
        })
        .unwrap()
    }

    /// What the simulated network does to request `i`: its fate up and down.
    #[derive(Clone, Copy)]
    struct Fate {
        up: Option<Duration>,
        down: Option<Duration>,
        duplicate: bool,
    }

    /// Runs a burst against a real (sans-IO) responder through a simulated network, in
    /// simulated time.
    fn simulate(settings: Settings, fate: impl Fn(u32) -> Fate) -> Figures {
        let t0 = Instant::now();
        let client: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let mut server = responder();
        let mut burst = Burst::new(t0, settings);
        // Deliveries to the client: (at, bytes).
        let mut inbox: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut now = t0;
        let mut sent = 0_u32;
        for _ in 0..100_000 {
            burst.handle_timeout(now);
            while let Some(bytes) = burst.poll_transmit(now) {
                let query = TransactionId(bytes[8..20].try_into().unwrap()) == burst.query_id;
                let f = if query {
                    Fate {
                        up: Some(ms(5)),
                        down: Some(ms(5)),
                        duplicate: false,
                    }
                } else {
                    let f = fate(sent);
                    sent += 1;
                    f
                };
                if let Some(up) = f.up {
                    if let Decision::Answer(answer) = server.respond(now + up, &bytes, client) {
                        if let Some(down) = f.down {
                            inbox.push((now + up + down, answer.clone()));
                            if f.duplicate {
                                inbox.push((now + up + down + ms(1), answer));
                            }
                        }
                    }
                }
            }
            if burst.is_done() {
                return burst.figures();
            }
            inbox.sort_by_key(|(at, _)| *at);
            let wake = burst.poll_timeout().unwrap();
            match inbox.first() {
                Some((at, _)) if *at <= wake => {
                    let (at, bytes) = inbox.remove(0);
                    now = at;
                    burst.handle_input(now, &bytes);
                }
                _ => now = wake,
            }
        }
        panic!("the burst never ended");
    }

    #[test]
    fn a_clean_path_gives_exact_figures_and_no_loss() {
        let figures = simulate(settings(50, ms(2000), true), |_| Fate {
            up: Some(ms(10)),
            down: Some(ms(10)),
            duplicate: false,
        });
        assert_eq!(
            (figures.sent, figures.on_time, figures.lost, figures.late),
            (100, 100, 0, 0)
        );
        let rtt = figures.rtt.unwrap();
        assert_eq!(
            (rtt.min, rtt.median, rtt.p95, rtt.max),
            (ms(20), ms(20), ms(20), ms(20))
        );
        assert_eq!(figures.jitter, Some(Duration::ZERO));
        let split = figures.split.unwrap();
        assert_eq!(
            (
                split.server_received,
                split.uplink_lost,
                split.downlink_lost
            ),
            (100, 0, 0)
        );
        // Every answer in: no wait after the last send beyond its round trip.
        assert_eq!(figures.elapsed, ms(1980 + 20 + 10));
    }

    #[test]
    fn loss_is_split_by_direction_from_serves_count() {
        // Every 10th request lost going up, every 7th answer lost coming down.
        let figures = simulate(settings(100, ms(1000), true), |i| Fate {
            up: (i % 10 != 3).then(|| ms(5)),
            down: (i % 7 != 2).then(|| ms(5)),
            duplicate: false,
        });
        let up_lost = (0..100).filter(|i| i % 10 == 3).count() as u32;
        let down_lost = (0..100).filter(|i| i % 10 != 3 && i % 7 == 2).count() as u32;
        assert_eq!(figures.lost, up_lost + down_lost);
        let split = figures.split.unwrap();
        assert_eq!(split.uplink_lost, up_lost);
        assert_eq!(split.downlink_lost, down_lost);
        assert_eq!(split.server_received, 100 - up_lost);
        assert!((split.uplink_loss(100) - 0.10).abs() < 1e-9);
    }

    #[test]
    fn late_answers_are_counted_apart_and_duplicates_and_reordering_are_seen() {
        let figures = simulate(settings(50, ms(2000), false), |i| Fate {
            up: Some(ms(5)),
            // Request 11 answered 1.1 s later; odd requests take 30 ms more than even ones, so
            // each odd answer arrives after the next even one.
            down: Some(if i == 11 {
                ms(1100)
            } else if i % 2 == 1 {
                ms(35)
            } else {
                ms(5)
            }),
            duplicate: i == 4,
        });
        assert_eq!(figures.late, 1);
        assert_eq!(figures.lost, 0);
        assert_eq!(figures.on_time, 99);
        assert_eq!(figures.duplicates, 1);
        // The 50 odd answers but the last (no later one overtakes it) and the late one are
        // reordered on time; the late one is reordered too.
        assert_eq!(figures.reordered, 48 + 1);
        assert_eq!(figures.split, Err(NoSplit::NotCounted));
        assert!(!figures.split_asked);
        // Every request answered: the wait ends with the last answer (request 99, odd: 40 ms).
        assert_eq!(figures.elapsed, ms(1980 + 40));
    }

    #[test]
    fn after_a_late_answer_the_wait_for_stragglers_is_the_whole_cutoff() {
        let figures = simulate(settings(50, ms(2000), false), |i| Fate {
            up: (i != 90).then(|| ms(5)),
            down: Some(if i == 11 { ms(1100) } else { ms(5) }),
            duplicate: false,
        });
        assert_eq!((figures.late, figures.lost, figures.on_time), (1, 1, 98));
        assert_eq!(figures.elapsed, ms(1980) + DEFAULT_CUTOFF);
        // Without a late answer: three largest round trips and 100 ms, at least 300 ms.
        let figures = simulate(settings(50, ms(2000), false), |i| Fate {
            up: (i != 90).then(|| ms(50)),
            down: Some(ms(50)),
            duplicate: false,
        });
        assert_eq!(figures.elapsed, ms(1980 + 400));
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        // RTTs alternate 20 and 30 ms: |D| = 10 ms each time, J converges to 10 ms.
        let figures = simulate(settings(50, ms(2000), false), |i| Fate {
            up: Some(ms(10)),
            down: Some(if i % 2 == 0 { ms(10) } else { ms(20) }),
            duplicate: false,
        });
        let mut j = 0.0_f64;
        for _ in 1..100 {
            j += (0.010 - j) / 16.0;
        }
        let jitter = figures.jitter.unwrap().as_secs_f64();
        assert!((jitter - j).abs() < 1e-9, "{jitter} vs {j}");
        let rtt = figures.rtt.unwrap();
        assert_eq!((rtt.min, rtt.median, rtt.max), (ms(20), ms(25), ms(30)));
        assert_eq!(rtt.p95, ms(30));
    }

    #[test]
    fn silence_ends_after_the_short_wait() {
        let figures = simulate(settings(50, ms(1000), true), |_| Fate {
            up: None,
            down: None,
            duplicate: false,
        });
        assert_eq!((figures.sent, figures.lost), (50, 50));
        assert!(!figures.any_answer());
        assert_eq!(figures.rtt, None);
        assert_eq!(figures.split, Err(NoSplit::NotCounted));
        assert_eq!(figures.elapsed, ms(980) + MIN_DRAIN);
    }

    #[test]
    fn a_rejection_before_any_answer_ends_the_burst() {
        let t0 = Instant::now();
        let mut burst = Burst::new(t0, settings(50, ms(2000), false));
        assert!(burst.poll_transmit(t0).is_some());
        burst.handle_rejected(t0 + ms(1));
        assert!(burst.is_done());
        let figures = burst.figures();
        assert!(figures.rejected);
        assert_eq!((figures.sent, figures.lost), (1, 1));
    }

    #[test]
    fn requests_carry_the_burst_attribute_only_with_a_credential() {
        let t0 = Instant::now();
        let mut plain = Burst::new(t0, settings(10, ms(100), false));
        let bytes = plain.poll_transmit(t0).unwrap();
        assert_eq!(bytes.len(), 28, "a bare request with FINGERPRINT");
        let mut counted = Burst::new(t0, settings(10, ms(100), true));
        let bytes = counted.poll_transmit(t0).unwrap();
        let mut server = responder();
        let Decision::Answer(answer) = server.respond(t0, &bytes, "192.0.2.1:1".parse().unwrap())
        else {
            panic!("answered")
        };
        assert_eq!(answer.len(), crate::responder::ANSWER_LEN_V4_BURST);
        assert_eq!(burst_count(&answer), Some((counted.burst_id(), 1, 0)));
    }

    #[test]
    fn percentiles() {
        let values: Vec<Duration> = (1..=20).map(ms).collect();
        let stats = RttStats::of(&values).unwrap();
        assert_eq!(
            (stats.min, stats.median, stats.p95, stats.max),
            (ms(1), Duration::from_micros(10_500), ms(19), ms(20))
        );
        assert_eq!(RttStats::of(&[]), None);
        assert_eq!(RttStats::of(&[ms(3)]).unwrap().p95, ms(3));
    }

    #[test]
    fn settings_count_and_interval() {
        let s = Settings::default();
        assert_eq!((s.count(), s.interval()), (100, ms(20)));
        assert_eq!(settings(3, ms(100), false).count(), 1);
    }
}
