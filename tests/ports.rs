//! The `ports` probe (TRTC's path matrix) end to end, against `serve` behind real nftables
//! firewalls in namespaces of the test's own.

mod lab;

use std::time::{Duration, Instant};

use lab::{findings, json, preflight, probe, validate, Netns, Serve};

/// `serve` with three UDP ports and two TCP ports in a new namespace, behind `rules`.
fn lab(rules: &str) -> (Netns, Serve, Vec<u16>, Vec<u16>) {
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0,0,0",
            "--stun-tcp",
            "0,0",
        ],
    );
    let (udp, tcp) = (serve.ports("stun/udp"), serve.ports("stun/tcp"));
    assert_eq!((udp.len(), tcp.len()), (3, 2));
    let mut rules = rules.to_string();
    for (index, port) in udp.iter().enumerate() {
        rules = rules.replace(&format!("UDP{index}"), &port.to_string());
    }
    for (index, port) in tcp.iter().enumerate() {
        rules = rules.replace(&format!("TCP{index}"), &port.to_string());
    }
    namespace.nft(&format!("table inet lab {{\n chain input {{ type filter hook input priority 0; policy accept;\n{rules}\n }}\n}}\n"));
    (namespace, serve, udp, tcp)
}

fn check(namespace: &Netns, udp: &[u16], tcp: &[u16]) -> (std::process::Output, Duration) {
    let list = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let started = Instant::now();
    let output = preflight(Some(namespace))
        .args([
            "check",
            "--only",
            "ports",
            "--format",
            "json",
            "--ports",
            "127.0.0.1",
        ])
        .args(["--udp-ports", &list(udp), "--tcp-ports", &list(tcp)])
        .output()
        .unwrap();
    (output, started.elapsed())
}

