//! The port matrix: every UDP and TCP port of a host, per address family, probed with real STUN
//! payload (a port counts as open only when a binding answer came back, never because a TCP
//! connection was accepted).
//!
//! Ports are probed concurrently with a bounded number of sockets. Silence on UDP is called
//! adaptively from the siblings' RTT (see [`crate::silence`]); each cell says how long it waited
//! and by which rule.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::resolve::{self, ResolveError, Resolved};
use crate::route::{self, Egress};
use crate::stun::engine::IgnoredCounts;
use crate::stun::probe::{self as stun_probe, Family, PathResult, Settings, Transport};

pub use crate::silence::{CEILING as SILENCE_CEILING, FLOOR as SILENCE_FLOOR};
/// The TCP port where the path counts as open when STUN answers over TLS, or a TLS server shows
/// its certificate (TRTC relays media over TLS on 443); plain STUN over TCP is tried as well.
pub const TLS_PORT: u16 = 443;

/// The most sockets open at once (lowered to half the open-files limit where that is smaller).
pub const MAX_CONCURRENT: usize = 512;

/// What to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Host name or address, as configured.
    pub host: String,
    /// UDP ports.
    pub udp: Vec<u16>,
    /// TCP ports.
    pub tcp: Vec<u16>,
}

/// One port of one family over one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The port.
    pub port: u16,
    /// UDP or TCP.
    pub transport: Transport,
    /// The family.
    pub family: Family,
    /// What happened.
    pub result: PathResult,
    /// Why the probe stopped waiting, for a silent UDP port.
    pub silence_rule: Option<String>,
    /// Received bytes that were not a valid answer.
    pub ignored: IgnoredCounts,
}

/// The matrix of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// What was asked.
    pub spec: Spec,
    /// The name lookup.
    pub resolution: Result<Resolved, ResolveError>,
    /// The egress per family tried.
    pub egress: Vec<(Family, Option<Egress>)>,
    /// Every cell, ordered by family, protocol (UDP first), then the order of the spec.
    pub cells: Vec<Cell>,
    /// How long the whole matrix took.
    pub took: Duration,
}

/// Probes the matrix of `spec.host`.
pub async fn probe(spec: &Spec, settings: &Settings) -> Observation {
    let started = Instant::now();
    let resolution = resolve::resolve(&spec.host, &settings.overrides).await;
    let mut egress = Vec::new();
    let mut cells = Vec::new();
    if let Ok(resolved) = &resolution {
        let limit = Arc::new(Semaphore::new(concurrency()));
        let settings = Arc::new(settings.clone());
        for address in [resolved.v4.first(), resolved.v6.first()]
            .into_iter()
            .flatten()
            .copied()
        {
            egress.push((
                Family::of(address),
                route::egress(SocketAddr::new(address, 0)).ok(),
            ));
            let (limit, settings) = (limit.clone(), settings.clone());
            cells.push(tokio::spawn(family(spec.clone(), address, settings, limit)));
        }
    }
    let mut all = Vec::new();
    for family in cells {
        all.extend(family.await.unwrap_or_default());
    }
    Observation {
        spec: spec.clone(),
        resolution,
        egress,
        cells: all,
        took: started.elapsed(),
    }
}

/// How many sockets may be open at once: raises the open-files limit where the OS allows.
fn concurrency() -> usize {
    let limit = raise_open_files_limit();
    match limit {
        Some(limit) => MAX_CONCURRENT.min((limit / 2).max(16) as usize),
        None => MAX_CONCURRENT / 4,
    }
}

/// Raises the soft open-files limit to the hard one; returns the limit in force.
fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

async fn family(
    spec: Spec,
    address: IpAddr,
    settings: Arc<Settings>,
    limit: Arc<Semaphore>,
) -> Vec<Cell> {
    let mut tasks = tokio::task::JoinSet::new();
    let cells = spec
        .udp
        .iter()
        .map(|&port| (Transport::Udp, port))
        .chain(spec.tcp.iter().map(|&port| (Transport::Tcp, port)));
    for (index, (transport, port)) in cells.enumerate() {
        let (limit, settings, host) = (limit.clone(), settings.clone(), spec.host.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            let target = SocketAddr::new(address, port);
            let cell = match transport {
                Transport::Udp => udp_cell(target, &host, &settings).await,
                _ if port == TLS_PORT => tls_or_tcp_cell(target, &host, &settings).await,
                _ => stream_cell(
                    stun_probe::attempt(transport, target, &settings).await,
                    transport,
                ),
            };
            (index, cell)
        });
    }
    let mut cells: Vec<(usize, Cell)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(cell) = joined {
            cells.push(cell);
        }
    }
    cells.sort_by_key(|(index, _)| *index);
    cells.into_iter().map(|(_, cell)| cell).collect()
}

