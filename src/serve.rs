//! `serve`: the test endpoints for the far side of a firewall. A STUN responder on any list of
//! UDP, TCP and TLS ports, safe on a public address (only well-formed binding requests get an
//! answer of fixed size; per-source rate limits, which `TRTC_PREFLIGHT_TOKEN` holders skip), and
//! a WebSocket signaling endpoint over ws and wss ([`crate::signal_server`]: its protocol, limits
//! and token header).
//!
//! Each listener prints one line, `stun/udp 0.0.0.0:3478`, `signal/ws 0.0.0.0:8080`,
//! `signal/wss 0.0.0.0:443`; with TLS listeners, the certificate's fingerprint follows as
//! `tls sha256:<hex>` (what clients pass to `--pin`); then `ready`. Ctrl-C stops them all and
//! prints what was answered and dropped. Without any listener flag, STUN listens on UDP and TCP
//! 3478.
//!
//! TLS uses `--cert FILE --key FILE` (PEM; the chain leaf first) or, without them, a
//! self-signed certificate generated at start for `localhost`, the loopback addresses, the
//! addresses given to `--listen` and this machine's host name; STUN over TLS and wss share it.
//! STUN's TLS listeners offer ALPN `stun.turn` (RFC 7443), wss offers `http/1.1`; both serve
//! clients that offer none.
//!
//! With a token, the STUN UDP ports also serve `check`'s quality bursts (answers say how many
//! requests of the burst arrived, so loss splits into uplink and downlink) and its throughput test
//! (data paced each way at a call's bitrate, downlink only while the client keeps acknowledging;
//! `--throughput-sessions`, `--throughput-max-kbps`, `--throughput-max-time` bound it,
//! `--no-throughput` turns it off). Both are for token holders only; the wire formats are in
//! [`preflight_probes::responder`].

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use preflight_probes::responder::throughput::{ThroughputLimits, ThroughputServer};
use preflight_probes::responder::{self, RateLimit, Responder, ResponderConfig, TcpConfig};
use preflight_probes::tls::{self, TlsAcceptor};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use crate::config::{self, Env, ENV_TOKEN};
use crate::signal_server::{Limits, SignalConfig, SignalServer};
use preflight_probes::webrtc::answerer;

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (repeatable); default `::` (every IPv6 and IPv4 address), or
    /// `0.0.0.0` where IPv6 is off.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// UDP ports to answer STUN on (comma-separated, ranges allowed; 0 picks a free port).
    #[arg(long, value_name = "LIST")]
    pub stun_udp: Option<String>,
    /// TCP ports to answer STUN on.
    #[arg(long, value_name = "LIST")]
    pub stun_tcp: Option<String>,
    /// TCP ports to answer STUN over TLS on (TRTC relays media over TLS on 443).
    #[arg(long, value_name = "LIST")]
    pub stun_tls: Option<String>,
    /// TCP ports for the WebSocket signaling endpoint (`ws://`, any path).
    #[arg(long, value_name = "LIST")]
    pub signal_ws: Option<String>,
    /// TCP ports for the WebSocket signaling endpoint over TLS (`wss://`, the certificate of
    /// `--cert` or the self-signed one).
    #[arg(long, value_name = "LIST")]
    pub signal_wss: Option<String>,
    /// WebSocket signaling connections open at once; beyond, upgrades get HTTP 503.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub signal_connections: usize,
    /// TLS certificate chain, PEM, leaf first (default: a self-signed certificate generated at
    /// start, whose fingerprint is printed for `check --pin`).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of `--cert`, PEM (PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Requests per second answered for one source address without the token.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub rate: u32,
    /// Requests answered back to back for a source that was quiet.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub burst: u32,
    /// Turn off the throughput test on the STUN UDP ports (on by default when
    /// TRTC_PREFLIGHT_TOKEN is set; never served without it).
    #[arg(long, help_heading = "Throughput test (token holders only)")]
    pub no_throughput: bool,
    /// Throughput sessions at once (each one direction); a request beyond is refused as busy.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2,
        help_heading = "Throughput test (token holders only)"
    )]
    pub throughput_sessions: usize,
    /// The highest rate granted to a throughput session, kbit/s of UDP payload.
    #[arg(
        long,
        value_name = "KBPS",
        default_value_t = 10_000,
        help_heading = "Throughput test (token holders only)"
    )]
    pub throughput_max_kbps: u32,
    /// The longest a throughput session sends or receives data (500ms to 60s).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        help_heading = "Throughput test (token holders only)"
    )]
    pub throughput_max_time: String,
    /// Answer no WebRTC offers on the signaling endpoint (they get `no_answerer`).
    #[arg(long, help_heading = "WebRTC answerer")]
    pub no_answerer: bool,
    /// WebRTC sessions at once; an offer beyond gets `answer_failed` (busy).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 16,
        help_heading = "WebRTC answerer"
    )]
    pub webrtc_sessions: usize,
    /// The longest a WebRTC session lives (30s, 2m); then its connection is closed.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        help_heading = "WebRTC answerer"
    )]
    pub webrtc_session_time: String,
    /// Misbehave on purpose, for tests and support training: never-answer (offers time out),
    /// stall-dtls (ICE connects, DTLS never does), drop-uplink (media from clients is
    /// dropped), drop-downlink (media to clients is dropped).
    #[arg(long, value_name = "HOW", help_heading = "WebRTC answerer")]
    pub misbehave: Option<String>,
}

