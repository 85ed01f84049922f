//! The TURN probe: allocate a relay with long-term credentials over UDP, TCP or TLS (through an
//! HTTP proxy for TCP and TLS, as browsers do), read the relayed address and lifetime, and
//! prove that the relay carries data: two allocations over the same transport send to each
//! other through their relayed addresses, so every client leg stays on the transport under
//! test. Facts only: each request's answer and timing, the failure class; what that means for
//! a call is decided elsewhere.
//!
//! # Shape
//!
//! [`message`] encodes and decodes TURN messages; [`client::Transactions`] runs one request at
//! a time (retransmissions over UDP, the 401 challenge, 438 stale nonces), sans-IO; this module
//! owns the sockets: [`probe`] resolves the server, opens a connection per allocation (UDP, a
//! TCP stream, or TLS over TCP; through a proxy's `CONNECT` when the environment names one),
//! and drives both allocations. A `300 Try Alternate` is followed once. Allocations are deleted
//! (Refresh with a lifetime of zero) before the probe returns.

pub mod client;
pub mod message;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use self::client::{Exchange, Progress, Transactions, TurnError};
use self::message::{Answer, Inbound, Request};
use crate::resolve::{self, Overrides};
use crate::signaling::io::BoxedIo;
use crate::signaling::{self, ProxyConfig, ProxyStep, Route};
use crate::stun::message::split_frame;
use crate::tls::{self, HandshakeFacts, TlsFailure, Trust};

/// How the client reaches the TURN server: UDP (`turn:`), TCP (`?transport=tcp`) or TLS
/// (`turns:`), as a STUN server is reached.
pub use crate::stun::probe::Transport;

/// A TURN server, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The URL as given.
    pub url: String,
    /// The host (no brackets around an IPv6 address).
    pub host: String,
    /// The port (3478, or 5349 for `turns:` when not given).
    pub port: u16,
    /// The transport.
    pub transport: Transport,
}

impl Server {
    /// Reads `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:HOST[:PORT]`.
    pub fn parse(url: &str) -> Result<Server, String> {
        let (secure, rest) = if let Some(rest) = url.strip_prefix("turns:") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("turn:") {
            (false, rest)
        } else {
            return Err(format!(
                "{url:?}: expected turn:HOST:PORT?transport=udp|tcp or turns:HOST:PORT"
            ));
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut transport = if secure {
            Transport::Tls
        } else {
            Transport::Udp
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("transport", "udp")) if !secure => transport = Transport::Udp,
                Some(("transport", "tcp")) => {
                    transport = if secure {
                        Transport::Tls
                    } else {
                        Transport::Tcp
                    }
                }
                _ => return Err(format!("{url:?}: unknown parameter {pair:?}")),
            }
        }
        let default = if secure { 5349 } else { 3478 };
        let (host, port) = match signaling::proxy::split_host_port(authority) {
            Some((host, None)) => (host, default),
            Some((host, Some(Some(port)))) => (host, port),
            _ => return Err(format!("{url:?}: the host or port is not valid")),
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok(Server {
            url: url.to_string(),
            host,
            port,
            transport,
        })
    }

    fn target(&self) -> signaling::Target {
        signaling::Target {
            url: self.url.clone(),
            host: self.host.clone(),
            port: self.port,
            path_and_query: "/".into(),
            secure: self.transport == Transport::Tls,
        }
    }
}

