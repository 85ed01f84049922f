//! The signaling probe: open a WebSocket (`ws://` or `wss://`) the way a browser would, one
//! step at a time, each timed and each with its own failure class, then ping it and watch it.
//! Facts only: which step failed and why; what that means for a call is decided elsewhere.
//!
//! # Steps
//!
//! [`probe`] first decides the route ([`ProxyConfig::route`]: direct, or through an HTTP proxy
//! from the environment, or bypassed by `NO_PROXY`), then resolves the host it connects to
//! (the target's; through a proxy, the proxy's, which resolves the target itself), with the
//! `--resolve` overrides. Then, for the first address of each family (IPv4 and IPv6,
//! concurrently), the whole chain:
//!
//! 1. TCP connect to the address ([`TcpStep`]: connected, refused, timed out, unreachable);
//! 2. through a proxy, `CONNECT host:port` ([`ProxyStep`]: tunnel, 407 with the schemes asked
//!    for, refused with the status, not HTTP, closed, timeout); a TCP failure there means the
//!    proxy itself is unreachable;
//! 3. for `wss://`, TLS with the target's host as SNI and ALPN `http/1.1`, with the trust of
//!    [`Settings::trust`] ([`crate::tls::connect`]: the [`HandshakeFacts`], or a classified
//!    [`TlsFailure`] that names the certificate: expired, wrong name, unknown issuer, pin
//!    mismatch, not TLS, ...). The names of the certificate are kept either way, so a
//!    certificate for another name on every host (a captive portal) can be told upstream;
//! 4. the WebSocket upgrade ([`UpgradeOutcome`]: opened, redirected with its `Location`,
//!    refused with status, reason and the start of the body, a `101` with bad headers, not
//!    HTTP, closed, timeout), with `X-TRTC-Preflight-Token` when [`Settings::token`] is set;
//! 5. the server's `Date` header of any HTTP answer, as UNIX seconds
//!    ([`FamilyAttempt::server_date`]), beside this machine's clock when the answer arrived
//!    ([`FamilyAttempt::received_at`], from the system clock): the skew is their difference,
//!    judged upstream;
//! 6. once open: [`Settings::pings`] pings, the round trip of each pong (or `None` when none
//!    came in [`Settings::pong_timeout`]), a drop noticed during the pings or the
//!    [`Settings::hold`] after them ([`Dropped`]: a close frame, an end without one, a reset),
//!    then a clean close.
//!
//! [`FamilyAttempt::first_failure`] names the step that failed first. [`reconnect`] (the
//! reconnection check) opens, drops the connection without a close frame, and reopens with
//! exponential backoff.
//!
//! # Drive loop
//!
//! Each step is an `async` function over the stream the previous step produced (a boxed
//! `AsyncRead + AsyncWrite`: TCP, a proxy tunnel, TLS over either), under its own timeout;
//! tungstenite does the WebSocket handshake and framing over that stream. The probe holds no
//! state between steps other than what it records.

mod date;
pub(crate) mod io;
pub mod proxy;
mod session;
mod upgrade;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

pub use self::date::parse_http_date;
pub use self::proxy::{NoProxy, Proxy, ProxyConfig, ProxyError, ProxyStep, Route};
pub use self::session::{DropKind, Dropped};
pub use self::upgrade::{HandshakeProblem, UpgradeOutcome};
pub use crate::stun::probe::Family;

use self::io::BoxedIo;
pub(crate) use self::upgrade::Socket;
use crate::resolve::{self, Overrides, ResolveError, Resolved};
use crate::route::{self, Egress};
use crate::tls::{self, HandshakeFacts, TlsFailure, Trust};

/// The header that carries [`Settings::token`] (what `serve` checks).
pub const TOKEN_HEADER: &str = "X-TRTC-Preflight-Token";

/// The ALPN protocol offered in the TLS handshake (a WebSocket starts as HTTP/1.1).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The most characters kept of a body or a header that a peer sent.
pub(crate) const BODY_EXCERPT: usize = 200;

/// A WebSocket endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    /// The host, lowercase, without brackets around an IPv6 address.
    pub host: String,
    /// The port (80 for `ws://`, 443 for `wss://` unless given).
    pub port: u16,
    /// The path and query (`/` when the URL has none).
    pub path_and_query: String,
    /// `wss://` (TLS) rather than `ws://`.
    pub secure: bool,
}

