//! The `mtu` probe: the largest UDP datagram that crosses the path to a STUN server with
//! don't-fragment set, and whether a media-sized one does.
//!
//! # Sizes
//!
//! Two sizes describe every datagram, and [`Size`] carries both:
//!
//! - the **UDP payload**: the STUN message, padded with a PADDING attribute to an exact size
//!   (a multiple of 4, as STUN requires);
//! - the **IP packet**: the payload plus the IP and UDP headers, 28 bytes over IPv4 (20 + 8) and
//!   48 over IPv6 (40 + 8), with no IP options or extension headers. This is the number an MTU
//!   limits: a path MTU of 1,400 carries packets of up to 1,400 bytes, payloads of up to 1,372
//!   (IPv4).
//!
//! The media size is a UDP payload of [`MEDIA_PAYLOAD`] = 1,200 bytes (1,228-byte IPv4 packets,
//! 1,248-byte IPv6 packets): WebRTC keeps each RTP packet, and each DTLS handshake datagram, at
//! or under 1,200 bytes of UDP payload, so a path that carries 1,200-byte payloads carries media.
//! Every IPv6 link carries at least 1,280-byte packets, so over IPv6 only a broken path fails
//! the media size.
//!
//! # One direction only
//!
//! Only the request direction (this machine to the server) is measured. The server answers a
//! padded request with an answer of its usual size (our `serve` never echoes PADDING), so a
//! limit on the way back is not seen; the answers are small enough to pass any path.
//!
//! # Don't-fragment
//!
//! Each socket has path MTU discovery set to "do" (Linux `IP_MTU_DISCOVER = IP_PMTUDISC_DO`,
//! `IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO`): packets leave with DF, are never fragmented by this
//! machine, and a send larger than what the kernel knows of the path (the interface MTU, or a
//! path MTU learned from an ICMP "fragmentation needed" / "packet too big") fails at once with
//! `EMSGSIZE`. Such a size is [`TryResult::TooBig`] without waiting, and the kernel's path MTU
//! (`IP_MTU`, `IPV6_MTU`) is recorded and used as a hint by the search. An ICMP error that comes
//! back while waiting is reported on the connected socket the same way (`from_icmp`). On other
//! systems the probe does not run (see [`Outcome::NotRun`]).
//!
//! # The search, and the drive loop
//!
//! [`Search`] is the strategy as a state machine with no I/O: it says which sizes to try next
//! ([`Search::next_step`]) and takes what happened to each ([`Search::record`]), plus the kernel's
//! path MTU as a hint ([`Search::hint`]). [`probe`] is the thin loop around it:
//!
//! ```text
//! loop {
//!     match search.next_step() {
//!         Step::Try(sizes) => for each size, concurrently, on its own socket with DF:
//!                               one binding transaction padded to that size
//!                               (3 sends, 150 ms apart, given up 600 ms after the first)
//!                             then search.record(size, answered?) (+ search.hint(path MTU))
//!         Step::Done(result) => return the observation
//!     }
//! }
//! ```
//!
//! The first round tries three sizes at once: a small one ([`FLOOR_PACKET`], 576-byte packets,
//! which every IPv4 path must carry: if it is not answered, the target does not answer and no
//! MTU can be measured), the media size, and the ceiling (the interface MTU, capped at
//! [`DEFAULT_CAP_PACKET`] = 1,500 because larger paths do not matter for media). On a healthy
//! path the three are answered within one round trip and the probe is over. Otherwise each
//! further round splits the interval between the largest size answered and the smallest not
//! answered with several sizes at once (8 parts by default), until the two are 4 bytes apart:
//! from 576 to 1,500 bytes that is at most 3 more rounds, about 2.4 s on a path that drops
//! silently, much less where the kernel already knows the limit.
//!
//! A size answered is good; a size silent after its three sends is bad. With a few sizes lost
//! on a lossy path the search may end a little below the true limit, never above it: a bad size
//! below a good one is ignored, a good size above a bad one overrules it.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::route::{self, Egress};
use crate::stun::driver::{binding_udp_on, DriverError, Exchange};
use crate::stun::engine::{Event, RetransmitConfig, TransportEnd};
use crate::stun::message::{random_transaction_id, BindingOptions, ShortTermCredential};
use crate::stun::probe::Family;