/// Settings of a probe.
#[derive(Clone)]
pub struct Settings {
    /// `--resolve` overrides.
    pub overrides: Overrides,
    /// What TLS trusts (for `turns:`).
    pub trust: Trust,
    /// The proxy settings (TCP and TLS only; UDP never goes through a proxy).
    pub proxy: ProxyConfig,
    /// The TURN user.
    pub username: String,
    /// The TURN password; never printed.
    pub password: String,
    /// How long a TCP connection (to the server or the proxy) may take.
    pub connect_timeout: Duration,
    /// How long the TLS handshake may take.
    pub tls_timeout: Duration,
    /// Over UDP: the first retransmission timeout (doubling), and the transmissions.
    pub rto: Duration,
    /// Over UDP: transmissions of one request before it times out.
    pub max_transmissions: u32,
    /// Over TCP and TLS: how long one request waits for its answer.
    pub reliable_timeout: Duration,
    /// Prove the relay carries data with a second allocation.
    pub check_data: bool,
    /// Messages sent each way through the relays.
    pub data_messages: u32,
    /// How long a message may take through the relays.
    pub data_timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("overrides", &self.overrides)
            .field("trust", &self.trust)
            .field("proxy", &self.proxy)
            .field("username", &self.username)
            .field("password", &"***")
            .field("check_data", &self.check_data)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            overrides: Overrides::default(),
            trust: Trust::default(),
            proxy: ProxyConfig::default(),
            username: String::new(),
            password: String::new(),
            connect_timeout: Duration::from_secs(3),
            tls_timeout: Duration::from_secs(5),
            rto: Duration::from_millis(250),
            max_transmissions: 4,
            reliable_timeout: Duration::from_secs(3),
            check_data: true,
            data_messages: 3,
            data_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a probe did not get (or could not use) a relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server's name did not resolve.
    Resolve(String),
    /// The TCP connection (to the server, or to the proxy) did not open.
    Connect(String),
    /// The proxy did not open a tunnel.
    Proxy(ProxyStep),
    /// The TLS handshake failed.
    Tls(TlsFailure),
    /// A TURN request failed.
    Turn(TurnError),
    /// The connection broke or sent something that is not STUN.
    Broken(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Resolve(detail) => write!(f, "the name did not resolve: {detail}"),
            Failure::Connect(detail) => write!(f, "the TCP connection did not open: {detail}"),
            Failure::Proxy(step) => write!(f, "{step}"),
            Failure::Tls(failure) => write!(f, "TLS failed: {failure}"),
            Failure::Turn(TurnError::Timeout {
                request,
                waited,
                transmissions,
            }) => write!(
                f,
                "no answer to {request} ({transmissions} sent over {} ms)",
                waited.as_millis()
            ),
            Failure::Turn(TurnError::Code {
                request,
                code,
                reason,
                ..
            }) => {
                write!(f, "{request} refused: {code} {reason}")
            }
            Failure::Turn(TurnError::NoChallenge) => {
                write!(
                    f,
                    "the server's 401 named no realm or nonce to authenticate with"
                )
            }
            Failure::Turn(TurnError::Encode(detail)) => f.write_str(detail),
            Failure::Broken(detail) => f.write_str(detail),
        }
    }
}

/// A relay the server allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// XOR-RELAYED-ADDRESS: where peers reach this client.
    pub relayed: SocketAddr,
    /// XOR-MAPPED-ADDRESS: this client as the server saw it.
    pub mapped: Option<SocketAddr>,
    /// LIFETIME.
    pub lifetime: Option<Duration>,
    /// From the first request to the allocation (the challenge included).
    pub took: Duration,
}

/// The data check through two allocations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataCheck {
    /// Messages sent from the first allocation to the second.
    pub sent: u32,
    /// Messages that came back (second to first).
    pub echoed: u32,
    /// Round trips of the echoed messages (through the relay twice).
    pub round_trips: Vec<Duration>,
    /// Why it stopped, when it did not finish.
    pub failure: Option<String>,
    /// The second allocation's failure, when it was refused (a quota of one, no capacity).
    pub second_allocation: Option<Failure>,
}