impl Default for ServeArgs {
    /// The command line's defaults.
    fn default() -> ServeArgs {
        ServeArgs {
            listen: Vec::new(),
            stun_udp: None,
            stun_tcp: None,
            stun_tls: None,
            signal_ws: None,
            signal_wss: None,
            signal_connections: 1024,
            cert: None,
            key: None,
            rate: 20,
            burst: 40,
            no_throughput: false,
            throughput_sessions: 2,
            throughput_max_kbps: 10_000,
            throughput_max_time: "10s".into(),
            no_answerer: false,
            webrtc_sessions: 16,
            webrtc_session_time: "60s".into(),
            misbehave: None,
        }
    }
}

/// Everything `serve` needs before it binds: parsed ports, TLS, the responder, the signaling
/// server.
struct Prepared {
    listen: Vec<IpAddr>,
    udp: Vec<u16>,
    tcp: Vec<u16>,
    tls_ports: Vec<u16>,
    ws_ports: Vec<u16>,
    wss_ports: Vec<u16>,
    tls_setup: Option<ServerTls>,
    signal: Option<Arc<SignalServer>>,
    responder: Arc<Mutex<Responder>>,
    throughput: Option<Arc<Mutex<ThroughputServer>>>,
    token_note: &'static str,
}

/// The endpoints of a running `serve`: what listens where, and how to stop it.
pub struct Running {
    /// `(protocol, address)` per listener: `stun/udp`, `stun/tcp`, `stun/tls`, `signal/ws`,
    /// `signal/wss`.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The TLS certificate's pin (`sha256:...`), when TLS is served.
    pub pin: Option<String>,
    /// The `ready` line's details.
    pub ready: String,
    /// Notes for the operator (a self-signed certificate and its pin), for standard error.
    pub notes: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    responder: Arc<Mutex<Responder>>,
    throughput: Option<Arc<Mutex<ThroughputServer>>>,
    signal: Option<Arc<SignalServer>>,
}

impl Running {
    /// The ports of one protocol, in order.
    pub fn ports(&self, protocol: &str) -> Vec<u16> {
        self.listeners
            .iter()
            .filter(|(p, _)| p == protocol)
            .map(|(_, a)| a.port())
            .collect()
    }

