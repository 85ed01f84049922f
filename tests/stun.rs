//! The `stun` probe end to end: against our `serve` and against coturn on loopback, and behind
//! real firewalls (nftables in a network namespace of the test's own).

mod lab;

use std::time::{Duration, Instant};

use lab::{findings, json, preflight, probe, validate, Coturn, Netns, Serve};

fn check(namespace: Option<&Netns>, stun: &[String]) -> (std::process::Output, Duration) {
    let mut command = preflight(namespace);
    command.args(["check", "--only", "stun", "--format", "json"]);
    for target in stun {
        command.args(["--stun", target]);
    }
    let started = Instant::now();
    let output = command.output().unwrap();
    (output, started.elapsed())
}

#[test]
fn against_serve_every_path_answers() {
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--stun-tcp",
            "0",
        ],
    );
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let (output, _) = check(
        None,
        &[format!("127.0.0.1:{udp}"), format!("tcp:127.0.0.1:{tcp}")],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    validate(&report);
    for id in [
        format!("stun/udp/127.0.0.1:{udp}"),
        format!("stun/tcp/127.0.0.1:{tcp}"),
    ] {
        let probe = probe(&report, &id);
        assert_eq!(probe["status"], "pass", "{probe:#}");
        let family = &probe["metrics"]["families"][0];
        assert_eq!(family["result"], "answered");
        assert_eq!(family["nat"], false, "loopback has no NAT");
        assert!(family["rtt_ms"].as_f64().unwrap() < 100.0);
        assert_eq!(family["interface"], "lo");
        assert_eq!(
            probe["metrics"]["addresses"],
            serde_json::json!(["127.0.0.1"])
        );
    }
}

