//! Benchmarks of the signaling WebSocket, against `serve --signal-ws/--signal-wss` on loopback
//! (driven by `benches/signaling.sh`). Not a test: it prints numbers.
//!
//! ```text
//! ws_bench open URL PIN N              probe vs bare connect, N times each, alternately
//! ws_bench idle URL N [SECONDS]        hold N WebSockets open until a line on stdin (or SECONDS)
//! ws_bench echo URL SECONDS CONNECTIONS  echo round trips, 32 in flight per connection
//! ```
//!
//! `open`: (a) the signaling probe (`preflight_probes::signaling::probe`, no pings, trust by
//! pin), its own step timings; (b) a bare open: TCP, our TLS client with the same pin, then
//! `tokio_tungstenite::client_async`, each step timed the same way. Medians and p90 of both, and
//! the probe's overhead as a ratio.
//!
//! Every upgrade carries `X-TRTC-Preflight-Token` from `TRTC_PREFLIGHT_TOKEN` when it is set:
//! `serve` then skips its per-source connection rate and per-connection message rate, which
//! would otherwise refuse a benchmark's bursts.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use preflight_probes::route;
use preflight_probes::signaling::{self, Settings, Target, TOKEN_HEADER};
use preflight_probes::tls::{self, Trust};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Request};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

/// The environment variable holding `serve`'s token.
const ENV_TOKEN: &str = "TRTC_PREFLIGHT_TOKEN";

/// Upgrades in progress at once in `idle` and `echo` (`serve` closes TCP connections beyond
/// 256 handshakes in progress).
const OPENING_AT_ONCE: usize = 64;

/// Echo requests in flight per connection.
const WINDOW: usize = 32;

/// A held connection pings this often, so that `serve`'s 60 s idle timeout does not close it
/// when it is held for long (the pings of a real client's heartbeat).
const KEEPALIVE: Duration = Duration::from_secs(20);

/// The echo request.
const ECHO: &str = r#"{"type":"echo","data":"x"}"#;

const USAGE: &str =
    "usage: ws_bench open URL PIN N | idle URL N [SECONDS] | echo URL SECONDS CONNECTIONS";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["open", url, pin, n] => match n.parse() {
            Ok(n) if n > 0 => open(url, pin, n).await,
            _ => Err(format!("N: {n:?} is not a positive number").into()),
        },
        ["idle", url, n, rest @ ..] if rest.len() <= 1 => {
            let timeout = match rest.first().map(|s| s.parse::<f64>()) {
                None => Ok(None),
                Some(Ok(seconds)) if seconds > 0.0 => Ok(Some(Duration::from_secs_f64(seconds))),
                Some(_) => Err(format!("SECONDS: {:?} is not a positive number", rest[0])),
            };
            match (n.parse(), timeout) {
                (Ok(n), Ok(timeout)) => idle(url, n, timeout).await,
                (Err(_), _) => Err(format!("N: {n:?} is not a number").into()),
                (_, Err(error)) => Err(error.into()),
            }
        }
        ["echo", url, seconds, connections] => {
            match (seconds.parse::<f64>(), connections.parse()) {
                (Ok(seconds), Ok(connections)) if seconds > 0.0 && connections > 0 => {
                    echo(url, Duration::from_secs_f64(seconds), connections).await
                }
                _ => Err("SECONDS and CONNECTIONS are positive numbers".into()),
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn token() -> Option<String> {
    std::env::var(ENV_TOKEN)
        .ok()
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty())
}

/// The upgrade request for `url`, with the token header when there is a token.
fn request(url: &str, token: Option<&str>) -> Result<Request<()>, Error> {
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request
            .headers_mut()
            .insert(TOKEN_HEADER, HeaderValue::from_str(token)?);
    }
    Ok(request)
}

/// The first address of the target's host.
async fn address(target: &Target) -> Result<SocketAddr, Error> {
    tokio::net::lookup_host((target.host.as_str(), target.port))
        .await?
        .next()
        .ok_or_else(|| format!("{}: no address", target.host).into())
}

