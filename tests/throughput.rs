//! Throughput for real: `check --only throughput` against `serve` (the binary, with its token).
//!
//! | test | path | what must hold |
//! |---|---|---|
//! | `a_1_mbit_uplink_is_found_and_the_call_does_not_fit` | two namespaces joined by a veth; `tbf rate 1mbit` on the client's side, `2mbit` on the server's | uplink measured within 10 % of 1 Mbit/s, a warning that the 720p call does not fit it; the downlink fits |
//! | `a_1_mbit_downlink_is_found_and_the_call_does_not_fit` | the same with `tbf rate 1mbit` on the server's side only | downlink within 10 % of 1 Mbit/s, a warning for the downlink only |
//! | `a_clean_loopback_carries_the_call_both_ways` | loopback | pass, 1,540 kbit/s each way, no loss |
//! | `without_the_right_token_nothing_is_measured` | loopback: no token, a wrong token, `serve --no-throughput` | skip with the reason; `serve` answers nothing to a wrong token |
//!
//! `tbf` counts Ethernet frames: 1,200 bytes of UDP payload are 1,242 bytes on a veth, so 1 Mbit/s
//! carries 989 kbit/s of IP packets (`wire_kbps`) and 966 kbit/s of payload (`achieved_kbps`);
//! both are within 10 % of the limit. Addresses are 10.232.N.0/30, inside the namespaces only.
//! Needs root and iproute2 (CI runs as root).

mod lab;

use std::net::SocketAddr;

use lab::impair::serve_with_token;
use lab::Netns;
use serde_json::Value;

const TOKEN: &str = "throughput-test-token";

/// Client and server namespaces joined by a veth pair: server 10.232.`n`.1, client .2; `tbf` at
/// `up` kbit/s on the client's end and `down` on the server's (0: no limit).
fn link(n: u8, up: u32, down: u32) -> (Netns, Netns) {
    let server = Netns::new();
    let client = Netns::new();
    let (client_if, server_if) = client.link(
        &server,
        &format!("10.232.{n}.2/30"),
        &format!("10.232.{n}.1/30"),
    );
    for (namespace, interface, kbps) in [(&client, &client_if, up), (&server, &server_if, down)] {
        if kbps > 0 {
            let rate = format!("{kbps}kbit");
            namespace.exec(&[
                "tc", "qdisc", "add", "dev", interface, "root", "tbf", "rate", &rate, "burst",
                "32kbit", "latency", "400ms",
            ]);
        }
    }
    (client, server)
}

/// Runs the throughput probe from `namespace` (or this one) against `serve` at `target`.
fn check(namespace: Option<&Netns>, target: SocketAddr, token: Option<&str>) -> Value {
    let host = target.ip().to_string();
    let port = target.port().to_string();
    let env: Vec<(&str, &str)> = token
        .map(|token| vec![("TRTC_PREFLIGHT_TOKEN", token)])
        .unwrap_or_default();
    let (output, report, _) = lab::check_json(
        namespace,
        &[
            "--ports",
            &host,
            "--udp-ports",
            &port,
            "--only",
            "throughput",
            "--format",
            "json",
        ],
        &env,
    );
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(TOKEN),
            "the token leaked"
        );
    }
    lab::probe(&report, &format!("throughput/{host}")).clone()
}