impl Target {
    /// Reads a `ws://` or `wss://` URL. No user information, no fragment.
    pub fn parse(url: &str) -> Result<Target, String> {
        let trimmed = url.trim();
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
            format!("{trimmed:?} is not a URL: expected ws://HOST[:PORT]/PATH or wss://…")
        })?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "ws" => false,
            "wss" => true,
            other => {
                return Err(format!(
                    "{trimmed:?}: the scheme is {other}://; a signaling URL is ws:// or wss://"
                ))
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if tail.contains('#') {
            return Err(format!("{trimmed:?}: a WebSocket URL has no #fragment"));
        }
        if authority.contains('@') {
            return Err(format!(
                "{trimmed:?}: user and password in the URL are not supported"
            ));
        }
        let (host, port) = proxy::split_host_port(authority)
            .ok_or_else(|| format!("{trimmed:?}: no valid host[:port] in it"))?;
        let host = host.to_ascii_lowercase();
        if host.is_empty() || !proxy::valid_host(&host) {
            return Err(format!("{trimmed:?}: no valid host in it"));
        }
        let port = match port {
            None if secure => 443,
            None => 80,
            Some(Some(port)) => port,
            Some(None) => {
                return Err(format!(
                    "{trimmed:?}: the port is not a number from 1 to 65535"
                ))
            }
        };
        let path_and_query = match tail {
            "" => "/".to_string(),
            tail if tail.starts_with('?') => format!("/{tail}"),
            tail => tail.to_string(),
        };
        if !path_and_query.bytes().all(|b| b.is_ascii_graphic())
            || path_and_query
                .parse::<tokio_tungstenite::tungstenite::http::uri::PathAndQuery>()
                .is_err()
        {
            return Err(format!(
                "{trimmed:?}: the path holds characters a URL cannot (spaces, non-ASCII: percent-encode them)"
            ));
        }
        Ok(Target {
            url: trimmed.to_string(),
            host,
            port,
            path_and_query,
            secure,
        })
    }

    /// `host:port`, with brackets around an IPv6 address (what `CONNECT` asks for).
    pub fn authority(&self) -> String {
        proxy::authority(&self.host, self.port)
    }

    /// The `Host` header: the authority without the scheme's default port.
    pub fn host_header(&self) -> String {
        let default = if self.secure { 443 } else { 80 };
        if self.port != default {
            self.authority()
        } else if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            if self.secure { "wss" } else { "ws" },
            self.host_header(),
            self.path_and_query
        )
    }
}

/// Settings of a probe.
#[derive(Clone)]
pub struct Settings {
    /// `--resolve` overrides (for the target, and for a proxy's host).
    pub overrides: Overrides,
    /// What TLS trusts (`--ca`, `--pin`, `--insecure`); the OS's roots by default.
    pub trust: Trust,
    /// The proxy settings; none by default: [`ProxyConfig::from_process_env`] reads the
    /// environment.
    pub proxy: ProxyConfig,
    /// How long a TCP connection (to the target, or to the proxy) may take to open.
    pub connect_timeout: Duration,
    /// How long the proxy may take to answer `CONNECT`.
    pub proxy_timeout: Duration,
    /// How long the TLS handshake may take.
    pub tls_timeout: Duration,
    /// How long the server may take to answer the upgrade request.
    pub upgrade_timeout: Duration,
    /// Pings sent once open (0: none).
    pub pings: u32,
    /// From one ping's send to the next.
    pub ping_interval: Duration,
    /// How long a pong (and, at the end, the server's close frame) may take.
    pub pong_timeout: Duration,
    /// How long to keep reading after the pings, to notice a drop.
    pub hold: Duration,
    /// Sent as [`TOKEN_HEADER`] (our `serve`'s shared secret); never printed.
    pub token: Option<String>,
    /// Sent as `Origin`, when set (some servers refuse browsers' upgrades from other origins).
    pub origin: Option<String>,
    /// Sent as `User-Agent` (to the proxy and to the server).
    pub user_agent: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("overrides", &self.overrides)
            .field("trust", &self.trust)
            .field("proxy", &self.proxy)
            .field("connect_timeout", &self.connect_timeout)
            .field("proxy_timeout", &self.proxy_timeout)
            .field("tls_timeout", &self.tls_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("pings", &self.pings)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("hold", &self.hold)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("origin", &self.origin)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            overrides: Overrides::default(),
            trust: Trust::default(),
            proxy: ProxyConfig::default(),
            connect_timeout: Duration::from_secs(3),
            proxy_timeout: Duration::from_secs(5),
            tls_timeout: Duration::from_secs(5),
            upgrade_timeout: Duration::from_secs(5),
            pings: 3,
            ping_interval: Duration::from_millis(250),
            pong_timeout: Duration::from_secs(2),
            hold: Duration::ZERO,
            token: None,
            origin: None,
            user_agent: concat!("trtc-preflight/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// The steps of opening a WebSocket, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Name resolution (of the target, or of the proxy).
    Resolve,
    /// The TCP connection to the target's address.
    Tcp,
    /// The proxy: the TCP connection to it, or its answer to `CONNECT`.
    Proxy,
    /// The TLS handshake (`wss://`).
    Tls,
    /// The WebSocket upgrade.
    Upgrade,
    /// After the open: pongs missing, or the connection dropped.
    Session,
}

impl Step {
    /// `resolve`, `tcp`, `proxy`, `tls`, `upgrade` or `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Resolve => "resolve",
            Step::Tcp => "tcp",
            Step::Proxy => "proxy",
            Step::Tls => "tls",
            Step::Upgrade => "upgrade",
            Step::Session => "session",
        }
    }