    /// Stops every listener and returns the summary lines (answered, dropped, ...).
    pub async fn stop(mut self) -> Vec<String> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let mut lines = Vec::new();
        if let Ok(counters) = self.responder.lock().map(|responder| responder.counters()) {
            lines.push(format!(
                "stopped: {} answered ({} with the token), {} dropped",
                counters.answered,
                counters.answered_authenticated,
                counters.dropped()
            ));
        }
        if let Some(counters) = self
            .throughput
            .as_ref()
            .and_then(|server| server.lock().ok().map(|server| server.counters()))
        {
            lines.push(format!(
                "throughput: {} sessions ({} refused), {} datagrams sent, {} received, {} dropped",
                counters.accepted,
                counters.refused,
                counters.data_sent,
                counters.data_received,
                counters.dropped
            ));
        }
        if let Some(signal) = &self.signal {
            let counters = signal.counters();
            lines.push(format!(
                "signaling: {} WebSockets opened ({} with the token), {} messages; \
                 refused {} for the connection rate (429), {} when full (503); \
                 {} closed for a limit; handshakes: {} failed or timed out, {} closed on \
                 arrival (too many from one source), {} ended to make room for newer ones",
                counters.opened,
                counters.opened_with_token,
                counters.messages,
                counters.refused_rate,
                counters.refused_full,
                counters.closed_by_limits,
                counters.failed_handshakes,
                counters.refused_handshakes,
                counters.evicted_handshakes
            ));
        }
        lines
    }
}

/// Runs `serve` until Ctrl-C; returns the exit status.
pub fn run(args: &ServeArgs) -> i32 {
    let env = Env::from_process();
    let token = env
        .get(ENV_TOKEN)
        .filter(|token| !token.trim().is_empty())
        .map(|token| token.trim().to_string());
    if let Some(token) = &token {
        // Out of every log line, whatever a library traces.
        crate::secret::register(token);
    }
    let prepared = match prepare(args, token) {
        Ok(prepared) => prepared,
        Err(error) => return usage(&error),
    };
    let Some(runtime) = crate::app::runtime() else {
        return crate::app::EXIT_TOOL;
    };
    runtime.block_on(async move {
        let running = match start(prepared, args).await {
            Ok(running) => running,
            Err(error) => return usage(&error),
        };
        for note in &running.notes {
            eprintln!("{note}");
        }
        for (protocol, address) in &running.listeners {
            println!("{protocol} {address}");
        }
        if let Some(pin) = &running.pin {
            println!("tls {pin}");
        }
        println!("{}", running.ready);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        for line in running.stop().await {
            eprintln!("{line}");
        }
        crate::app::EXIT_OK
    })
}

/// Starts `serve` with these arguments and token inside the current tokio runtime (`demo`
/// runs it in-process this way).
pub async fn start_with(args: &ServeArgs, token: Option<String>) -> Result<Running, String> {
    let prepared = prepare(args, token)?;
    start(prepared, args).await
}

fn prepare(args: &ServeArgs, token: Option<String>) -> Result<Prepared, String> {
    let listen: Vec<IpAddr> = parse_listen(&args.listen)?;
    let ports = |flag: &str, text: &Option<String>, default: &[u16]| -> Result<Vec<u16>, String> {
        match text {
            Some(text) => config::parse_port_list(text, true)
                .map_err(|error| format!("{flag} {text}: {error}")),
            None => Ok(default.to_vec()),
        }
    };
    let no_listener = [
        &args.stun_udp,
        &args.stun_tcp,
        &args.stun_tls,
        &args.signal_ws,
        &args.signal_wss,
    ]
    .iter()
    .all(|flag| flag.is_none());
    let defaults: &[u16] = if no_listener { &[3478] } else { &[] };
    let udp = ports("--stun-udp", &args.stun_udp, defaults)?;
    let tcp = ports("--stun-tcp", &args.stun_tcp, defaults)?;
    let tls_ports = ports("--stun-tls", &args.stun_tls, &[])?;
    let ws_ports = ports("--signal-ws", &args.signal_ws, &[])?;
    let wss_ports = ports("--signal-wss", &args.signal_wss, &[])?;
    let tls_setup = if tls_ports.is_empty() && wss_ports.is_empty() {
        None
    } else {
        Some(server_tls(args, &listen)?)
    };
    if args.rate == 0 || args.burst == 0 {
        return Err("--rate and --burst must be at least 1".into());
    }
    if args.signal_connections == 0 {
        return Err("--signal-connections must be at least 1".into());
    }
    let answerer = answerer_config(args, &listen)?;
    let signal = (!ws_ports.is_empty() || !wss_ports.is_empty()).then(|| {
        SignalServer::new(SignalConfig {
            token: token.clone(),
            limits: Limits {
                max_connections: args.signal_connections,
                ..Limits::default()
            },
            answerer: answerer.map(|config| {
                Arc::new(crate::answer::WebRtcAnswerer(answerer::Answerer::new(
                    config,
                ))) as Arc<dyn crate::signal_server::Answerer>
            }),
        })
    });
    let throughput = throughput_server(args, token.as_deref())?;
    let token_note = if token.is_some() {
        "on (from TRTC_PREFLIGHT_TOKEN)"
    } else {
        "off"
    };
    let config = ResponderConfig {
        token,
        rate_limit: Some(RateLimit {
            per_second: args.rate,
            burst: args.burst,
        }),
        ..ResponderConfig::default()
    };
    let responder = Arc::new(Mutex::new(
        Responder::new(config).map_err(|error| error.to_string())?,
    ));
    Ok(Prepared {
        listen,
        udp,
        tcp,
        tls_ports,
        ws_ports,
        wss_ports,
        tls_setup,
        signal,
        responder,
        throughput,
        token_note,
    })
}

