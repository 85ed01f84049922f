//! The `signaling` probe end to end: against `serve`'s WebSocket (ws and wss), against servers
//! that misbehave in one way each, behind a dropping firewall, and the SDK codes they give.

mod lab;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lab::{findings, json, preflight, validate, Netns, Serve};

fn check(
    namespace: Option<&Netns>,
    url: &str,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value, Duration) {
    let started = Instant::now();
    let output = preflight(namespace)
        .args([
            "check",
            "--only",
            "signaling",
            "--format",
            "json",
            "--signal",
            url,
        ])
        .args(extra)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let report = json(&output);
    validate(&report);
    (output, report, elapsed)
}

fn only(report: &serde_json::Value) -> &serde_json::Value {
    &report["probes"][0]
}

#[test]
fn serve_over_ws_and_wss_with_the_pin_opens() {
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--signal-ws",
            "0",
            "--signal-wss",
            "0",
        ],
    );
    let pin = serve.pin.clone().expect("a pin");
    let ws = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    let (output, report, elapsed) = check(None, &ws, &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let family = &only(&report)["metrics"]["families"][0];
    assert_eq!(family["opened"], true);
    assert_eq!(family["pongs_ms"].as_array().unwrap().len(), 3);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    let wss = format!("wss://127.0.0.1:{}/", serve.port("signal/wss"));
    let (output, report, _) = check(None, &wss, &["--pin", &pin]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(
        only(&report)["metrics"]["families"][0]["tls"]["verification"],
        "pin"
    );
}

#[test]
fn an_untrusted_certificate_is_16385_at_the_tls_step() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--signal-wss", "0"]);
    let wss = format!("wss://127.0.0.1:{}/", serve.port("signal/wss"));
    let (output, report, _) = check(None, &wss, &[]);
    assert_eq!(output.status.code(), Some(1));
    let signaling = only(&report);
    assert_eq!(
        findings(signaling),
        [("error".to_string(), Some(16385))],
        "{signaling:#}"
    );
    let finding = &signaling["findings"][0];
    assert_eq!(
        finding["message"],
        "failed to connect to remote server via websocket"
    );
    assert!(
        finding["evidence"].as_str().unwrap().contains("tls step"),
        "{finding:#}"
    );
    assert!(
        finding["fix"].as_str().unwrap().contains("--pin"),
        "{finding:#}"
    );
}

#[test]
fn a_refused_port_is_16385_at_the_tcp_step() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (output, report, _) = check(None, &format!("ws://127.0.0.1:{closed}/"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16385);
    assert!(
        finding["evidence"].as_str().unwrap().contains("tcp step"),
        "{finding:#}"
    );
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("TCP {closed}")),
        "{finding:#}"
    );
}

#[test]
fn a_dropping_firewall_is_16385_naming_the_port_within_the_connect_timeout() {
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &["--listen", "127.0.0.1", "--signal-ws", "0"],
    );
    let port = serve.port("signal/ws");
    namespace.nft(&format!(
        "table inet lab {{\n chain input {{ type filter hook input priority 0; policy accept;\n tcp dport {port} drop\n }}\n}}\n"
    ));
    let (output, report, elapsed) =
        check(Some(&namespace), &format!("ws://127.0.0.1:{port}/"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16385);
    assert!(
        finding["fix"].as_str().unwrap().contains("drops TCP"),
        "{finding:#}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// A raw TCP server that answers every request with `response` and closes.
fn raw_http(response: &'static str) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut stream = stream;
            let mut buffer = [0u8; 2048];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    address
}

#[test]
fn an_upgrade_refused_with_403_is_16385_at_the_upgrade_step() {
    let address = raw_http(
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden",
    );
    let (output, report, _) = check(None, &format!("ws://{address}/signal"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16385);
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("upgrade step"),
        "{finding:#}"
    );
    assert!(
        finding["fix"].as_str().unwrap().contains("403"),
        "{finding:#}"
    );
}

#[test]
fn a_redirect_is_named_as_a_captive_portal() {
    let address = raw_http(
        "HTTP/1.1 302 Found\r\nLocation: http://portal.lab/login\r\nContent-Length: 0\r\n\r\n",
    );
    let (_, report, _) = check(None, &format!("ws://{address}/"), &[]);
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16385);
    assert!(
        finding["fix"].as_str().unwrap().contains("captive portal"),
        "{finding:#}"
    );
}

/// A WebSocket server (tokio-tungstenite) that, once open, does `then`.
#[allow(clippy::result_large_err)]
fn websocket(then: &'static str, date: Option<String>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let date = date.clone();
                tokio::spawn(async move {
                    let callback = move |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
                                         mut response: tokio_tungstenite::tungstenite::handshake::server::Response| {
                        if let Some(date) = &date {
                            response.headers_mut().insert("Date", date.parse().unwrap());
                        }
                        Ok(response)
                    };
                    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
                    match then {
                        // Drop the TCP connection with no close frame.
                        "drop" => drop(socket),
                        // Never read: pings go unanswered.
                        "mute" => {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            drop(socket);
                        }
                        _ => {
                            use futures_util::StreamExt;
                            while let Some(Ok(_)) = socket.next().await {}
                        }
                    }
                });
            }
        });
    });
    address
}