/// IPv4 and UDP headers: 20 + 8 bytes.
pub const IPV4_OVERHEAD: u32 = 28;
/// IPv6 and UDP headers: 40 + 8 bytes.
pub const IPV6_OVERHEAD: u32 = 48;
/// The UDP payload WebRTC keeps its packets within: 1,200 bytes.
pub const MEDIA_PAYLOAD: u32 = 1200;
/// The packet size of the first, small request: 576 bytes, which every IPv4 host must accept.
pub const FLOOR_PACKET: u32 = 576;
/// The largest packet size searched by default: 1,500 (Ethernet). Paths beyond that do not
/// matter for media.
pub const DEFAULT_CAP_PACKET: u32 = 1500;

/// The IP and UDP header bytes of a family.
pub fn overhead(family: Family) -> u32 {
    match family {
        Family::V4 => IPV4_OVERHEAD,
        Family::V6 => IPV6_OVERHEAD,
    }
}

/// A datagram's size, as UDP payload (the STUN message) and as IP packet (what an MTU limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Size {
    /// Bytes of UDP payload: the STUN message.
    pub udp_payload: u32,
    /// Bytes of the IP packet: the payload plus 28 (IPv4) or 48 (IPv6).
    pub ip_packet: u32,
}

impl Size {
    /// The size of a datagram with `udp_payload` bytes of payload over `family`.
    pub fn of_payload(family: Family, udp_payload: u32) -> Size {
        Size {
            udp_payload,
            ip_packet: udp_payload + overhead(family),
        }
    }

    /// The largest datagram over `family` whose payload is a multiple of 4 (as STUN requires)
    /// and whose packet is at most `ip_packet` bytes.
    pub fn fitting_packet(family: Family, ip_packet: u32) -> Size {
        let payload = ip_packet.saturating_sub(overhead(family)) / 4 * 4;
        Size::of_payload(family, payload)
    }
}

/// Settings of the probe.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Short-term credentials (a `serve` token): requests carrying them skip its rate limiter.
    pub credential: Option<ShortTermCredential>,
    /// The largest IP packet searched, when the interface allows more (default 1,500).
    pub cap_packet: u32,
    /// The IP packet size of the first, small request (default 576).
    pub floor_packet: u32,
    /// The media size, as UDP payload (default 1,200).
    pub media_payload: u32,
    /// Stop when the largest size answered and the smallest not answered are this many bytes
    /// apart or less (default 4, the STUN granularity: the exact limit).
    pub resolution: u32,
    /// Sizes tried at once in each round of the search (default 7: each round splits the
    /// interval in 8).
    pub parallel: usize,
    /// At most this many rounds (default 8), whatever the interval.
    pub max_rounds: u32,
    /// The schedule of each size's transaction (default [`Settings::SCHEDULE`]).
    pub schedule: RetransmitConfig,
}

impl Settings {
    /// Each size: sends at 0, 150 and 300 ms, given up at 600 ms. Three sends keep a size that
    /// passes from being called bad for one lost packet; 600 ms keeps a whole search within a
    /// few seconds.
    pub const SCHEDULE: RetransmitConfig = RetransmitConfig {
        initial_rto: Duration::from_millis(150),
        max_rto: Duration::from_millis(150),
        max_sends: 3,
        final_wait: Duration::from_millis(300),
    };
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            credential: None,
            cap_packet: DEFAULT_CAP_PACKET,
            floor_packet: FLOOR_PACKET,
            media_payload: MEDIA_PAYLOAD,
            resolution: 4,
            parallel: 7,
            max_rounds: 8,
            schedule: Settings::SCHEDULE,
        }
    }
}

/// What happened to one size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryResult {
    /// A binding success response: the request crossed the path.
    Answered {
        /// Round-trip time, from the last send before the answer.
        rtt: Duration,
        /// Sends until the answer.
        attempts: u32,
    },
    /// A binding error response: the request crossed the path, the server refused it.
    ErrorResponse {
        /// Its ERROR-CODE.
        code: u16,
        /// Sends until the answer.
        attempts: u32,
    },
    /// No answer to any send.
    Silent {
        /// Sends made.
        attempts: u32,
        /// From the first send until giving up.
        waited: Duration,
        /// Replies received that were not a valid answer.
        ignored: u32,
    },
    /// The kernel refused the datagram (`EMSGSIZE`): larger than the interface MTU or than a
    /// path MTU it learned.
    TooBig {
        /// The refusal came while waiting for the answer, from an ICMP "fragmentation needed"
        /// or "packet too big" of a router on the path, rather than at the send.
        from_icmp: bool,
        /// The kernel's path MTU for the target right after (`IP_MTU`, `IPV6_MTU`), in bytes of
        /// IP packet.
        kernel_path_mtu: Option<u32>,
    },
    /// ICMP port unreachable: nothing listens there, or a firewall rejects.
    Rejected {
        /// From the first send.
        after: Duration,
    },
    /// The local machinery failed (socket, request encoding); no fact about the path.
    LocalError {
        /// What failed.
        reason: String,
    },
}

