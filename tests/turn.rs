//! The TURN probe end to end against coturn (a relay nobody here wrote): allocations over UDP,
//! TCP and TLS, data relayed between two allocations, the classes of refusal, a redirect, real
//! firewalls between namespaces, and through tinyproxy as browsers go through a proxy.

mod lab;

use std::time::{Duration, Instant};

use lab::{Netns, Relay};
use serde_json::Value;

const PASSWORD: (&str, &str) = ("TRTC_PREFLIGHT_TURN_PASSWORD", "s3cret");

fn check(
    namespace: Option<&Netns>,
    urls: &[String],
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, Value, Duration) {
    let mut args = vec!["--only", "turn", "--format", "json", "--turn-user", "alice"];
    for url in urls {
        args.extend(["--turn", url.as_str()]);
    }
    args.extend_from_slice(extra);
    lab::check_json(namespace, &args, env)
}

fn turn<'a>(report: &'a Value, url: &str) -> &'a Value {
    lab::probe(report, &format!("turn/{url}"))
}

fn last_finding(probe: &Value) -> &Value {
    probe["findings"].as_array().unwrap().last().unwrap()
}

#[test]
fn allocations_over_udp_tcp_and_tls_relay_data() {
    let relay = Relay::start(None, "127.0.0.1", &[]);
    let urls = [
        format!("turn:127.0.0.1:{}?transport=udp", relay.port),
        format!("turn:127.0.0.1:{}?transport=tcp", relay.port),
        format!("turns:127.0.0.1:{}", relay.tls_port),
    ];
    let (output, report, _) = check(None, &urls, &["--pin", &relay.pin], &[PASSWORD]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    for (url, transport) in urls.iter().zip(["udp", "tcp", "tls"]) {
        let probe = turn(&report, url);
        assert_eq!(probe["status"], "pass", "{probe:#}");
        let metrics = &probe["metrics"];
        assert_eq!(metrics["transport"], transport);
        assert_eq!(metrics["realm"], "lab");
        assert!(metrics["allocation"]["relayed"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        assert_eq!(metrics["allocation"]["lifetime_s"], 600);
        assert_eq!(metrics["data"]["echoed"], 3);
        // The challenge, then the credentials, the permission and the deletion.
        let steps: Vec<(&str, Value)> = metrics["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["request"].as_str().unwrap(), e["error"].clone()))
            .collect();
        assert_eq!(
            steps,
            [
                ("allocate", Value::from(401)),
                ("allocate", Value::Null),
                ("create-permission", Value::Null),
                ("refresh", Value::Null)
            ]
        );
        let evidence = last_finding(probe)["evidence"].as_str().unwrap();
        assert!(
            evidence.contains("3 of 3 messages relayed both ways"),
            "{evidence}"
        );
    }
    assert_eq!(
        turn(&report, &urls[2])["metrics"]["tls"]["verification"],
        "pin"
    );
    // The password appears nowhere.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("s3cret"));
}

#[test]
fn a_wrong_password_is_the_credentials_class() {
    let relay = Relay::start(None, "127.0.0.1", &[]);
    let url = format!("turn:127.0.0.1:{}", relay.port);
    let (output, report, _) = check(
        None,
        std::slice::from_ref(&url),
        &[],
        &[(PASSWORD.0, "wrong")],
    );
    assert_eq!(output.status.code(), Some(1));
    let finding = last_finding(turn(&report, &url));
    assert_eq!(finding["severity"], "error");
    assert!(finding["description"]
        .as_str()
        .unwrap()
        .starts_with("The relay refused the credentials"));
    assert_eq!(
        finding["evidence"],
        format!(
            "{url} (127.0.0.1:{} over UDP) answered allocate with 401 Unauthorized.",
            relay.port
        )
    );
    assert!(finding["fix"]
        .as_str()
        .unwrap()
        .contains("--turn-user and TRTC_PREFLIGHT_TURN_PASSWORD"));
}

#[test]
fn a_quota_of_one_refuses_the_second_allocation_with_486() {
    let relay = Relay::start(None, "127.0.0.1", &["--user-quota", "1"]);
    let url = format!("turn:127.0.0.1:{}", relay.port);
    let (output, report, _) = check(None, std::slice::from_ref(&url), &[], &[PASSWORD]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let finding = last_finding(turn(&report, &url));
    assert!(
        finding["description"]
            .as_str()
            .unwrap()
            .contains("486 Allocation Quota Reached"),
        "{finding:#}"
    );
    assert!(finding["evidence"]
        .as_str()
        .unwrap()
        .contains("a second allocation for the same user was refused: 486"));
}

#[test]
fn a_redirect_is_followed_to_the_alternate() {
    let target = Relay::start(None, "127.0.0.1", &[]);
    let alternate = format!("127.0.0.1:{}", target.port);
    let front = Relay::start(None, "127.0.0.1", &["--alternate-server", &alternate]);
    let url = format!("turn:127.0.0.1:{}", front.port);
    let (output, report, _) = check(None, std::slice::from_ref(&url), &[], &[PASSWORD]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let probe = turn(&report, &url);
    assert_eq!(probe["metrics"]["address"], alternate);
    assert_eq!(
        probe["metrics"]["redirected_from"],
        format!("127.0.0.1:{}", front.port)
    );
    assert!(probe["findings"][0]["description"]
        .as_str()
        .unwrap()
        .contains("300 Try Alternate"));
}

/// A client (10.237.1.1) and a relay (10.237.1.2) in namespaces of their own.
fn two_hosts() -> (Netns, Netns) {
    let client = Netns::new();
    let server = Netns::new();
    client.link(&server, "10.237.1.1/24", "10.237.1.2/24");
    (client, server)
}

#[test]
fn udp_blocked_with_a_tcp_relay_is_a_warning_not_an_error() {
    let (client, server) = two_hosts();
    // A firewall on the way: the relay's host never sees the client's UDP.
    server.nft("table inet lab {\n  chain input {\n    type filter hook input priority 0;\n    iifname != \"lo\" meta l4proto udp drop\n  }\n}\n");
    let relay = Relay::start(Some(&server), "10.237.1.2", &[]);
    let udp = format!("turn:10.237.1.2:{}?transport=udp", relay.port);
    let tcp = format!("turn:10.237.1.2:{}?transport=tcp", relay.port);
    let started = Instant::now();
    let (output, report, _) = check(Some(&client), &[udp.clone(), tcp.clone()], &[], &[PASSWORD]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["verdict"], "warn");
    assert_eq!(turn(&report, &tcp)["status"], "pass");
    let finding = last_finding(turn(&report, &udp));
    assert_eq!(finding["severity"], "warning");
    assert!(finding["code"].is_null());
    assert!(finding["description"]
        .as_str()
        .unwrap()
        .starts_with("UDP to this relay is blocked, but a path over TCP or TLS works"));
    assert!(finding["evidence"]
        .as_str()
        .unwrap()
        .contains("no answer to allocate (4 sent over"));
}

#[test]
fn everything_blocked_is_16387_with_no_valid_ice_candidate() {
    let (client, server) = two_hosts();
    client.nft("table inet lab {\n  chain output {\n    type filter hook output priority 0;\n    oifname != \"lo\" drop\n  }\n}\n");
    let relay = Relay::start(Some(&server), "10.237.1.2", &[]);
    let urls = [
        format!("turn:10.237.1.2:{}?transport=udp", relay.port),
        format!("turn:10.237.1.2:{}?transport=tcp", relay.port),
        format!("turns:10.237.1.2:{}", relay.tls_port),
    ];
    let started = Instant::now();
    let (output, report, _) = check(Some(&client), &urls, &["--pin", &relay.pin], &[PASSWORD]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    for url in &urls {
        let finding = last_finding(turn(&report, url));
        assert_eq!(finding["code"], 16387, "{finding:#}");
        assert_eq!(finding["message"], "RtcError: no valid ice candidate found");
    }
    // Over UDP, this machine's own firewall said no: the verdict is immediate.
    let udp = last_finding(turn(&report, &urls[0]));
    assert!(
        udp["evidence"]
            .as_str()
            .unwrap()
            .contains("this machine's firewall refuses to send there"),
        "{udp:#}"
    );
}

/// tinyproxy on a free loopback port; killed on drop (its configuration lives as long).
struct Tinyproxy(
    std::process::Child,
    u16,
    #[allow(dead_code)] tempfile::TempDir,
);

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tinyproxy() -> Tinyproxy {
    let port = lab::free_ports(1)[0];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &config,
        format!("Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 20\nLogLevel Error\n"),
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
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    Tinyproxy(child, port, dir)
}

#[test]
fn tcp_and_tls_allocations_go_through_an_http_proxy() {
    let relay = Relay::start(None, "127.0.0.1", &[]);
    let proxy = tinyproxy();
    let proxy_url = format!("http://127.0.0.1:{}", proxy.1);
    let tcp = format!("turn:127.0.0.1:{}?transport=tcp", relay.port);
    let tls = format!("turns:127.0.0.1:{}", relay.tls_port);
    let (output, report, _) = check(
        None,
        &[tcp.clone(), tls.clone()],
        &["--pin", &relay.pin],
        &[
            PASSWORD,
            ("HTTP_PROXY", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    for url in [&tcp, &tls] {
        let probe = turn(&report, url);
        assert_eq!(probe["status"], "pass", "{probe:#}");
        assert_eq!(probe["metrics"]["proxy"], proxy_url);
        assert!(last_finding(probe)["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("through the proxy {proxy_url}")));
    }
}
