//! A seeded user-space UDP impairment relay, for tests that compare a probe's figures with the
//! truth (`tc netem` is not in this kernel).
//!
//! [`Relay::start`] listens on 127.0.0.1 (an ephemeral port) for one client and forwards its
//! datagrams to a server, and the server's back to the client, each way through its own
//! [`Impairment`]: loss, delay with jitter, reordering (netem's way: a packet sent at once, ahead
//! of those held back), duplication, and rare late packets. Each way draws its decisions from its
//! own seeded generator in the order its datagrams arrive, so the same traffic meets the same
//! fates on every run.
//!
//! Every datagram is logged ([`Relay::log`]): which way, its STUN transaction id if it is STUN,
//! when it arrived, and its fate: dropped, or forwarded after a planned delay, with the instant it
//! really left. Tests compute the truth from the log ([`Truth`]) and hold the probe to it.
//!
//! Threads, not tasks: two receivers (one per side, blocking with a short timeout) and one
//! scheduler that sleeps until the next datagram is due and sends it. Everything stops when the
//! relay is dropped.

#![allow(dead_code)]

use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What one way of the relay does to datagrams.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Delay of every datagram kept.
    pub delay: Duration,
    /// The delay varies uniformly within ± this (never below 0).
    pub jitter: Duration,
    /// Probability that a datagram is sent at once, ahead of those held back (netem's reorder).
    pub reorder: f64,
    /// Probability that a datagram is sent twice (the copy 1 ms after).
    pub duplicate: f64,
    /// Probability that a datagram is held back this much more ([`Impairment::late_by`]).
    pub late: f64,
    /// The extra delay of a late datagram.
    pub late_by: Duration,
}

/// Which way a datagram went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Way {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What the relay did with one datagram.
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// Dropped.
    Dropped,
    /// Forwarded after `delay` (planned); `sent` is when it really left (`None` if the relay
    /// stopped first); `copies` is 2 when duplicated.
    Forwarded {
        /// The planned delay.
        delay: Duration,
        /// When it left.
        sent: Option<Instant>,
        /// 1, or 2 when duplicated.
        copies: u8,
    },
}

/// One datagram through the relay.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Which way.
    pub way: Way,
    /// Its index among the datagrams of its way, from 0.
    pub index: u64,
    /// The STUN transaction id, when it is STUN.
    pub stun_id: Option<[u8; 12]>,
    /// The sequence number in a quality burst's TRTC-PREFLIGHT-BURST attribute, if any
    /// (`u32::MAX`: the final count query).
    pub burst_sequence: Option<u32>,
    /// Its size.
    pub size: usize,
    /// When it reached the relay.
    pub received: Instant,
    /// What happened to it.
    pub fate: Fate,
}

impl Event {
    /// How long it really stayed in the relay, when it was forwarded.
    pub fn held(&self) -> Option<Duration> {
        match self.fate {
            Fate::Forwarded {
                sent: Some(sent), ..
            } => Some(sent.saturating_duration_since(self.received)),
            _ => None,
        }
    }
}

/// SplitMix64: small, seeded, good enough for test decisions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A datagram waiting to leave.
struct Pending {
    due: Instant,
    order: u64,
    log_index: usize,
    to_server: bool,
    bytes: Vec<u8>,
    /// Whether this is the duplicate copy (not logged as the send).
    copy: bool,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // A max-heap: the earliest due first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

struct State {
    queue: BinaryHeap<Pending>,
    log: Vec<Event>,
    client: Option<SocketAddr>,
    order: u64,
    counts: HashMap<Way, u64>,
    rngs: HashMap<Way, Rng>,
}

/// The running relay; stopped when dropped.
pub struct Relay {
    /// Where the client sends (127.0.0.1 and an ephemeral port).
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay to `server`, impairing client-to-server datagrams with `up` and
    /// server-to-client ones with `down`, decisions drawn from `seed`.
    pub fn start(server: SocketAddr, seed: u64, up: Impairment, down: Impairment) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("a relay socket");
        let back = UdpSocket::bind(match server {
            SocketAddr::V4(_) => "127.0.0.1:0",
            SocketAddr::V6(_) => "[::1]:0",
        })
        .expect("a relay socket");
        back.connect(server)
            .expect("the relay connects to the server");
        for socket in [&front, &back] {
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
        }
        let addr = front.local_addr().unwrap();
        let mut rngs = HashMap::new();
        rngs.insert(Way::Up, Rng(seed ^ 0x5555_5555));
        rngs.insert(Way::Down, Rng(seed ^ 0xAAAA_AAAA_0000));
        let state = Arc::new((
            Mutex::new(State {
                queue: BinaryHeap::new(),
                log: Vec::new(),
                client: None,
                order: 0,
                counts: HashMap::new(),
                rngs,
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (way, socket, impairment) in [
            (Way::Up, front.try_clone().unwrap(), up),
            (Way::Down, back.try_clone().unwrap(), down),
        ] {
            let (state, stop) = (state.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                receive(way, &socket, impairment, &state, &stop)
            }));
        }
        {
            let (state, stop) = (state.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                schedule(&front, &back, &state, &stop)
            }));
        }
        Relay {
            addr,
            state,
            stop,
            threads,
        }
    }

