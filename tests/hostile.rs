//! Hostile peers of our own: servers that misbehave on purpose. For each, the probe ends within
//! its deadline plus a small margin, with a classified finding, and never hangs the run.

mod lab;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rtc_stun_like::*;
use serde_json::{json, Value};

/// The bits of a STUN answer these fake servers write by hand (no library: they must be able
/// to write what a library would refuse).
mod rtc_stun_like {
    /// A STUN error response (class 0x0110 | method) echoing `request`'s transaction id, with
    /// ERROR-CODE `code`, REALM and NONCE.
    pub fn error_401(request: &[u8]) -> Vec<u8> {
        let method = u16::from_be_bytes([request[0], request[1]]) & 0x3eef;
        let typ = method | 0x0110;
        let mut attrs = Vec::new();
        // ERROR-CODE: class 4, number 1, reason.
        let reason = b"Unauthorized";
        let mut value = vec![0, 0, 4, 1];
        value.extend_from_slice(reason);
        push(&mut attrs, 0x0009, &value);
        push(&mut attrs, 0x0014, b"lab");
        push(&mut attrs, 0x0015, b"nonce-123");
        let mut message = Vec::new();
        message.extend_from_slice(&typ.to_be_bytes());
        message.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        message.extend_from_slice(&request[4..20]);
        message.extend_from_slice(&attrs);
        message
    }

    fn push(out: &mut Vec<u8>, typ: u16, value: &[u8]) {
        out.extend_from_slice(&typ.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
}

/// A UDP "TURN server" that answers the first request with a 401 and then never again, or
/// (when `garbage`) answers everything with bytes that are not STUN.
fn udp_server(garbage: bool) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut answered = false;
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if garbage {
                let _ = socket.send_to(b"\x17\x03\x03 not STUN at all", from);
            } else if !answered && n >= 20 {
                answered = true;
                let _ = socket.send_to(&error_401(&buf[..n]), from);
            }
        }
    });
    (address, handle)
}

fn turn_check(url: &str) -> (Value, Duration) {
    let (output, report, took) = lab::check_json(
        None,
        &[
            "--only",
            "turn",
            "--format",
            "json",
            "--turn",
            url,
            "--turn-user",
            "alice",
        ],
        &[("TRTC_PREFLIGHT_TURN_PASSWORD", "s3cret")],
    );
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    (report, took)
}

fn the_finding(report: &Value, id: &str) -> Value {
    lab::probe(report, id)["findings"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

#[test]
fn a_turn_server_that_stalls_after_the_first_401_times_out_in_time() {
    let (address, _server) = udp_server(false);
    let url = format!("turn:{address}");
    let (report, took) = turn_check(&url);
    let finding = the_finding(&report, &format!("turn/{url}"));
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("no answer to allocate (4 sent over "),
        "{finding:#}"
    );
    // It answered the challenge: the relay went silent, the path is not blocked.
    assert!(finding["code"].is_null(), "{finding:#}");
    assert!(finding["description"]
        .as_str()
        .unwrap()
        .starts_with("The relay answered, then stopped answering"));
    let exchanges = &lab::probe(&report, &format!("turn/{url}"))["metrics"]["exchanges"];
    assert_eq!(exchanges[0]["error"], 401);
    assert_eq!(exchanges[1]["authenticated"], true);
    assert_eq!(exchanges[1]["error"], 0);
    // The UDP schedule (3.75 s) and a half-second margin, not the 30 s deadline.
    assert!(took < Duration::from_millis(4_250 + 1_000), "{took:?}");
}

#[test]
fn a_turn_server_that_answers_garbage_is_classified_at_once() {
    let (address, _server) = udp_server(true);
    let url = format!("turn:{address}");
    let started = Instant::now();
    let (report, _) = turn_check(&url);
    let finding = the_finding(&report, &format!("turn/{url}"));
    assert!(
        finding["description"]
            .as_str()
            .unwrap()
            .starts_with("The relay's answers could not be used"),
        "{finding:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_tcp_turn_server_that_accepts_and_says_nothing_times_out_in_time() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let _holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
    });
    let url = format!("turn:{address}?transport=tcp");
    let (report, took) = turn_check(&url);
    let finding = the_finding(&report, &format!("turn/{url}"));
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("no answer to allocate (1 sent over "),
        "{finding:#}"
    );
    assert!(took < Duration::from_millis(3_000 + 1_500), "{took:?}");
}

/// A signaling server that welcomes, joins, and answers every offer with `answer` (broken SDP).
async fn broken_answerer(answer: Value) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    let Ok(text) = message.to_text() else {
                        continue;
                    };
                    let Ok(request) = serde_json::from_str::<Value>(text) else {
                        continue;
                    };
                    let reply = match request["type"].as_str() {
                        Some("hello") => {
                            json!({"type": "welcome", "server": "hostile", "version": "0", "answerer": true})
                        }
                        Some("join") => json!({"type": "joined", "room": request["room"]}),
                        Some("offer") => answer.clone(),
                        _ => continue,
                    };
                    let text = reply.to_string();
                    if ws.send(text.into()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_malformed_sdp_is_a_join_failure_in_time() {
    for (answer, detail) in [
        (
            json!({"type": "answer", "sdp": "v=0\r\nthis is not SDP\r\n"}),
            "the answer",
        ),
        (json!({"type": "answer", "sdp": 42}), "the answer"),
        (json!({"type": "answer"}), "the answer"),
    ] {
        let address = broken_answerer(answer.clone()).await;
        let url = format!("ws://{address}/");
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || {
            lab::check_json(
                None,
                &["--only", "webrtc", "--format", "json", "--peer", &url],
                &[],
            )
        })
        .await
        .unwrap();
        let (output, report, _) = output;
        assert_eq!(output.status.code(), Some(1), "{report:#}");
        let probe = report["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|probe| probe["kind"] == "webrtc")
            .unwrap();
        assert_eq!(
            probe["metrics"]["failed_stage"], "answer",
            "{answer}: {probe:#}"
        );
        let finding = &probe["findings"][0];
        assert_eq!(finding["code"], 16388, "{finding:#}");
        assert!(
            finding["evidence"].as_str().unwrap().contains(detail),
            "{finding:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{answer}");
    }
}