impl TryResult {
    /// Whether the request crossed the path (the size is good).
    pub fn passed(&self) -> bool {
        matches!(
            self,
            TryResult::Answered { .. } | TryResult::ErrorResponse { .. }
        )
    }
}

/// One size tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Try {
    /// The size.
    pub size: Size,
    /// The search round it belonged to, from 1.
    pub round: u32,
    /// What happened.
    pub result: TryResult,
    /// From the start of its transaction to its end.
    pub took: Duration,
}

/// What the probe concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Some size was answered: the path's limit for requests.
    Measured {
        /// The largest size answered.
        largest_ok: Size,
        /// The smallest size larger than `largest_ok` not answered; `None` when every size up
        /// to the ceiling was answered.
        smallest_bad: Option<Size>,
        /// Whether a datagram with a media-sized payload ([`MtuObservation::media`]) crosses:
        /// `largest_ok` is at least that large.
        media_size_ok: bool,
    },
    /// Not even the small first request was answered: the target does not answer, so no MTU
    /// can be measured (whether it is reachable is for the stun and ports probes to say).
    Unreachable {
        /// The size of that first request.
        floor: Size,
    },
    /// The probe could not run here: no route, no socket, or don't-fragment not available.
    NotRun {
        /// Why.
        reason: String,
    },
}

/// Everything the `mtu` probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtuObservation {
    /// The STUN server the requests went to.
    pub target: SocketAddr,
    /// Its address family.
    pub family: Family,
    /// The interface and source the OS chose, with the interface's MTU, when known.
    pub egress: Option<Egress>,
    /// The top of the search: the interface MTU capped at [`Settings::cap_packet`].
    pub ceiling: Size,
    /// The media size (1,200 bytes of payload by default).
    pub media: Size,
    /// The conclusion.
    pub outcome: Outcome,
    /// Every size tried, round by round, smallest first within a round.
    pub tries: Vec<Try>,
    /// Rounds of the search.
    pub rounds: u32,
    /// The smallest path MTU the kernel reported for the target when it refused a size
    /// (`IP_MTU`, `IPV6_MTU` read right after an `EMSGSIZE`): the interface MTU, or less when
    /// an ICMP error taught it less. `None` when no size was refused.
    pub kernel_path_mtu: Option<u32>,
    /// The whole probe's duration.
    pub took: Duration,
}

impl MtuObservation {
    /// The try of the media size, if it was tried.
    pub fn media_try(&self) -> Option<&Try> {
        self.tries.iter().find(|t| t.size == self.media)
    }
}

/// The sizes a search works with, as UDP payloads (multiples of 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchPlan {
    /// The small first size: if it is not answered, the target does not answer.
    pub floor: u32,
    /// The media size, always tried in the first round.
    pub media: u32,
    /// The top of the search.
    pub ceiling: u32,
    /// Stop when good and bad are this close.
    pub resolution: u32,
    /// Sizes per round after the first.
    pub parallel: usize,
    /// At most this many rounds.
    pub max_rounds: u32,
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Try these payload sizes (concurrently), then record each result.
    Try(Vec<u32>),
    /// The search is over.
    Done(SearchResult),
}

/// The conclusion of a search, as UDP payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchResult {
    /// The largest size that passed; `None` when none did.
    pub largest_ok: Option<u32>,
    /// The smallest size above `largest_ok` that did not pass.
    pub smallest_bad: Option<u32>,
    /// Rounds used.
    pub rounds: u32,
}

/// The search strategy as a state machine: no sockets, no clock.
///
/// Round 1 tries the floor, the media size and the ceiling. Each later round tries the kernel's
/// hint (and the size just above it) when there is one inside the interval, then sizes evenly
/// spread between the largest size that passed and the smallest above it that did not, until
/// they are `resolution` bytes apart, the ceiling passed, nothing passed, or `max_rounds` ran.
#[derive(Clone, Debug)]
pub struct Search {
    plan: SearchPlan,
    results: BTreeMap<u32, bool>,
    hint: Option<u32>,
    rounds: u32,
}