    /// What happened so far, in order of arrival.
    pub fn log(&self) -> Vec<Event> {
        self.state.0.lock().unwrap().log.clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.state.1.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn receive(
    way: Way,
    socket: &UdpSocket,
    impairment: Impairment,
    state: &(Mutex<State>, Condvar),
    stop: &AtomicBool,
) {
    let mut buffer = vec![0_u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(_) => continue,
        };
        let now = Instant::now();
        let bytes = buffer[..len].to_vec();
        let mut guard = state.0.lock().unwrap();
        let s = &mut *guard;
        if way == Way::Up {
            s.client = Some(from);
        }
        let index = {
            let count = s.counts.entry(way).or_insert(0);
            *count += 1;
            *count - 1
        };
        // Every decision is drawn for every datagram, so one's fate never shifts another's.
        let rng = s.rngs.get_mut(&way).unwrap();
        let (lose, spread, jump, twice, late) =
            (rng.unit(), rng.unit(), rng.unit(), rng.unit(), rng.unit());
        let stun_id =
            (len >= 20 && bytes[0] & 0xC0 == 0 && bytes[4..8] == [0x21, 0x12, 0xA4, 0x42])
                .then(|| <[u8; 12]>::try_from(&bytes[8..20]).unwrap());
        let fate = if lose < impairment.loss {
            Fate::Dropped
        } else {
            let delay = if jump < impairment.reorder {
                Duration::ZERO
            } else {
                let jitter = impairment.jitter.as_secs_f64();
                let base = impairment.delay.as_secs_f64() + (spread * 2.0 - 1.0) * jitter;
                let late_by = if late < impairment.late {
                    impairment.late_by
                } else {
                    Duration::ZERO
                };
                Duration::from_secs_f64(base.max(0.0)) + late_by
            };
            Fate::Forwarded {
                delay,
                sent: None,
                copies: if twice < impairment.duplicate { 2 } else { 1 },
            }
        };
        let log_index = s.log.len();
        if let Fate::Forwarded { delay, copies, .. } = fate {
            for copy in 0..copies {
                s.order += 1;
                s.queue.push(Pending {
                    due: now + delay + Duration::from_millis(u64::from(copy)),
                    order: s.order,
                    log_index,
                    to_server: way == Way::Up,
                    bytes: bytes.clone(),
                    copy: copy > 0,
                });
            }
        }
        let burst_sequence = stun_id.and_then(|_| burst_sequence(&bytes));
        s.log.push(Event {
            way,
            index,
            stun_id,
            burst_sequence,
            size: len,
            received: now,
            fate,
        });
        drop(guard);
        state.1.notify_all();
    }
}

/// The sequence number of a TRTC-PREFLIGHT-BURST attribute (0xC7A1) in a STUN message.
fn burst_sequence(bytes: &[u8]) -> Option<u32> {
    let mut at = 20;
    while at + 4 <= bytes.len() {
        let kind = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if kind == 0xC7A1 && len == 8 {
            let value = bytes.get(at + 8..at + 12)?;
            return Some(u32::from_be_bytes(value.try_into().ok()?));
        }
        at += 4 + len.next_multiple_of(4);
    }
    None
}

fn schedule(
    front: &UdpSocket,
    back: &UdpSocket,
    state: &(Mutex<State>, Condvar),
    stop: &AtomicBool,
) {
    let (lock, wake) = state;
    let mut guard = lock.lock().unwrap();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next_due = guard.queue.peek().map(|p| p.due);
        match next_due {
            None => {
                guard = wake
                    .wait_timeout(guard, Duration::from_millis(20))
                    .unwrap()
                    .0;
            }
            Some(due) if due > now + Duration::from_micros(300) => {
                let wait = (due - now - Duration::from_micros(200)).min(Duration::from_millis(20));
                guard = wake.wait_timeout(guard, wait).unwrap().0;
            }
            Some(due) if due > now => {
                // The last fraction of a millisecond: yield until due, for a precise release.
                drop(guard);
                while Instant::now() < due {
                    std::thread::yield_now();
                }
                guard = lock.lock().unwrap();
            }
            Some(_) => {
                let pending = guard.queue.pop().unwrap();
                let client = guard.client;
                drop(guard);
                let sent = Instant::now();
                let _ = if pending.to_server {
                    back.send(&pending.bytes)
                } else if let Some(client) = client {
                    front.send_to(&pending.bytes, client)
                } else {
                    Ok(0)
                };
                guard = lock.lock().unwrap();
                if !pending.copy {
                    if let Fate::Forwarded { sent: at, .. } = &mut guard.log[pending.log_index].fate
                    {
                        *at = Some(sent);
                    }
                }
            }
        }
    }
}

