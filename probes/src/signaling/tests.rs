//! The signaling probe against servers written here, on loopback only: a tungstenite
//! WebSocket server (plain and over TLS), raw TCP servers that answer by hand (refusals,
//! redirects, broken handshakes, silence, drops), an HTTP CONNECT proxy, and tinyproxy when it
//! is installed. Names other than `localhost` are never resolved: `--resolve` overrides point
//! them at loopback.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::upgrade::unix_now;
use super::*;
use crate::tls::{CertificateDer, PeerSpoke, TlsAcceptor, Verification};

const LAB: &str = "signal.lab";

/// Short timeouts: everything here is on loopback.
fn fast() -> Settings {
    Settings {
        connect_timeout: Duration::from_secs(2),
        proxy_timeout: Duration::from_secs(2),
        tls_timeout: Duration::from_secs(2),
        upgrade_timeout: Duration::from_secs(2),
        pings: 3,
        ping_interval: Duration::from_millis(10),
        pong_timeout: Duration::from_millis(500),
        ..Settings::default()
    }
}

/// `signal.lab` (and `other.lab`) at these addresses.
fn lab(addresses: &[&str]) -> Overrides {
    Overrides::new(addresses.iter().flat_map(|address| {
        [LAB, "other.lab"].map(|host| (host.to_string(), address.parse::<IpAddr>().unwrap()))
    }))
}

fn target(url: &str) -> Target {
    Target::parse(url).unwrap()
}

fn only(observation: &Observation) -> &FamilyAttempt {
    assert_eq!(observation.families.len(), 1, "{observation:#?}");
    &observation.families[0]
}

/// An HTTP date (IMF-fixdate; the weekday is not checked by the probe).
fn http_date(unix: i64) -> String {
    let utc = crate::tls::utc(unix); // 2021-01-01 00:00:00 UTC
    let month: usize = utc[5..7].parse().unwrap();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "Mon, {} {} {} {} GMT",
        &utc[8..10],
        months[month - 1],
        &utc[0..4],
        &utc[11..19]
    )
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// What the WebSocket server does once open.
#[derive(Clone, Copy)]
enum After {
    /// Reads (answering pings) until the client closes.
    Serve,
    /// Sends a close frame with this code.
    Close(u16),
}

/// The upgrade requests the WebSocket server saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    fn all(&self) -> Vec<HeaderMap> {
        self.0.lock().unwrap().clone()
    }
}

/// A tungstenite WebSocket server on `listener`, over TLS when `tls` is given, whose
/// answers carry `Date: date` when given.
fn ws_server(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    date: Option<i64>,
    after: After,
) -> Seen {
    let seen = Seen::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tls, record) = (tls.clone(), record.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_ws(stream, date, after, record).await;
                        }
                    }
                    None => serve_ws(stream, date, after, record).await,
                }
            });
        }
    });
    seen
}