impl Search {
    /// A search over `plan` (sizes are rounded down to multiples of 4; the ceiling is at least
    /// the floor).
    pub fn new(plan: SearchPlan) -> Search {
        let align = |n: u32| n / 4 * 4;
        let floor = align(plan.floor);
        let plan = SearchPlan {
            floor,
            media: align(plan.media),
            ceiling: align(plan.ceiling).max(floor),
            resolution: plan.resolution.max(4),
            parallel: plan.parallel.max(1),
            max_rounds: plan.max_rounds.max(1),
        };
        Search {
            plan,
            results: BTreeMap::new(),
            hint: None,
            rounds: 0,
        }
    }

    /// The plan, aligned.
    pub fn plan(&self) -> &SearchPlan {
        &self.plan
    }

    /// What happened to `payload`: it passed (was answered) or not. A size tried twice keeps
    /// its first result.
    pub fn record(&mut self, payload: u32, passed: bool) {
        self.results.entry(payload).or_insert(passed);
    }

    /// The kernel says packets of up to this payload can leave (its path MTU less the headers):
    /// tried next when it lies inside the interval.
    pub fn hint(&mut self, payload: u32) {
        self.hint = Some(payload / 4 * 4);
    }

    /// The largest size that passed.
    pub fn largest_ok(&self) -> Option<u32> {
        self.results
            .iter()
            .filter(|(_, &passed)| passed)
            .map(|(&size, _)| size)
            .next_back()
    }

    /// The smallest size above the largest that passed that did not pass (all sizes that did
    /// not pass when none did).
    pub fn smallest_bad(&self) -> Option<u32> {
        let above = self.largest_ok().unwrap_or(0);
        self.results
            .iter()
            .find(|(&size, &passed)| !passed && size > above)
            .map(|(&size, _)| size)
    }

    /// The next step.
    pub fn next_step(&mut self) -> Step {
        let plan = self.plan;
        if self.rounds == 0 {
            let mut sizes = vec![plan.floor, plan.ceiling];
            if plan.media >= plan.floor {
                sizes.push(plan.media);
            }
            sizes.sort_unstable();
            sizes.dedup();
            return self.round(sizes);
        }
        let done = Step::Done(SearchResult {
            largest_ok: self.largest_ok(),
            smallest_bad: self.smallest_bad(),
            rounds: self.rounds,
        });
        let (Some(good), Some(bad)) = (self.largest_ok(), self.smallest_bad()) else {
            return done;
        };
        if good >= plan.ceiling || bad - good <= plan.resolution || self.rounds >= plan.max_rounds {
            return done;
        }
        let inside = |size: u32, results: &BTreeMap<u32, bool>| {
            size > good && size < bad && !results.contains_key(&size)
        };
        let mut sizes = Vec::new();
        if let Some(hint) = self.hint.take() {
            for size in [hint, hint + 4] {
                if inside(size, &self.results) {
                    sizes.push(size);
                }
            }
        }
        let spread = plan.parallel.saturating_sub(sizes.len()).max(1) as u32;
        for i in 1..=spread {
            let size = good + (bad - good) * i / (spread + 1) / 4 * 4;
            if inside(size, &self.results) && !sizes.contains(&size) {
                sizes.push(size);
            }
        }
        if sizes.is_empty() {
            return done;
        }
        sizes.sort_unstable();
        self.round(sizes)
    }

    fn round(&mut self, sizes: Vec<u32>) -> Step {
        self.rounds += 1;
        Step::Try(sizes)
    }
}