/// Everything one probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The server.
    pub server: Server,
    /// The address used (the alternate after a 300).
    pub address: Option<SocketAddr>,
    /// The proxy the connection went through (TCP and TLS only).
    pub proxy: Option<String>,
    /// How long the connection took to open (TCP and TLS, proxy included).
    pub connected_in: Option<Duration>,
    /// The TLS handshake's facts (`turns:`).
    pub tls: Option<HandshakeFacts>,
    /// The address that sent `300 Try Alternate`, when one did.
    pub redirected_from: Option<SocketAddr>,
    /// The first allocation.
    pub allocation: Option<Allocation>,
    /// The server's REALM.
    pub realm: Option<String>,
    /// The server's SOFTWARE.
    pub software: Option<String>,
    /// Every request of the first allocation.
    pub exchanges: Vec<Exchange>,
    /// 438 answers retried (not failures).
    pub stale_nonces: u32,
    /// The data check, when it ran.
    pub data: Option<DataCheck>,
    /// What stopped the probe, if anything did.
    pub failure: Option<Failure>,
    /// The whole probe.
    pub took: Duration,
}

impl Observation {
    /// Whether a relay was allocated, and carried data when that was checked.
    pub fn relays(&self) -> bool {
        self.allocation.is_some()
            && self.failure.is_none()
            && self.data.as_ref().is_none_or(|data| data.echoed > 0)
    }
}

/// A connection to the server: a UDP socket, or a stream of STUN messages.
enum Conn {
    Udp(UdpSocket),
    Stream { io: BoxedIo, buffer: Vec<u8> },
}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Udp(socket) => socket.send(bytes).await.map(|_| ()),
            Conn::Stream { io, .. } => io.write_all(bytes).await,
        }
    }

    async fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Conn::Udp(socket) => {
                let mut buf = vec![0u8; 2048];
                let n = socket.recv(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
            Conn::Stream { io, buffer } => loop {
                match split_frame(buffer) {
                    Ok(Some(len)) => return Ok(buffer.drain(..len).collect()),
                    Ok(None) => {}
                    Err(error) => {
                        return Err(std::io::Error::other(format!(
                            "the server sent something that is not STUN: {error}"
                        )))
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = io.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                buffer.extend_from_slice(&chunk[..n]);
            },
        }
    }
}

/// One allocation's leg: its connection and transactions, and Data indications that arrived
/// while a request was in progress.
struct Leg {
    conn: Conn,
    transactions: Transactions,
    inbox: Vec<(SocketAddr, Vec<u8>)>,
    software: Option<String>,
}

/// A socket error as a failure: refused and forbidden sends are the network (or this machine's
/// firewall) saying no, not a broken server.
fn io_failure(error: std::io::Error) -> Failure {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => Failure::Connect(format!(
            "this machine's firewall refuses to send there ({error})"
        )),
        std::io::ErrorKind::ConnectionRefused => {
            Failure::Connect(format!("refused (ICMP port unreachable: {error})"))
        }
        std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
            Failure::Connect(error.to_string())
        }
        _ => Failure::Broken(error.to_string()),
    }
}