/// The truth of a STUN burst through the relay, from its log: for each request (in the order
/// the client sent them), what happened on the way up and, if the server answered, on the way
/// down.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// Requests that reached the relay (all the client sent).
    pub sent: u32,
    /// Requests the relay dropped on the way up.
    pub uplink_lost: u32,
    /// Answers that came from the server.
    pub answered_by_server: u32,
    /// Answers the relay dropped on the way down.
    pub downlink_lost: u32,
    /// Answers delivered within the cut-off: the time each request and its answer spent in
    /// the relay, in the order the answers left the relay.
    pub on_time: Vec<Duration>,
    /// Answers delivered after the cut-off (by the relay's reckoning).
    pub late: u32,
    /// Answers delivered twice.
    pub duplicated: u32,
    /// First answers that left the relay after the answer to a later request.
    pub reordered: u32,
}

impl Truth {
    /// The truth of the STUN requests and answers in `log` (other datagrams are ignored), with
    /// `cutoff` for late answers.
    pub fn of_stun(log: &[Event], cutoff: Duration) -> Truth {
        let mut truth = Truth::default();
        let mut order: HashMap<[u8; 12], (u32, &Event)> = HashMap::new();
        // The final count query of a quality burst is not one of its requests.
        let requests = log
            .iter()
            .filter(|e| e.way == Way::Up && e.burst_sequence != Some(u32::MAX));
        for event in requests {
            if let Some(id) = event.stun_id {
                if order.contains_key(&id) {
                    continue;
                }
                order.insert(id, (truth.sent, event));
                truth.sent += 1;
                if event.fate == Fate::Dropped {
                    truth.uplink_lost += 1;
                }
            }
        }
        // Answers, first copy from the server per id, in the order they left the relay.
        let mut delivered: Vec<(Instant, u32, Duration)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for event in log.iter().filter(|e| e.way == Way::Down) {
            let Some((sequence, request)) = event.stun_id.and_then(|id| order.get(&id)) else {
                continue;
            };
            if !seen.insert(*sequence) {
                continue;
            }
            truth.answered_by_server += 1;
            match &event.fate {
                Fate::Dropped => truth.downlink_lost += 1,
                Fate::Forwarded { copies, sent, .. } => {
                    if *copies > 1 {
                        truth.duplicated += 1;
                    }
                    let (Some(up), Some(down), Some(left)) = (request.held(), event.held(), sent)
                    else {
                        continue;
                    };
                    delivered.push((*left, *sequence, up + down));
                }
            }
        }
        delivered.sort_by_key(|(left, _, _)| *left);
        let mut highest: Option<u32> = None;
        for (_, sequence, held) in delivered {
            if highest.is_some_and(|h| sequence < h) {
                truth.reordered += 1;
            }
            highest = Some(highest.map_or(sequence, |h| h.max(sequence)));
            if held > cutoff {
                truth.late += 1;
            } else {
                truth.on_time.push(held);
            }
        }
        truth
    }

    /// Requests with no answer at all.
    pub fn lost(&self) -> u32 {
        self.uplink_lost + self.downlink_lost
    }

    /// The median time in the relay of the on-time answers (the mean of the two middle values
    /// of an even count).
    pub fn median(&self) -> Duration {
        let mut sorted = self.on_time.clone();
        sorted.sort();
        let n = sorted.len();
        if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        }
    }

    /// RFC 3550 interarrival jitter over the on-time answers, in the order they left the relay.
    pub fn jitter(&self) -> Duration {
        let mut j = 0.0_f64;
        for pair in self.on_time.windows(2) {
            let d = pair[1].abs_diff(pair[0]).as_secs_f64();
            j += (d - j) / 16.0;
        }
        Duration::from_secs_f64(j)
    }
}

/// `serve` (the binary) with `token` in its environment (the lab's `Serve::start` clears it),
/// in `namespace` when given; waits for its `ready` line.
pub fn serve_with_token(
    namespace: Option<&super::Netns>,
    token: &str,
    args: &[&str],
) -> super::Serve {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = super::preflight(namespace)
        .env("TRTC_PREFLIGHT_TOKEN", token)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().unwrap();
    let mut listeners = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("ready") {
            break;
        }
        if let Some((protocol, address)) = line.split_once(' ') {
            if let Ok(address) = address.parse() {
                listeners.push((protocol.to_string(), address));
            }
        }
    }
    assert!(!listeners.is_empty(), "serve printed no listener");
    super::Serve {
        child,
        listeners,
        pin: None,
    }
}