#[test]
fn against_coturn_a_stun_server_nobody_here_wrote() {
    let coturn = Coturn::start();
    let port = coturn.port;
    let (output, _) = check(
        None,
        &[format!("127.0.0.1:{port}"), format!("tcp:127.0.0.1:{port}")],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    validate(&report);
    assert_eq!(
        probe(&report, &format!("stun/udp/127.0.0.1:{port}"))["status"],
        "pass"
    );
    assert_eq!(
        probe(&report, &format!("stun/tcp/127.0.0.1:{port}"))["status"],
        "pass"
    );
}

#[test]
fn a_name_pointed_at_the_lab_with_resolve() {
    let serve = Serve::start(None, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let udp = serve.port("stun/udp");
    let output = preflight(None)
        .args([
            "check",
            "--only",
            "stun",
            "--format",
            "json",
            "--resolve",
            "stun.trtc.example=127.0.0.1",
        ])
        .args(["--stun", &format!("stun.trtc.example:{udp}")])
        .output()
        .unwrap();
    let report = json(&output);
    let probe = probe(&report, &format!("stun/udp/stun.trtc.example:{udp}"));
    assert_eq!(probe["status"], "pass", "{probe:#}");
    assert_eq!(probe["metrics"]["resolve"]["source"], "override");
}

/// A namespace with `serve` on 127.0.0.1 (UDP and TCP) and the firewall rules given.
fn firewalled(rules: &str) -> (Netns, Serve) {
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &[
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--stun-tcp",
            "0",
        ],
    );
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let rules = rules
        .replace("UDP_PORT", &udp.to_string())
        .replace("TCP_PORT", &tcp.to_string());
    namespace.nft(&format!("table inet lab {{\n chain input {{ type filter hook input priority 0; policy accept;\n{rules}\n }}\n}}\n"));
    (namespace, serve)
}

#[test]
fn udp_dropped_with_tcp_open_is_a_warning_within_2_s() {
    let (namespace, serve) = firewalled("udp dport UDP_PORT drop");
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let (output, elapsed) = check(
        Some(&namespace),
        &[format!("127.0.0.1:{udp}"), format!("tcp:127.0.0.1:{tcp}")],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    validate(&report);
    let udp_probe = probe(&report, &format!("stun/udp/127.0.0.1:{udp}"));
    assert_eq!(udp_probe["status"], "warn", "{udp_probe:#}");
    assert_eq!(findings(udp_probe), [("warning".to_string(), None)]);
    assert_eq!(udp_probe["metrics"]["families"][0]["result"], "silent");
    let fix = udp_probe["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("UDP {udp}")), "{fix}");
    assert_eq!(
        probe(&report, &format!("stun/tcp/127.0.0.1:{tcp}"))["status"],
        "pass"
    );
    // Chromium needs 39.9 s to call this; the probe gives up after its 1.5 s schedule.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn udp_rejected_is_told_apart_from_dropped() {
    let (namespace, serve) = firewalled("udp dport UDP_PORT reject");
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let (output, _) = check(
        Some(&namespace),
        &[format!("127.0.0.1:{udp}"), format!("tcp:127.0.0.1:{tcp}")],
    );
    let report = json(&output);
    let udp_probe = probe(&report, &format!("stun/udp/127.0.0.1:{udp}"));
    assert_eq!(
        udp_probe["metrics"]["families"][0]["result"], "rejected",
        "{udp_probe:#}"
    );
    assert!(udp_probe["findings"][0]["evidence"]
        .as_str()
        .unwrap()
        .contains("ICMP port unreachable"));
}

#[test]
fn everything_dropped_is_16387_no_valid_ice_candidate() {
    let (namespace, serve) = firewalled("udp dport UDP_PORT drop\n tcp dport TCP_PORT drop");
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let (output, elapsed) = check(
        Some(&namespace),
        &[format!("127.0.0.1:{udp}"), format!("tcp:127.0.0.1:{tcp}")],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    validate(&report);
    assert_eq!(report["codes"], serde_json::json!([16387]));
    for id in [
        format!("stun/udp/127.0.0.1:{udp}"),
        format!("stun/tcp/127.0.0.1:{tcp}"),
    ] {
        let probe = probe(&report, &id);
        assert_eq!(
            findings(probe),
            [("error".to_string(), Some(16387))],
            "{probe:#}"
        );
        assert_eq!(
            probe["findings"][0]["message"],
            "RtcError: no valid ice candidate found"
        );
    }
    assert_eq!(
        probe(&report, &format!("stun/tcp/127.0.0.1:{tcp}"))["metrics"]["families"][0]["result"],
        "silent"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn tcp_accepted_but_payload_dropped() {
    // The handshake passes; every segment that carries data is dropped.
    let (namespace, serve) = firewalled("tcp dport TCP_PORT meta length > 60 drop");
    let tcp = serve.port("stun/tcp");
    let (output, _) = check(Some(&namespace), &[format!("tcp:127.0.0.1:{tcp}")]);
    let report = json(&output);
    let tcp_probe = probe(&report, &format!("stun/tcp/127.0.0.1:{tcp}"));
    assert_eq!(
        tcp_probe["metrics"]["families"][0]["result"], "accepted_but_silent",
        "{tcp_probe:#}"
    );
    assert!(tcp_probe["findings"][0]["evidence"]
        .as_str()
        .unwrap()
        .contains("accepts connections"));
}

#[test]
fn behind_a_real_nat_the_mapped_address_is_the_routers() {
    // client 10.232.1.2 -- 10.232.1.1 router 10.232.2.1 (masquerade) -- 10.232.2.2 server
    let (client, router, server) = (Netns::new(), Netns::new(), Netns::new());
    client.link(&router, "10.232.1.2/24", "10.232.1.1/24");
    let (_, to_server) = {
        let (router_side, server_side) = router.link(&server, "10.232.2.1/24", "10.232.2.2/24");
        (server_side, router_side)
    };
    client.exec(&["ip", "route", "add", "default", "via", "10.232.1.1"]);
    server.exec(&["ip", "route", "add", "default", "via", "10.232.2.1"]);
    router.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    router.nft(&format!(
        "table ip nat {{\n chain postrouting {{ type nat hook postrouting priority 100; policy accept;\n oifname \"{to_server}\" masquerade\n }}\n}}\n"
    ));
    let serve = Serve::start(
        Some(&server),
        &[
            "--listen",
            "10.232.2.2",
            "--stun-udp",
            "0,0",
            "--stun-tcp",
            "0",
        ],
    );
    let (udp, tcp) = (serve.port("stun/udp"), serve.port("stun/tcp"));
    let second = serve.ports("stun/udp")[1];
    let (output, _) = check(
        Some(&client),
        &[
            format!("10.232.2.2:{udp}"),
            format!("10.232.2.2:{second}"),
            format!("tcp:10.232.2.2:{tcp}"),
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    validate(&report);
    for id in [
        format!("stun/udp/10.232.2.2:{udp}"),
        format!("stun/tcp/10.232.2.2:{tcp}"),
    ] {
        let family = &probe(&report, &id)["metrics"]["families"][0];
        assert_eq!(family["nat"], true, "{family:#}");
        assert!(
            family["mapped"]
                .as_str()
                .unwrap()
                .starts_with("10.232.2.1:"),
            "{family:#}"
        );
        assert!(
            family["local"].as_str().unwrap().starts_with("10.232.1.2:"),
            "{family:#}"
        );
        // A NAT decides nothing for an SFU: no warning.
        assert_eq!(probe(&report, &id)["status"], "pass");
    }
    let first = probe(&report, &format!("stun/udp/10.232.2.2:{udp}"));
    let info = &first["findings"][0];
    assert_eq!(info["severity"], "info", "{first:#}");
    assert!(
        info["description"]
            .as_str()
            .unwrap()
            .contains("same public address"),
        "{info:#}"
    );
}

#[test]
fn a_sibling_that_answered_sets_how_long_silence_takes() {
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &["--listen", "127.0.0.1", "--stun-udp", "0,0"],
    );
    let ports = serve.ports("stun/udp");
    namespace.nft(&format!(
        "table inet lab {{\n chain input {{ type filter hook input priority 0; policy accept;\n udp dport {} drop\n }}\n}}\n",
        ports[1]
    ));
    let (output, elapsed) = check(
        Some(&namespace),
        &[
            format!("127.0.0.1:{}", ports[0]),
            format!("127.0.0.1:{}", ports[1]),
        ],
    );
    let report = json(&output);
    validate(&report);
    let silent =
        &probe(&report, &format!("stun/udp/127.0.0.1:{}", ports[1]))["metrics"]["families"][0];
    assert_eq!(silent["result"], "silent", "{silent:#}");
    let rule = silent["silence_rule"].as_str().unwrap();
    assert!(
        rule.contains(&format!("UDP {} on the same host answered", ports[0])),
        "{rule}"
    );
    let waited = silent["waited_ms"].as_f64().unwrap();
    assert!((1000.0..1400.0).contains(&waited), "{waited}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}