impl Leg {
    async fn transact(&mut self, request: Request) -> Result<Answer, Failure> {
        let bytes = self
            .transactions
            .start(request, Instant::now())
            .map_err(Failure::Turn)?;
        self.conn.send(&bytes).await.map_err(io_failure)?;
        loop {
            let deadline = self
                .transactions
                .deadline()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            let progress = tokio::select! {
                received = self.conn.recv() => {
                    let bytes = received.map_err(io_failure)?;
                    match message::parse(&bytes) {
                        Ok(Inbound::Answer(answer)) => {
                            if answer.software.is_some() {
                                self.software = answer.software.clone();
                            }
                            self.transactions.on_answer(&answer, Instant::now())
                        }
                        Ok(Inbound::Data { peer, data }) => {
                            self.inbox.push((peer, data));
                            Progress::Ignored
                        }
                        Ok(Inbound::Other) => Progress::Ignored,
                        Err(error) => return Err(Failure::Broken(error)),
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => self.transactions.on_timer(Instant::now()),
            };
            match progress {
                Progress::Send(bytes) => self.conn.send(&bytes).await.map_err(io_failure)?,
                Progress::Done(answer) => return Ok(answer),
                Progress::Failed(error) => return Err(Failure::Turn(error)),
                Progress::Ignored => {}
            }
        }
    }

    async fn send_to_peer(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), String> {
        let bytes = message::send_indication(rtc_stun::message::TransactionId::new(), peer, data)?;
        self.conn.send(&bytes).await.map_err(|e| e.to_string())
    }

    /// The next Data indication, within `timeout`.
    async fn data(&mut self, timeout: Duration) -> Option<(SocketAddr, Vec<u8>)> {
        if !self.inbox.is_empty() {
            return Some(self.inbox.remove(0));
        }
        let until = Instant::now() + timeout;
        loop {
            let received = tokio::time::timeout_at(until.into(), self.conn.recv())
                .await
                .ok()?
                .ok()?;
            if let Ok(Inbound::Data { peer, data }) = message::parse(&received) {
                return Some((peer, data));
            }
        }
    }
}

/// Opens a connection to `address` for `server`'s transport (through the proxy for TCP and
/// TLS when one applies); the proxy's URL, how long it took, the TLS facts.
async fn connect(
    server: &Server,
    address: SocketAddr,
    settings: &Settings,
) -> Result<(Conn, Option<String>, Duration, Option<HandshakeFacts>), Failure> {
    let started = Instant::now();
    if server.transport == Transport::Udp {
        let local: SocketAddr = if address.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| Failure::Connect(format!("cannot open a UDP socket: {e}")))?;
        socket
            .connect(address)
            .await
            .map_err(|e| Failure::Connect(format!("no route to {address}: {e}")))?;
        return Ok((Conn::Udp(socket), None, started.elapsed(), None));
    }
    let target = server.target();
    let route = settings.proxy.route(&target);
    let (stream, proxy): (BoxedIo, Option<String>) = match &route {
        Route::Proxy(proxy) => {
            let proxy_address = resolve::resolve(&proxy.host, &settings.overrides)
                .await
                .map_err(|e| {
                    Failure::Connect(format!("the proxy {} did not resolve: {e}", proxy.url))
                })?
                .all()
                .next()
                .map(|ip| SocketAddr::new(ip, proxy.port))
                .ok_or_else(|| {
                    Failure::Connect(format!("the proxy {} has no address", proxy.url))
                })?;
            let tcp = tcp_connect(proxy_address, settings.connect_timeout)
                .await
                .map_err(|e| {
                    Failure::Connect(format!("to the proxy {} ({proxy_address}): {e}", proxy.url))
                })?;
            let user_agent = concat!("trtc-preflight/", env!("CARGO_PKG_VERSION"));
            match signaling::proxy::tunnel(
                tcp,
                proxy,
                &target,
                user_agent,
                settings.connect_timeout,
            )
            .await
            {
                (_, Some(io)) => (io, Some(proxy.url.clone())),
                (step, None) => return Err(Failure::Proxy(step)),
            }
        }
        _ => {
            let tcp = tcp_connect(address, settings.connect_timeout)
                .await
                .map_err(|e| Failure::Connect(format!("to {address}: {e}")))?;
            (Box::new(tcp) as BoxedIo, None)
        }
    };
    if server.transport == Transport::Tls {
        let (tls, facts) = tls::connect(
            stream,
            &server.host,
            &settings.trust,
            &[tls::ALPN_STUN_TURN],
            settings.tls_timeout,
        )
        .await
        .map_err(Failure::Tls)?;
        return Ok((
            Conn::Stream {
                io: Box::new(tls),
                buffer: Vec::new(),
            },
            proxy,
            started.elapsed(),
            Some(facts),
        ));
    }
    Ok((
        Conn::Stream {
            io: stream,
            buffer: Vec::new(),
        },
        proxy,
        started.elapsed(),
        None,
    ))
}

async fn tcp_connect(address: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Err(_) => Err(format!(
            "no answer within {} ms (dropped)",
            timeout.as_millis()
        )),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err("refused".to_string())
        }
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

fn leg(conn: Conn, server: &Server, settings: &Settings) -> Leg {
    Leg {
        conn,
        transactions: Transactions::new(
            settings.username.clone(),
            settings.password.clone(),
            server.transport != Transport::Udp,
            settings.rto,
            settings.max_transmissions,
            settings.reliable_timeout,
        ),
        inbox: Vec::new(),
        software: None,
    }
}

/// Allocates on a new connection to `address`; follows one `300 Try Alternate`.
async fn allocate(
    server: &Server,
    mut address: SocketAddr,
    settings: &Settings,
    observation: Option<&mut Observation>,
) -> Result<(Leg, Allocation), (Option<Leg>, Failure)> {
    let mut observation = observation;
    let mut redirected = false;
    loop {
        let (conn, proxy, took, tls) = connect(server, address, settings)
            .await
            .map_err(|failure| (None, failure))?;
        if let Some(observation) = observation.as_deref_mut() {
            observation.address = Some(address);
            observation.proxy = proxy;
            observation.connected_in = (server.transport != Transport::Udp).then_some(took);
            observation.tls = tls;
        }
        let mut leg = leg(conn, server, settings);
        let started = Instant::now();
        let result = leg.transact(Request::Allocate { lifetime: None }).await;
        if let Some(observation) = observation.as_deref_mut() {
            observation
                .exchanges
                .extend(leg.transactions.history.iter().cloned());
            observation.stale_nonces += leg.transactions.stale_nonces;
            observation.realm = leg.transactions.realm().map(String::from);
            observation.software = leg.software.clone();
        }
        match result {
            Ok(answer) => {
                let Some(relayed) = answer.relayed else {
                    return Err((
                        Some(leg),
                        Failure::Broken("the Allocate success had no XOR-RELAYED-ADDRESS".into()),
                    ));
                };
                return Ok((
                    leg,
                    Allocation {
                        relayed,
                        mapped: answer.mapped,
                        lifetime: answer.lifetime,
                        took: started.elapsed(),
                    },
                ));
            }
            Err(Failure::Turn(TurnError::Code {
                code: 300,
                alternate: Some(alternate),
                ..
            })) if !redirected => {
                if let Some(observation) = observation.as_deref_mut() {
                    observation.redirected_from = Some(address);
                    observation.exchanges.clear();
                }
                redirected = true;
                address = alternate;
            }
            Err(failure) => return Err((Some(leg), failure)),
        }
    }
}

/// Runs the probe.
pub async fn probe(server: &Server, settings: &Settings) -> Observation {
    let started = Instant::now();
    let mut observation = Observation {
        server: server.clone(),
        address: None,
        proxy: None,
        connected_in: None,
        tls: None,
        redirected_from: None,
        allocation: None,
        realm: None,
        software: None,
        exchanges: Vec::new(),
        stale_nonces: 0,
        data: None,
        failure: None,
        took: Duration::ZERO,
    };
    let address = match resolve::resolve(&server.host, &settings.overrides).await {
        Ok(resolved) => match resolved.all().next() {
            Some(ip) => SocketAddr::new(ip, server.port),
            None => {
                observation.failure = Some(Failure::Resolve("no address".into()));
                observation.took = started.elapsed();
                return observation;
            }
        },
        Err(error) => {
            observation.failure = Some(Failure::Resolve(error.to_string()));
            observation.took = started.elapsed();
            return observation;
        }
    };
    let mut legs = Vec::new();
    match allocate(server, address, settings, Some(&mut observation)).await {
        Ok((leg, allocation)) => {
            observation.allocation = Some(allocation);
            legs.push(leg);
        }
        Err((leg, failure)) => {
            observation.failure = Some(failure);
            legs.extend(leg);
        }
    }
    if settings.check_data && observation.allocation.is_some() {
        let first = observation.address.unwrap_or(address);
        match allocate(server, first, settings, None).await {
            Ok((second, allocation)) => {
                legs.push(second);
                let relayed = observation
                    .allocation
                    .as_ref()
                    .map(|a| a.relayed)
                    .unwrap_or(allocation.relayed);
                let data = exchange(&mut legs, relayed, allocation.relayed, settings).await;
                observation.data = Some(data);
            }
            Err((leg, failure)) => {
                legs.extend(leg);
                observation.data = Some(DataCheck {
                    failure: Some(format!("a second allocation failed: {failure}")),
                    second_allocation: Some(failure),
                    ..DataCheck::default()
                });
            }
        }
    }
    // Delete the allocations (best effort): the server frees its ports now, not in minutes.
    for leg in legs.iter_mut() {
        if leg.transactions.realm().is_some() {
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                leg.transact(Request::Refresh {
                    lifetime: Duration::ZERO,
                }),
            )
            .await;
        }
    }
    if observation.allocation.is_some() {
        if let Some(leg) = legs.first() {
            // The first allocation's whole history: its permission and the refresh that
            // deleted it belong there too.
            observation.exchanges = leg.transactions.history.clone();
        }
    }
    observation.took = started.elapsed();
    observation
}

