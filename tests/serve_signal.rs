//! `serve --signal-ws/--signal-wss` end to end on loopback: the WebSocket endpoint reached with
//! a `tokio-tungstenite` client over plain TCP and over TLS pinned to the printed fingerprint;
//! the JSON protocol, pings, the size limit, the `Date` header, and the token header against
//! the per-source connection rate. STUN keeps answering alongside.

mod lab;

use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use lab::Serve;
use preflight_probes::stun::probe::{self, PathResult, Settings, Target, Transport};
use preflight_probes::tls::{self, Trust};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const TOKEN: &str = "lab-secret-7f3a";

fn serve_signal() -> Serve {
    Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--signal-ws",
            "0",
            "--signal-wss",
            "0",
            "--no-answerer",
        ],
    )
}

/// `serve` with `TRTC_PREFLIGHT_TOKEN` set (`lab::Serve` starts it with an empty environment):
/// the same lines parsed the same way; killed on drop.
struct TokenServe {
    child: std::process::Child,
    ws: std::net::SocketAddr,
}

impl TokenServe {
    fn start() -> TokenServe {
        use std::io::{BufRead, BufReader};
        let mut child = lab::preflight(None)
            .env("TRTC_PREFLIGHT_TOKEN", TOKEN)
            .args(["serve", "--listen", "127.0.0.1", "--signal-ws", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut ws = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.starts_with("ready") {
                assert!(line.contains("token on"), "{line}");
                break;
            }
            if let Some(address) = line.strip_prefix("signal/ws ") {
                ws = Some(address.parse().unwrap());
            }
        }
        TokenServe {
            child,
            ws: ws.expect("a signal/ws line"),
        }
    }
}

impl Drop for TokenServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn address(serve: &Serve, protocol: &str) -> std::net::SocketAddr {
    serve
        .listeners
        .iter()
        .find(|(p, _)| p == protocol)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no {protocol} in {:?}", serve.listeners))
}

type Ws = WebSocketStream<TcpStream>;

/// A plain WebSocket to `address`, with `headers` in the upgrade request.
async fn connect(
    address: std::net::SocketAddr,
    headers: &[(&'static str, &str)],
) -> Result<(Ws, Response), WsError> {
    let mut request = format!("ws://{address}/any/path?x=1")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let tcp = TcpStream::connect(address).await.unwrap();
    tokio_tungstenite::client_async(request, tcp).await
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, message: Value) {
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The next data or close message (pongs are returned too), within 5 s.
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Message {
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("an answer within 5 s")
        .expect("the connection open")
        .expect("a message")
}

async fn next_json<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Value {
    match next(ws).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("not a text message: {other:?}"),
    }
}

async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    message: Value,
) -> Value {
    send(ws, message).await;
    next_json(ws).await
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn the_answerer_refuses_an_offer_that_is_not_sdp() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--signal-ws", "0"]);
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    let welcome = round_trip(&mut ws, json!({"type": "hello"})).await;
    assert_eq!(welcome["answerer"], true, "{welcome}");
    round_trip(&mut ws, json!({"type": "join", "room": "r1"})).await;
    let refused = round_trip(&mut ws, json!({"type": "offer", "sdp": "v=0\r\n", "id": 7})).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "answer_failed", "{refused}");
    assert_eq!(refused["id"], 7, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("the offer "),
        "{refused}"
    );
    // The connection stays usable.
    let echo = json!({"type": "echo", "data": 1});
    assert_eq!(round_trip(&mut ws, echo.clone()).await, echo);
}

#[tokio::test]
async fn the_protocol_over_ws() {
    let serve = serve_signal();
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();

    let welcome = round_trip(&mut ws, json!({"type": "hello", "id": 1})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["server"], "trtc-preflight");
    assert_eq!(welcome["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(welcome["id"], 1);
    assert_eq!(welcome["answerer"], false);
    assert_eq!(welcome["max_message_bytes"], 65536);
    assert_eq!(welcome["idle_timeout_ms"], 60000);
    let skew = welcome["time_ms"].as_u64().unwrap().abs_diff(unix_ms());
    assert!(skew < 5_000, "server clock {skew} ms off the test's");

    // An offer before joining is refused; after joining, this serve (--no-answerer) has no
    // answerer.
    let refused = round_trip(&mut ws, json!({"type": "offer", "sdp": "v=0\r\n"})).await;
    assert_eq!(refused["code"], "not_joined", "{refused}");
    let joined = round_trip(
        &mut ws,
        json!({"type": "join", "room": "r1", "user": "alice", "id": "j"}),
    )
    .await;
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "r1", "user": "alice", "members": 1, "id": "j"})
    );
    let offer = round_trip(&mut ws, json!({"type": "offer", "sdp": "v=0\r\n"})).await;
    let expected = json!({"type": "error", "code": "no_answerer",
                          "message": "this serve runs without a WebRTC answerer (--no-answerer)"});
    assert_eq!(offer, expected);
    let candidate = json!({"type": "candidate", "sdpMid": "0",
                           "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"});
    let candidate = round_trip(&mut ws, candidate).await;
    assert_eq!(candidate["code"], "no_answerer", "{candidate}");

