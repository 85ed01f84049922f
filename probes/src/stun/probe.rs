//! The STUN probe of one server: resolve its name, and per address family send a binding request
//! over UDP, TCP or TLS and say what happened: answered (RTT, mapped address, NAT or not),
//! rejected, silent, accepted-but-silent, answered with garbage, TLS failed (classified), or no
//! route. Facts only.
//!
//! Over TLS (RFC 7443): TCP connect, a TLS handshake with the target's host as the server name
//! and ALPN `stun.turn` offered (a server that chooses none is fine), with the trust of
//! [`Settings::trust`]; then the binding over the TLS stream. The handshake's facts are kept in
//! [`FamilyObservation::tls`] whether or not STUN then answers.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::driver::{binding_stream, binding_udp, DriverError, Exchange};
use super::engine::{Event, IgnoredCounts, RetransmitConfig, TransportEnd};
use super::message::{random_transaction_id, BindingOptions, ShortTermCredential};
use crate::resolve::{self, Overrides, ResolveError, Resolved};
use crate::route::{self, Egress};
use crate::tls::{self, HandshakeFacts, TlsFailure, Trust};

/// How a STUN server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams.
    Udp,
    /// A TCP stream (RFC 5389 framing).
    Tcp,
    /// TLS over a TCP stream (RFC 7443), same framing inside.
    Tls,
}

impl Transport {
    /// `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// `ipv4` or `ipv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The family of an address (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(address: IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// A STUN server to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address, as configured.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport.
    pub transport: Transport,
}

/// Settings of a probe.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--resolve` overrides.
    pub overrides: Overrides,
    /// Short-term credentials (a `serve` token), if any.
    pub credential: Option<ShortTermCredential>,
    /// The UDP retransmission schedule.
    pub udp: RetransmitConfig,
    /// How long a TCP connection may take to open.
    pub connect_timeout: Duration,
    /// How long an answer may take over an open TCP connection (or TLS session).
    pub stream_timeout: Duration,
    /// How long a TLS handshake may take once the TCP connection is open.
    pub handshake_timeout: Duration,
    /// What TLS trusts (`--ca`, `--pin`, `--insecure`); the OS's roots by default.
    pub trust: Trust,
    /// Shared by every UDP exchange of a run: silence is called from the siblings' RTT.
    pub siblings: std::sync::Arc<crate::silence::Siblings>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            siblings: std::sync::Arc::default(),
            overrides: Overrides::default(),
            credential: None,
            udp: RetransmitConfig::udp(),
            connect_timeout: Duration::from_millis(1500),
            stream_timeout: Duration::from_millis(1500),
            handshake_timeout: Duration::from_millis(2000),
            trust: Trust::default(),
        }
    }
}

/// What one address family's path did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathResult {
    /// A binding success response.
    Answered {
        /// Round-trip time (from the last send before the answer).
        rtt: Duration,
        /// Requests sent until the answer.
        attempts: u32,
        /// The address the server saw (server-reflexive).
        mapped: SocketAddr,
        /// The local address the request left from.
        local: Option<SocketAddr>,
    },
    /// A STUN error response: the path carries STUN, the server refused the request.
    ErrorResponse {
        /// ERROR-CODE.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// UDP: ICMP port unreachable; TCP: the connection was refused (reset).
    Rejected {
        /// Time until the rejection.
        after: Duration,
    },
    /// UDP: no answer at all; TCP: the connection never opened.
    Silent {
        /// Requests (or connection attempts) made.
        attempts: u32,
        /// How long the probe waited.
        waited: Duration,
    },
    /// TCP: the connection opened, then nothing answered (a proxy or firewall that accepts and
    /// then blocks).
    AcceptedButSilent {
        /// How long the probe waited after connecting.
        waited: Duration,
    },
    /// TCP: the connection opened, then closed (or was reset) before any answer.
    ClosedBeforeAnswer {
        /// Reset rather than closed.
        reset: bool,
    },
    /// Bytes came back, none of them a valid answer (see `ignored`).
    Garbage {
        /// How long the probe waited.
        waited: Duration,
    },
    /// This machine could not send on this family (no route, no address).
    NoRoute {
        /// What the OS said.
        reason: String,
    },
    /// TLS: the connection opened and the TLS handshake did not complete (or, for
    /// [`TlsFailure::Setup`] and [`TlsFailure::InvalidName`], could not start).
    TlsFailed {
        /// Why, classified (certificate, alert, not TLS, timeout, closed, ...).
        failure: TlsFailure,
    },
}

