//! The `throughput` probe: can the path carry a call's bitrate, each way? Against `serve` with
//! its token only.
//!
//! # What it does
//!
//! Uplink first, then downlink, each for `duration` (3 s by default) at `rate_kbps` of UDP payload
//! (1,540 kbit/s by default: TRTC Web's `720p` video profile, 1280×720 at 15 fps and 1,500
//! kbit/s, plus its `standard` audio profile, 40 kbit/s) in datagrams of 1,200 bytes (the size
//! WebRTC keeps its packets within):
//!
//! 1. **Uplink**: START (retransmitted every 250 ms, 4 times at most) → ACCEPT with what `serve`
//!    grants → DATA, paced, each stamped with its sequence and send time → STOP (retransmitted
//!    likewise) → REPORT: what `serve` received, when the first and last arrived, and the
//!    jitter it computed.
//! 2. **Downlink**: START → ACCEPT → the client sends ACK at once and every 50 ms until the
//!    duration and a tail of 700 ms (for what is still queued on the way, and for `serve`, which
//!    starts at the first ACK, half a round trip later) have passed, or until every datagram
//!    `serve` sends has arrived (or its last one has, and 150 ms more for those reordered);
//!    `serve` paces DATA only while ACKs keep coming → STOP → REPORT: what `serve` sent. The
//!    client counts what arrived.
//!
//! The receiving side's figures: **achieved bitrate** = the payload bits of every datagram but
//! the first, over the time from the first arrival to the last (the rate at which the path
//! delivered; a bottleneck shows as its own rate); **loss** = 1 − received / sent;
//! **jitter** = RFC 3550's interarrival jitter on the sender's timestamps. The wire format is
//! [`wire`]'s; `serve`'s side and its limits are in [`crate::responder`].
//!
//! # Shape
//!
//! [`Client`] is the whole exchange as a state machine with no I/O (`handle_input(now, bytes)`,
//! `handle_timeout(now)`, `poll_transmit(now)`, `poll_timeout()`); [`probe`] is the thin tokio
//! loop around it, on a UDP socket connected to `serve`, like the quality probe's.

pub mod wire;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::responder::throughput::{interval_for, packets_for};
use wire::{Arrivals, Direction, Key, Message, Params, RefuseReason, Report};

/// The default rate: TRTC Web's 720p video (1,500 kbit/s) and standard audio (40 kbit/s).
pub const DEFAULT_RATE_KBPS: u32 = 1540;
/// The default time each way.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3);
/// The default datagram: 1,200 bytes of UDP payload, as WebRTC sends.
pub const DEFAULT_PACKET: u16 = 1200;
/// The highest rate a client asks for.
pub const MAX_RATE_KBPS: u32 = 10_000;
/// The longest time each way a client asks for.
pub const MAX_DURATION: Duration = Duration::from_secs(10);

/// Sends of START and STOP, and the time between them.
const HANDSHAKE_SENDS: u32 = 4;
const HANDSHAKE_INTERVAL: Duration = Duration::from_millis(250);
/// Downlink: ACK every this long while data may still come.
const ACK_INTERVAL: Duration = Duration::from_millis(50);
/// Downlink: wait this long after the data's end for what is still on the way.
const TAIL: Duration = Duration::from_millis(700);
/// Downlink: once the last datagram `serve` sends has arrived but some before it have not, wait
/// this long after it for those still reordered on the way (instead of the whole [`TAIL`]).
const REORDER_GRACE: Duration = Duration::from_millis(150);

/// Settings of the probe.
#[derive(Clone)]
pub struct Settings {
    /// The `serve` token (required: without it the probe does not run).
    pub token: Option<String>,
    /// The rate asked for, kbit/s of UDP payload.
    pub rate_kbps: u32,
    /// How long data flows each way.
    pub duration: Duration,
    /// Bytes of UDP payload per datagram.
    pub packet_size: u16,
    /// Nonces from this seed instead of the clock: for tests only.
    pub seed: Option<u64>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("rate_kbps", &self.rate_kbps)
            .field("duration", &self.duration)
            .field("packet_size", &self.packet_size)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            token: None,
            rate_kbps: DEFAULT_RATE_KBPS,
            duration: DEFAULT_DURATION,
            packet_size: DEFAULT_PACKET,
            seed: None,
        }
    }
}