    /// Whether the step comes before the WebSocket is open (a failure there means it could
    /// not be opened; a [`Step::Session`] failure means it opened and then broke).
    pub fn before_open(self) -> bool {
        self != Step::Session
    }
}

/// The TCP connection of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpStep {
    /// Open.
    Connected {
        /// The local address it left from.
        local: Option<SocketAddr>,
    },
    /// Refused (a reset in answer to the SYN: nothing listens, or a firewall rejects).
    Refused,
    /// No answer within the connect timeout (a firewall that drops).
    TimedOut {
        /// How long the probe waited.
        after: Duration,
    },
    /// No route to the network or host (`ENETUNREACH`, `EHOSTUNREACH`: no route, or an ICMP
    /// unreachable from a router).
    Unreachable {
        /// The OS's words.
        reason: String,
    },
    /// Another failure (no address of this family on this machine, ...).
    Failed {
        /// The OS's words.
        reason: String,
    },
}

impl TcpStep {
    /// Whether the connection opened.
    pub fn connected(&self) -> bool {
        matches!(self, TcpStep::Connected { .. })
    }

    /// A stable short name: `connected`, `refused`, `timed_out`, `unreachable`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            TcpStep::Connected { .. } => "connected",
            TcpStep::Refused => "refused",
            TcpStep::TimedOut { .. } => "timed_out",
            TcpStep::Unreachable { .. } => "unreachable",
            TcpStep::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for TcpStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpStep::Connected { .. } => write!(f, "connected"),
            TcpStep::Refused => write!(f, "connection refused"),
            TcpStep::TimedOut { after } => {
                write!(
                    f,
                    "no answer to the TCP connection within {} ms",
                    after.as_millis()
                )
            }
            TcpStep::Unreachable { reason } => write!(f, "unreachable: {reason}"),
            TcpStep::Failed { reason } => write!(f, "{reason}"),
        }
    }
}

/// How long each step took (`None`: not reached).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// TCP connect (to the proxy, through one).
    pub tcp: Option<Duration>,
    /// `CONNECT` through the proxy.
    pub proxy: Option<Duration>,
    /// TLS handshake.
    pub tls: Option<Duration>,
    /// WebSocket upgrade.
    pub upgrade: Option<Duration>,
    /// From the start of the TCP connect to the open WebSocket.
    pub open: Option<Duration>,
}

/// One address family's attempt, step by step (a step not reached is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyAttempt {
    /// The family.
    pub family: Family,
    /// The address connected to: the target's, or through a proxy the proxy's.
    pub address: SocketAddr,
    /// Whether the attempt went through the proxy of [`Observation::route`].
    pub via_proxy: bool,
    /// The interface and source the OS chose, when known.
    pub egress: Option<Egress>,
    /// The TCP connection.
    pub tcp: TcpStep,
    /// Through a proxy: its answer to `CONNECT` (`None` when not proxied, or when the TCP
    /// connection to it failed: the proxy is then unreachable).
    pub proxy: Option<ProxyStep>,
    /// `wss://`: the TLS handshake.
    pub tls: Option<Result<HandshakeFacts, TlsFailure>>,
    /// The WebSocket upgrade.
    pub upgrade: Option<UpgradeOutcome>,
    /// The server's `Date` header (of any HTTP answer to the upgrade), UNIX seconds.
    pub server_date: Option<i64>,
    /// This machine's clock when that answer arrived, UNIX seconds (system clock).
    pub received_at: Option<i64>,
    /// Once open: the round trip of each ping, `None` when no pong came in time.
    pub pongs: Vec<Option<Duration>>,
    /// Once open: the drop, if the connection dropped.
    pub dropped: Option<Dropped>,
    /// Once open and not dropped: whether the server answered our close frame in time.
    pub closed_cleanly: Option<bool>,
    /// Once open: text and binary messages the server sent.
    pub messages: u32,
    /// How long each step took.
    pub timings: Timings,
}