// ---------------------------------------------------------------------------------------------
// open: the probe against a bare connect
// ---------------------------------------------------------------------------------------------

/// One open's step timings.
#[derive(Default)]
struct Sample {
    tcp: Duration,
    tls: Duration,
    upgrade: Duration,
    /// From the start of the TCP connect to the open WebSocket.
    open: Duration,
    /// The whole call: for the probe, `probe()` from start to return (route, lookup, egress,
    /// open, clean close); for the bare connect, open then clean close.
    wall: Duration,
}

async fn open(url: &str, pin: &str, n: usize) -> Result<(), Error> {
    let target = Target::parse(url)?;
    if !target.secure {
        return Err("open measures wss://: give a wss:// URL".into());
    }
    let trust = Trust {
        pin: Some(tls::parse_pin(pin).map_err(|error| error.0)?),
        ..Trust::default()
    };
    let token = token();
    let settings = Settings {
        trust: trust.clone(),
        pings: 0,
        token: token.clone(),
        ..Settings::default()
    };
    let at = address(&target).await?;
    // Warm both paths up (allocator, first handshake) before measuring.
    for _ in 0..3 {
        probe_once(&target, &settings).await?;
        bare_once(url, &target, at, &trust, token.as_deref()).await?;
    }
    let (mut probes, mut bares) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut egress = Vec::with_capacity(n);
    for _ in 0..n {
        probes.push(probe_once(&target, &settings).await?);
        bares.push(bare_once(url, &target, at, &trust, token.as_deref()).await?);
        // What the probe does per family before its TCP timer starts: the egress interface.
        let began = Instant::now();
        let _ = route::egress(at);
        egress.push(began.elapsed());
    }
    println!("open {url}: {n} probes and {n} bare connects, alternately, one process");
    println!(
        "{:<8} {:>24} {:>24} {:>16}",
        "step", "probe median / p90 ms", "bare median / p90 ms", "ratio (median)"
    );
    type Field = fn(&Sample) -> Duration;
    let fields: [(&str, Field); 5] = [
        ("tcp", |s| s.tcp),
        ("tls", |s| s.tls),
        ("upgrade", |s| s.upgrade),
        ("open", |s| s.open),
        ("wall", |s| s.wall),
    ];
    for (name, field) in fields {
        let (pm, p9) = median_p90(probes.iter().map(field).collect());
        let (bm, b9) = median_p90(bares.iter().map(field).collect());
        println!(
            "{name:<8} {:>24} {:>24} {:>16}",
            format!("{} / {}", ms(pm), ms(p9)),
            format!("{} / {}", ms(bm), ms(b9)),
            format!("{:.2}x", pm.as_secs_f64() / bm.as_secs_f64().max(1e-9)),
        );
    }
    let (pm, _) = median_p90(probes.iter().map(|s| s.open).collect());
    let (bm, _) = median_p90(bares.iter().map(|s| s.open).collect());
    println!(
        "probe overhead to an open WebSocket: {:.2}x the bare connect ({} ms vs {} ms, medians)",
        pm.as_secs_f64() / bm.as_secs_f64().max(1e-9),
        ms(pm),
        ms(bm)
    );
    let (pw, _) = median_p90(probes.iter().map(|s| s.wall).collect());
    let (bw, _) = median_p90(bares.iter().map(|s| s.wall).collect());
    println!(
        "whole call (with lookup, egress and clean close): {:.2}x ({} ms vs {} ms, medians)",
        pw.as_secs_f64() / bw.as_secs_f64().max(1e-9),
        ms(pw),
        ms(bw)
    );
    let (em, e9) = median_p90(egress);
    println!(
        "of which route::egress alone (interfaces, MTU, tunnel: before the probe's TCP timer): \
         {} / {} ms (median / p90)",
        ms(em),
        ms(e9)
    );
    Ok(())
}