/// One direction measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// What `serve` granted.
    pub granted: Params,
    /// Datagrams sent (by the client up; by `serve` down, from its report).
    pub sent: u32,
    /// Whether `sent` (down) comes from `serve`'s report; without it, the highest sequence
    /// received stands in.
    pub reported: bool,
    /// Distinct datagrams received.
    pub received: u32,
    /// Copies of a datagram already received.
    pub duplicates: u32,
    /// Datagrams that arrived after one sent later.
    pub reordered: u32,
    /// UDP payload bytes received.
    pub bytes: u64,
    /// From the first arrival to the last.
    pub span: Duration,
    /// RFC 3550 interarrival jitter.
    pub jitter: Duration,
    /// Downlink: `serve` paused because ACKs stopped coming.
    pub paused: bool,
}

impl Measured {
    /// The rate the path delivered, in kbit/s of UDP payload: every datagram but the first,
    /// over the time from the first arrival to the last. `None` below two datagrams.
    pub fn achieved_kbps(&self) -> Option<f64> {
        let secs = self.span.as_secs_f64();
        if self.received < 2 || secs <= 0.0 {
            return None;
        }
        let bits = (self.bytes - self.bytes / u64::from(self.received)) as f64 * 8.0;
        Some(bits / secs / 1000.0)
    }

    /// The same rate counting IP and UDP headers too (`overhead` bytes a datagram: 28 over
    /// IPv4, 48 over IPv6): what the link carried.
    pub fn wire_kbps(&self, overhead: u32) -> Option<f64> {
        let payload = self.bytes as f64 / f64::from(self.received.max(1));
        self.achieved_kbps()
            .map(|kbps| kbps * (payload + f64::from(overhead)) / payload.max(1.0))
    }

    /// 1 − received / sent.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        f64::from(self.sent.saturating_sub(self.received)) / f64::from(self.sent)
    }
}

/// What happened in one direction.
#[derive(Clone, Debug, PartialEq)]
pub enum DirectionResult {
    /// Data flowed and was counted.
    Measured(Measured),
    /// `serve` refused the session.
    Refused(RefuseReason),
    /// No ACCEPT to any START: not a `serve` with this token (or one without the throughput
    /// test), or the path drops the handshake.
    NoAccept {
        /// STARTs sent.
        sends: u32,
    },
    /// Uplink data went out, but no REPORT came back to any STOP.
    NoReport {
        /// Datagrams sent.
        sent: u32,
    },
    /// Not tried (the uplink's handshake already went unanswered, or the probe ended early).
    NotTried,
}

#[derive(Debug)]
enum Phase {
    Starting {
        direction: Direction,
        nonce: u64,
        sends: u32,
        next_at: Instant,
    },
    Sending {
        session: u64,
        params: Params,
        begun: Instant,
        next: u32,
        total: u32,
        interval: Duration,
    },
    Receiving {
        session: u64,
        params: Params,
        data_end: Instant,
        next_ack: Instant,
    },
    Stopping {
        direction: Direction,
        session: u64,
        params: Params,
        sent: u32,
        sends: u32,
        next_at: Instant,
    },
    Done,
}

/// The exchange with `serve` as a state machine (see the module documentation).
pub struct Client {
    key: Key,
    settings: Settings,
    phase: Phase,
    nonce: u64,
    /// Downlink arrivals, on the client's clock from `clock`.
    arrivals: Arrivals,
    clock: Instant,
    queue: VecDeque<Vec<u8>>,
    up: DirectionResult,
    down: DirectionResult,
    rejected: bool,
    ignored: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("up", &self.up)
            .field("down", &self.down)
            .finish()
    }
}