    // A second client joins the same room: two members.
    let (mut other, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    let joined = round_trip(&mut other, json!({"type": "join", "room": "r1"})).await;
    assert_eq!(joined["members"], 2, "{joined}");
    assert!(
        joined["user"].as_str().unwrap().starts_with('u'),
        "{joined}"
    );

    let echo = json!({"type": "echo", "data": {"n": [1, 2.5, null, "ü"], "deep": {"x": true}}});
    assert_eq!(round_trip(&mut ws, echo.clone()).await, echo);

    assert_eq!(
        round_trip(&mut ws, json!({"type": "leave"})).await,
        json!({"type": "left", "room": "r1"})
    );
    assert_eq!(
        round_trip(&mut ws, json!({"type": "leave"})).await,
        json!({"type": "left", "room": null})
    );
    // alice left: the room has one member again.
    let joined = round_trip(&mut other, json!({"type": "join", "room": "r1"})).await;
    assert_eq!(joined["members"], 1, "{joined}");

    ws.close(None).await.unwrap();
    assert!(matches!(next(&mut ws).await, Message::Close(_)));
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let serve = serve_signal();
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    for payload in [&b"probe-1"[..], b"", &[0u8; 125][..]] {
        ws.send(Message::Ping(payload.to_vec().into()))
            .await
            .unwrap();
        match next(&mut ws).await {
            Message::Pong(pong) => assert_eq!(&pong[..], payload),
            other => panic!("not a pong: {other:?}"),
        }
    }
}

#[tokio::test]
async fn wss_with_the_printed_pin() {
    let serve = serve_signal();
    let pin = serve.pin.clone().expect("serve printed `tls sha256:…`");
    let wss = address(&serve, "signal/wss");
    let trust = Trust {
        pin: Some(tls::parse_pin(&pin).unwrap()),
        ..Trust::default()
    };
    let tcp = TcpStream::connect(wss).await.unwrap();
    let (stream, facts) = tls::connect(
        tcp,
        "localhost",
        &trust,
        &[b"http/1.1"],
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(facts.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(tls::format_pin(&facts.leaf.unwrap().sha256), pin);
    let (mut ws, response) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/", wss.port()), stream)
            .await
            .unwrap();
    assert!(response.headers().contains_key("date"));
    let welcome = round_trip(&mut ws, json!({"type": "hello"})).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws.send(Message::Ping(b"over tls".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Pong(b"over tls".to_vec().into())
    );
    let echo = json!({"type": "echo", "data": "x".repeat(30_000)});
    assert_eq!(round_trip(&mut ws, echo.clone()).await, echo);

    // The STUN ALPN is not offered on wss.
    let tcp = TcpStream::connect(wss).await.unwrap();
    let refused = tls::connect(
        tcp,
        "localhost",
        &trust,
        &[tls::ALPN_STUN_TURN],
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.kind(), "alert", "{refused:?}");
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn wss_and_stun_over_tls_share_a_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let own = tls::self_signed(&["signal.lab".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &own.cert)).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", own.key.secret_der())).unwrap();
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--signal-wss",
            "0",
            "--stun-tls",
            "0",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(
        serve.pin.as_deref(),
        Some(tls::format_pin(&own.sha256).as_str())
    );
    let trust = Trust {
        pin: Some(own.sha256),
        ..Trust::default()
    };
    for (protocol, alpn) in [
        ("signal/wss", &b"http/1.1"[..]),
        ("stun/tls", tls::ALPN_STUN_TURN),
    ] {
        let tcp = TcpStream::connect(address(&serve, protocol)).await.unwrap();
        let (_, facts) = tls::connect(tcp, "signal.lab", &trust, &[alpn], Duration::from_secs(5))
            .await
            .unwrap_or_else(|failure| panic!("{protocol}: {failure:?}"));
        assert_eq!(facts.leaf.unwrap().names, ["signal.lab"], "{protocol}");
    }
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_connection_stays_open() {
    let serve = serve_signal();
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    let cases: &[(&str, &str)] = &[
        ("not json", "not JSON"),
        ("{\"type\":", "not JSON"),
        ("[1, 2]", "one JSON object"),
        ("\"hello\"", "one JSON object"),
        ("{\"no\": \"type\"}", "no string \"type\""),
        ("{\"type\": 7}", "no string \"type\""),
        ("{\"type\": \"dance\"}", "unknown type \"dance\""),
        ("{\"type\": \"join\"}", "\"room\""),
        ("{\"type\": \"join\", \"room\": 5}", "\"room\""),
        ("{\"type\": \"offer\"}", "\"sdp\""),
        (
            "{\"type\": \"candidate\", \"candidate\": 1}",
            "RTCIceCandidateInit",
        ),
    ];
    for (text, says) in cases {
        ws.send(Message::text(*text)).await.unwrap();
        let reply = next_json(&mut ws).await;
        assert_eq!(reply["type"], "error", "{text}: {reply}");
        assert_eq!(reply["code"], "bad_message", "{text}: {reply}");
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(says), "{text}: {message}");
    }
    ws.send(Message::Binary(b"{\"type\":\"hello\"}".to_vec().into()))
        .await
        .unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["code"], "bad_message", "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("binary"));
    // The request's id comes back on errors too.
    let reply = round_trip(&mut ws, json!({"type": "nope", "id": [1]})).await;
    assert_eq!(reply["id"], json!([1]));
    // Still open and working.
    let welcome = round_trip(&mut ws, json!({"type": "hello"})).await;
    assert_eq!(welcome["type"], "welcome");
}

#[tokio::test]
async fn a_message_over_64_kib_is_closed_with_1009() {
    let serve = serve_signal();
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    // Just under the limit: echoed.
    let filler = 65_536 - json!({"type": "echo", "data": ""}).to_string().len();
    let largest = json!({"type": "echo", "data": "a".repeat(filler)});
    assert_eq!(largest.to_string().len(), 65_536);
    assert_eq!(round_trip(&mut ws, largest.clone()).await, largest);
    // One byte more: closed with 1009, the close frame arrives.
    let over = json!({"type": "echo", "data": "a".repeat(filler + 1)});
    ws.send(Message::text(over.to_string())).await.unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Size, "{frame:?}");
            assert!(frame.reason.contains("too big"), "{frame:?}");
        }
        other => panic!("not a close frame: {other:?}"),
    }

    // A large message split into frames counts whole.
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    ws.send(Message::text("x".repeat(200_000))).await.unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("not a close frame: {other:?}"),
    }
}

