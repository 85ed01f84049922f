//! `serve`'s side of the throughput test, sans-IO: datagrams in with the time, the source and
//! the local socket they came to; datagrams out for that socket with [`ThroughputServer::poll_transmit`],
//! and the instant to wake up at with [`ThroughputServer::poll_timeout`]. The UDP loop
//! ([`super::serve_udp_with`]) owns the sockets and the clock.
//!
//! The wire format is [`crate::throughput::wire`]'s; the rules are the module documentation of
//! [`super`] (section "Throughput").

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::throughput::wire::{
    self, Arrivals, Direction, Key, Message, Params, RefuseReason, Report, MAX_PACKET, MIN_PACKET,
};

/// How much `serve` lets token holders measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThroughputLimits {
    /// Sessions at once (each one direction); a START beyond gets REFUSE busy.
    pub max_sessions: usize,
    /// The highest rate granted, in kbit/s of UDP payload; a START asking more gets this.
    pub max_rate_kbps: u32,
    /// The longest time data flows in one session; a START asking more gets this.
    pub max_duration: Duration,
    /// Downlink: sending pauses when no ACK came for this long.
    pub ack_timeout: Duration,
}

impl Default for ThroughputLimits {
    /// 2 sessions, 10 Mbit/s, 10 s, sending paused 300 ms after the last ACK.
    fn default() -> ThroughputLimits {
        ThroughputLimits {
            max_sessions: 2,
            max_rate_kbps: 10_000,
            max_duration: Duration::from_secs(10),
            ack_timeout: Duration::from_millis(300),
        }
    }
}

/// Time a session is kept after its data ends, for the client's STOP and late datagrams.
const GRACE: Duration = Duration::from_secs(3);
/// Time a stopped session is kept, so that a retransmitted STOP gets the same REPORT.
const LINGER: Duration = Duration::from_secs(1);

/// What the server has done, for `serve`'s summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThroughputCounters {
    /// Sessions accepted.
    pub accepted: u64,
    /// STARTs refused (busy or bad parameters).
    pub refused: u64,
    /// Datagrams dropped: malformed, a bad HMAC (no token), or for no session of theirs.
    pub dropped: u64,
    /// DATA datagrams sent (downlink).
    pub data_sent: u64,
    /// DATA datagrams received (uplink).
    pub data_received: u64,
}

struct Session {
    id: u64,
    nonce: u64,
    local: SocketAddr,
    peer: SocketAddr,
    params: Params,
    created: Instant,
    expires: Instant,
    stopped: bool,
    arrivals: Arrivals,
    /// Downlink: when the first ACK came (sending starts then).
    begun: Option<Instant>,
    next_sequence: u32,
    total: u32,
    interval: Duration,
    last_ack: Option<Instant>,
    sent: u32,
    paused: bool,
}

impl Session {
    fn report(&self) -> Report {
        let a = &self.arrivals;
        Report {
            sent: self.sent,
            received: a.received,
            duplicates: a.duplicates,
            reordered: a.reordered,
            highest_plus_one: a.highest_plus_one,
            bytes: a.bytes,
            first_us: a.first_us.unwrap_or(0),
            last_us: a.last_us,
            jitter_us: a.jitter_us(),
            paused: self.paused,
        }
    }

    fn micros(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.created).as_micros()).unwrap_or(u64::MAX)
    }

    fn due(&self, sequence: u32) -> Option<Instant> {
        let begun = self.begun?;
        (sequence < self.total && !self.stopped).then(|| begun + self.interval * sequence)
    }
}

/// Packets a session of `params` sends: the rate times the duration, in whole datagrams.
pub fn packets_for(params: &Params) -> u32 {
    let bits = u64::from(params.rate_kbps) * u64::from(params.duration_ms);
    let per_packet = u64::from(params.packet_size.max(1)) * 8;
    u32::try_from(bits.div_ceil(per_packet)).unwrap_or(u32::MAX)
}

/// The time between datagrams at `params`' rate.
pub fn interval_for(params: &Params) -> Duration {
    let bits = u64::from(params.packet_size) * 8;
    Duration::from_nanos(bits * 1_000_000 / u64::from(params.rate_kbps.max(1)))
}