impl Client {
    /// A client whose first START is due at `now`, keyed with `token`.
    pub fn new(now: Instant, token: &str, settings: Settings) -> Result<Client, String> {
        let nonce = match settings.seed {
            Some(seed) => seed,
            None => {
                let id = crate::stun::message::random_transaction_id().0;
                u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]])
            }
        };
        Ok(Client {
            key: Key::new(token)?,
            settings,
            phase: Phase::Starting {
                direction: Direction::Up,
                nonce,
                sends: 0,
                next_at: now,
            },
            nonce,
            arrivals: Arrivals::default(),
            clock: now,
            queue: VecDeque::new(),
            up: DirectionResult::NotTried,
            down: DirectionResult::NotTried,
            rejected: false,
            ignored: 0,
        })
    }

    /// Whether both directions are over.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The results, uplink then downlink (final once [`is_done`](Self::is_done)).
    pub fn results(&self) -> (DirectionResult, DirectionResult) {
        (self.up.clone(), self.down.clone())
    }

    /// ICMP "port unreachable" came back: nobody listens; the probe ends.
    pub fn handle_rejected(&mut self) {
        if matches!(self.phase, Phase::Starting { .. }) {
            self.rejected = true;
            self.phase = Phase::Done;
        }
    }

    /// Whether the probe ended on an ICMP rejection.
    pub fn rejected(&self) -> bool {
        self.rejected
    }

    fn params(settings: &Settings, direction: Direction, nonce: u64) -> Params {
        Params {
            direction,
            rate_kbps: settings.rate_kbps,
            duration_ms: u32::try_from(settings.duration.as_millis()).unwrap_or(u32::MAX),
            packet_size: settings.packet_size,
            nonce,
        }
    }

    fn start(&mut self, direction: Direction, now: Instant) {
        self.nonce = self.nonce.wrapping_add(1);
        self.phase = Phase::Starting {
            direction,
            nonce: self.nonce,
            sends: 0,
            next_at: now,
        };
    }

    fn set(&mut self, direction: Direction, result: DirectionResult, now: Instant) {
        match direction {
            Direction::Up => {
                let go_on = !matches!(result, DirectionResult::NoAccept { .. });
                self.up = result;
                if go_on {
                    self.start(Direction::Down, now);
                } else {
                    self.phase = Phase::Done;
                }
            }
            Direction::Down => {
                self.down = result;
                self.phase = Phase::Done;
            }
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.clock).as_micros()).unwrap_or(u64::MAX)
    }

    /// Moves on with time: handshakes given up, data's end, the tail.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Starting {
                direction,
                sends,
                next_at,
                ..
            } if sends >= HANDSHAKE_SENDS && now >= next_at => {
                self.set(direction, DirectionResult::NoAccept { sends }, now);
            }
            Phase::Stopping {
                direction,
                params,
                sent,
                sends,
                next_at,
                ..
            } if sends >= HANDSHAKE_SENDS && now >= next_at => {
                let result = match direction {
                    Direction::Up => DirectionResult::NoReport { sent },
                    Direction::Down => {
                        let sent = self.arrivals.highest_plus_one.max(self.arrivals.received);
                        DirectionResult::Measured(self.downlink(params, sent, false, false))
                    }
                };
                self.set(direction, result, now);
            }
            Phase::Receiving {
                session,
                params,
                data_end,
                ..
            } if now >= Client::tail_end(&self.arrivals, self.clock, &params, data_end) => {
                self.phase = Phase::Stopping {
                    direction: Direction::Down,
                    session,
                    params,
                    sent: 0,
                    sends: 0,
                    next_at: now,
                };
            }
            _ => {}
        }
    }

    /// When the downlink stops waiting for data: [`TAIL`] after the data's end, or sooner when
    /// everything `serve` sends has arrived (at once), or its last datagram has (then
    /// [`REORDER_GRACE`] after it, for the ones still reordered on the way).
    fn tail_end(a: &Arrivals, clock: Instant, params: &Params, data_end: Instant) -> Instant {
        let latest = data_end + TAIL;
        let total = packets_for(params);
        if a.first_us.is_none() || a.highest_plus_one < total {
            return latest;
        }
        let last = clock + Duration::from_micros(a.last_us);
        if a.received >= total {
            return last.min(latest);
        }
        (last + REORDER_GRACE).min(latest)
    }

    fn downlink(&self, params: Params, sent: u32, reported: bool, paused: bool) -> Measured {
        let a = &self.arrivals;
        Measured {
            granted: params,
            sent,
            reported,
            received: a.received,
            duplicates: a.duplicates,
            reordered: a.reordered,
            bytes: a.bytes,
            span: Duration::from_micros(a.last_us.saturating_sub(a.first_us.unwrap_or(a.last_us))),
            jitter: Duration::from_micros(u64::from(a.jitter_us())),
            paused,
        }
    }

    /// The next datagram to send at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.handle_timeout(now);
        if let Some(bytes) = self.queue.pop_front() {
            return Some(bytes);
        }
        match &mut self.phase {
            Phase::Starting {
                direction,
                nonce,
                sends,
                next_at,
            } if *sends < HANDSHAKE_SENDS && *next_at <= now => {
                *sends += 1;
                *next_at = now + HANDSHAKE_INTERVAL;
                let params = Client::params(&self.settings, *direction, *nonce);
                Some(wire::encode(&Message::Start(params), &mut self.key))
            }
            Phase::Sending {
                session,
                params,
                begun,
                next,
                total,
                interval,
            } => {
                let due = *begun + *interval * *next;
                if due > now {
                    return None;
                }
                let sequence = *next;
                *next += 1;
                let sent_us =
                    u64::try_from(now.saturating_duration_since(*begun).as_micros()).unwrap_or(0);
                let bytes =
                    wire::data(*session, sequence, sent_us, usize::from(params.packet_size));
                if *next == *total {
                    self.phase = Phase::Stopping {
                        direction: Direction::Up,
                        session: *session,
                        params: *params,
                        sent: *total,
                        sends: 0,
                        next_at: now,
                    };
                }
                Some(bytes)
            }
            Phase::Receiving {
                session,
                params,
                data_end,
                next_ack,
            } if *next_ack <= now
                && now < Client::tail_end(&self.arrivals, self.clock, params, *data_end) =>
            {
                *next_ack = now + ACK_INTERVAL;
                let ack = Message::Ack {
                    session: *session,
                    received: self.arrivals.received,
                    highest: self.arrivals.highest_plus_one.saturating_sub(1),
                };
                Some(wire::encode(&ack, &mut self.key))
            }
            Phase::Stopping {
                session,
                sends,
                next_at,
                ..
            } if *sends < HANDSHAKE_SENDS && *next_at <= now => {
                *sends += 1;
                *next_at = now + HANDSHAKE_INTERVAL;
                let stop = Message::Stop { session: *session };
                Some(wire::encode(&stop, &mut self.key))
            }
            _ => None,
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_transmit`](Self::poll_transmit) next; `None` once done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Starting { next_at, .. } | Phase::Stopping { next_at, .. } => Some(*next_at),
            Phase::Sending {
                begun,
                next,
                interval,
                ..
            } => Some(*begun + *interval * *next),
            Phase::Receiving {
                params,
                data_end,
                next_ack,
                ..
            } => Some((*next_ack).min(Client::tail_end(
                &self.arrivals,
                self.clock,
                params,
                *data_end,
            ))),
            Phase::Done => None,
        }
    }

    /// A datagram arrived at `now`.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(message) = wire::decode(bytes, &mut self.key) else {
            self.ignored += 1;
            return;
        };
        match (&self.phase, message) {
            (
                Phase::Starting {
                    direction, nonce, ..
                },
                Message::Accept { session, params },
            ) if params.nonce == *nonce && params.direction == *direction => {
                match params.direction {
                    Direction::Up => {
                        let total = packets_for(&params).max(1);
                        self.phase = Phase::Sending {
                            session,
                            params,
                            begun: now,
                            next: 0,
                            total,
                            interval: interval_for(&params),
                        };
                    }
                    Direction::Down => {
                        self.clock = now;
                        self.arrivals = Arrivals::default();
                        let duration = Duration::from_millis(u64::from(params.duration_ms));
                        self.phase = Phase::Receiving {
                            session,
                            params,
                            data_end: now + duration,
                            next_ack: now,
                        };
                    }
                }
            }
            (
                Phase::Starting {
                    direction, nonce, ..
                },
                Message::Refuse {
                    reason,
                    nonce: echo,
                },
            ) if echo == *nonce => {
                let direction = *direction;
                self.set(direction, DirectionResult::Refused(reason), now);
            }
            (
                Phase::Receiving { session, .. } | Phase::Stopping { session, .. },
                Message::Data {
                    session: of,
                    sequence,
                    sent_us,
                    size,
                },
            ) if of == *session => {
                let arrived = self.micros(now);
                self.arrivals.record(sequence, sent_us, arrived, size);
            }
            (
                Phase::Stopping {
                    direction,
                    session,
                    params,
                    sent,
                    ..
                },
                Message::Report {
                    session: of,
                    direction: reported,
                    report,
                },
            ) if of == *session && reported == *direction => {
                let (direction, params, sent) = (*direction, *params, *sent);
                let result = match direction {
                    Direction::Up => DirectionResult::Measured(uplink(params, sent, &report)),
                    Direction::Down => DirectionResult::Measured(self.downlink(
                        params,
                        report.sent,
                        true,
                        report.paused,
                    )),
                };
                self.set(direction, result, now);
            }
            _ => self.ignored += 1,
        }
    }
}

fn uplink(params: Params, sent: u32, report: &Report) -> Measured {
    Measured {
        granted: params,
        sent,
        reported: true,
        received: report.received,
        duplicates: report.duplicates,
        reordered: report.reordered,
        bytes: report.bytes,
        span: Duration::from_micros(report.last_us.saturating_sub(report.first_us)),
        jitter: Duration::from_micros(u64::from(report.jitter_us)),
        paused: false,
    }
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// `serve`'s address.
    pub target: SocketAddr,
    /// The rate asked for, kbit/s of UDP payload.
    pub rate_kbps: u32,
    /// The time asked for, each way.
    pub duration: Duration,
    /// Bytes of UDP payload per datagram.
    pub packet_size: u16,
    /// How it went.
    pub outcome: Outcome,
}

/// How the probe ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Both directions tried (each with its own result).
    Ran {
        /// Client to `serve`.
        uplink: DirectionResult,
        /// `serve` to client.
        downlink: DirectionResult,
        /// The whole exchange took this long.
        elapsed: Duration,
    },
    /// ICMP "port unreachable": nothing listens on that port.
    Rejected,
    /// Without the `serve` token the probe does not run.
    NoToken,
    /// It could not run here (no socket, no route), with the reason.
    NotRun {
        /// What failed.
        reason: String,
    },
}

/// Runs the throughput test against `serve` at `target`.
pub async fn probe(target: SocketAddr, settings: &Settings) -> Observation {
    let observe = |outcome| Observation {
        target,
        rate_kbps: settings.rate_kbps,
        duration: settings.duration,
        packet_size: settings.packet_size,
        outcome,
    };
    let Some(token) = settings.token.as_deref() else {
        return observe(Outcome::NoToken);
    };
    let bind = match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(socket) => socket,
        Err(error) => {
            return observe(Outcome::NotRun {
                reason: format!("could not bind a UDP socket on {bind}: {error}"),
            })
        }
    };
    if let Err(error) = socket.connect(target).await {
        return observe(Outcome::NotRun {
            reason: format!(
                "could not connect a UDP socket to {target}: {error} (is there a route to it?)"
            ),
        });
    }
    let started = Instant::now();
    let mut client = match Client::new(started, token, settings.clone()) {
        Ok(client) => client,
        Err(reason) => return observe(Outcome::NotRun { reason }),
    };
    let mut buffer = vec![0_u8; 2048];
    loop {
        let now = Instant::now();
        client.handle_timeout(now);
        while let Some(bytes) = client.poll_transmit(now) {
            match socket.send(&bytes).await {
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    client.handle_rejected();
                }
                // Anything else loses this datagram only, as the network would.
                _ => {}
            }
        }
        if client.rejected() {
            return observe(Outcome::Rejected);
        }
        let Some(wake) = client.poll_timeout() else {
            let (uplink, downlink) = client.results();
            return observe(Outcome::Ran {
                uplink,
                downlink,
                elapsed: started.elapsed(),
            });
        };
        tokio::select! {
            received = socket.recv(&mut buffer) => match received {
                Ok(n) => client.handle_input(Instant::now(), &buffer[..n]),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    client.handle_rejected();
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
    use crate::responder::throughput::{ThroughputLimits, ThroughputServer};

    const TOKEN: &str = "s3cret";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A one-way path: a constant delay, a bottleneck of `kbps` (a FIFO of unbounded depth
    /// drained at that rate; 0: none), and a drop rule on the datagram count.
    struct Path {
        delay: Duration,
        kbps: u32,
        busy_until: Option<Instant>,
        count: u32,
        drop: fn(u32) -> bool,
    }

    impl Path {
        fn new(delay: Duration, kbps: u32, drop: fn(u32) -> bool) -> Path {
            Path {
                delay,
                kbps,
                busy_until: None,
                count: 0,
                drop,
            }
        }

        /// When a datagram of `size` sent at `now` arrives, or `None` when dropped.
        fn carry(&mut self, now: Instant, size: usize) -> Option<Instant> {
            self.count += 1;
            if (self.drop)(self.count) {
                return None;
            }
            let leaves = if self.kbps == 0 {
                now
            } else {
                let start = self.busy_until.map_or(now, |busy| busy.max(now));
                let end = start
                    + Duration::from_nanos(size as u64 * 8 * 1_000_000 / u64::from(self.kbps));
                self.busy_until = Some(end);
                end
            };
            Some(leaves + self.delay)
        }
    }

    /// Runs a client against a real (sans-IO) server over two simulated paths.
    fn simulate(settings: Settings, up: Path, down: Path) -> (DirectionResult, DirectionResult) {
        let (up, down, _) = simulate_timed(settings, up, down);
        (up, down)
    }

    /// [`simulate`], with the simulated time the whole exchange took.
    fn simulate_timed(
        settings: Settings,
        mut up: Path,
        mut down: Path,
    ) -> (DirectionResult, DirectionResult, Duration) {
        let t0 = Instant::now();
        let client_addr: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let server_addr: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        let mut server = ThroughputServer::new(TOKEN, ThroughputLimits::default()).unwrap();
        let mut client = Client::new(t0, TOKEN, settings).unwrap();
        // In flight: (arrival, to the server?, bytes).
        let mut flight: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
        let mut now = t0;
        for _ in 0..2_000_000 {
            client.handle_timeout(now);
            while let Some(bytes) = client.poll_transmit(now) {
                if let Some(at) = up.carry(now, bytes.len()) {
                    flight.push((at, true, bytes));
                }
            }
            while let Some((bytes, _)) = server.poll_transmit(now, server_addr) {
                if let Some(at) = down.carry(now, bytes.len()) {
                    flight.push((at, false, bytes));
                }
            }
            if client.is_done() {
                let (up, down) = client.results();
                return (up, down, now - t0);
            }
            let wake = [client.poll_timeout(), server.poll_timeout(server_addr)]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            flight.sort_by_key(|(at, _, _)| *at);
            match flight.first() {
                Some((at, _, _)) if *at <= wake => {
                    let (at, to_server, bytes) = flight.remove(0);
                    now = at;
                    if to_server {
                        server.handle(now, &bytes, client_addr, server_addr);
                    } else {
                        client.handle_input(now, &bytes);
                    }
                }
                _ => now = wake.max(now),
            }
        }
        panic!("the exchange never ended");
    }

    fn settings() -> Settings {
        Settings {
            token: Some(TOKEN.into()),
            duration: ms(1000),
            seed: Some(1),
            ..Settings::default()
        }
    }

    fn measured(result: DirectionResult) -> Measured {
        match result {
            DirectionResult::Measured(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_clean_path_carries_the_rate_both_ways() {
        let (up, down) = simulate(
            settings(),
            Path::new(ms(10), 0, |_| false),
            Path::new(ms(10), 0, |_| false),
        );
        for m in [measured(up), measured(down)] {
            assert_eq!(m.sent, packets_for(&m.granted));
            assert_eq!((m.received, m.duplicates, m.reordered), (m.sent, 0, 0));
            assert_eq!(m.loss(), 0.0);
            let kbps = m.achieved_kbps().unwrap();
            assert!((kbps - 1540.0).abs() < 1540.0 * 0.01, "{kbps}");
            assert!(m.jitter < ms(1), "{:?}", m.jitter);
            assert!(m.reported && !m.paused);
        }
    }

    #[test]
    fn the_downlink_stops_waiting_once_everything_or_the_last_datagram_arrived() {
        // 1 s each way, 10 ms each way: the uplink takes about 1.04 s (START, data, STOP and
        // REPORT), the downlink about as long when it need not wait out its 700 ms tail.
        let clean = |_| false;
        let (_, down, everything) = simulate_timed(
            settings(),
            Path::new(ms(10), 0, clean),
            Path::new(ms(10), 0, clean),
        );
        assert_eq!(measured(down).loss(), 0.0);
        assert!(everything < ms(2_150), "{everything:?}");
        // One datagram in the middle of the downlink lost: the last one still arrives, and the
        // wait ends 150 ms after it.
        let (_, down, one_lost) = simulate_timed(
            settings(),
            Path::new(ms(10), 0, clean),
            Path::new(ms(10), 0, |n| n == 50),
        );
        let down = measured(down);
        assert_eq!(down.sent - down.received, 1);
        assert!(
            one_lost >= everything + ms(140),
            "{one_lost:?} {everything:?}"
        );
        assert!(
            one_lost < everything + ms(200),
            "{one_lost:?} {everything:?}"
        );
        // The last datagrams lost: nothing says the data is over, the whole tail is waited.
        let (_, down, tail_lost) = simulate_timed(
            settings(),
            Path::new(ms(10), 0, clean),
            Path::new(ms(10), 0, |n| (150..=164).contains(&n)),
        );
        let down = measured(down);
        assert!(down.received < down.sent);
        assert!(
            tail_lost >= everything + ms(600),
            "{tail_lost:?} {everything:?}"
        );
    }

    #[test]
    fn a_bottleneck_shows_as_its_own_rate_and_loss_is_counted() {
        // Uplink limited to 1,000 kbit/s (no drop: the queue grows); downlink loses every 10th.
        let (up, down) = simulate(
            settings(),
            Path::new(ms(10), 1000, |_| false),
            Path::new(ms(10), 0, |n| n % 10 == 0),
        );
        let up = measured(up);
        let kbps = up.achieved_kbps().unwrap();
        // Datagrams of 1,200 bytes on a link counted in datagram bytes: 1,000 kbit/s exactly.
        assert!((kbps - 1000.0).abs() < 10.0, "{kbps}");
        let down = measured(down);
        assert!((down.loss() - 0.1).abs() < 0.02, "{}", down.loss());
    }

    #[test]
    fn no_answer_to_start_gives_up_after_four_sends_and_skips_the_downlink() {
        let (up, down) = simulate(
            settings(),
            Path::new(ms(10), 0, |_| true),
            Path::new(ms(10), 0, |_| false),
        );
        assert_eq!(up, DirectionResult::NoAccept { sends: 4 });
        assert_eq!(down, DirectionResult::NotTried);
    }

    #[test]
    fn the_wrong_token_is_never_answered() {
        let t0 = Instant::now();
        let mut client = Client::new(t0, "wrong", settings()).unwrap();
        let mut server = ThroughputServer::new(TOKEN, ThroughputLimits::default()).unwrap();
        let local: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        let start = client.poll_transmit(t0).unwrap();
        server.handle(t0, &start, "192.0.2.1:1".parse().unwrap(), local);
        assert!(server.poll_transmit(t0, local).is_none());
        assert!(format!("{:?}", settings()).contains("REDACTED"));
    }

    #[test]
    fn measured_figures() {
        let m = Measured {
            granted: Params {
                direction: Direction::Up,
                rate_kbps: 1000,
                duration_ms: 1000,
                packet_size: 1000,
                nonce: 0,
            },
            sent: 100,
            reported: true,
            received: 101 - 11,
            duplicates: 0,
            reordered: 0,
            bytes: 90 * 1000,
            span: ms(890),
            jitter: ms(1),
            paused: false,
        };
        assert!((m.loss() - 0.1).abs() < 1e-9);
        assert!((m.achieved_kbps().unwrap() - 800.0).abs() < 1e-6);
        assert!((m.wire_kbps(28).unwrap() - 822.4).abs() < 1e-6);
    }
}