/// The throughput test's server: with the token only, unless `--no-throughput`.
fn throughput_server(
    args: &ServeArgs,
    token: Option<&str>,
) -> Result<Option<Arc<Mutex<ThroughputServer>>>, String> {
    let max_time = config::parse_duration(&args.throughput_max_time).map_err(|error| {
        format!(
            "--throughput-max-time {}: {error}",
            args.throughput_max_time
        )
    })?;
    if !(std::time::Duration::from_millis(500)..=std::time::Duration::from_secs(60))
        .contains(&max_time)
    {
        return Err(format!(
            "--throughput-max-time {}: expected a duration from 500ms to 60s",
            args.throughput_max_time
        ));
    }
    if args.throughput_sessions == 0 {
        return Err("--throughput-sessions must be at least 1 (or pass --no-throughput)".into());
    }
    if args.throughput_max_kbps < 64 {
        return Err(format!(
            "--throughput-max-kbps {}: expected at least 64 kbit/s (or pass --no-throughput)",
            args.throughput_max_kbps
        ));
    }
    let Some(token) = token.filter(|_| !args.no_throughput) else {
        return Ok(None);
    };
    let limits = ThroughputLimits {
        max_sessions: args.throughput_sessions,
        max_rate_kbps: args.throughput_max_kbps,
        max_duration: max_time,
        ..ThroughputLimits::default()
    };
    let server = ThroughputServer::new(token, limits)?;
    Ok(Some(Arc::new(Mutex::new(server))))
}

