//! The WebRTC probe end to end: the binary's `check --peer` against the binary's `serve` and
//! its answerer, on loopback and across network namespaces with real firewalls, through
//! coturn as a relay, and against the answerer's misbehaviours. Each failure asserts the SDK's
//! exact code and message, and that the run ended within its deadline.

mod lab;

use std::process::Output;
use std::time::Duration;

use lab::{Netns, Serve};

/// Runs `check` with `args` (WebRTC only, JSON) and returns the output, the report and the
/// wall time.
fn check(
    namespace: Option<&Netns>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, serde_json::Value, Duration) {
    let all = [&["--only", "webrtc", "--format", "json"], args].concat();
    lab::check_json(namespace, &all, env)
}

fn serve(args: &[&str]) -> (Serve, String) {
    let mut all = vec!["--listen", "127.0.0.1", "--signal-ws", "0"];
    all.extend_from_slice(args);
    let serve = Serve::start(None, &all);
    let url = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    (serve, url)
}

fn webrtc<'a>(report: &'a serde_json::Value, url: &str) -> &'a serde_json::Value {
    lab::probe(report, &format!("webrtc/{url}"))
}

/// The one finding with an SDK code.
fn coded(probe: &serde_json::Value) -> &serde_json::Value {
    let coded: Vec<&serde_json::Value> = probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["code"].is_u64())
        .collect();
    assert_eq!(coded.len(), 1, "{probe:#}");
    coded[0]
}

#[test]
fn a_call_to_serve_connects_with_data_and_media_both_ways() {
    let (_serve, url) = serve(&[]);
    let (output, report, _) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["status"], "pass", "{probe:#}");
    let metrics = &probe["metrics"];
    assert_eq!(metrics["connected"], true);
    assert_eq!(
        metrics["server"],
        format!("trtc-preflight {}", env!("CARGO_PKG_VERSION"))
    );
    for stage in [
        "signaling",
        "answer",
        "ice",
        "dtls",
        "connected",
        "first_media",
        "ready",
    ] {
        assert!(
            metrics["timings_ms"][stage].as_f64().unwrap() > 0.0,
            "{stage}: {metrics:#}"
        );
    }
    let channel = &metrics["data_channel"];
    assert_eq!(channel["opened"], true);
    assert_eq!(channel["sent"], 3);
    assert_eq!(channel["echoed"], 3);
    assert_eq!(channel["largest_echoed_bytes"], 16_000);
    let media = metrics["media"].as_array().unwrap();
    assert_eq!(media.len(), 2);
    for kind in media {
        assert!(kind["received"].as_u64().unwrap() >= 5, "{kind}");
        assert!(kind["peer_received"].as_u64().unwrap() >= kind["received"].as_u64().unwrap());
    }
    let pair = &metrics["selected_pair"];
    assert_eq!(pair["local"]["address"], "127.0.0.1");
    assert_eq!(pair["remote"]["address"], "127.0.0.1");
    assert_eq!(pair["local"]["type"], "host");
    let finding = &probe["findings"][0];
    assert_eq!(finding["severity"], "info");
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("3 data-channel messages echoed"),
        "{evidence}"
    );
    assert!(!evidence.contains("misbehaves"), "{evidence}");
}

#[test]
fn a_peer_that_never_answers_is_join_room_timeout() {
    let (_serve, url) = serve(&["--misbehave", "never-answer"]);
    let (output, report, took) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["status"], "fail");
    assert_eq!(probe["metrics"]["failed_stage"], "answer");
    let finding = coded(probe);
    assert_eq!(finding["code"], 16388);
    assert_eq!(finding["name"], "JOIN_ROOM_FAILED");
    assert_eq!(finding["message"], "join room timeout");
    assert!(finding["evidence"]
        .as_str()
        .unwrap()
        .contains("took the offer and sent no answer within 5"));
    // The answer's 5 s, not the library's or the server's 15 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn stalled_dtls_is_the_sdks_dtls_timeout() {
    let (_serve, url) = serve(&["--misbehave", "stall-dtls"]);
    let (output, report, took) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["metrics"]["failed_stage"], "dtls");
    assert!(probe["metrics"]["timings_ms"]["ice"].is_number());
    let finding = coded(probe);
    assert_eq!(finding["code"], 16387);
    assert_eq!(finding["name"], "ICE_TRANSPORT_ERROR");
    assert_eq!(
        finding["message"],
        "DTLS Transport connection timeout (10s)"
    );
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("then the DTLS handshake did not complete after 5"),
        "{evidence}"
    );
    assert!(
        evidence.contains("the SDK gives up after 10 s"),
        "{evidence}"
    );
    assert!(took < Duration::from_secs(12), "{took:?}");
}