async fn probe_once(target: &Target, settings: &Settings) -> Result<Sample, Error> {
    let started = Instant::now();
    let observation = signaling::probe(target, settings).await;
    let wall = started.elapsed();
    let attempt = observation
        .families
        .iter()
        .find(|attempt| attempt.opened())
        .ok_or_else(|| format!("the probe did not open: {:?}", observation.failures()))?;
    let timings = &attempt.timings;
    let missing = || "the probe opened but left a timing out".to_string();
    Ok(Sample {
        tcp: timings.tcp.ok_or_else(missing)?,
        tls: timings.tls.ok_or_else(missing)?,
        upgrade: timings.upgrade.ok_or_else(missing)?,
        open: timings.open.ok_or_else(missing)?,
        wall,
    })
}

async fn bare_once(
    url: &str,
    target: &Target,
    at: SocketAddr,
    trust: &Trust,
    token: Option<&str>,
) -> Result<Sample, Error> {
    let started = Instant::now();
    let tcp = TcpStream::connect(at).await?;
    let tcp_took = started.elapsed();
    let began = Instant::now();
    let (stream, _facts) = tls::connect(
        tcp,
        &target.host,
        trust,
        &[signaling::ALPN_HTTP1],
        Duration::from_secs(5),
    )
    .await?;
    let tls_took = began.elapsed();
    let began = Instant::now();
    let (mut ws, _response) = tokio_tungstenite::client_async(request(url, token)?, stream).await?;
    let upgrade = began.elapsed();
    let open = started.elapsed();
    ws.close(None).await?;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(Sample {
        tcp: tcp_took,
        tls: tls_took,
        upgrade,
        open,
        wall: started.elapsed(),
    })
}

fn median_p90(mut values: Vec<Duration>) -> (Duration, Duration) {
    values.sort();
    let rank = |q: f64| {
        let index = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[index]
    };
    (rank(0.5), rank(0.9))
}

fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------------------------
// idle: many open WebSockets, held
// ---------------------------------------------------------------------------------------------

/// A client configuration sized for many connections: small read buffer, no write buffer.
fn lean() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Opens `n` plain WebSockets to `url`, `OPENING_AT_ONCE` at a time; the open ones, the
/// failures and the first failure's words.
async fn open_many(
    url: &str,
    n: usize,
) -> Result<(Vec<WebSocketStream<TcpStream>>, usize, Option<String>), Error> {
    let target = Target::parse(url)?;
    if target.secure {
        return Err("idle and echo use ws:// (plain): give a ws:// URL".into());
    }
    let at = address(&target).await?;
    let token = token();
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = request(url, token.as_deref())?;
        let gate = gate.clone();
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let tcp = TcpStream::connect(at).await.map_err(|e| e.to_string())?;
            let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(lean()))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(ws)
        });
    }
    let (mut open, mut failed, mut first) = (Vec::with_capacity(n), 0, None);
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(ws) => open.push(ws),
            Err(error) => {
                failed += 1;
                first.get_or_insert(error);
            }
        }
    }
    Ok((open, failed, first))
}