impl PathResult {
    /// Whether a binding answer came back (the path carries STUN).
    pub fn answered(&self) -> bool {
        matches!(self, PathResult::Answered { .. })
    }

    /// Whether real payload came back over the path: a STUN answer, or a TLS server's
    /// certificate (the handshake failed only on trust). A firewall that let either through
    /// carries the path, whatever the trust settings.
    pub fn carries_payload(&self) -> bool {
        match self {
            PathResult::Answered { .. } => true,
            PathResult::TlsFailed { failure } => failure.reached_certificate(),
            _ => false,
        }
    }
}

/// One family's attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyObservation {
    /// The family.
    pub family: Family,
    /// The address tried (the first of the family).
    pub address: SocketAddr,
    /// The interface and source the OS chose, when known.
    pub egress: Option<Egress>,
    /// What happened.
    pub result: PathResult,
    /// Received bytes that were not a valid answer, by reason.
    pub ignored: IgnoredCounts,
    /// TLS: the facts of the completed handshake (whatever STUN did after); `None` over UDP
    /// and TCP, and when the handshake failed (see [`PathResult::TlsFailed`]).
    pub tls: Option<HandshakeFacts>,
    /// UDP, when silent: how long the probe waited and why (see [`crate::silence`]).
    pub silence_rule: Option<String>,
}

/// Everything one STUN probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The target.
    pub target: Target,
    /// The name lookup.
    pub resolution: Result<Resolved, ResolveError>,
    /// One entry per family the name has, IPv4 first.
    pub families: Vec<FamilyObservation>,
}

/// Probes one STUN server over every address family its name has, concurrently.
pub async fn probe(target: &Target, settings: &Settings) -> Observation {
    let resolution = resolve::resolve(&target.host, &settings.overrides).await;
    let mut families = Vec::new();
    if let Ok(resolved) = &resolution {
        let at = |ip: &IpAddr| {
            attempt_named(
                target.transport,
                SocketAddr::new(*ip, target.port),
                &target.host,
                settings,
            )
        };
        let (v4, v6) = tokio::join!(
            optional(resolved.v4.first().map(at)),
            optional(resolved.v6.first().map(at))
        );
        families.extend(v4);
        families.extend(v6);
    }
    Observation {
        target: target.clone(),
        resolution,
        families,
    }
}

async fn optional<F: std::future::Future>(future: Option<F>) -> Option<F::Output> {
    match future {
        Some(future) => Some(future.await),
        None => None,
    }
}

/// One family's attempt at `address` (over TLS, the address is the server name too; see
/// [`attempt_named`]).
pub async fn attempt(
    transport: Transport,
    address: SocketAddr,
    settings: &Settings,
) -> FamilyObservation {
    attempt_named(transport, address, &address.ip().to_string(), settings).await
}

/// One family's attempt at `address`; over TLS, `server_name` is sent as SNI and checked
/// against the certificate (unless pinned or insecure).
pub async fn attempt_named(
    transport: Transport,
    address: SocketAddr,
    server_name: &str,
    settings: &Settings,
) -> FamilyObservation {
    let family = Family::of(address.ip());
    let egress = route::egress(address).ok();
    let options = BindingOptions {
        pad_to: None,
        credential: settings.credential.clone(),
    };
    let mut silence_rule = None;
    let (result, ignored, tls) = match transport {
        Transport::Udp => match Exchange::new(random_transaction_id(), &options, settings.udp) {
            Ok(exchange) => {
                let ticket = settings.siblings.join(server_name, family, Instant::now());
                let exchange = exchange.with_give_up(ticket.control.clone());
                let (result, ignored) = from_udp_outcome(binding_udp(address, exchange).await);
                let answered = match &result {
                    PathResult::Answered { rtt, .. } => Some((address.port(), *rtt)),
                    _ => None,
                };
                let rule = settings.siblings.leave(ticket, answered);
                if matches!(result, PathResult::Silent { .. }) {
                    silence_rule = Some(rule.unwrap_or_else(|| {
                        crate::silence::default_rule(settings.udp.give_up_after())
                    }));
                }
                (result, ignored, None)
            }
            Err(error) => (
                PathResult::NoRoute {
                    reason: error.to_string(),
                },
                IgnoredCounts::default(),
                None,
            ),
        },
        Transport::Tcp => {
            let (result, ignored) = tcp(address, &options, settings).await;
            (result, ignored, None)
        }
        Transport::Tls => tls_path(address, server_name, &options, settings).await,
    };
    FamilyObservation {
        family,
        address,
        egress,
        result,
        ignored,
        tls,
        silence_rule,
    }
}