#[test]
fn media_lost_on_the_way_back_is_a_warning_that_says_so() {
    let (_serve, url) = serve(&["--misbehave", "drop-downlink"]);
    let (output, report, _) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["status"], "warn");
    let findings = probe["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{probe:#}");
    for (finding, kind) in findings.iter().zip(["audio", "video"]) {
        assert_eq!(finding["severity"], "warning");
        assert!(finding["code"].is_null());
        let evidence = finding["evidence"].as_str().unwrap();
        assert!(
            evidence.contains(&format!(
                "{kind} was lost from the peer back to this machine"
            )),
            "{evidence}"
        );
    }
    assert!(findings[1]["description"]
        .as_str()
        .unwrap()
        .contains("black video"));
    // The same run under --fail-on warning fails.
    let (output, _, _) = check(None, &["--peer", &url, "--fail-on", "warning"], &[]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn media_lost_on_the_way_out_is_a_warning_that_says_so() {
    let (_serve, url) = serve(&["--misbehave", "drop-uplink"]);
    let (output, report, _) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["status"], "warn");
    for finding in probe["findings"].as_array().unwrap() {
        let evidence = finding["evidence"].as_str().unwrap();
        assert!(
            evidence.contains("from this machine to the peer: the peer received none"),
            "{evidence}"
        );
    }
    for media in probe["metrics"]["media"].as_array().unwrap() {
        assert_eq!(media["received"], 0);
        assert_eq!(media["peer_received"], 0);
    }
}

#[test]
fn a_serve_without_an_answerer_is_named() {
    let (_serve, url) = serve(&["--no-answerer"]);
    let (output, report, _) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let finding = coded(webrtc(&report, &url));
    assert_eq!(finding["code"], 16388);
    assert!(finding["fix"]
        .as_str()
        .unwrap()
        .contains("without --no-answerer"));
}

#[test]
fn an_unreachable_peer_is_a_signaling_failure() {
    let port = lab::free_ports(1)[0];
    let url = format!("ws://127.0.0.1:{port}/");
    let (output, report, took) = check(None, &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(1));
    let finding = coded(webrtc(&report, &url));
    assert_eq!(finding["code"], 16385);
    assert_eq!(
        finding["message"],
        "failed to connect to remote server via websocket"
    );
    assert!(finding["evidence"].as_str().unwrap().contains("tcp step"));
    assert!(took < Duration::from_secs(5));
}

/// Two namespaces on one link: the client (10.234.1.1) and `serve` (10.234.1.2).
fn two_hosts() -> (Netns, Netns) {
    let client = Netns::new();
    let server = Netns::new();
    client.link(&server, "10.234.1.1/24", "10.234.1.2/24");
    (client, server)
}