fn matrix_results(report: &serde_json::Value) -> Vec<(String, u64, String)> {
    probe(report, "ports/127.0.0.1")["metrics"]["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            (
                cell["protocol"].as_str().unwrap().to_string(),
                cell["port"].as_u64().unwrap(),
                cell["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_port_open_passes_fast() {
    let (namespace, _serve, udp, tcp) = lab("");
    let (output, elapsed) = check(&namespace, &udp, &tcp);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    validate(&report);
    assert!(
        matrix_results(&report)
            .iter()
            .all(|(_, _, result)| result == "open"),
        "{report:#}"
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn some_udp_dropped_is_a_warning_naming_each_port() {
    let (namespace, _serve, udp, tcp) = lab("udp dport UDP1 drop\n udp dport UDP2 reject");
    let (output, elapsed) = check(&namespace, &udp, &tcp);
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    validate(&report);
    let ports = probe(&report, "ports/127.0.0.1");
    assert_eq!(
        findings(ports),
        [("warning".to_string(), None)],
        "{ports:#}"
    );
    let fix = ports["findings"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("UDP {}, {} to 127.0.0.1", udp[1], udp[2])),
        "{fix}"
    );
    let results = matrix_results(&report);
    assert_eq!(results[1], ("udp".into(), udp[1] as u64, "silent".into()));
    assert_eq!(results[2], ("udp".into(), udp[2] as u64, "rejected".into()));
    // The silent port waited the adaptive floor (1 s), not the whole default schedule.
    let waited = ports["metrics"]["matrix"][1]["waited_ms"].as_f64().unwrap();
    assert!((1000.0..1400.0).contains(&waited), "{waited}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn all_udp_dropped_with_tcp_open_relays_over_tcp() {
    let (namespace, _serve, udp, tcp) = lab("meta l4proto udp drop");
    let (output, elapsed) = check(&namespace, &udp, &tcp);
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    let ports = probe(&report, "ports/127.0.0.1");
    assert_eq!(
        findings(ports),
        [("warning".to_string(), None)],
        "{ports:#}"
    );
    assert!(ports["findings"][0]["description"]
        .as_str()
        .unwrap()
        .contains("relays the media over TCP/TLS 443"));
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn everything_dropped_is_16387() {
    let (namespace, _serve, udp, tcp) = lab("meta l4proto { udp, tcp } drop");
    let (output, _) = check(&namespace, &udp, &tcp);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    validate(&report);
    let ports = probe(&report, "ports/127.0.0.1");
    assert_eq!(
        findings(ports),
        [("error".to_string(), Some(16387))],
        "{ports:#}"
    );
    assert_eq!(
        ports["findings"][0]["message"],
        "RtcError: no valid ice candidate found"
    );
}

#[test]
fn tcp_that_accepts_but_blocks_is_not_open() {
    let (namespace, _serve, udp, tcp) = lab("tcp dport TCP1 meta length > 60 drop");
    let (output, _) = check(&namespace, &udp, &tcp);
    let report = json(&output);
    let results = matrix_results(&report);
    assert_eq!(
        results[4],
        ("tcp".into(), tcp[1] as u64, "accepts_but_blocks".into()),
        "{results:?}"
    );
    let ports = probe(&report, "ports/127.0.0.1");
    assert!(ports["findings"][0]["evidence"]
        .as_str()
        .unwrap()
        .contains("accepts connections but blocks their payload"));
}

#[test]
fn tcp_443_counts_as_open_when_tls_carries_the_path() {
    // Inside a namespace of our own, serve may bind 443 (the tests run as root).
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--stun-tls",
            "443",
        ],
    );
    let udp = serve.port("stun/udp");
    let pin = serve.pin.clone().expect("serve prints its pin");
    for extra in [vec![], vec!["--pin", pin.as_str()]] {
        let output = preflight(Some(&namespace))
            .args([
                "check",
                "--only",
                "ports",
                "--format",
                "json",
                "--ports",
                "127.0.0.1",
            ])
            .args(["--udp-ports", &udp.to_string(), "--tcp-ports", "443"])
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let report = json(&output);
        validate(&report);
        let ports = probe(&report, "ports/127.0.0.1");
        assert_eq!(ports["status"], "pass", "{ports:#}");
        assert_eq!(
            ports["metrics"]["open"]["tcp"],
            serde_json::json!([443]),
            "{ports:#}"
        );
        let cell = &ports["metrics"]["matrix"][1];
        assert_eq!(cell["protocol"], "tls", "{cell:#}");
        // With the pin, STUN itself answered inside TLS; without, the certificate proved the path.
        let expected = if extra.is_empty() {
            "open_tls_untrusted"
        } else {
            "open"
        };
        assert_eq!(cell["result"], expected, "{cell:#}");
    }
}

#[test]
fn over_veth_rate_limited_icmp_never_becomes_a_false_rejected() {
    // Linux rate-limits ICMP errors on real links (not on loopback): of 300 closed ports, only
    // some get their "port unreachable". Each must be called what was seen: rejected when the
    // ICMP came, silent when it did not, and never open.
    let (client, server) = (Netns::new(), Netns::new());
    client.link(&server, "10.233.1.2/24", "10.233.1.1/24");
    let serve = Serve::start(
        Some(&server),
        &[
            "--listen",
            "10.233.1.1",
            "--stun-udp",
            "0",
            "--stun-tcp",
            "0",
        ],
    );
    let (open, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let closed: Vec<u16> = (20_000..20_300).filter(|port| *port != open).collect();
    let mut udp = vec![open];
    udp.extend(&closed);
    let list = udp.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let output = preflight(Some(&client))
        .args([
            "check",
            "--only",
            "ports",
            "--format",
            "json",
            "--ports",
            "10.233.1.1",
        ])
        .args(["--udp-ports", &list, "--tcp-ports", &tcp.to_string()])
        .output()
        .unwrap();
    let report = json(&output);
    validate(&report);
    let results: Vec<(String, u64, String)> = probe(&report, "ports/10.233.1.1")["metrics"]
        ["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            (
                cell["protocol"].as_str().unwrap().into(),
                cell["port"].as_u64().unwrap(),
                cell["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(results[0], ("udp".into(), open as u64, "open".into()));
    let closed_results: Vec<&str> = results[1..closed.len() + 1]
        .iter()
        .map(|(_, _, result)| result.as_str())
        .collect();
    assert!(
        closed_results
            .iter()
            .all(|result| *result == "rejected" || *result == "silent"),
        "{closed_results:?}"
    );
    let rejected = closed_results
        .iter()
        .filter(|result| **result == "rejected")
        .count();
    assert!(rejected > 0, "no ICMP at all came back: {closed_results:?}");
    eprintln!(
        "{rejected} of {} closed ports were rejected, the rest silent (ICMP rate limit)",
        closed.len()
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "one UDP and one TCP port answer: a warning, not an error"
    );
}