async fn start(prepared: Prepared, args: &ServeArgs) -> Result<Running, String> {
    let Prepared {
        listen,
        udp,
        tcp,
        tls_ports,
        ws_ports,
        wss_ports,
        tls_setup,
        signal,
        responder,
        throughput,
        token_note,
    } = prepared;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut listeners: Vec<(String, SocketAddr)> = Vec::new();
    for &address in &listen {
        for &port in &udp {
            let socket = bind_udp(SocketAddr::new(address, port)).await?;
            listeners.push((
                "stun/udp".into(),
                socket.local_addr().map_err(|e| e.to_string())?,
            ));
            let (responder, mut stopped) = (responder.clone(), stopped.clone());
            let throughput = throughput.clone();
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                let served = responder::serve_udp_with(socket, responder, throughput, shutdown);
                if let Err(error) = served.await {
                    eprintln!("error: {error}");
                }
            });
        }
        for &port in &tcp {
            let listener = bind_tcp(SocketAddr::new(address, port)).await?;
            listeners.push((
                "stun/tcp".into(),
                listener.local_addr().map_err(|e| e.to_string())?,
            ));
            let (responder, mut stopped) = (responder.clone(), stopped.clone());
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                let _ =
                    responder::serve_tcp(listener, responder, TcpConfig::default(), shutdown).await;
            });
        }
        if let Some(signal) = &signal {
            let secure = tls_setup.as_ref().map(|tls| tls.wss.clone());
            let endpoints = ws_ports
                .iter()
                .map(|port| ("signal/ws", *port, None))
                .chain(
                    wss_ports
                        .iter()
                        .map(|port| ("signal/wss", *port, secure.clone())),
                );
            for (name, port, acceptor) in endpoints {
                let listener = bind_tcp(SocketAddr::new(address, port)).await?;
                listeners.push((
                    name.into(),
                    listener.local_addr().map_err(|e| e.to_string())?,
                ));
                tasks.spawn(signal.clone().serve(listener, acceptor, stopped.clone()));
            }
        }
        let Some(ServerTls { stun: acceptor, .. }) = &tls_setup else {
            continue;
        };
        for &port in &tls_ports {
            let listener = bind_tcp(SocketAddr::new(address, port)).await?;
            listeners.push((
                "stun/tls".into(),
                listener.local_addr().map_err(|e| e.to_string())?,
            ));
            let (responder, mut stopped) = (responder.clone(), stopped.clone());
            let acceptor = acceptor.clone();
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                let handshake = move |stream| acceptor.accept(stream);
                let _ = responder::serve_tcp_with(
                    listener,
                    responder,
                    TcpConfig::default(),
                    handshake,
                    shutdown,
                )
                .await;
            });
        }
    }
    let signal_note = match &signal {
        Some(signal) => {
            let limits = &signal.config().limits;
            let webrtc = if signal.config().answerer.is_some() {
                let misbehave = args
                    .misbehave
                    .as_deref()
                    .map_or(String::new(), |how| format!(", MISBEHAVING: {how}"));
                format!(
                    "; WebRTC answerer on: {} sessions of {} at most{misbehave}",
                    args.webrtc_sessions, args.webrtc_session_time
                )
            } else {
                "; WebRTC answerer off".to_string()
            };
            format!(
                "; signaling: {} new connections per second per source, burst {}, \
                 {} open at most{webrtc}",
                limits.connection_rate.per_second,
                limits.connection_rate.burst,
                limits.max_connections
            )
        }
        None => String::new(),
    };
    let throughput_note = match &throughput {
        Some(_) => format!(
            "; throughput test on UDP for token holders: {} sessions of {} kbit/s and {} at most",
            args.throughput_sessions, args.throughput_max_kbps, args.throughput_max_time
        ),
        None => String::new(),
    };
    let ready = format!(
        "ready (STUN rate limit {} per second per source, burst {}{signal_note}{throughput_note}; \
         token {token_note})",
        args.rate, args.burst
    );
    Ok(Running {
        listeners,
        pin: tls_setup
            .as_ref()
            .map(|tls| tls::format_pin(&tls.fingerprint)),
        ready,
        notes: tls_setup
            .iter()
            .filter_map(|tls| tls.note.clone())
            .collect(),
        stop,
        tasks,
        responder,
        throughput,
        signal,
    })
}

/// The WebRTC answerer's settings from the flags (`None`: `--no-answerer`). Its connections
/// bind the listen addresses (a wildcard means every interface of that family, and loopback,
/// which a wildcard leaves out, is added so that clients on this machine connect too).
fn answerer_config(
    args: &ServeArgs,
    listen: &[IpAddr],
) -> Result<Option<answerer::Config>, String> {
    let misbehave = match &args.misbehave {
        Some(how) => Some(answerer::Misbehave::parse(how.trim()).ok_or_else(|| {
            let names: Vec<&str> = answerer::Misbehave::ALL
                .iter()
                .map(|how| how.as_str())
                .collect();
            format!("--misbehave {how}: expected one of {}", names.join(", "))
        })?),
        None => None,
    };
    if args.webrtc_sessions == 0 {
        return Err("--webrtc-sessions must be at least 1".into());
    }
    let session_time = config::parse_duration(&args.webrtc_session_time).map_err(|error| {
        format!(
            "--webrtc-session-time {}: {error}",
            args.webrtc_session_time
        )
    })?;
    if args.no_answerer {
        if misbehave.is_some() {
            return Err("--misbehave needs the answerer: drop --no-answerer".into());
        }
        return Ok(None);
    }
    let mut bind: Vec<SocketAddr> = Vec::new();
    let mut add = |ip: IpAddr| {
        let address = SocketAddr::new(ip, 0);
        if !bind.contains(&address) {
            bind.push(address);
        }
    };
    for &ip in listen {
        if ip.is_unspecified() {
            // `::` serves both families here, as the other listeners do.
            add(ip);
            add(IpAddr::from([0, 0, 0, 0]));
            add(IpAddr::from([127, 0, 0, 1]));
        } else {
            add(ip);
        }
    }
    Ok(Some(answerer::Config {
        bind,
        ice_servers: Vec::new(),
        misbehave,
        max_sessions: args.webrtc_sessions,
        session_time,
    }))
}