fn stream_cell(observation: stun_probe::FamilyObservation, transport: Transport) -> Cell {
    Cell {
        port: observation.address.port(),
        transport,
        family: observation.family,
        result: observation.result,
        silence_rule: None,
        ignored: observation.ignored,
    }
}

/// TCP 443: STUN over TLS first (a TLS server's certificate already proves the path carries
/// TLS), then plain STUN over TCP; when neither carries payload, the more telling failure.
async fn tls_or_tcp_cell(target: SocketAddr, host: &str, settings: &Settings) -> Cell {
    let tls = stun_probe::attempt_named(Transport::Tls, target, host, settings).await;
    if tls.result.carries_payload() {
        return stream_cell(tls, Transport::Tls);
    }
    let tcp = stun_probe::attempt(Transport::Tcp, target, settings).await;
    let connection_failed = matches!(
        tcp.result,
        PathResult::Rejected { .. } | PathResult::Silent { .. } | PathResult::NoRoute { .. }
    );
    if tcp.result.carries_payload() || connection_failed {
        stream_cell(tcp, Transport::Tcp)
    } else {
        stream_cell(tls, Transport::Tls)
    }
}

async fn udp_cell(address: SocketAddr, host: &str, settings: &Settings) -> Cell {
    let observation = stun_probe::attempt_named(Transport::Udp, address, host, settings).await;
    Cell {
        port: address.port(),
        transport: Transport::Udp,
        family: observation.family,
        result: observation.result,
        silence_rule: observation.silence_rule,
        ignored: observation.ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::{Responder, ResponderConfig};

    async fn serve_udp() -> (u16, tokio::sync::watch::Sender<bool>) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let config = ResponderConfig {
            rate_limit: None,
            ..ResponderConfig::default()
        };
        let responder = Arc::new(std::sync::Mutex::new(Responder::new(config).unwrap()));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = crate::responder::serve_udp(socket, responder, async move {
                let _ = stopped.changed().await;
            })
            .await;
        });
        (port, stop)
    }

    #[tokio::test]
    async fn open_rejected_and_silent_ports_with_the_adaptive_rule() {
        let (open, _stop) = serve_udp().await;
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let silent_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent = silent_socket.local_addr().unwrap().port();
        let spec = Spec {
            host: "127.0.0.1".into(),
            udp: vec![open, closed, silent],
            tcp: vec![],
        };
        let observation = probe(&spec, &Settings::default()).await;
        let results: Vec<&PathResult> = observation.cells.iter().map(|cell| &cell.result).collect();
        assert!(results[0].answered(), "{results:?}");
        assert!(
            matches!(results[1], PathResult::Rejected { .. }),
            "{results:?}"
        );
        match results[2] {
            // Loopback answers in well under a millisecond: the floor applies.
            PathResult::Silent { waited, .. } => {
                assert!(
                    *waited >= SILENCE_FLOOR && *waited < Duration::from_millis(1400),
                    "{waited:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        let rule = observation.cells[2].silence_rule.as_deref().unwrap();
        assert!(
            rule.contains(&format!("UDP {open} on the same host answered")),
            "{rule}"
        );
    }

    #[tokio::test]
    async fn without_an_answer_the_default_schedule_decides() {
        let silent_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let silent = silent_socket.local_addr().unwrap().port();
        let spec = Spec {
            host: "127.0.0.1".into(),
            udp: vec![silent],
            tcp: vec![],
        };
        let observation = probe(&spec, &Settings::default()).await;
        assert!(observation.cells[0]
            .silence_rule
            .as_deref()
            .unwrap()
            .contains("default schedule"));
    }

    #[tokio::test]
    async fn a_hundred_ports_at_once() {
        let (open, _stop) = serve_udp().await;
        let sockets: Vec<std::net::UdpSocket> = (0..99)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut udp: Vec<u16> = sockets
            .iter()
            .map(|socket| socket.local_addr().unwrap().port())
            .collect();
        drop(sockets);
        udp.push(open);
        let spec = Spec {
            host: "127.0.0.1".into(),
            udp,
            tcp: vec![],
        };
        let observation = probe(&spec, &Settings::default()).await;
        assert_eq!(observation.cells.len(), 100);
        assert_eq!(
            observation
                .cells
                .iter()
                .filter(|cell| cell.result.answered())
                .count(),
            1
        );
        assert_eq!(
            observation
                .cells
                .iter()
                .filter(|cell| matches!(cell.result, PathResult::Rejected { .. }))
                .count(),
            99
        );
    }
}