/// The path result of a finished UDP exchange (a local failure is `NoRoute`).
pub fn from_udp_outcome(
    outcome: Result<super::driver::Outcome, DriverError>,
) -> (PathResult, IgnoredCounts) {
    match outcome {
        Ok(outcome) => {
            let result = from_event(&outcome.event, &outcome.ignored, outcome.local);
            (result, outcome.ignored)
        }
        Err(DriverError::Connect { source, .. } | DriverError::Bind { source, .. }) => (
            PathResult::NoRoute {
                reason: source.to_string(),
            },
            IgnoredCounts::default(),
        ),
        Err(error) => (
            PathResult::NoRoute {
                reason: error.to_string(),
            },
            IgnoredCounts::default(),
        ),
    }
}

fn from_event(event: &Event, ignored: &IgnoredCounts, local: Option<SocketAddr>) -> PathResult {
    match event {
        Event::Answered {
            rtt,
            attempts,
            response,
            ..
        } => PathResult::Answered {
            rtt: *rtt,
            attempts: *attempts,
            mapped: response.mapped,
            local,
        },
        Event::ErrorResponse { code, reason, .. } => PathResult::ErrorResponse {
            code: *code,
            reason: reason.clone(),
        },
        Event::Transport {
            end: TransportEnd::Rejected,
            after,
            ..
        } => PathResult::Rejected { after: *after },
        Event::Transport {
            end: TransportEnd::Closed { reset },
            ..
        } => PathResult::ClosedBeforeAnswer { reset: *reset },
        Event::Transport {
            end: TransportEnd::NotStun(_),
            after,
            ..
        } => PathResult::Garbage { waited: *after },
        Event::TimedOut { waited, .. } if ignored.before_end() > 0 => {
            PathResult::Garbage { waited: *waited }
        }
        Event::TimedOut { attempts, waited } => PathResult::Silent {
            attempts: *attempts,
            waited: *waited,
        },
    }
}

/// Opens a TCP connection within the connect timeout; a failure is already the path's result.
async fn open_tcp(address: SocketAddr, settings: &Settings) -> Result<TcpStream, PathResult> {
    let started = Instant::now();
    match tokio::time::timeout(settings.connect_timeout, TcpStream::connect(address)).await {
        Err(_) => Err(PathResult::Silent {
            attempts: 1,
            waited: started.elapsed(),
        }),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(PathResult::Rejected {
                after: started.elapsed(),
            })
        }
        Ok(Err(error)) => Err(PathResult::NoRoute {
            reason: error.to_string(),
        }),
        Ok(Ok(stream)) => Ok(stream),
    }
}

async fn tcp(
    address: SocketAddr,
    options: &BindingOptions,
    settings: &Settings,
) -> (PathResult, IgnoredCounts) {
    let stream = match open_tcp(address, settings).await {
        Ok(stream) => stream,
        Err(result) => return (result, IgnoredCounts::default()),
    };
    let local = stream.local_addr().ok();
    stream_binding(stream, local, Instant::now(), options, settings).await
}

async fn tls_path(
    address: SocketAddr,
    server_name: &str,
    options: &BindingOptions,
    settings: &Settings,
) -> (PathResult, IgnoredCounts, Option<HandshakeFacts>) {
    let failed = |failure| {
        (
            PathResult::TlsFailed { failure },
            IgnoredCounts::default(),
            None,
        )
    };
    let client = match tls::Client::new(&settings.trust) {
        Ok(client) => client,
        Err(failure) => return failed(failure),
    };
    let stream = match open_tcp(address, settings).await {
        Ok(stream) => stream,
        Err(result) => return (result, IgnoredCounts::default(), None),
    };
    let local = stream.local_addr().ok();
    let (stream, facts) = match client
        .connect(
            stream,
            server_name,
            &[tls::ALPN_STUN_TURN],
            settings.handshake_timeout,
        )
        .await
    {
        Ok(done) => done,
        Err(failure) => return failed(failure),
    };
    let (result, ignored) = stream_binding(stream, local, Instant::now(), options, settings).await;
    (result, ignored, Some(facts))
}