/// The TLS acceptors (one certificate, two ALPN offers) and the certificate's fingerprint.
struct ServerTls {
    /// STUN over TLS: ALPN `stun.turn`.
    stun: TlsAcceptor,
    /// Signaling over wss: ALPN `http/1.1`.
    wss: TlsAcceptor,
    /// SHA-256 of the leaf certificate.
    fingerprint: [u8; 32],
    /// What to tell the operator about it (a self-signed certificate and its pin).
    note: Option<String>,
}

/// The TLS set-up: from `--cert`/`--key`, or self-signed.
fn server_tls(args: &ServeArgs, listen: &[IpAddr]) -> Result<ServerTls, String> {
    let (chain, key, note) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let chain = tls::load_certificates(cert).map_err(|error| format!("--cert {error}"))?;
            let key = tls::load_private_key(key).map_err(|error| format!("--key {error}"))?;
            (chain, key, None)
        }
        (None, None) => {
            let names = certificate_names(listen);
            let generated = tls::self_signed(&names).map_err(|error| error.to_string())?;
            let note = format!(
                "note: TLS uses a self-signed certificate for {}; clients pass --pin {}",
                names.join(", "),
                tls::format_pin(&generated.sha256)
            );
            (vec![generated.cert], generated.key, Some(note))
        }
        _ => {
            return Err(
                "--cert and --key go together: give both, or neither for a self-signed certificate"
                    .to_string(),
            )
        }
    };
    let fingerprint = tls::sha256(&chain[0]);
    let context = |error: tls::ServerTlsError| match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            format!("--cert {} --key {}: {error}", cert.display(), key.display())
        }
        _ => error.to_string(),
    };
    let wss = tls::acceptor(chain.clone(), key.clone_key(), &[b"http/1.1"]).map_err(context)?;
    let stun = tls::acceptor(chain, key, &[tls::ALPN_STUN_TURN]).map_err(context)?;
    Ok(ServerTls {
        stun,
        wss,
        fingerprint,
        note,
    })
}