fn kbps(direction: &Value, field: &str) -> f64 {
    direction[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {direction:#}"))
}

/// Within 10 % of 1,000 kbit/s: the IP packets, and the payload (the frames' Ethernet headers
/// are what separates the two from tbf's count).
fn found_one_mbit(direction: &Value) {
    let wire = kbps(direction, "wire_kbps");
    let payload = kbps(direction, "achieved_kbps");
    assert!((900.0..=1100.0).contains(&wire), "{direction:#}");
    assert!((900.0..=1100.0).contains(&payload), "{direction:#}");
    assert_eq!(direction["fits"], false, "{direction:#}");
}

#[test]
fn a_1_mbit_uplink_is_found_and_the_call_does_not_fit() {
    let (client, server) = link(1, 1000, 2000);
    let _serve = serve_with_token(
        Some(&server),
        TOKEN,
        &["--listen", "10.232.1.1", "--stun-udp", "0"],
    );
    let target = SocketAddr::from(([10, 232, 1, 1], _serve.port("stun/udp")));
    let probe = check(Some(&client), target, Some(TOKEN));
    println!("{probe:#}");
    let m = &probe["metrics"];
    found_one_mbit(&m["uplink"]);
    assert_eq!(m["downlink"]["fits"], true, "{m:#}");
    assert_eq!(m["fits"], false);
    assert_eq!(probe["status"], "warn");
    assert_eq!(lab::findings(&probe), [("warning".to_string(), None)]);
    let description = probe["findings"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("The uplink cannot carry a 720p call"),
        "{description}"
    );
}

#[test]
fn a_1_mbit_downlink_is_found_and_the_call_does_not_fit() {
    let (client, server) = link(2, 0, 1000);
    let _serve = serve_with_token(
        Some(&server),
        TOKEN,
        &["--listen", "10.232.2.1", "--stun-udp", "0"],
    );
    let target = SocketAddr::from(([10, 232, 2, 1], _serve.port("stun/udp")));
    let probe = check(Some(&client), target, Some(TOKEN));
    println!("{probe:#}");
    let m = &probe["metrics"];
    found_one_mbit(&m["downlink"]);
    assert_eq!(m["uplink"]["fits"], true, "{m:#}");
    assert_eq!(m["uplink"]["loss_percent"], 0.0, "{m:#}");
    assert_eq!(probe["status"], "warn");
    let description = probe["findings"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("The downlink cannot carry a 720p call"),
        "{description}"
    );
    // The tail of the bottleneck's queue arrived: loss is what tbf dropped, not what was late.
    let down = &m["downlink"];
    let loss = down["loss_percent"].as_f64().unwrap();
    assert!((20.0..=50.0).contains(&loss), "{down:#}");
}

#[test]
fn a_clean_loopback_carries_the_call_both_ways() {
    let serve = serve_with_token(None, TOKEN, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let target = SocketAddr::from(([127, 0, 0, 1], serve.port("stun/udp")));
    let probe = check(None, target, Some(TOKEN));
    assert_eq!(probe["status"], "pass", "{probe:#}");
    let m = &probe["metrics"];
    assert_eq!(m["fits"], true);
    assert_eq!(m["required_kbps"], 1540);
    for way in ["uplink", "downlink"] {
        let direction = &m[way];
        assert_eq!(direction["result"], "measured");
        assert_eq!(direction["sent"], direction["received"], "{direction:#}");
        assert_eq!(direction["loss_percent"], 0.0);
        let achieved = kbps(direction, "achieved_kbps");
        assert!((1500.0..=1580.0).contains(&achieved), "{direction:#}");
    }
    // Two ways of 3 s, handshakes and the downlink's tail: well under the probe's deadline.
    assert!(m["took_ms"].as_u64().unwrap() < 9000, "{m:#}");
}

#[test]
fn without_the_right_token_nothing_is_measured() {
    let serve = serve_with_token(None, TOKEN, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let target = SocketAddr::from(([127, 0, 0, 1], serve.port("stun/udp")));
    let probe = check(None, target, None);
    assert_eq!(probe["status"], "skip", "{probe:#}");
    assert_eq!(probe["metrics"]["result"], "no_token");
    assert!(probe["findings"][0]["evidence"]
        .as_str()
        .unwrap()
        .contains("TRTC_PREFLIGHT_TOKEN is not set"));

    // A wrong token is never answered: the handshake goes unanswered, in about a second.
    let probe = check(None, target, Some("not-the-token"));
    assert_eq!(probe["status"], "skip", "{probe:#}");
    assert_eq!(probe["metrics"]["uplink"]["result"], "no_answer");
    assert_eq!(probe["metrics"]["downlink"]["result"], "not_tried");
    assert!(probe["duration_ms"].as_u64().unwrap() < 2000, "{probe:#}");

    // serve --no-throughput: the same, with the right token.
    let off = serve_with_token(
        None,
        TOKEN,
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--no-throughput",
        ],
    );
    let target = SocketAddr::from(([127, 0, 0, 1], off.port("stun/udp")));
    let probe = check(None, target, Some(TOKEN));
    assert_eq!(
        probe["metrics"]["uplink"]["result"], "no_answer",
        "{probe:#}"
    );
}