/// Measures the path MTU towards `target`, a STUN server (our `serve` answers padded requests of
/// any size with an answer of fixed size).
pub async fn probe(target: SocketAddr, settings: &Settings) -> MtuObservation {
    let started = Instant::now();
    let target = match target {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => target,
        },
        SocketAddr::V4(_) => target,
    };
    let family = Family::of(target.ip());
    let egress = route::egress(target);
    let interface_mtu = egress.as_ref().ok().and_then(|egress| egress.mtu);
    let ceiling = Size::fitting_packet(
        family,
        interface_mtu.map_or(settings.cap_packet, |mtu| mtu.min(settings.cap_packet)),
    );
    let media = Size::of_payload(family, settings.media_payload / 4 * 4);
    let mut observation = MtuObservation {
        target,
        family,
        egress: egress.as_ref().ok().cloned(),
        ceiling,
        media,
        outcome: Outcome::NotRun {
            reason: String::new(),
        },
        tries: Vec::new(),
        rounds: 0,
        kernel_path_mtu: None,
        took: Duration::ZERO,
    };
    let not_run = |mut observation: MtuObservation, reason: String| {
        observation.outcome = Outcome::NotRun { reason };
        observation.took = started.elapsed();
        observation
    };
    if let Err(error) = &egress {
        return not_run(observation, error.to_string());
    }
    if let Err(error) = socket_for(target).await {
        return not_run(observation, error);
    }

    let floor = Size::fitting_packet(family, settings.floor_packet);
    let mut search = Search::new(SearchPlan {
        floor: floor.udp_payload,
        media: media.udp_payload,
        ceiling: ceiling.udp_payload,
        resolution: settings.resolution,
        parallel: settings.parallel,
        max_rounds: settings.max_rounds,
    });
    let result = loop {
        let sizes = match search.next_step() {
            Step::Done(result) => break result,
            Step::Try(sizes) => sizes,
        };
        let round = observation.rounds + 1;
        observation.rounds = round;
        let mut tasks = JoinSet::new();
        for payload in sizes {
            let options = BindingOptions {
                pad_to: Some(payload as usize),
                credential: settings.credential.clone(),
            };
            let schedule = settings.schedule;
            tasks.spawn(async move {
                let started = Instant::now();
                let result = try_size(target, &options, schedule).await;
                (payload, result, started.elapsed())
            });
        }
        let mut tries = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (payload, result, took) = joined.unwrap_or_else(|error| {
                (
                    0,
                    TryResult::LocalError {
                        reason: format!("a size's task failed: {error}"),
                    },
                    Duration::ZERO,
                )
            });
            tries.push(Try {
                size: Size::of_payload(family, payload),
                round,
                result,
                took,
            });
        }
        tries.sort_by_key(|t| t.size);
        for t in &tries {
            if let TryResult::TooBig {
                kernel_path_mtu: Some(mtu),
                ..
            } = t.result
            {
                search.hint(Size::fitting_packet(family, mtu).udp_payload);
            }
            search.record(t.size.udp_payload, t.result.passed());
        }
        let failure = tries.iter().find_map(|t| match &t.result {
            TryResult::LocalError { reason } => Some(reason.clone()),
            _ => None,
        });
        observation.tries.extend(tries);
        if let Some(reason) = failure {
            return not_run(observation, reason);
        }
    };

    observation.kernel_path_mtu = observation
        .tries
        .iter()
        .filter_map(|t| match t.result {
            TryResult::TooBig {
                kernel_path_mtu, ..
            } => kernel_path_mtu,
            _ => None,
        })
        .min();
    observation.outcome = match result.largest_ok {
        None => Outcome::Unreachable { floor },
        Some(largest) => Outcome::Measured {
            largest_ok: Size::of_payload(family, largest),
            smallest_bad: result
                .smallest_bad
                .map(|payload| Size::of_payload(family, payload)),
            media_size_ok: largest >= media.udp_payload,
        },
    };
    observation.took = started.elapsed();
    observation
}

/// A UDP socket connected to `target`, with don't-fragment set.
async fn socket_for(target: SocketAddr) -> Result<UdpSocket, String> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|error| format!("could not bind a UDP socket on {local}: {error}"))?;
    socket
        .connect(target)
        .await
        .map_err(|error| format!("could not connect a UDP socket to {target}: {error}"))?;
    df::set_dont_fragment(&socket, target).map_err(|error| {
        format!("could not set don't-fragment on a UDP socket to {target}: {error}")
    })?;
    Ok(socket)
}