/// Names for a self-signed certificate: `localhost`, the loopback addresses, the specific
/// `--listen` addresses, and the host name when the OS tells it.
fn certificate_names(listen: &[IpAddr]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let candidates = listen
        .iter()
        .filter(|address| !address.is_unspecified())
        .map(|address| address.to_string())
        .chain(host.map(|host| host.trim().to_string()));
    for name in candidates {
        let usable = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if usable && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn usage(message: &str) -> i32 {
    eprintln!("error: {message}");
    crate::app::EXIT_USAGE
}

fn parse_listen(values: &[String]) -> Result<Vec<IpAddr>, String> {
    if values.is_empty() {
        // `::` takes IPv4 too where the OS allows dual-stack sockets; else fall back to IPv4.
        let dual = std::net::UdpSocket::bind("[::]:0").is_ok();
        return Ok(vec![if dual {
            IpAddr::from([0u16; 8])
        } else {
            IpAddr::from([0, 0, 0, 0])
        }]);
    }
    values
        .iter()
        .map(|value| {
            value
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .map_err(|_| format!("--listen {value}: not an IPv4 or IPv6 address"))
        })
        .collect()
}

fn bind_error(protocol: &str, address: SocketAddr, error: std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::PermissionDenied if address.port() < 1024 => {
            " Ports below 1024 (such as TRTC's 443 and 843) need privileges: run as root, or grant the binary CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep \"$(command -v trtc-preflight)\")."
                .to_string()
        }
        std::io::ErrorKind::AddrInUse => " Another program uses that port; stop it or choose another port.".to_string(),
        std::io::ErrorKind::AddrNotAvailable => " That address is not on this machine.".to_string(),
        _ => String::new(),
    };
    format!("cannot listen on {protocol} {address}: {error}.{hint}")
}

async fn bind_udp(address: SocketAddr) -> Result<UdpSocket, String> {
    UdpSocket::bind(address)
        .await
        .map_err(|error| bind_error("UDP", address, error))
}

async fn bind_tcp(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| bind_error("TCP", address, error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_default_arguments_are_the_command_lines() {
        let cli = crate::cli::Cli::try_parse_from(["trtc-preflight", "serve"]).unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(format!("{args:?}"), format!("{:?}", ServeArgs::default()));
    }

    #[test]
    fn the_answerer_binds_loopback_beside_a_wildcard() {
        let args = ServeArgs::default();
        let config = answerer_config(&args, &["::".parse().unwrap()])
            .unwrap()
            .unwrap();
        let bind: Vec<String> = config.bind.iter().map(|a| a.to_string()).collect();
        assert_eq!(bind, ["[::]:0", "0.0.0.0:0", "127.0.0.1:0"]);
        let config = answerer_config(&args, &["127.0.0.1".parse().unwrap()])
            .unwrap()
            .unwrap();
        assert_eq!(config.bind, [SocketAddr::from(([127, 0, 0, 1], 0))]);
        assert_eq!(config.max_sessions, 16);
        assert_eq!(config.session_time, std::time::Duration::from_secs(60));
    }

    #[test]
    fn the_throughput_test_needs_the_token_and_sane_limits() {
        let args = ServeArgs::default();
        assert!(throughput_server(&args, None).unwrap().is_none());
        assert!(throughput_server(&args, Some("t")).unwrap().is_some());
        let off = ServeArgs {
            no_throughput: true,
            ..ServeArgs::default()
        };
        assert!(throughput_server(&off, Some("t")).unwrap().is_none());
        let with = |change: &dyn Fn(&mut ServeArgs)| {
            let mut args = ServeArgs::default();
            change(&mut args);
            throughput_server(&args, Some("t")).map(|server| server.is_some())
        };
        assert_eq!(
            with(&|a| a.throughput_max_time = "2m".into()).unwrap_err(),
            "--throughput-max-time 2m: expected a duration from 500ms to 60s"
        );
        assert!(with(&|a| a.throughput_max_time = "soon".into())
            .unwrap_err()
            .starts_with("--throughput-max-time soon: "));
        assert!(with(&|a| a.throughput_sessions = 0)
            .unwrap_err()
            .starts_with("--throughput-sessions"));
        assert!(with(&|a| a.throughput_max_kbps = 10)
            .unwrap_err()
            .starts_with("--throughput-max-kbps 10"));
    }

    #[test]
    fn misbehaviour_and_limits_are_checked() {
        let listen = ["127.0.0.1".parse().unwrap()];
        let with = |change: &dyn Fn(&mut ServeArgs)| {
            let mut args = ServeArgs::default();
            change(&mut args);
            answerer_config(&args, &listen)
        };
        let error = with(&|a| a.misbehave = Some("explode".into())).unwrap_err();
        assert_eq!(
            error,
            "--misbehave explode: expected one of never-answer, stall-dtls, drop-uplink, drop-downlink"
        );
        let config = with(&|a| a.misbehave = Some("stall-dtls".into()))
            .unwrap()
            .unwrap();
        assert_eq!(config.misbehave, Some(answerer::Misbehave::StallDtls));
        assert!(with(&|a| a.webrtc_sessions = 0).is_err());
        assert!(with(&|a| a.webrtc_session_time = "soon".into())
            .unwrap_err()
            .starts_with("--webrtc-session-time soon: "));
        assert_eq!(with(&|a| a.no_answerer = true).unwrap(), None);
        assert!(with(&|a| {
            a.no_answerer = true;
            a.misbehave = Some("stall-dtls".into());
        })
        .is_err());
    }
}