/// One binding over an open stream (TCP, or TLS over TCP) that connected at `connected`.
async fn stream_binding<S>(
    stream: S,
    local: Option<SocketAddr>,
    connected: Instant,
    options: &BindingOptions,
    settings: &Settings,
) -> (PathResult, IgnoredCounts)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let exchange = match Exchange::new(
        random_transaction_id(),
        options,
        RetransmitConfig::reliable(settings.stream_timeout),
    ) {
        Ok(exchange) => exchange,
        Err(error) => {
            return (
                PathResult::NoRoute {
                    reason: error.to_string(),
                },
                IgnoredCounts::default(),
            )
        }
    };
    match binding_stream(stream, exchange).await {
        Ok(outcome) => {
            let result = match from_event(&outcome.event, &outcome.ignored, local) {
                PathResult::Silent { .. } => PathResult::AcceptedButSilent {
                    waited: connected.elapsed(),
                },
                other => other,
            };
            (result, outcome.ignored)
        }
        Err(error) => (
            PathResult::ClosedBeforeAnswer {
                reset: error.to_string().contains("reset"),
            },
            IgnoredCounts::default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::{Responder, ResponderConfig};
    use std::sync::{Arc, Mutex};

    fn fast() -> Settings {
        Settings {
            udp: RetransmitConfig {
                final_wait: Duration::from_millis(200),
                ..RetransmitConfig::udp()
            },
            connect_timeout: Duration::from_millis(500),
            stream_timeout: Duration::from_millis(300),
            ..Settings::default()
        }
    }

    async fn responder_udp() -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let responder = Arc::new(Mutex::new(
            Responder::new(ResponderConfig::default()).unwrap(),
        ));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut shutdown = shutdown;
            let _ = crate::responder::serve_udp(socket, responder, async move {
                let _ = shutdown.changed().await;
            })
            .await;
        });
        (address, stop)
    }

    #[tokio::test]
    async fn answered_over_udp_with_the_mapped_address_and_no_nat() {
        let (address, _stop) = responder_udp().await;
        let target = Target {
            host: "127.0.0.1".into(),
            port: address.port(),
            transport: Transport::Udp,
        };
        let observation = probe(&target, &fast()).await;
        assert_eq!(observation.families.len(), 1);
        let family = &observation.families[0];
        match &family.result {
            PathResult::Answered { mapped, local, .. } => assert_eq!(Some(*mapped), *local),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            family.egress.as_ref().map(|egress| egress.source),
            Some(address.ip())
        );
    }

    #[tokio::test]
    async fn a_closed_udp_port_is_rejected_and_a_silent_one_silent() {
        let closed = {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap()
        };
        let observation = attempt(Transport::Udp, closed, &fast()).await;
        assert!(
            matches!(observation.result, PathResult::Rejected { .. }),
            "{observation:?}"
        );
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let observation = attempt(Transport::Udp, silent.local_addr().unwrap(), &fast()).await;
        assert!(
            matches!(observation.result, PathResult::Silent { attempts: 4, .. }),
            "{observation:?}"
        );
    }

    #[tokio::test]
    async fn tcp_refused_and_accepted_but_silent() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let observation = attempt(Transport::Tcp, closed, &fast()).await;
        assert!(
            matches!(observation.result, PathResult::Rejected { .. }),
            "{observation:?}"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(stream);
        });
        let observation = attempt(Transport::Tcp, address, &fast()).await;
        assert!(
            matches!(observation.result, PathResult::AcceptedButSilent { .. }),
            "{observation:?}"
        );
        hold.abort();
    }

    /// A STUN-over-TLS responder on loopback with a fresh self-signed certificate.
    async fn responder_tls() -> (SocketAddr, crate::tls::SelfSigned) {
        let own = crate::tls::self_signed(&["stun.lab".to_string()]).unwrap();
        let acceptor = crate::tls::acceptor(
            vec![own.cert.clone()],
            own.key.clone_key(),
            &[crate::tls::ALPN_STUN_TURN],
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let responder = Arc::new(Mutex::new(
            Responder::new(ResponderConfig::default()).unwrap(),
        ));
        tokio::spawn(crate::responder::serve_tcp_with(
            listener,
            responder,
            crate::responder::TcpConfig::default(),
            move |stream| acceptor.accept(stream),
            std::future::pending(),
        ));
        (address, own)
    }

    #[tokio::test]
    async fn tls_answered_with_the_handshake_facts() {
        let (address, own) = responder_tls().await;
        let overrides = Overrides::new([("stun.lab".to_string(), "127.0.0.1".parse().unwrap())]);
        let target = Target {
            host: "stun.lab".into(),
            port: address.port(),
            transport: Transport::Tls,
        };
        let settings = Settings {
            overrides,
            trust: Trust {
                pin: Some(own.sha256),
                ..Trust::default()
            },
            ..fast()
        };
        let observation = probe(&target, &settings).await;
        let family = &observation.families[0];
        match &family.result {
            PathResult::Answered { mapped, local, .. } => assert_eq!(Some(*mapped), *local),
            other => panic!("{other:?}"),
        }
        let facts = family.tls.as_ref().unwrap();
        assert_eq!(facts.server_name, "stun.lab");
        assert_eq!(facts.alpn.as_deref(), Some("stun.turn"));
        assert_eq!(facts.leaf.as_ref().unwrap().names, ["stun.lab"]);
        assert_eq!(Transport::Tls.as_str(), "tls");
    }

    #[tokio::test]
    async fn tls_failures_are_classified_and_tcp_failures_stay_tcp() {
        let (address, own) = responder_tls().await;
        // By address, with a CA file that does not hold the certificate: unknown issuer.
        let other = crate::tls::self_signed(&["other.lab".to_string()]).unwrap();
        let settings = Settings {
            trust: Trust {
                ca: Some(vec![other.cert]),
                ..Trust::default()
            },
            ..fast()
        };
        let observation = attempt(Transport::Tls, address, &settings).await;
        match &observation.result {
            PathResult::TlsFailed {
                failure: TlsFailure::UnknownIssuer { leaf, .. },
            } => assert_eq!(leaf.sha256, own.sha256),
            other => panic!("{other:?}"),
        }
        assert_eq!(observation.tls, None);
        // Nothing listening: refused before any TLS.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let observation = attempt(Transport::Tls, closed, &fast()).await;
        assert!(
            matches!(observation.result, PathResult::Rejected { .. }),
            "{observation:?}"
        );
        // Accepted, then silent: the handshake times out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(stream);
        });
        let settings = Settings {
            handshake_timeout: Duration::from_millis(300),
            ..fast()
        };
        let observation = attempt(Transport::Tls, silent, &settings).await;
        assert!(
            matches!(
                observation.result,
                PathResult::TlsFailed {
                    failure: TlsFailure::Timeout { .. }
                }
            ),
            "{observation:?}"
        );
        hold.abort();
    }

    #[tokio::test]
    async fn a_name_given_by_resolve_overrides_is_probed() {
        let overrides = Overrides::new([("stun.lab".to_string(), "127.0.0.1".parse().unwrap())]);
        let (address, _stop) = responder_udp().await;
        let target = Target {
            host: "stun.lab".into(),
            port: address.port(),
            transport: Transport::Udp,
        };
        let settings = Settings {
            overrides,
            ..fast()
        };
        let observation = probe(&target, &settings).await;
        assert!(observation.families[0].result.answered(), "{observation:?}");
    }

    #[tokio::test]
    async fn an_answer_from_another_address_is_never_taken() {
        // The server hears the request on one socket and answers from another: a connected
        // socket never delivers that answer, so the path is silent, not answered.
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let other = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = server.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut responder = Responder::new(ResponderConfig::default()).unwrap();
            let mut buffer = [0u8; 1500];
            loop {
                let (n, from) = server.recv_from(&mut buffer).await.unwrap();
                if let crate::responder::Decision::Answer(answer) =
                    responder.respond(std::time::Instant::now(), &buffer[..n], from)
                {
                    other.send_to(&answer, from).await.unwrap();
                }
            }
        });
        let observation = attempt(Transport::Udp, address, &fast()).await;
        assert!(
            matches!(observation.result, PathResult::Silent { .. }),
            "{observation:?}"
        );
        task.abort();
    }
}