async fn idle(url: &str, n: usize, timeout: Option<Duration>) -> Result<(), Error> {
    let started = Instant::now();
    let (sockets, failed, first) = open_many(url, n).await?;
    let opened = sockets.len();
    println!(
        "idle: opened {opened} of {n} WebSockets in {:.2} s ({failed} failed{})",
        started.elapsed().as_secs_f64(),
        first.map_or_else(String::new, |why| format!(", first: {why}"))
    );
    let (stop, stopped) = watch::channel(false);
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut held = tokio::task::JoinSet::new();
    for ws in sockets {
        held.spawn(hold(ws, stopped.clone(), dropped.clone()));
    }
    if let Some(rss) = own_rss_kib() {
        println!("idle: this client's VmRSS while holding: {rss} KiB");
    }
    println!("held {opened}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // A line on stdin releases them (read on a thread: tokio's stdin needs a feature we lack).
    let (line_tx, line_rx) = tokio::sync::oneshot::channel::<bool>();
    std::thread::spawn(move || {
        let mut line = String::new();
        let got_line = matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0);
        let _ = line_tx.send(got_line);
    });
    let stdin_or_forever = async {
        match line_rx.await {
            Ok(true) => {}
            // End of stdin: with a timeout, wait for it; without, release now.
            _ if timeout.is_some() => std::future::pending::<()>().await,
            _ => {}
        }
    };
    let released_by = match timeout {
        Some(timeout) => tokio::select! {
            _ = stdin_or_forever => "stdin",
            _ = tokio::time::sleep(timeout) => "timeout",
        },
        None => {
            stdin_or_forever.await;
            "stdin"
        }
    };
    let still_open = opened - dropped.load(Ordering::Relaxed);
    println!("idle: released by {released_by}; {still_open} of {opened} still open then");
    let _ = stop.send(true);
    let closing = Instant::now();
    while held.join_next().await.is_some() {}
    println!(
        "idle: closed all in {:.2} s",
        closing.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Holds one WebSocket: answers the server (tungstenite answers pings as it reads), pings every
/// `KEEPALIVE`, and closes cleanly when `stop` turns true.
async fn hold(
    mut ws: WebSocketStream<TcpStream>,
    mut stop: watch::Receiver<bool>,
    dropped: Arc<AtomicUsize>,
) {
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    if ws.close(None).await.is_ok() {
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                })
                .await;
                return;
            }
            _ = keepalive.tick() => {
                if ws.send(Message::Ping(Bytes::from_static(b"keepalive"))).await.is_err() {
                    break;
                }
            }
            frame = ws.next() => match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    dropped.fetch_add(1, Ordering::Relaxed);
    // Dropped by the server: wait for the release anyway.
    let _ = stop.changed().await;
}

/// This process's resident memory, from /proc (Linux).
fn own_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// echo: message round trips
// ---------------------------------------------------------------------------------------------

async fn echo(url: &str, seconds: Duration, connections: usize) -> Result<(), Error> {
    let (sockets, failed, first) = open_many(url, connections).await?;
    if failed > 0 {
        return Err(format!(
            "{failed} of {connections} connections did not open: {}",
            first.unwrap_or_default()
        )
        .into());
    }
    let replies = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + seconds;
    let mut tasks = tokio::task::JoinSet::new();
    for ws in sockets {
        tasks.spawn(pipeline(ws, deadline, replies.clone()));
    }
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(error)) => errors.push(error.to_string()),
            Err(error) => errors.push(error.to_string()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = replies.load(Ordering::Relaxed);
    println!(
        "echo: {connections} connections, window {WINDOW}, {elapsed:.2} s: {total} replies, \
         {:.0} messages/s (round trips; the server read and wrote as many)",
        total as f64 / elapsed
    );
    if let Some(error) = errors.first() {
        return Err(format!("{} connections failed, first: {error}", errors.len()).into());
    }
    Ok(())
}

/// Keeps `WINDOW` echo requests in flight on `ws` until `deadline`; counts the echo replies;
/// then closes cleanly.
async fn pipeline(
    mut ws: WebSocketStream<TcpStream>,
    deadline: tokio::time::Instant,
    replies: Arc<AtomicU64>,
) -> Result<(), Error> {
    let mut in_flight = 0;
    let mut count = 0;
    loop {
        if in_flight < WINDOW {
            while in_flight < WINDOW {
                ws.feed(Message::text(ECHO)).await?;
                in_flight += 1;
            }
            ws.flush().await?;
        }
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(text)))) => {
                // The server re-serializes the object (its keys may come back reordered).
                if !text.as_str().contains(r#""type":"echo""#) {
                    return Err(format!("unexpected reply: {}", text.as_str()).into());
                }
                in_flight -= 1;
                count += 1;
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(format!("the server closed: {frame:?}").into())
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(error.into()),
            Ok(None) => return Err("the server ended the connection".into()),
        }
    }
    replies.fetch_add(count, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    Ok(())
}