/// The throughput test's sessions, for the token holders only.
pub struct ThroughputServer {
    key: Key,
    limits: ThroughputLimits,
    sessions: Vec<Session>,
    out: VecDeque<(SocketAddr, Vec<u8>, SocketAddr)>,
    counters: ThroughputCounters,
    next_id: u64,
}

impl std::fmt::Debug for ThroughputServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThroughputServer")
            .field("limits", &self.limits)
            .field("sessions", &self.sessions.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl ThroughputServer {
    /// A server keyed with `token`, within `limits`.
    pub fn new(token: &str, limits: ThroughputLimits) -> Result<ThroughputServer, String> {
        if token.is_empty() {
            return Err("the throughput test needs a non-empty token".into());
        }
        // Session ids must not be guessable: seed them from the OS's secure random source.
        let seed = crate::stun::message::random_transaction_id().0;
        let mut next_id = [0_u8; 8];
        next_id.copy_from_slice(&seed[..8]);
        Ok(ThroughputServer {
            key: Key::new(token)?,
            limits,
            sessions: Vec::new(),
            out: VecDeque::new(),
            counters: ThroughputCounters::default(),
            next_id: u64::from_be_bytes(next_id),
        })
    }

    /// What it has done so far.
    pub fn counters(&self) -> ThroughputCounters {
        self.counters
    }

    /// Sessions alive now (at most `max_sessions`).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn fresh_id(&mut self) -> u64 {
        // SplitMix64 over a secret random seed: unpredictable without the seed, never 0.
        loop {
            self.next_id = self.next_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.next_id;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    }

    /// Takes a datagram that arrived at `now` from `source` on the socket bound to `local`.
    pub fn handle(&mut self, now: Instant, bytes: &[u8], source: SocketAddr, local: SocketAddr) {
        self.expire(now);
        let message = match wire::decode(bytes, &mut self.key) {
            Ok(message) => message,
            Err(_) => {
                self.counters.dropped += 1;
                return;
            }
        };
        match message {
            Message::Start(asked) => self.start(now, asked, source, local),
            Message::Data {
                session,
                sequence,
                sent_us,
                size,
            } => {
                let Some(s) = self.session_mut(session, source) else {
                    self.counters.dropped += 1;
                    return;
                };
                // Only the uplink's own sequences: the bitmap stays within the session's size.
                if s.params.direction != Direction::Up || sequence >= s.total {
                    self.counters.dropped += 1;
                    return;
                }
                let arrived = s.micros(now);
                s.arrivals.record(sequence, sent_us, arrived, size);
                self.counters.data_received += 1;
            }
            Message::Ack { session, .. } => {
                let ack_timeout = self.limits.ack_timeout;
                let Some(s) = self.session_mut(session, source) else {
                    self.counters.dropped += 1;
                    return;
                };
                if s.params.direction != Direction::Down || s.stopped {
                    return;
                }
                let stale = s
                    .last_ack
                    .is_some_and(|last| now.saturating_duration_since(last) > ack_timeout);
                s.last_ack = Some(now);
                match s.begun {
                    None => s.begun = Some(now),
                    // Back after a pause: skip what fell due meanwhile, never catch up in a burst.
                    Some(_) if stale => {
                        while s.due(s.next_sequence).is_some_and(|due| due < now) {
                            s.next_sequence += 1;
                        }
                    }
                    Some(_) => {}
                }
            }
            Message::Stop { session } => {
                let Some(s) = self.session_mut(session, source) else {
                    self.counters.dropped += 1;
                    return;
                };
                if !s.stopped {
                    s.stopped = true;
                    s.expires = now + LINGER;
                }
                let report = Message::Report {
                    session,
                    direction: s.params.direction,
                    report: s.report(),
                };
                let (local, peer) = (s.local, s.peer);
                let bytes = wire::encode(&report, &mut self.key);
                self.out.push_back((local, bytes, peer));
            }
            Message::Accept { .. } | Message::Refuse { .. } | Message::Report { .. } => {
                self.counters.dropped += 1;
            }
        }
    }

    fn session_mut(&mut self, id: u64, peer: SocketAddr) -> Option<&mut Session> {
        self.sessions
            .iter_mut()
            .find(|s| s.id == id && s.peer == peer)
    }

    fn start(&mut self, now: Instant, asked: Params, source: SocketAddr, local: SocketAddr) {
        // A retransmitted START gets the same ACCEPT.
        if let Some(s) = self
            .sessions
            .iter()
            .find(|s| s.peer == source && s.nonce == asked.nonce)
        {
            let accept = Message::Accept {
                session: s.id,
                params: s.params,
            };
            let (local, peer) = (s.local, s.peer);
            let bytes = wire::encode(&accept, &mut self.key);
            self.out.push_back((local, bytes, peer));
            return;
        }
        let refuse = |reason| Message::Refuse {
            reason,
            nonce: asked.nonce,
        };
        let refusal = if asked.rate_kbps == 0 || asked.duration_ms == 0 {
            Some(refuse(RefuseReason::BadRequest))
        } else if self.sessions.len() >= self.limits.max_sessions {
            Some(refuse(RefuseReason::Busy))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.counters.refused += 1;
            let bytes = wire::encode(&refusal, &mut self.key);
            self.out.push_back((local, bytes, source));
            return;
        }
        let max_ms = u32::try_from(self.limits.max_duration.as_millis()).unwrap_or(u32::MAX);
        let params = Params {
            direction: asked.direction,
            rate_kbps: asked.rate_kbps.min(self.limits.max_rate_kbps.max(1)),
            duration_ms: asked.duration_ms.min(max_ms.max(1)),
            packet_size: asked.packet_size.clamp(MIN_PACKET, MAX_PACKET),
            nonce: asked.nonce,
        };
        let id = self.fresh_id();
        let duration = Duration::from_millis(u64::from(params.duration_ms));
        self.sessions.push(Session {
            id,
            nonce: asked.nonce,
            local,
            peer: source,
            params,
            created: now,
            expires: now + duration + GRACE,
            stopped: false,
            arrivals: Arrivals::default(),
            begun: None,
            next_sequence: 0,
            total: packets_for(&params),
            interval: interval_for(&params),
            last_ack: None,
            sent: 0,
            paused: false,
        });
        self.counters.accepted += 1;
        let accept = Message::Accept {
            session: id,
            params,
        };
        let bytes = wire::encode(&accept, &mut self.key);
        self.out.push_back((local, bytes, source));
    }

    fn expire(&mut self, now: Instant) {
        self.sessions.retain(|s| s.expires > now);
    }

    /// The next datagram to send from the socket bound to `local` at `now`, and where to.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        local: SocketAddr,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        self.expire(now);
        if let Some(index) = self.out.iter().position(|(l, _, _)| *l == local) {
            return self.out.remove(index).map(|(_, bytes, to)| (bytes, to));
        }
        let ack_timeout = self.limits.ack_timeout;
        for s in self.sessions.iter_mut().filter(|s| s.local == local) {
            while let Some(due) = s.due(s.next_sequence) {
                if due > now {
                    break;
                }
                let acked = s
                    .last_ack
                    .is_some_and(|last| now.saturating_duration_since(last) <= ack_timeout);
                let sequence = s.next_sequence;
                s.next_sequence += 1;
                if !acked {
                    // The client went quiet: send nothing until it acknowledges again.
                    s.paused = true;
                    continue;
                }
                s.sent += 1;
                self.counters.data_sent += 1;
                let sent_us = s.micros(now);
                let bytes = wire::data(s.id, sequence, sent_us, usize::from(s.params.packet_size));
                return Some((bytes, s.peer));
            }
        }
        None
    }

    /// When to call [`poll_transmit`](Self::poll_transmit) for `local` next: the next datagram
    /// due, or a session's end.
    pub fn poll_timeout(&self, local: SocketAddr) -> Option<Instant> {
        self.sessions
            .iter()
            .filter(|s| s.local == local)
            .flat_map(|s| [s.due(s.next_sequence), Some(s.expires)])
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret";

    fn local() -> SocketAddr {
        "192.0.2.1:3478".parse().unwrap()
    }
    fn client() -> SocketAddr {
        "198.51.100.7:50000".parse().unwrap()
    }

    fn server() -> ThroughputServer {
        ThroughputServer::new(TOKEN, ThroughputLimits::default()).unwrap()
    }

    fn key() -> Key {
        Key::new(TOKEN).unwrap()
    }

    fn start(direction: Direction, rate_kbps: u32, duration_ms: u32) -> Vec<u8> {
        wire::encode(
            &Message::Start(Params {
                direction,
                rate_kbps,
                duration_ms,
                packet_size: 1200,
                nonce: 77,
            }),
            &mut key(),
        )
    }

    /// Every datagram for `local` at `now`, decoded.
    fn drain(s: &mut ThroughputServer, now: Instant) -> Vec<(Message, SocketAddr)> {
        let mut out = Vec::new();
        while let Some((bytes, to)) = s.poll_transmit(now, local()) {
            out.push((wire::decode(&bytes, &mut key()).unwrap(), to));
        }
        out
    }

    fn accepted(s: &mut ThroughputServer, now: Instant, bytes: &[u8]) -> (u64, Params) {
        s.handle(now, bytes, client(), local());
        match drain(s, now).as_slice() {
            [(Message::Accept { session, params }, to)] if *to == client() => (*session, *params),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_the_token_nothing_is_answered() {
        let t0 = Instant::now();
        let mut s = server();
        let foreign = wire::encode(
            &Message::Start(Params {
                direction: Direction::Down,
                rate_kbps: 1000,
                duration_ms: 1000,
                packet_size: 1200,
                nonce: 1,
            }),
            &mut Key::new("guess").unwrap(),
        );
        s.handle(t0, &foreign, client(), local());
        s.handle(t0, &wire::data(1, 0, 0, 1200), client(), local());
        assert!(drain(&mut s, t0).is_empty());
        assert_eq!(s.sessions(), 0);
        assert_eq!(s.counters().dropped, 2);
        assert!(ThroughputServer::new("", ThroughputLimits::default()).is_err());
    }

    #[test]
    fn uplink_counts_what_arrives_and_reports_on_stop() {
        let t0 = Instant::now();
        let mut s = server();
        let (session, params) = accepted(&mut s, t0, &start(Direction::Up, 1000, 1000));
        assert_eq!(params.rate_kbps, 1000);
        // A retransmitted START gets the same session.
        assert_eq!(
            accepted(&mut s, t0, &start(Direction::Up, 1000, 1000)).0,
            session
        );
        for (i, sequence) in [0_u32, 1, 3, 2, 3].iter().enumerate() {
            let at = t0 + Duration::from_millis(10 * i as u64);
            let data = wire::data(session, *sequence, 10_000 * u64::from(*sequence), 1200);
            s.handle(at, &data, client(), local());
        }
        // DATA from another address, or beyond the session's size, is not counted.
        s.handle(t0, &wire::data(session, 9, 0, 1200), local(), local());
        s.handle(
            t0,
            &wire::data(session, 1_000_000, 0, 1200),
            client(),
            local(),
        );
        assert_eq!(s.counters().dropped, 2);
        let stop = wire::encode(&Message::Stop { session }, &mut key());
        s.handle(t0 + Duration::from_millis(100), &stop, client(), local());
        let Some((
            Message::Report {
                report, direction, ..
            },
            _,
        )) = drain(&mut s, t0 + Duration::from_millis(100)).pop()
        else {
            panic!("a report")
        };
        assert_eq!(direction, Direction::Up);
        assert_eq!(
            (
                report.received,
                report.duplicates,
                report.reordered,
                report.sent
            ),
            (4, 1, 1, 0)
        );
        assert_eq!(report.bytes, 4 * 1200);
        // The session lingers for retransmitted STOPs, then goes.
        s.handle(t0 + Duration::from_millis(500), &stop, client(), local());
        assert_eq!(drain(&mut s, t0 + Duration::from_millis(500)).len(), 1);
        assert!(s
            .poll_transmit(t0 + Duration::from_secs(2), local())
            .is_none());
        assert_eq!(s.sessions(), 0);
    }

    #[test]
    fn downlink_waits_for_an_ack_paces_and_pauses_without_acks() {
        let t0 = Instant::now();
        let mut s = server();
        // 960 kbit/s of 1,200-byte packets: one every 10 ms, 50 in 500 ms.
        let (session, params) = accepted(&mut s, t0, &start(Direction::Down, 960, 500));
        assert_eq!(packets_for(&params), 50);
        assert_eq!(interval_for(&params), Duration::from_millis(10));
        // Nothing before the first ACK (the ACCEPT may have gone to a spoofed address).
        assert!(drain(&mut s, t0 + Duration::from_millis(100)).is_empty());
        let ack = |received| {
            wire::encode(
                &Message::Ack {
                    session,
                    received,
                    highest: 0,
                },
                &mut key(),
            )
        };
        let begin = t0 + Duration::from_millis(100);
        s.handle(begin, &ack(0), client(), local());
        let mut sent = 0;
        let mut now = begin;
        // Acks every 50 ms for 200 ms: 20 or 21 packets, paced (never more than is due).
        while now < begin + Duration::from_millis(200) {
            if (now - begin).as_millis().is_multiple_of(50) {
                s.handle(now, &ack(sent), client(), local());
            }
            let batch = drain(&mut s, now);
            assert!(batch.len() <= 1, "paced: {batch:?}");
            sent += batch.len() as u32;
            now = s
                .poll_timeout(local())
                .unwrap()
                .max(now + Duration::from_millis(1));
        }
        assert!((20..=21).contains(&sent), "{sent}");
        // Then silence: sending stops within the ACK timeout (300 ms).
        let last_ack = begin + Duration::from_millis(150);
        let mut after = 0;
        while now < begin + Duration::from_millis(700) {
            let batch = drain(&mut s, now);
            if now > last_ack + Duration::from_millis(300) {
                after += batch.len();
            }
            now += Duration::from_millis(1);
        }
        assert_eq!(after, 0);
        let stop = wire::encode(&Message::Stop { session }, &mut key());
        s.handle(now, &stop, client(), local());
        let Some((Message::Report { report, .. }, _)) = drain(&mut s, now).pop() else {
            panic!("a report")
        };
        assert!(report.paused);
        assert!(report.sent <= 20 + 31, "{}", report.sent);
        assert_eq!(u64::from(report.sent), s.counters().data_sent);
    }

    #[test]
    fn limits_clamp_what_is_granted_and_refuse_beyond_the_session_count() {
        let t0 = Instant::now();
        let mut s = ThroughputServer::new(
            TOKEN,
            ThroughputLimits {
                max_sessions: 1,
                max_rate_kbps: 2000,
                max_duration: Duration::from_secs(2),
                ..ThroughputLimits::default()
            },
        )
        .unwrap();
        let (_, params) = accepted(&mut s, t0, &start(Direction::Down, 50_000, 60_000));
        assert_eq!((params.rate_kbps, params.duration_ms), (2000, 2000));
        let mut other = start(Direction::Up, 1000, 1000);
        other = {
            let Ok(Message::Start(mut p)) = wire::decode(&other, &mut key()) else {
                unreachable!()
            };
            p.nonce = 78;
            wire::encode(&Message::Start(p), &mut key())
        };
        s.handle(t0, &other, client(), local());
        assert!(matches!(
            drain(&mut s, t0).as_slice(),
            [(
                Message::Refuse {
                    reason: RefuseReason::Busy,
                    nonce: 78
                },
                _
            )]
        ));
        // A session nobody acknowledges ends by itself: duration + grace.
        assert!(s
            .poll_transmit(t0 + Duration::from_secs(6), local())
            .is_none());
        assert_eq!(s.sessions(), 0);
        s.handle(t0, &start(Direction::Up, 0, 1000), client(), local());
        assert!(matches!(
            drain(&mut s, t0).as_slice(),
            [(
                Message::Refuse {
                    reason: RefuseReason::BadRequest,
                    ..
                },
                _
            )]
        ));
    }
}