#[test]
fn across_a_real_link_the_call_connects_between_the_two_hosts() {
    let (client, server) = two_hosts();
    let serve = Serve::start(
        Some(&server),
        &["--listen", "10.234.1.2", "--signal-ws", "0"],
    );
    let url = format!("ws://10.234.1.2:{}/", serve.port("signal/ws"));
    let (output, report, _) = check(Some(&client), &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let pair = &webrtc(&report, &url)["metrics"]["selected_pair"];
    assert_eq!(pair["local"]["address"], "10.234.1.1");
    assert_eq!(pair["remote"]["address"], "10.234.1.2");
}

#[test]
fn udp_dropped_between_the_hosts_fails_ice_with_the_sdks_message() {
    let (client, server) = two_hosts();
    // Signaling (TCP) passes; every UDP datagram leaving the client is dropped.
    client.nft(
        "table inet lab {\n  chain output {\n    type filter hook output priority 0;\n    oifname != \"lo\" meta l4proto udp drop\n  }\n}\n",
    );
    let serve = Serve::start(
        Some(&server),
        &["--listen", "10.234.1.2", "--signal-ws", "0"],
    );
    let url = format!("ws://10.234.1.2:{}/", serve.port("signal/ws"));
    let (output, report, took) = check(Some(&client), &["--peer", &url], &[]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["metrics"]["failed_stage"], "ice");
    let finding = coded(probe);
    assert_eq!(finding["code"], 16387);
    assert_eq!(finding["message"], "ICE/DTLS Transport connection failed");
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("Local candidates: host udp 10.234.1.1:"),
        "{evidence}"
    );
    assert!(
        evidence.contains("The peer's candidates: host udp 10.234.1.2:"),
        "{evidence}"
    );
    let fix = finding["fix"].as_str().unwrap();
    assert!(
        fix.contains("UDP between this machine (10.234.1.1) and the test peer (10.234.1.2:"),
        "{fix}"
    );
    // ICE's 5 s, not the library's 25 s nor a browser's 40 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn relay_only_connects_through_a_turn_server_nobody_here_wrote() {
    let relay = lab::Relay::start(None, "127.0.0.1", &[]);
    let (_serve, url) = serve(&[]);
    let turn = format!("turn:127.0.0.1:{}?transport=udp", relay.port);
    let args = [
        "--peer",
        &url,
        "--relay-only",
        "--turn",
        &turn,
        "--turn-user",
        "alice",
    ];
    // -vv: the debug log holds no secret either.
    let verbose = [&args[..], &["-vv"]].concat();
    let (output, report, _) = check(
        None,
        &verbose,
        &[("TRTC_PREFLIGHT_TURN_PASSWORD", "s3cret")],
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = webrtc(&report, &url);
    let metrics = &probe["metrics"];
    assert_eq!(metrics["relay_only"], true);
    assert_eq!(metrics["selected_pair"]["local"]["type"], "relay");
    assert!(metrics["local_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|candidate| candidate["type"] == "relay"));
    assert!(probe["findings"][0]["evidence"]
        .as_str()
        .unwrap()
        .contains(&format!("through the relay {turn}")));
    // The password appears nowhere.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("s3cret"));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));

    // A wrong password: no relay candidate, and the fix says where to look.
    let (output, report, took) = check(None, &args, &[("TRTC_PREFLIGHT_TURN_PASSWORD", "wrong")]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let finding = coded(webrtc(&report, &url));
    assert_eq!(finding["code"], 16387);
    assert_eq!(finding["message"], "ICE/DTLS Transport connection failed");
    assert!(finding["fix"]
        .as_str()
        .unwrap()
        .starts_with(&format!("No relay candidate was gathered from {turn}")));
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn relay_only_over_tcp_says_the_webrtc_stack_cannot() {
    let (_serve, url) = serve(&[]);
    let (output, report, _) = check(
        None,
        &[
            "--peer",
            &url,
            "--relay-only",
            "--turn",
            "turn:127.0.0.1:3478?transport=tcp",
            "--turn-user",
            "alice",
        ],
        &[("TRTC_PREFLIGHT_TURN_PASSWORD", "s3cret")],
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = webrtc(&report, &url);
    assert_eq!(probe["status"], "skip");
    let evidence = probe["findings"][0]["evidence"].as_str().unwrap();
    assert_eq!(
        evidence,
        "--relay-only with turn:127.0.0.1:3478?transport=tcp."
    );
}

#[test]
fn relay_only_needs_a_peer_and_a_relay() {
    for (args, message) in [
        (
            vec!["--relay-only"],
            "error: --relay-only applies to the WebRTC check: it needs --peer URL\n",
        ),
        (
            vec!["--relay-only", "--peer", "ws://127.0.0.1:9/"],
            "error: --relay-only needs a relay: pass --turn turn:HOST:PORT?transport=udp with --turn-user\n",
        ),
    ] {
        let output = lab::preflight(None)
            .arg("check")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&output.stderr), message);
    }
}