/// Permissions both ways, then messages from the first allocation to the second, each echoed
/// back by the second: every leg stays on the transport under test.
async fn exchange(
    legs: &mut [Leg],
    first_relayed: SocketAddr,
    second_relayed: SocketAddr,
    settings: &Settings,
) -> DataCheck {
    let mut check = DataCheck::default();
    let [a, b] = legs else {
        check.failure = Some("two allocations are needed".into());
        return check;
    };
    for (leg, peer) in [(&mut *a, second_relayed), (&mut *b, first_relayed)] {
        if let Err(failure) = leg.transact(Request::CreatePermission { peer }).await {
            check.failure = Some(format!("CreatePermission for {peer}: {failure}"));
            return check;
        }
    }
    for n in 0..settings.data_messages {
        let payload = format!("trtc-preflight relay check {n}");
        let sent_at = Instant::now();
        if let Err(error) = a.send_to_peer(second_relayed, payload.as_bytes()).await {
            check.failure = Some(format!("sending through the relay: {error}"));
            return check;
        }
        check.sent += 1;
        let Some((from, data)) = b.data(settings.data_timeout).await else {
            check.failure = Some(format!(
                "a message sent to {second_relayed} through the relay did not arrive within {} ms",
                settings.data_timeout.as_millis()
            ));
            return check;
        };
        if let Err(error) = b.send_to_peer(from, &data).await {
            check.failure = Some(format!("echoing through the relay: {error}"));
            return check;
        }
        match a.data(settings.data_timeout).await {
            Some((_, echoed)) if echoed == payload.as_bytes() => {
                check.echoed += 1;
                check.round_trips.push(sent_at.elapsed());
            }
            Some(_) => {
                check.failure = Some("the relay delivered a different message".into());
                return check;
            }
            None => {
                check.failure = Some(format!(
                    "the echo from {first_relayed}'s peer did not come back within {} ms",
                    settings.data_timeout.as_millis()
                ));
                return check;
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_and_transport() {
        let cases = [
            (
                "turn:relay.example:3478?transport=udp",
                "relay.example",
                3478,
                Transport::Udp,
            ),
            ("turn:relay.example", "relay.example", 3478, Transport::Udp),
            (
                "turn:127.0.0.1:3479?transport=tcp",
                "127.0.0.1",
                3479,
                Transport::Tcp,
            ),
            ("turns:relay.example", "relay.example", 5349, Transport::Tls),
            (
                "turns:relay.example:443?transport=tcp",
                "relay.example",
                443,
                Transport::Tls,
            ),
            ("turn:[::1]:3478", "::1", 3478, Transport::Udp),
        ];
        for (url, host, port, transport) in cases {
            let server = Server::parse(url).unwrap();
            assert_eq!(
                (server.host.as_str(), server.port, server.transport),
                (host, port, transport),
                "{url}"
            );
        }
        for bad in [
            "stun:x",
            "turn:",
            "turn:x?transport=sctp",
            "turns:x?transport=udp",
            "turn:x:99999",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }
}