/// One size: a padded binding transaction on a socket of its own.
async fn try_size(
    target: SocketAddr,
    options: &BindingOptions,
    schedule: RetransmitConfig,
) -> TryResult {
    let socket = match socket_for(target).await {
        Ok(socket) => socket,
        Err(reason) => return TryResult::LocalError { reason },
    };
    let exchange = match Exchange::new(random_transaction_id(), options, schedule) {
        Ok(exchange) => exchange,
        Err(error) => {
            return TryResult::LocalError {
                reason: error.to_string(),
            }
        }
    };
    let too_big = |from_icmp| TryResult::TooBig {
        from_icmp,
        kernel_path_mtu: df::path_mtu(&socket, target),
    };
    match binding_udp_on(&socket, exchange).await {
        Ok(outcome) => match outcome.event {
            Event::Answered { rtt, attempts, .. } => TryResult::Answered { rtt, attempts },
            Event::ErrorResponse { code, attempts, .. } => {
                TryResult::ErrorResponse { code, attempts }
            }
            Event::Transport {
                end: TransportEnd::Rejected,
                after,
                ..
            } => TryResult::Rejected { after },
            Event::Transport {
                attempts, after, ..
            } => TryResult::Silent {
                attempts,
                waited: after,
                ignored: outcome.ignored.before_end(),
            },
            Event::TimedOut { attempts, waited } => TryResult::Silent {
                attempts,
                waited,
                ignored: outcome.ignored.before_end(),
            },
        },
        Err(DriverError::Send { source, .. }) if df::is_too_big(&source) => too_big(false),
        Err(DriverError::Receive { source, .. }) if df::is_too_big(&source) => too_big(true),
        Err(error) => TryResult::LocalError {
            reason: error.to_string(),
        },
    }
}

/// Don't-fragment and the kernel's path MTU, per OS.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod df {
    use super::*;
    use rustix::io::Errno;
    use rustix::net::sockopt::{self, Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery};

    /// Path MTU discovery "do": DF on every packet, `EMSGSIZE` for what the kernel knows will
    /// not fit, never local fragmentation.
    pub(super) fn set_dont_fragment(socket: &UdpSocket, target: SocketAddr) -> io::Result<()> {
        match target {
            SocketAddr::V4(_) => sockopt::set_ip_mtu_discover(socket, Ipv4PathMtuDiscovery::DO)?,
            SocketAddr::V6(_) => sockopt::set_ipv6_mtu_discover(socket, Ipv6PathMtuDiscovery::DO)?,
        }
        Ok(())
    }

    /// The kernel's path MTU of a connected socket.
    pub(super) fn path_mtu(socket: &UdpSocket, target: SocketAddr) -> Option<u32> {
        match target {
            SocketAddr::V4(_) => sockopt::ip_mtu(socket).ok(),
            SocketAddr::V6(_) => sockopt::ipv6_mtu(socket).ok(),
        }
    }

    /// Whether an error is `EMSGSIZE`.
    pub(super) fn is_too_big(error: &io::Error) -> bool {
        Errno::from_io_error(error) == Some(Errno::MSGSIZE)
    }
}