#[tokio::test]
async fn the_upgrade_carries_a_date_header_near_now() {
    let serve = serve_signal();
    let (_ws, response) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    assert_eq!(response.status(), 101);
    let date = response
        .headers()
        .get("date")
        .expect("a Date header")
        .to_str()
        .unwrap();
    let parsed = httpdate::parse_http_date(date).unwrap_or_else(|e| panic!("{date}: {e}"));
    let now = SystemTime::now();
    let skew = now
        .duration_since(parsed)
        .unwrap_or_else(|early| early.duration());
    assert!(skew < Duration::from_secs(5), "Date {date} is {skew:?} off");
    assert!(date.ends_with(" GMT"), "{date}");
}

/// Opens `count` connections one after another as fast as loopback allows; the open ones and
/// the refusals' HTTP responses.
async fn burst(
    address: std::net::SocketAddr,
    count: usize,
    headers: &[(&'static str, &str)],
) -> (Vec<Ws>, Vec<Response>, Duration) {
    let started = Instant::now();
    let (mut open, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..count {
        match connect(address, headers).await {
            Ok((ws, _)) => open.push(ws),
            Err(WsError::Http(response)) => {
                let (parts, _) = (*response).into_parts();
                refused.push(Response::from_parts(parts, None));
            }
            Err(other) => panic!("neither open nor refused with HTTP: {other}"),
        }
    }
    (open, refused, started.elapsed())
}

#[tokio::test]
async fn the_token_header_skips_the_connection_rate() {
    let serve = TokenServe::start();
    let (open, refused, _) = burst(serve.ws, 40, &[("X-TRTC-Preflight-Token", TOKEN)]).await;
    assert_eq!(refused.len(), 0, "{refused:?}");
    assert_eq!(open.len(), 40);
    // Each of them works.
    for mut ws in open {
        let welcome = round_trip(&mut ws, json!({"type": "hello"})).await;
        assert_eq!(welcome["type"], "welcome");
    }
}

#[tokio::test]
async fn without_the_token_a_burst_is_refused_with_429() {
    // No token, and a wrong token (which counts as none), each against a fresh serve.
    for headers in [&[][..], &[("X-TRTC-Preflight-Token", "wrong")][..]] {
        let serve = TokenServe::start();
        let (open, refused, elapsed) = burst(serve.ws, 40, headers).await;
        assert!(
            elapsed < Duration::from_secs(2),
            "40 loopback connections took {elapsed:?}: too slow to test a rate of 10 a second"
        );
        // 20 back to back, then one per 100 ms of the burst.
        let allowed = 20 + (elapsed.as_millis() / 100) as usize + 1;
        assert!(
            (20..=allowed).contains(&open.len()),
            "{} open in {elapsed:?}",
            open.len()
        );
        assert_eq!(open.len() + refused.len(), 40);
        assert!(!refused.is_empty());
        for response in &refused {
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["retry-after"], "1");
            assert!(response.headers().contains_key("date"));
        }
        // The token still gets in while the source is limited.
        let (open, refused, _) = burst(serve.ws, 5, &[("X-TRTC-Preflight-Token", TOKEN)]).await;
        assert_eq!((open.len(), refused.len()), (5, 0));
    }
}

#[tokio::test]
async fn stun_answers_alongside_signaling() {
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--stun-tls",
            "0",
            "--signal-ws",
            "0",
            "--signal-wss",
            "0",
        ],
    );
    let protocols: Vec<&str> = serve.listeners.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        protocols,
        ["stun/udp", "signal/ws", "signal/wss", "stun/tls"],
        "one line per listener"
    );
    let pin = tls::parse_pin(serve.pin.as_deref().unwrap()).unwrap();
    let settings = Settings {
        connect_timeout: Duration::from_secs(2),
        stream_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(2),
        trust: Trust {
            pin: Some(pin),
            ..Trust::default()
        },
        ..Settings::default()
    };
    for (protocol, transport) in [("stun/udp", Transport::Udp), ("stun/tls", Transport::Tls)] {
        let target = Target {
            host: "127.0.0.1".to_string(),
            port: serve.port(protocol),
            transport,
        };
        let observation = probe::probe(&target, &settings).await;
        assert!(
            matches!(observation.families[0].result, PathResult::Answered { .. }),
            "{protocol}: {observation:?}"
        );
    }
    let (mut ws, _) = connect(address(&serve, "signal/ws"), &[]).await.unwrap();
    assert_eq!(
        round_trip(&mut ws, json!({"type": "hello"})).await["type"],
        "welcome"
    );
}

#[test]
fn signaling_alone_starts_no_stun() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--signal-ws", "0"]);
    let protocols: Vec<&str> = serve.listeners.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(protocols, ["signal/ws"]);
    assert_eq!(serve.pin, None, "no TLS listener, no certificate");
}