impl FamilyAttempt {
    fn new(address: SocketAddr, via_proxy: bool) -> FamilyAttempt {
        FamilyAttempt {
            family: Family::of(address.ip()),
            address,
            via_proxy,
            egress: route::egress(address).ok(),
            tcp: TcpStep::Failed {
                reason: "not tried".to_string(),
            },
            proxy: None,
            tls: None,
            upgrade: None,
            server_date: None,
            received_at: None,
            pongs: Vec::new(),
            dropped: None,
            closed_cleanly: None,
            messages: 0,
            timings: Timings::default(),
        }
    }

    /// Whether the WebSocket opened.
    pub fn opened(&self) -> bool {
        self.upgrade.as_ref().is_some_and(UpgradeOutcome::opened)
    }

    /// Pings sent and not answered in time.
    pub fn missing_pongs(&self) -> usize {
        self.pongs.iter().filter(|pong| pong.is_none()).count()
    }

    /// The step that failed first, and what happened there (`None`: it opened, every ping was
    /// answered and it did not drop).
    pub fn first_failure(&self) -> Option<(Step, String)> {
        let proxy = || format!("the proxy at {}", self.address);
        if !self.tcp.connected() {
            return Some(if self.via_proxy {
                (
                    Step::Proxy,
                    format!("{} is unreachable: {}", proxy(), self.tcp),
                )
            } else {
                (Step::Tcp, format!("TCP to {}: {}", self.address, self.tcp))
            });
        }
        if let Some(step) = self.proxy.as_ref().filter(|step| !step.is_tunnel()) {
            return Some((Step::Proxy, format!("{}: {step}", proxy())));
        }
        if let Some(Err(failure)) = &self.tls {
            return Some((Step::Tls, failure.to_string()));
        }
        match &self.upgrade {
            Some(outcome) if !outcome.opened() => {
                return Some((Step::Upgrade, outcome.to_string()))
            }
            Some(_) => {}
            None => return Some((Step::Upgrade, "not attempted".to_string())),
        }
        if let Some(dropped) = &self.dropped {
            return Some((Step::Session, dropped.to_string()));
        }
        let missing = self.missing_pongs();
        (missing > 0).then(|| {
            (
                Step::Session,
                format!(
                    "{missing} of {} pings got no pong in time",
                    self.pongs.len()
                ),
            )
        })
    }
}

/// The name lookup of a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The name looked up: the target's host, or through a proxy the proxy's.
    pub host: String,
    /// The addresses, or why there are none.
    pub result: Result<Resolved, ResolveError>,
    /// How long it took.
    pub took: Duration,
}

/// A failure of a probe or of a reconnection attempt, with the family it happened on
/// (`None` for the name lookup, shared by both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The family.
    pub family: Option<Family>,
    /// The step.
    pub step: Step,
    /// What happened.
    pub detail: String,
}

/// Everything one signaling probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The target.
    pub target: Target,
    /// Direct, or through which proxy (and why).
    pub route: Route,
    /// The name lookup.
    pub resolution: Resolution,
    /// One entry per family the name has, IPv4 first.
    pub families: Vec<FamilyAttempt>,
}

impl Observation {
    /// Whether any family opened the WebSocket.
    pub fn opened(&self) -> bool {
        self.families.iter().any(FamilyAttempt::opened)
    }

    /// Every failure, in probe order: the lookup, then each family's first.
    pub fn failures(&self) -> Vec<Failure> {
        if let Err(error) = &self.resolution.result {
            return vec![Failure {
                family: None,
                step: Step::Resolve,
                detail: error.to_string(),
            }];
        }
        self.families
            .iter()
            .filter_map(|attempt| {
                attempt.first_failure().map(|(step, detail)| Failure {
                    family: Some(attempt.family),
                    step,
                    detail,
                })
            })
            .collect()
    }
}