/// Don't-fragment is not available here yet: the probe reports that it did not run.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod df {
    use super::*;

    pub(super) fn set_dont_fragment(_: &UdpSocket, _: SocketAddr) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the mtu probe sets don't-fragment on Linux only so far",
        ))
    }

    pub(super) fn path_mtu(_: &UdpSocket, _: SocketAddr) -> Option<u32> {
        None
    }

    pub(super) fn is_too_big(_: &io::Error) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::{serve_udp, Responder, ResponderConfig};

    fn plan(ceiling: u32) -> SearchPlan {
        SearchPlan {
            floor: 548,
            media: 1200,
            ceiling,
            resolution: 4,
            parallel: 7,
            max_rounds: 8,
        }
    }

    /// Runs a search against a simulated path that passes payloads up to `limit`; `lose` sizes
    /// fail once whatever their size. Returns the result and every round's sizes.
    fn simulate(
        plan: SearchPlan,
        limit: Option<u32>,
        lose: &[u32],
        hint: Option<u32>,
    ) -> (SearchResult, Vec<Vec<u32>>) {
        let mut search = Search::new(plan);
        let mut rounds = Vec::new();
        loop {
            match search.next_step() {
                Step::Done(result) => return (result, rounds),
                Step::Try(sizes) => {
                    for &size in &sizes {
                        let passed = limit.is_some_and(|limit| size <= limit);
                        search.record(size, passed && !lose.contains(&size));
                        if !passed {
                            if let Some(hint) = hint {
                                search.hint(hint);
                            }
                        }
                    }
                    rounds.push(sizes);
                }
            }
        }
    }

    #[test]
    fn sizes_count_headers_per_family() {
        assert_eq!(
            Size::of_payload(Family::V4, 1200),
            Size {
                udp_payload: 1200,
                ip_packet: 1228
            }
        );
        assert_eq!(Size::of_payload(Family::V6, 1200).ip_packet, 1248);
        assert_eq!(Size::fitting_packet(Family::V4, 1500).udp_payload, 1472);
        assert_eq!(Size::fitting_packet(Family::V6, 1500).udp_payload, 1452);
        assert_eq!(Size::fitting_packet(Family::V4, 576).udp_payload, 548);
        // An MTU that is not a multiple of 4 rounds the payload down.
        assert_eq!(
            Size::fitting_packet(Family::V4, 1499),
            Size {
                udp_payload: 1468,
                ip_packet: 1496
            }
        );
    }

    #[test]
    fn a_healthy_path_takes_one_round() {
        let (result, rounds) = simulate(plan(1472), Some(9000), &[], None);
        assert_eq!(rounds, [vec![548, 1200, 1472]]);
        assert_eq!(
            result,
            SearchResult {
                largest_ok: Some(1472),
                smallest_bad: None,
                rounds: 1
            }
        );
    }

    #[test]
    fn every_limit_is_found_exactly_within_four_rounds() {
        for limit in (548..1472).step_by(4) {
            let (result, rounds) = simulate(plan(1472), Some(limit), &[], None);
            assert_eq!(result.largest_ok, Some(limit), "limit {limit}: {rounds:?}");
            assert_eq!(result.smallest_bad, Some(limit + 4), "limit {limit}");
            assert!(rounds.len() <= 4, "limit {limit}: {rounds:?}");
            assert!(rounds.iter().all(|sizes| sizes.len() <= 7));
        }
    }

    #[test]
    fn a_black_hole_at_1100_bytes() {
        let (result, rounds) = simulate(plan(1472), Some(1072), &[], None);
        assert_eq!(rounds[0], [548, 1200, 1472]);
        assert_eq!(
            (result.largest_ok, result.smallest_bad),
            (Some(1072), Some(1076))
        );
        // Each later round splits the interval in 8.
        assert_eq!(rounds[1], [628, 708, 792, 872, 952, 1036, 1116]);
        assert_eq!(rounds.len(), 4, "{rounds:?}");
    }

    #[test]
    fn nothing_answered_ends_after_the_first_round() {
        let (result, rounds) = simulate(plan(1472), None, &[], None);
        assert_eq!(rounds.len(), 1);
        assert_eq!((result.largest_ok, result.smallest_bad), (None, Some(548)));
    }

    #[test]
    fn a_small_interface_mtu_puts_the_ceiling_below_the_media_size() {
        // A 1,100-byte interface: the ceiling 1072 passes, 1200 is tried for itself and fails.
        let (result, rounds) = simulate(plan(1072), Some(1072), &[], None);
        assert_eq!(rounds, [vec![548, 1072, 1200]]);
        assert_eq!(
            (result.largest_ok, result.smallest_bad),
            (Some(1072), Some(1200))
        );
    }

    #[test]
    fn the_kernel_hint_finishes_the_search_in_the_next_round() {
        // The kernel learned a 1,400-byte path MTU (payload 1372) from an ICMP error.
        let (result, rounds) = simulate(plan(1472), Some(1372), &[], Some(1372));
        assert_eq!(rounds.len(), 2, "{rounds:?}");
        assert!(rounds[1].contains(&1372) && rounds[1].contains(&1376));
        assert_eq!(
            (result.largest_ok, result.smallest_bad),
            (Some(1372), Some(1376))
        );
    }

    #[test]
    fn a_lost_size_below_a_good_one_is_overruled() {
        // 1200 lost (three sends) on a path that carries 1472: the larger answer wins.
        let (result, _) = simulate(plan(1472), Some(1472), &[1200], None);
        assert_eq!(result.largest_ok, Some(1472));
        // The floor lost but the media size answered: reachable, and the search goes on.
        let (result, _) = simulate(plan(1472), Some(1300), &[548], None);
        assert_eq!(result.largest_ok, Some(1300));
        // A lost size inside the interval makes the result err low, never high.
        let (result, _) = simulate(plan(1472), Some(1300), &[1296], None);
        assert!(result.largest_ok.unwrap() <= 1300);
    }

    #[test]
    fn a_coarser_resolution_and_a_round_limit_stop_early() {
        let coarse = SearchPlan {
            resolution: 64,
            ..plan(1472)
        };
        let (result, rounds) = simulate(coarse, Some(1000), &[], None);
        let (good, bad) = (result.largest_ok.unwrap(), result.smallest_bad.unwrap());
        assert!(good <= 1000 && bad > 1000 && bad - good <= 64, "{result:?}");
        assert!(rounds.len() <= 3);
        let limited = SearchPlan {
            max_rounds: 2,
            parallel: 1,
            ..plan(1472)
        };
        let (result, rounds) = simulate(limited, Some(1000), &[], None);
        assert_eq!(rounds.len(), 2);
        assert_eq!(result.rounds, 2);
    }

    #[test]
    fn plans_are_aligned_to_stun_sizes() {
        let search = Search::new(SearchPlan {
            floor: 550,
            media: 1201,
            ceiling: 100,
            resolution: 0,
            parallel: 0,
            max_rounds: 0,
        });
        assert_eq!(
            *search.plan(),
            SearchPlan {
                floor: 548,
                media: 1200,
                ceiling: 548,
                resolution: 4,
                parallel: 1,
                max_rounds: 1
            }
        );
    }

    /// Our responder on loopback, with no rate limit.
    async fn responder() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let responder = Responder::new(ResponderConfig {
            rate_limit: None,
            ..ResponderConfig::default()
        })
        .unwrap();
        let responder = std::sync::Arc::new(std::sync::Mutex::new(responder));
        tokio::spawn(serve_udp(socket, responder, std::future::pending::<()>()));
        addr
    }

    #[tokio::test]
    async fn loopback_passes_the_capped_ceiling_in_one_round() {
        let target = responder().await;
        let observation = probe(target, &Settings::default()).await;
        let Outcome::Measured {
            largest_ok,
            smallest_bad,
            media_size_ok,
        } = observation.outcome
        else {
            panic!("{observation:?}");
        };
        assert_eq!(largest_ok.ip_packet, 1500, "{observation:?}");
        assert_eq!(smallest_bad, None);
        assert!(media_size_ok);
        assert_eq!(observation.rounds, 1);
        assert_eq!(observation.ceiling.udp_payload, 1472);
        let sizes: Vec<u32> = observation
            .tries
            .iter()
            .map(|t| t.size.udp_payload)
            .collect();
        assert_eq!(sizes, [548, 1200, 1472]);
        assert!(observation.tries.iter().all(|t| t.result.passed()));
        assert!(observation.took < Duration::from_secs(1));
        if cfg!(target_os = "linux") {
            assert_eq!(
                observation.egress.as_ref().unwrap().interface.as_deref(),
                Some("lo")
            );
        }
    }

    #[tokio::test]
    async fn a_larger_cap_is_searched_up_to_the_interface() {
        // Loopback's MTU is 65,536: a cap of 9,000 is searched, and passes.
        let target = responder().await;
        let settings = Settings {
            cap_packet: 9000,
            ..Settings::default()
        };
        let observation = probe(target, &settings).await;
        assert!(
            matches!(
                observation.outcome,
                Outcome::Measured { largest_ok, .. } if largest_ok.ip_packet == 9000
            ),
            "{observation:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_target_is_unreachable_not_an_mtu_problem() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = silent.local_addr().unwrap();
        let started = Instant::now();
        let observation = probe(target, &Settings::default()).await;
        assert_eq!(
            observation.outcome,
            Outcome::Unreachable {
                floor: Size::of_payload(Family::V4, 548)
            }
        );
        assert_eq!(observation.rounds, 1);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(observation
            .tries
            .iter()
            .all(|t| matches!(t.result, TryResult::Silent { attempts: 3, .. })));
        drop(silent);
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_too() {
        let target = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let observation = probe(target, &Settings::default()).await;
        assert!(
            matches!(observation.outcome, Outcome::Unreachable { .. }),
            "{observation:?}"
        );
        if cfg!(target_os = "linux") {
            assert!(observation
                .tries
                .iter()
                .any(|t| matches!(t.result, TryResult::Rejected { .. })));
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn emsgsize_means_too_big() {
        // Loopback's MTU (65,536) is beyond any UDP datagram, so a refusal at the send is
        // exercised by the namespace tests (tests/mtu.rs); here, the error it comes as.
        let emsgsize = rustix::io::Errno::MSGSIZE.raw_os_error();
        assert!(df::is_too_big(&io::Error::from_raw_os_error(emsgsize)));
        assert!(!df::is_too_big(&io::Error::from(
            io::ErrorKind::ConnectionRefused
        )));
    }
}