#[test]
fn a_drop_without_a_close_frame_is_16386() {
    let address = websocket("drop", None);
    let (output, report, _) = check(None, &format!("ws://{address}/"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let signaling = only(&report);
    assert_eq!(
        findings(signaling),
        [("error".to_string(), Some(16386))],
        "{signaling:#}"
    );
}

#[test]
fn unanswered_pings_are_16386() {
    let address = websocket("mute", None);
    let (output, report, _) = check(None, &format!("ws://{address}/"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16386, "{finding:#}");
    assert!(
        finding["evidence"].as_str().unwrap().contains("no pong"),
        "{finding:#}"
    );
}

#[test]
fn a_server_clock_hours_off_is_a_skew_warning() {
    let address = websocket("serve", Some("Sat, 28 Nov 2020 07:00:00 GMT".to_string()));
    let (output, report, _) = check(None, &format!("ws://{address}/"), &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let signaling = only(&report);
    assert_eq!(
        findings(signaling),
        [("warning".to_string(), None)],
        "{signaling:#}"
    );
    let evidence = signaling["findings"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("2020-11-28T07:00:00Z") && evidence.contains("ahead"),
        "{evidence}"
    );
}

#[test]
fn reconnection_works_against_serve() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--signal-ws", "0"]);
    let ws = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    let (output, report, _) = check(None, &ws, &["--signal-reconnect"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let attempts = only(&report)["metrics"]["reconnect"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        attempts.len(),
        2,
        "the first open, then one reopening: {attempts:?}"
    );
    assert_eq!(attempts[1]["opened"], true);
}

#[test]
fn a_server_that_stops_accepting_fails_reconnection_with_16390() {
    // Accepts two WebSocket connections (the check, then the reconnection check's first open),
    // then closes its listening socket: every reopening is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2).flatten() {
            if let Ok(socket) = tokio_tungstenite::tungstenite::accept(stream) {
                held.push(socket);
            }
            if held.len() == 1 {
                // The check's own pings need answers: serve them on a thread.
                let mut socket = held.pop().unwrap();
                std::thread::spawn(move || while socket.read().is_ok() {});
            }
        }
        // No more accepts: every reopening is refused from now on.
        drop(listener);
        drop(held);
    });
    let (output, report, _) = check(None, &format!("ws://{address}/"), &["--signal-reconnect"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let signaling = only(&report);
    assert_eq!(
        findings(signaling),
        [("error".to_string(), Some(16390))],
        "{signaling:#}"
    );
    assert_eq!(
        signaling["findings"][0]["message"],
        "SignalChannel reconnect failed"
    );
    assert!(
        signaling["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("tcp step"),
        "{signaling:#}"
    );
}

/// A process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's `websockets` (Debian's python3-websockets), a WebSocket server nobody here wrote:
/// echoes messages, answers pings; with `refuse`, answers the upgrade with 403.
fn python_websockets(refuse: bool) -> (Child, u16) {
    let script = r#"
import asyncio, http, sys, websockets
async def handler(ws, path=None):
    async for message in ws:
        await ws.send(message)
async def refuse(path, headers):
    return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"not here\n")
async def main():
    kwargs = {"process_request": refuse} if sys.argv[1] == "refuse" else {}
    async with websockets.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, if refuse { "refuse" } else { "serve" }])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with python3-websockets (.ci/run installs it)");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("python websockets printed {line:?}"));
    (Child(child), port)
}

#[test]
fn against_python_websockets_a_server_nobody_here_wrote() {
    let (_server, port) = python_websockets(false);
    let (output, report, _) = check(None, &format!("ws://127.0.0.1:{port}/"), &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let family = &only(&report)["metrics"]["families"][0];
    assert_eq!(family["opened"], true);
    assert!(
        family["pongs_ms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|pong| pong.is_number()),
        "{family:#}"
    );
    let (_server, port) = python_websockets(true);
    let (output, report, _) = check(None, &format!("ws://127.0.0.1:{port}/"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = &only(&report)["findings"][0];
    assert_eq!(finding["code"], 16385);
    assert!(
        finding["evidence"].as_str().unwrap().contains("403"),
        "{finding:#}"
    );
}

/// tinyproxy (Debian), a real HTTP CONNECT proxy, on a free loopback port with `extra` config.
fn tinyproxy(extra: &str) -> (Child, u16, tempfile::TempDir) {
    let port = lab::free_ports(1)[0];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 20\nLogLevel Error\n{extra}\n"
        ),
    )
    .unwrap();
    let child = std::process::Command::new("tinyproxy")
        .args(["-d", "-c", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tinyproxy (Debian) is installed: .ci/run installs it");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "tinyproxy did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (Child(child), port, dir)
}

#[test]
fn through_tinyproxy_from_https_proxy_and_a_proxy_that_asks_for_credentials() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--signal-wss", "0"]);
    let pin = serve.pin.clone().unwrap();
    let wss = format!("wss://127.0.0.1:{}/", serve.port("signal/wss"));
    let (_proxy, port, _dir) = tinyproxy("");
    let output = preflight(None)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .args([
            "check",
            "--only",
            "signaling",
            "--format",
            "json",
            "--signal",
            &wss,
            "--pin",
            &pin,
        ])
        .output()
        .unwrap();
    let report = json(&output);
    validate(&report);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let metrics = &only(&report)["metrics"];
    assert_eq!(metrics["route"], "proxy");
    assert_eq!(metrics["families"][0]["proxy"], "tunnel");

    let (_proxy, port, _dir) = tinyproxy("BasicAuth preflight secret");
    let output = preflight(None)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .args([
            "check",
            "--only",
            "signaling",
            "--format",
            "json",
            "--signal",
            &wss,
            "--pin",
            &pin,
        ])
        .output()
        .unwrap();
    let report = json(&output);
    let signaling = only(&report);
    assert_eq!(
        findings(signaling),
        [("warning".to_string(), None)],
        "{signaling:#}"
    );
    let evidence = signaling["findings"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("407")
            && evidence.contains("Basic")
            && evidence.contains(&port.to_string()),
        "{evidence}"
    );
}