/// Probes one WebSocket endpoint over every address family its name (or its proxy's) has,
/// concurrently.
pub async fn probe(target: &Target, settings: &Settings) -> Observation {
    let route = settings.proxy.route(target);
    let resolution = resolution(target, &route, settings).await;
    let client = target.secure.then(|| tls::Client::new(&settings.trust));
    let mut families = Vec::new();
    if let Ok(resolved) = &resolution.result {
        let port = route.proxy().map_or(target.port, |proxy| proxy.port);
        let at = |ip: &IpAddr| {
            let address = SocketAddr::new(*ip, port);
            let (route, client) = (&route, client.as_ref());
            async move {
                let (mut attempt, socket) =
                    open_family(target, route, address, client, settings).await;
                if let Some((mut socket, opened)) = socket {
                    let facts = session::run(&mut socket, settings, opened).await;
                    attempt.pongs = facts.pongs;
                    attempt.dropped = facts.dropped;
                    attempt.closed_cleanly = facts.closed_cleanly;
                    attempt.messages = facts.messages;
                }
                attempt
            }
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
        route,
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

async fn resolution(target: &Target, route: &Route, settings: &Settings) -> Resolution {
    let host = route
        .proxy()
        .map_or_else(|| target.host.clone(), |proxy| proxy.host.clone());
    let started = Instant::now();
    let result = resolve::resolve(&host, &settings.overrides).await;
    Resolution {
        host,
        result,
        took: started.elapsed(),
    }
}

/// One family's chain up to the open WebSocket: the attempt so far, and the socket (with the
/// moment it opened) when it opened.
async fn open_family(
    target: &Target,
    route: &Route,
    address: SocketAddr,
    client: Option<&Result<tls::Client, TlsFailure>>,
    settings: &Settings,
) -> (FamilyAttempt, Option<(Socket, tokio::time::Instant)>) {
    let proxy = route.proxy();
    let mut attempt = FamilyAttempt::new(address, proxy.is_some());
    let started = Instant::now();
    let (tcp, stream) = connect_tcp(address, settings.connect_timeout).await;
    attempt.tcp = tcp;
    attempt.timings.tcp = Some(started.elapsed());
    let Some(tcp) = stream else {
        return (attempt, None);
    };
    let mut stream: BoxedIo = match proxy {
        None => Box::new(tcp),
        Some(proxy) => {
            let began = Instant::now();
            let (step, tunnel) = proxy::tunnel(
                tcp,
                proxy,
                target,
                &settings.user_agent,
                settings.proxy_timeout,
            )
            .await;
            attempt.proxy = Some(step);
            attempt.timings.proxy = Some(began.elapsed());
            match tunnel {
                Some(tunnel) => tunnel,
                None => return (attempt, None),
            }
        }
    };
    if let Some(client) = client {
        let began = Instant::now();
        let handshake = match client {
            Ok(client) => {
                client
                    .connect(stream, &target.host, &[ALPN_HTTP1], settings.tls_timeout)
                    .await
            }
            Err(failure) => Err(failure.clone()),
        };
        attempt.timings.tls = Some(began.elapsed());
        match handshake {
            Ok((tls, facts)) => {
                attempt.tls = Some(Ok(facts));
                stream = Box::new(tls);
            }
            Err(failure) => {
                attempt.tls = Some(Err(failure));
                return (attempt, None);
            }
        }
    }
    let upgraded = upgrade::upgrade(stream, target, settings).await;
    attempt.timings.upgrade = Some(upgraded.took);
    attempt.upgrade = Some(upgraded.outcome);
    attempt.server_date = upgraded.server_date;
    attempt.received_at = upgraded.received_at;
    let socket = upgraded.socket.map(|socket| {
        attempt.timings.open = Some(started.elapsed());
        (socket, tokio::time::Instant::now())
    });
    (attempt, socket)
}

/// A TCP connection within `timeout`, classified.
async fn connect_tcp(address: SocketAddr, timeout: Duration) -> (TcpStep, Option<TcpStream>) {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => (
            TcpStep::TimedOut {
                after: started.elapsed(),
            },
            None,
        ),
        Ok(Ok(stream)) => (
            TcpStep::Connected {
                local: stream.local_addr().ok(),
            },
            Some(stream),
        ),
        Ok(Err(error)) => {
            let step = match error.kind() {
                std::io::ErrorKind::ConnectionRefused => TcpStep::Refused,
                std::io::ErrorKind::TimedOut => TcpStep::TimedOut {
                    after: started.elapsed(),
                },
                std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable => {
                    TcpStep::Unreachable {
                        reason: error.to_string(),
                    }
                }
                _ => TcpStep::Failed {
                    reason: error.to_string(),
                },
            };
            (step, None)
        }
    }
}

/// One open of a reconnection check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// 0 for the first open, then 1, 2, ... for the reopenings after the drop.
    pub number: u32,
    /// The backoff waited before it (zero for the first open).
    pub waited: Duration,
    /// How long the open took, or took to fail.
    pub took: Duration,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// Whether an open of a reconnection check succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The WebSocket opened.
    Opened {
        /// Over this family (IPv4 first when both opened).
        family: Family,
        /// At this address (the proxy's, through a proxy).
        address: SocketAddr,
    },
    /// It did not open: the first failure of each family (or of the lookup).
    Failed {
        /// The failures.
        failures: Vec<Failure>,
    },
}

impl Attempt {
    /// Whether the WebSocket opened.
    pub fn opened(&self) -> bool {
        matches!(self.outcome, AttemptOutcome::Opened { .. })
    }
}

/// The reconnection check: opens the WebSocket, drops the connection without a close frame
/// (as a network drop would), then tries to reopen it up to `attempts` times, waiting
/// `backoff`, then twice that, and so on, before each, until one opens (that one is then
/// closed cleanly). The first entry is the first open; when it fails, nothing else is tried.
/// Opens use the whole chain of [`probe`] (route, lookup, both families concurrently), without
/// pings.
pub async fn reconnect(
    target: &Target,
    settings: &Settings,
    attempts: u32,
    backoff: Duration,
) -> Vec<Attempt> {
    let client = target.secure.then(|| tls::Client::new(&settings.trust));
    let mut done = Vec::new();
    let mut waited = Duration::ZERO;
    for number in 0..=attempts {
        if number > 0 {
            waited = backoff.saturating_mul(1 << (number - 1).min(20));
            tokio::time::sleep(waited).await;
        }
        let started = Instant::now();
        let (outcome, socket) = open_any(target, client.as_ref(), settings).await;
        done.push(Attempt {
            number,
            waited,
            took: started.elapsed(),
            outcome,
        });
        match socket {
            // The first open: drop it, abruptly.
            Some(socket) if number == 0 => drop(socket),
            // A reopening: the check is over.
            Some(mut socket) => {
                session::close(&mut socket, settings.pong_timeout).await;
                break;
            }
            None if number == 0 => break,
            None => {}
        }
    }
    done
}

/// Opens the WebSocket over any family (both tried concurrently), for a caller that then speaks
/// over it (the WebRTC probe's signaling).
pub(crate) async fn open(target: &Target, settings: &Settings) -> (AttemptOutcome, Option<Socket>) {
    let client = target.secure.then(|| tls::Client::new(&settings.trust));
    open_any(target, client.as_ref(), settings).await
}

/// Opens the WebSocket over any family (both tried concurrently).
async fn open_any(
    target: &Target,
    client: Option<&Result<tls::Client, TlsFailure>>,
    settings: &Settings,
) -> (AttemptOutcome, Option<Socket>) {
    let route = settings.proxy.route(target);
    let resolution = resolution(target, &route, settings).await;
    let resolved = match resolution.result {
        Ok(resolved) => resolved,
        Err(error) => {
            let failure = Failure {
                family: None,
                step: Step::Resolve,
                detail: error.to_string(),
            };
            return (
                AttemptOutcome::Failed {
                    failures: vec![failure],
                },
                None,
            );
        }
    };
    let port = route.proxy().map_or(target.port, |proxy| proxy.port);
    let at =
        |ip: &IpAddr| open_family(target, &route, SocketAddr::new(*ip, port), client, settings);
    let (v4, v6) = tokio::join!(
        optional(resolved.v4.first().map(at)),
        optional(resolved.v6.first().map(at))
    );
    let mut failures = Vec::new();
    let mut opened = None;
    for (attempt, socket) in v4.into_iter().chain(v6) {
        match socket {
            Some((socket, _)) if opened.is_none() => {
                opened = Some((attempt.family, attempt.address, socket));
            }
            Some(_) => {}
            None => failures.extend(attempt.first_failure().map(|(step, detail)| Failure {
                family: Some(attempt.family),
                step,
                detail,
            })),
        }
    }
    match opened {
        Some((family, address, socket)) => {
            (AttemptOutcome::Opened { family, address }, Some(socket))
        }
        None => (AttemptOutcome::Failed { failures }, None),
    }
}