// tungstenite's callback returns its own `Result<Response, ErrorResponse>`.
#[allow(clippy::result_large_err)]
async fn serve_ws<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    date: Option<i64>,
    after: After,
    seen: Seen,
) {
    let callback = |request: &Request, mut response: Response| {
        seen.0.lock().unwrap().push(request.headers().clone());
        if let Some(date) = date {
            response
                .headers_mut()
                .insert("Date", HeaderValue::from_str(&http_date(date)).unwrap());
        }
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    match after {
        After::Serve => while let Some(Ok(_)) = socket.next().await {},
        After::Close(code) => {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: "going away".into(),
            };
            let _ = socket.close(Some(frame)).await;
            while let Some(Ok(_)) = socket.next().await {}
        }
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

/// A plain TCP server on loopback that runs `serve` on each connection.
async fn tcp_server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (listener, address) = listener().await;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    address
}

/// Reads an HTTP request (or CONNECT) head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A server that answers every request with `answer`, then waits for the client to close.
async fn answering(answer: &'static str) -> SocketAddr {
    tcp_server(move |mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream.write_all(answer.as_bytes()).await;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await
}

/// The `101` answer for a request head.
fn switching(head: &str) -> String {
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// A server that completes the upgrade by hand, then runs `then` on the open stream.
async fn upgrading<F, Fut>(then: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tcp_server(move |mut stream| async move {
        let head = read_head(&mut stream).await;
        if stream.write_all(switching(&head).as_bytes()).await.is_ok() {
            then(stream).await;
        }
    })
    .await
}

/// Reads and discards until the client closes.
async fn discard(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> SocketAddr {
    let (listener, address) = listener().await;
    drop(listener);
    address
}

/// A private CA, and leaves it signs.
struct LabCa {
    cert: CertificateDer<'static>,
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
}

impl LabCa {
    fn new() -> LabCa {
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "Inspecting Proxy CA");
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        LabCa { cert, params, key }
    }

    /// An acceptor with a leaf for `names`, valid between the two years, offering
    /// `http/1.1`.
    fn acceptor(&self, names: &[&str], from: i32, until: i32) -> TlsAcceptor {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap().der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        tls::acceptor(vec![cert], key, &[ALPN_HTTP1]).unwrap()
    }

    fn trust(&self) -> Trust {
        Trust {
            ca: Some(vec![self.cert.clone()]),
            ..Trust::default()
        }
    }
}

/// A self-signed certificate for `signal.lab` (what `serve` makes), its acceptor and pin.
fn serve_tls() -> (TlsAcceptor, [u8; 32]) {
    let own = tls::self_signed(&[LAB.to_string()]).unwrap();
    let acceptor = tls::acceptor(vec![own.cert], own.key, &[ALPN_HTTP1]).unwrap();
    (acceptor, own.sha256)
}

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_websocket_opens_and_answers_every_ping() {
    let (listener, address) = listener().await;
    let seen = ws_server(listener, None, Some(unix_now()), After::Serve);
    let settings = Settings {
        token: Some("s3cret".to_string()),
        origin: Some("https://app.lab".to_string()),
        ..fast()
    };
    let target = target(&format!("ws://127.0.0.1:{}/signal?room=7", address.port()));
    let observation = probe(&target, &settings).await;

    assert_eq!(observation.route, Route::Direct);
    assert_eq!(observation.resolution.host, "127.0.0.1");
    assert!(observation.opened());
    assert!(
        observation.failures().is_empty(),
        "{:?}",
        observation.failures()
    );
    let attempt = only(&observation);
    assert_eq!((attempt.family, attempt.address), (Family::V4, address));
    assert!(attempt.tcp.connected());
    assert_eq!((&attempt.proxy, &attempt.tls), (&None, &None));
    assert_eq!(attempt.upgrade.as_ref().unwrap().status(), Some(101));
    assert_eq!(attempt.pongs.len(), 3);
    assert!(
        attempt.pongs.iter().all(Option::is_some),
        "{:?}",
        attempt.pongs
    );
    assert_eq!(
        (&attempt.dropped, attempt.closed_cleanly),
        (&None, Some(true))
    );
    assert_eq!(attempt.first_failure(), None);
    let timings = &attempt.timings;
    assert!(timings.tcp.is_some() && timings.upgrade.is_some() && timings.open.is_some());
    assert!(timings.open >= timings.upgrade);
    let skew = attempt.received_at.unwrap() - attempt.server_date.unwrap();
    assert!(skew.abs() <= 2, "{skew}");

    let requests = seen.all();
    assert_eq!(requests.len(), 1);
    let header = |name| {
        requests[0]
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(header(TOKEN_HEADER).as_deref(), Some("s3cret"));
    assert_eq!(header("origin").as_deref(), Some("https://app.lab"));
    assert_eq!(
        header("host"),
        Some(format!("127.0.0.1:{}", address.port()))
    );
    assert!(header("user-agent").unwrap().starts_with("trtc-preflight/"));
    // The token is a secret: never in Debug output.
    assert!(!format!("{settings:?}").contains("s3cret"));
}

#[tokio::test]
async fn localhost_is_resolved_by_the_system() {
    let (listener, address) = listener().await;
    ws_server(listener, None, None, After::Serve);
    let target = target(&format!("ws://localhost:{}/", address.port()));
    let observation = probe(&target, &Settings { pings: 1, ..fast() }).await;
    let resolved = observation.resolution.result.as_ref().unwrap();
    assert_eq!(resolved.source, crate::resolve::Source::System);
    let v4 = &observation.families[0];
    assert_eq!(v4.family, Family::V4);
    assert!(v4.opened(), "{v4:#?}");
}

#[tokio::test]
async fn wss_opens_with_a_pin_and_reports_the_handshake() {
    let (acceptor, pin) = serve_tls();
    let (listener, address) = listener().await;
    ws_server(listener, Some(acceptor), None, After::Serve);
    let settings = Settings {
        overrides: lab(&["127.0.0.1"]),
        trust: Trust {
            pin: Some(pin),
            ..Trust::default()
        },
        ..fast()
    };
    let observation = probe(
        &target(&format!("wss://{LAB}:{}/ws", address.port())),
        &settings,
    )
    .await;
    let attempt = only(&observation);
    assert!(attempt.opened(), "{attempt:#?}");
    let facts = attempt.tls.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(facts.server_name, LAB);
    assert_eq!(facts.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(facts.verification, Verification::Pin);
    assert_eq!(facts.leaf.as_ref().unwrap().names, [LAB]);
    assert!(attempt.timings.tls.is_some());
    assert_eq!(attempt.pongs.iter().flatten().count(), 3);
    assert_eq!(attempt.server_date, None);
}

#[tokio::test]
async fn both_families_are_tried_and_one_may_fail_alone() {
    let (listener, address) = listener().await;
    ws_server(listener, None, None, After::Serve);
    // The same port on ::1, free: nothing listens there.
    let v6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), address.port());
    match std::net::TcpListener::bind(v6) {
        Ok(probe) => drop(probe),
        Err(error) => {
            eprintln!("skipped: no IPv6 loopback here ({error})");
            return;
        }
    }
    let settings = Settings {
        overrides: lab(&["127.0.0.1", "::1"]),
        pings: 1,
        ..fast()
    };
    let observation = probe(
        &target(&format!("ws://{LAB}:{}/", address.port())),
        &settings,
    )
    .await;
    assert_eq!(observation.families.len(), 2);
    let (four, six) = (&observation.families[0], &observation.families[1]);
    assert_eq!((four.family, six.family), (Family::V4, Family::V6));
    assert!(four.opened());
    assert_eq!(six.address, v6);
    assert_eq!(six.tcp, TcpStep::Refused);
    assert_eq!(six.first_failure().unwrap().0, Step::Tcp);
    let failures = observation.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].family, Some(Family::V6));
}

#[tokio::test]
async fn a_closed_port_is_refused_at_tcp() {
    let address = closed_port().await;
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let attempt = only(&observation);
    assert_eq!(attempt.tcp, TcpStep::Refused);
    assert!(attempt.timings.tcp.is_some());
    assert_eq!(attempt.upgrade, None);
    let (step, detail) = attempt.first_failure().unwrap();
    assert_eq!(step, Step::Tcp);
    assert!(
        detail.contains(&address.to_string()) && detail.contains("refused"),
        "{detail}"
    );
}

#[test]
fn the_probe_and_the_reconnection_check_can_be_spawned() {
    fn send<T: Send>(_: &T) {}
    let (target, settings) = (target("ws://127.0.0.1:1/"), fast());
    send(&probe(&target, &settings));
    send(&reconnect(&target, &settings, 1, Duration::ZERO));
}

#[test]
fn a_name_that_did_not_resolve_is_the_only_failure() {
    // No resolver is asked here (tests resolve nothing but localhost): the observation is
    // built as the probe builds it.
    let observation = Observation {
        target: target("wss://signal.invalid/"),
        route: Route::Direct,
        resolution: Resolution {
            host: "signal.invalid".to_string(),
            result: Err(crate::resolve::ResolveError::Failed {
                host: "signal.invalid".to_string(),
                reason: "Name or service not known".to_string(),
            }),
            took: Duration::from_millis(3),
        },
        families: Vec::new(),
    };
    assert!(!observation.opened());
    assert_eq!(
        observation.failures(),
        [Failure {
            family: None,
            step: Step::Resolve,
            detail: "the name signal.invalid did not resolve: Name or service not known"
                .to_string(),
        }]
    );
}

#[test]
fn targets_are_read_from_ws_and_wss_urls() {
    let t = target("WSS://Signal.Example.COM/ws?sdkAppId=1400&x=%20");
    assert_eq!(
        (t.host.as_str(), t.port, t.path_and_query.as_str(), t.secure),
        ("signal.example.com", 443, "/ws?sdkAppId=1400&x=%20", true)
    );
    assert_eq!(t.host_header(), "signal.example.com");
    assert_eq!(t.authority(), "signal.example.com:443");
    let t = target("ws://[::1]:8080?room=1");
    assert_eq!(
        (t.host.as_str(), t.port, t.path_and_query.as_str(), t.secure),
        ("::1", 8080, "/?room=1", false)
    );
    assert_eq!(t.host_header(), "[::1]:8080");
    assert_eq!(t.to_string(), "ws://[::1]:8080/?room=1");
    assert_eq!(target("ws://10.0.0.1").port, 80);
    assert_eq!(target("wss://[2001:db8::1]").host_header(), "[2001:db8::1]");

    for (bad, says) in [
        ("signal.example.com", "not a URL"),
        ("https://signal.example.com/", "ws:// or wss://"),
        ("wss://user:pw@signal.example.com/", "user and password"),
        ("wss://signal.example.com/#top", "fragment"),
        ("wss://signal.example.com:0/", "port"),
        ("wss://signal.example.com:99999/", "port"),
        ("wss://:443/", "host"),
        ("wss://sig nal.example.com/", "host"),
        ("wss://[::1/", "host"),
        ("wss://signal.example.com/a b", "percent-encode"),
        ("wss://signal.example.com/é", "percent-encode"),
    ] {
        let error = Target::parse(bad).unwrap_err();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// The upgrade
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_upgrade_refused_with_403_says_status_reason_and_body() {
    let address = answering(
        "HTTP/1.1 403 Forbidden by policy\r\nContent-Type: text/html\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 58\r\n\r\n<html><body><h1>Access denied</h1> WebSockets are blocked</body></html>",
    )
    .await;
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let attempt = only(&observation);
    match attempt.upgrade.as_ref().unwrap() {
        UpgradeOutcome::Refused {
            status,
            reason,
            body,
            headers,
        } => {
            assert_eq!((*status, reason.as_str()), (403, "Forbidden by policy"));
            assert_eq!(body, "Access denied WebSockets are blocked");
            assert_eq!(
                headers[0],
                ("Content-Type".to_string(), "text/html".to_string())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(attempt.server_date, Some(784_111_777));
    assert!(attempt.received_at.is_some());
    assert!(attempt.pongs.is_empty());
    let (step, detail) = attempt.first_failure().unwrap();
    assert_eq!(step, Step::Upgrade);
    assert!(detail.contains("403 Forbidden by policy"), "{detail}");
}

#[tokio::test]
async fn a_redirect_names_its_location() {
    let address = answering(
        "HTTP/1.1 302 Found\r\nLocation: http://portal.lab/login?next=%2F\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let upgrade = only(&observation).upgrade.clone().unwrap();
    assert_eq!(
        upgrade,
        UpgradeOutcome::Redirected {
            status: 302,
            reason: "Found".to_string(),
            location: Some("http://portal.lab/login?next=%2F".to_string()),
            headers: vec![
                (
                    "Location".to_string(),
                    "http://portal.lab/login?next=%2F".to_string()
                ),
                ("Content-Length".to_string(), "0".to_string()),
            ],
        }
    );
    assert!(
        upgrade.to_string().contains("portal.lab/login"),
        "{upgrade}"
    );
}

#[tokio::test]
async fn a_101_without_the_websocket_headers_is_a_bad_handshake() {
    let wrong_accept = answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBvbmU=\r\n\r\n",
    )
    .await;
    let no_upgrade =
        answering("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n").await;
    for (address, problem) in [
        (wrong_accept, HandshakeProblem::WrongAccept),
        (no_upgrade, HandshakeProblem::MissingUpgrade),
    ] {
        let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
        match only(&observation).upgrade.as_ref().unwrap() {
            UpgradeOutcome::BadHandshake {
                problem: got,
                headers,
            } => {
                assert_eq!(*got, problem);
                assert!(!headers.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_server_that_says_nothing_times_out_and_one_that_closes_is_closed() {
    let silent = tcp_server(discard).await;
    let closing = tcp_server(|mut stream| async move {
        read_head(&mut stream).await;
    })
    .await;
    let settings = Settings {
        upgrade_timeout: Duration::from_millis(200),
        ..fast()
    };
    let observation = probe(&target(&format!("ws://{silent}/")), &settings).await;
    match only(&observation).upgrade.as_ref().unwrap() {
        UpgradeOutcome::Timeout { after, received } => {
            assert!(*after >= Duration::from_millis(200));
            assert_eq!(*received, 0);
        }
        other => panic!("{other:?}"),
    }
    let observation = probe(&target(&format!("ws://{closing}/")), &settings).await;
    let upgrade = only(&observation).upgrade.clone().unwrap();
    assert!(
        matches!(upgrade, UpgradeOutcome::Closed { .. }),
        "{upgrade:?}"
    );
}

#[tokio::test]
async fn a_tls_server_reached_with_ws_is_not_http() {
    let (acceptor, _) = serve_tls();
    let (listener, address) = listener().await;
    ws_server(listener, Some(acceptor), None, After::Serve);
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let upgrade = only(&observation).upgrade.clone().unwrap();
    match &upgrade {
        UpgradeOutcome::NotHttp {
            looks_like_tls,
            first_bytes,
            ..
        } => {
            assert!(looks_like_tls, "{first_bytes:?}");
            assert_eq!(first_bytes[0], 21, "a TLS alert record");
        }
        other => panic!("{other:?}"),
    }
    assert!(upgrade.to_string().contains("wss://"), "{upgrade}");
}

// ---------------------------------------------------------------------------------------------
// After the open
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_server_that_drops_without_a_close_frame_is_a_drop() {
    // Completes the upgrade, ends its side at once (FIN, no close frame), drains the rest.
    let address = upgrading(|mut stream| async move {
        let _ = stream.shutdown().await;
        discard(stream).await;
    })
    .await;
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let attempt = only(&observation);
    assert!(attempt.opened());
    let dropped = attempt.dropped.as_ref().unwrap();
    assert_eq!(dropped.how, DropKind::ClosedWithoutCloseFrame);
    assert!(dropped.after < Duration::from_secs(1));
    assert_eq!(attempt.closed_cleanly, None);
    assert!(attempt.pongs.len() <= 1, "{:?}", attempt.pongs);
    let (step, detail) = attempt.first_failure().unwrap();
    assert_eq!(step, Step::Session);
    assert!(!step.before_open());
    assert!(detail.contains("without a close frame"), "{detail}");
}

#[tokio::test]
async fn a_close_frame_from_the_server_is_a_drop_with_its_code() {
    let (listener, address) = listener().await;
    ws_server(listener, None, None, After::Close(1001));
    let observation = probe(&target(&format!("ws://{address}/")), &fast()).await;
    let dropped = only(&observation).dropped.clone().unwrap();
    assert_eq!(
        dropped.how,
        DropKind::CloseFrame {
            code: Some(1001),
            reason: "going away".to_string()
        }
    );
    assert!(dropped.to_string().contains("code 1001"), "{dropped}");
}

#[tokio::test]
async fn a_server_that_never_answers_pings() {
    let address = upgrading(discard).await;
    let settings = Settings {
        pings: 2,
        pong_timeout: Duration::from_millis(100),
        ..fast()
    };
    let observation = probe(&target(&format!("ws://{address}/")), &settings).await;
    let attempt = only(&observation);
    assert!(attempt.opened());
    assert_eq!(attempt.pongs, [None, None]);
    assert_eq!(attempt.dropped, None);
    // Nor our close frame.
    assert_eq!(attempt.closed_cleanly, Some(false));
    assert_eq!(
        attempt.first_failure(),
        Some((
            Step::Session,
            "2 of 2 pings got no pong in time".to_string()
        ))
    );
}

#[tokio::test]
async fn a_hold_notices_a_drop_after_the_pings() {
    // Answers nothing, and ends its side 150 ms after the upgrade.
    let address = upgrading(|mut stream| async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let _ = stream.shutdown().await;
        discard(stream).await;
    })
    .await;
    let settings = Settings {
        pings: 0,
        hold: Duration::from_secs(2),
        ..fast()
    };
    let observation = probe(&target(&format!("ws://{address}/")), &settings).await;
    let dropped = only(&observation).dropped.clone().unwrap();
    assert_eq!(dropped.how, DropKind::ClosedWithoutCloseFrame);
    assert!(
        dropped.after >= Duration::from_millis(100) && dropped.after < Duration::from_secs(2),
        "{dropped:?}"
    );
}

#[tokio::test]
async fn a_date_hours_off_is_kept_beside_this_machines_clock() {
    let (listener, address) = listener().await;
    ws_server(listener, None, Some(unix_now() - 3 * 3600), After::Serve);
    let observation = probe(
        &target(&format!("ws://{address}/")),
        &Settings { pings: 0, ..fast() },
    )
    .await;
    let attempt = only(&observation);
    let skew = attempt.received_at.unwrap() - attempt.server_date.unwrap();
    assert!((3 * 3600 - 2..=3 * 3600 + 2).contains(&skew), "{skew}");
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// Probes `wss://signal.lab:PORT/` against a TLS WebSocket server with `acceptor`.
async fn wss(acceptor: TlsAcceptor, trust: Trust) -> FamilyAttempt {
    let (listener, address) = listener().await;
    ws_server(listener, Some(acceptor), None, After::Serve);
    let settings = Settings {
        overrides: lab(&["127.0.0.1"]),
        trust,
        ..fast()
    };
    let observation = probe(
        &target(&format!("wss://{LAB}:{}/", address.port())),
        &settings,
    )
    .await;
    only(&observation).clone()
}

fn tls_failure(attempt: &FamilyAttempt) -> TlsFailure {
    assert_eq!(attempt.upgrade, None);
    assert_eq!(attempt.first_failure().unwrap().0, Step::Tls);
    attempt.tls.clone().unwrap().unwrap_err()
}

#[tokio::test]
async fn tls_failures_are_classified_in_the_observation() {
    let ca = LabCa::new();

    // A private CA the OS does not trust (TLS inspection, usually): the issuer is named.
    let attempt = wss(ca.acceptor(&[LAB], 2020, 2100), Trust::default()).await;
    match tls_failure(&attempt) {
        TlsFailure::UnknownIssuer { leaf, .. } => {
            assert_eq!(leaf.issuer, "CN=Inspecting Proxy CA");
            assert_eq!(leaf.names, [LAB]);
        }
        other => panic!("{other:?}"),
    }
    assert!(attempt
        .first_failure()
        .unwrap()
        .1
        .contains("Inspecting Proxy CA"));

    // Expired.
    let attempt = wss(ca.acceptor(&[LAB], 2020, 2021), ca.trust()).await;
    match tls_failure(&attempt) {
        TlsFailure::Expired { not_after, .. } => assert_eq!(not_after, 1_609_459_200),
        other => panic!("{other:?}"),
    }

    // Another name (a captive portal's certificate, say): the names it holds are kept.
    let attempt = wss(ca.acceptor(&["portal.lab"], 2020, 2100), ca.trust()).await;
    match tls_failure(&attempt) {
        TlsFailure::NameMismatch {
            requested,
            presented,
            ..
        } => assert_eq!(
            (requested.as_str(), presented),
            (LAB, vec!["portal.lab".to_string()])
        ),
        other => panic!("{other:?}"),
    }

    // The wrong pin.
    let (acceptor, pin) = serve_tls();
    let trust = Trust {
        pin: Some([0; 32]),
        ..Trust::default()
    };
    match tls_failure(&wss(acceptor, trust).await) {
        TlsFailure::PinMismatch { got, .. } => assert_eq!(got, pin),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn plain_http_where_tls_was_expected_is_not_tls() {
    // A plain HTTP server answers the ClientHello with 400.
    let address = tcp_server(|mut stream| async move {
        let mut hello = [0u8; 1024];
        let _ = stream.read(&mut hello).await;
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        discard(stream).await;
    })
    .await;
    let observation = probe(&target(&format!("wss://{address}/")), &fast()).await;
    match tls_failure(only(&observation)) {
        TlsFailure::NotTls { spoke, .. } => assert_eq!(spoke, PeerSpoke::Http),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Proxies
// ---------------------------------------------------------------------------------------------

/// What the test proxy does with a CONNECT.
#[derive(Clone, Copy)]
enum ProxyMode {
    /// 200, then relays to this address (whatever was asked for: names are not resolved).
    Tunnel(SocketAddr),
    /// Answers this, and closes.
    Answer(&'static str),
}

/// An HTTP CONNECT proxy on loopback; the request heads it received.
async fn connect_proxy(mode: ProxyMode) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let record = heads.clone();
    let address = tcp_server(move |mut stream| {
        let record = record.clone();
        async move {
            let head = read_head(&mut stream).await;
            record.lock().unwrap().push(head);
            match mode {
                ProxyMode::Tunnel(upstream) => {
                    let Ok(mut upstream) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let answer =
                        "HTTP/1.1 200 Connection established\r\nProxy-Agent: lab-proxy/1.0\r\n\r\n";
                    if stream.write_all(answer.as_bytes()).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                    }
                }
                ProxyMode::Answer(answer) => {
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            }
        }
    })
    .await;
    (address, heads)
}

fn proxied(proxy: &str, no_proxy: Option<&str>) -> Settings {
    let proxy = proxy.to_string();
    let no_proxy = no_proxy.map(str::to_string);
    let env = move |name: &str| match name {
        "HTTPS_PROXY" | "http_proxy" => Some(proxy.clone()),
        "NO_PROXY" => no_proxy.clone(),
        _ => None,
    };
    Settings {
        proxy: ProxyConfig::from_env(&env),
        overrides: lab(&["127.0.0.1"]),
        ..fast()
    }
}

#[tokio::test]
async fn through_a_connect_proxy_the_websocket_opens() {
    let (listener, server) = listener().await;
    ws_server(listener, None, None, After::Serve);
    let (proxy, heads) = connect_proxy(ProxyMode::Tunnel(server)).await;
    let settings = proxied(&format!("http://{proxy}"), None);
    // The name is the proxy's to resolve: here the proxy connects to the server whatever it
    // is asked for, and signal.lab is never looked up.
    let target = target(&format!("ws://{LAB}:{}/ws", server.port()));
    let observation = probe(&target, &settings).await;

    assert_eq!(observation.route.proxy().unwrap().variable, "http_proxy");
    assert_eq!(observation.resolution.host, "127.0.0.1");
    let attempt = only(&observation);
    assert!(attempt.via_proxy);
    assert_eq!(attempt.address, proxy);
    assert_eq!(
        attempt.proxy,
        Some(ProxyStep::Tunnel {
            status: 200,
            reason: "Connection established".to_string(),
            agent: Some("lab-proxy/1.0".to_string()),
        })
    );
    assert!(attempt.opened(), "{attempt:#?}");
    assert_eq!(attempt.pongs.iter().flatten().count(), 3);
    assert!(attempt.timings.proxy.is_some());
    let head = heads.lock().unwrap()[0].clone();
    let authority = format!("{LAB}:{}", server.port());
    assert!(
        head.starts_with(&format!("CONNECT {authority} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nHost: {authority}\r\n")),
        "{head}"
    );
    assert!(!head.contains("Proxy-Authorization"), "{head}");
}

#[tokio::test]
async fn wss_goes_through_the_tunnel_with_the_targets_name() {
    let (acceptor, pin) = serve_tls();
    let (listener, server) = listener().await;
    ws_server(listener, Some(acceptor), None, After::Serve);
    let (proxy, _) = connect_proxy(ProxyMode::Tunnel(server)).await;
    let settings = Settings {
        trust: Trust {
            pin: Some(pin),
            ..Trust::default()
        },
        ..proxied(&format!("{proxy}"), None)
    };
    let observation = probe(
        &target(&format!("wss://{LAB}:{}/", server.port())),
        &settings,
    )
    .await;
    assert_eq!(observation.route.proxy().unwrap().variable, "HTTPS_PROXY");
    let attempt = only(&observation);
    assert!(attempt.opened(), "{attempt:#?}");
    let facts = attempt.tls.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(facts.server_name, LAB);
}

#[tokio::test]
async fn a_proxy_that_asks_for_authentication_names_its_schemes() {
    let (proxy, heads) = connect_proxy(ProxyMode::Answer(
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nProxy-Authenticate: Basic realm=\"x, y\", Negotiate\r\nContent-Length: 0\r\n\r\n",
    ))
    .await;
    let settings = proxied(&format!("http://user:pa%3Ass@{proxy}/"), None);
    assert!(!format!("{:?}", settings.proxy).contains("pa%3Ass"));
    let observation = probe(&target(&format!("ws://{LAB}/")), &settings).await;
    let attempt = only(&observation);
    assert_eq!(
        attempt.proxy,
        Some(ProxyStep::AuthRequired {
            schemes: vec![
                "NTLM".to_string(),
                "Basic".to_string(),
                "Negotiate".to_string()
            ],
            credentials_sent: true,
            agent: None,
        })
    );
    let head = heads.lock().unwrap()[0].clone();
    // user:pa:ss
    assert!(
        head.contains("Proxy-Authorization: Basic dXNlcjpwYTpzcw==\r\n"),
        "{head}"
    );
    let (step, detail) = attempt.first_failure().unwrap();
    assert_eq!(step, Step::Proxy);
    assert!(
        detail.contains("407") && detail.contains("NTLM, Basic, Negotiate"),
        "{detail}"
    );
    assert!(detail.contains(&proxy.to_string()), "{detail}");
}

#[tokio::test]
async fn a_proxy_that_refuses_is_named() {
    let (proxy, _) = connect_proxy(ProxyMode::Answer(
        "HTTP/1.1 403 Forbidden\r\nServer: corp-gateway\r\nContent-Type: text/plain\r\n\r\nCONNECT to port 443 only",
    ))
    .await;
    let settings = proxied(&format!("http://{proxy}"), None);
    let observation = probe(&target(&format!("ws://{LAB}:8687/")), &settings).await;
    let attempt = only(&observation);
    assert_eq!(
        attempt.proxy,
        Some(ProxyStep::Refused {
            status: 403,
            reason: "Forbidden".to_string(),
            body: "CONNECT to port 443 only".to_string(),
            agent: Some("corp-gateway".to_string()),
        })
    );
    assert_eq!(attempt.first_failure().unwrap().0, Step::Proxy);
}

#[tokio::test]
async fn an_unreachable_proxy_is_the_proxy_step() {
    let proxy = closed_port().await;
    let settings = proxied(&format!("http://{proxy}"), None);
    let observation = probe(&target(&format!("wss://{LAB}/")), &settings).await;
    let attempt = only(&observation);
    assert_eq!((&attempt.tcp, &attempt.proxy), (&TcpStep::Refused, &None));
    let (step, detail) = attempt.first_failure().unwrap();
    assert_eq!(step, Step::Proxy);
    assert!(detail.contains("unreachable"), "{detail}");
}

#[tokio::test]
async fn a_proxy_that_is_not_http_or_silent() {
    let (not_http, _) = connect_proxy(ProxyMode::Answer("SSH-2.0-OpenSSH_9.2\r\n")).await;
    let observation = probe(
        &target(&format!("ws://{LAB}/")),
        &proxied(&format!("http://{not_http}"), None),
    )
    .await;
    match only(&observation).proxy.as_ref().unwrap() {
        ProxyStep::NotHttp { spoke, .. } => assert_eq!(*spoke, PeerSpoke::Ssh),
        other => panic!("{other:?}"),
    }
    let silent = tcp_server(discard).await;
    let settings = Settings {
        proxy_timeout: Duration::from_millis(150),
        ..proxied(&format!("http://{silent}"), None)
    };
    let observation = probe(&target(&format!("ws://{LAB}/")), &settings).await;
    assert!(matches!(
        only(&observation).proxy,
        Some(ProxyStep::Timeout { .. })
    ));
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy() {
    let (listener, server) = listener().await;
    ws_server(listener, None, None, After::Serve);
    let proxy = closed_port().await;
    let settings = proxied(&format!("http://{proxy}"), Some("localhost, .lab"));
    let observation = probe(
        &target(&format!("ws://{LAB}:{}/", server.port())),
        &settings,
    )
    .await;
    assert_eq!(
        observation.route,
        Route::Bypassed {
            variable: "NO_PROXY".to_string(),
            entry: ".lab".to_string()
        }
    );
    let attempt = only(&observation);
    assert!(!attempt.via_proxy);
    assert!(attempt.opened());
}

// ---------------------------------------------------------------------------------------------
// Reconnection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reconnection_reopens_after_the_drop() {
    let (listener, address) = listener().await;
    let seen = ws_server(listener, None, None, After::Serve);
    let attempts = reconnect(
        &target(&format!("ws://{address}/")),
        &fast(),
        3,
        Duration::from_millis(10),
    )
    .await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(attempts.iter().all(Attempt::opened));
    assert_eq!(attempts[0].waited, Duration::ZERO);
    assert_eq!(attempts[1].waited, Duration::from_millis(10));
    assert_eq!(
        attempts[1].outcome,
        AttemptOutcome::Opened {
            family: Family::V4,
            address
        }
    );
    assert_eq!(seen.all().len(), 2);
}

#[tokio::test]
async fn reconnection_that_never_succeeds_backs_off_and_gives_up() {
    // Accepts one WebSocket, then stops listening: every reopening is refused.
    let (listener, address) = listener().await;
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            drop(listener);
            serve_ws(stream, None, After::Serve, Seen::default()).await;
        }
    });
    let attempts = reconnect(
        &target(&format!("ws://{address}/")),
        &fast(),
        3,
        Duration::from_millis(5),
    )
    .await;
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    assert!(attempts[0].opened());
    let waits: Vec<u64> = attempts
        .iter()
        .map(|a| a.waited.as_millis() as u64)
        .collect();
    assert_eq!(waits, [0, 5, 10, 20]);
    for attempt in &attempts[1..] {
        match &attempt.outcome {
            AttemptOutcome::Failed { failures } => {
                assert_eq!(failures.len(), 1);
                assert_eq!(failures[0].step, Step::Tcp);
                assert_eq!(failures[0].family, Some(Family::V4));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn reconnection_stops_when_the_first_open_fails() {
    let address = closed_port().await;
    let attempts = reconnect(
        &target(&format!("ws://{address}/")),
        &fast(),
        3,
        Duration::from_millis(5),
    )
    .await;
    assert_eq!(attempts.len(), 1);
    assert!(!attempts[0].opened());
}

// ---------------------------------------------------------------------------------------------
// tinyproxy (Debian's), when installed
// ---------------------------------------------------------------------------------------------

/// A tinyproxy on a free loopback port with `extra` config lines; killed when dropped.
struct Tinyproxy {
    child: std::process::Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    async fn start(extra: &str) -> Option<Tinyproxy> {
        let binary = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())?;
        let address = closed_port().await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Port {}\nListen 127.0.0.1\nTimeout 10\nMaxClients 20\nLogLevel Error\n{extra}\n",
                address.port()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let proxy = Tinyproxy {
            child,
            address,
            _dir: dir,
        };
        for _ in 0..100 {
            if TcpStream::connect(address).await.is_ok() {
                return Some(proxy);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("tinyproxy did not listen on {address}");
    }
}

#[tokio::test]
async fn through_tinyproxy() {
    let Some(open) = Tinyproxy::start("").await else {
        eprintln!("skipped: tinyproxy is not installed");
        return;
    };
    let (listener, server) = listener().await;
    ws_server(listener, None, None, After::Serve);
    let url = format!("ws://{server}/");
    let observation = probe(
        &target(&url),
        &proxied(&format!("http://{}", open.address), None),
    )
    .await;
    let attempt = only(&observation);
    assert!(attempt.opened(), "{attempt:#?}");
    assert!(matches!(
        attempt.proxy,
        Some(ProxyStep::Tunnel { status: 200, .. })
    ));

    let auth = Tinyproxy::start("BasicAuth user secret").await.unwrap();
    let observation = probe(
        &target(&url),
        &proxied(&format!("http://{}", auth.address), None),
    )
    .await;
    match only(&observation).proxy.as_ref().unwrap() {
        ProxyStep::AuthRequired { schemes, agent, .. } => {
            assert_eq!(schemes, &["Basic"]);
            assert!(agent
                .as_deref()
                .unwrap_or_default()
                .starts_with("tinyproxy"));
        }
        other => panic!("{other:?}"),
    }
    let settings = proxied(&format!("http://user:secret@{}", auth.address), None);
    assert!(only(&probe(&target(&url), &settings).await).opened());

    let ports = Tinyproxy::start("ConnectPort 443").await.unwrap();
    let observation = probe(
        &target(&url),
        &proxied(&format!("http://{}", ports.address), None),
    )
    .await;
    match only(&observation).proxy.as_ref().unwrap() {
        ProxyStep::Refused { status, body, .. } => {
            assert_eq!(*status, 403);
            assert!(body.contains("Access violation"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}
