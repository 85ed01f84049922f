//! MTU for real: the `mtu` probe across veth links with a small MTU, between network namespaces
//! of the test's own, with `serve` on the far side.
//!
//! The probe is a library function (it is not wired into `check` yet), and a test process cannot
//! enter a namespace by itself without unsafe code. So each outer test builds the namespaces,
//! starts `serve` in the server's, and runs this very test binary again inside the client's
//! (`ip netns exec CLIENT <this binary> inner_probe_from_the_client_namespace --exact
//! --ignored`), with the target and what to expect in environment variables; the inner test
//! runs the probe and the diagnosis and asserts. The namespaces (and their veth links) are
//! deleted when the outer test ends, passing or not.
//!
//! | test | topology | what the probe sees |
//! |---|---|---|
//! | `a_1100_byte_link_stops_media_sized_packets` | client ⇄ server, MTU 1100 both ends; ICMP "fragmentation needed" dropped on the server side | the kernel refuses 1228-byte packets at the send: limit 1100, warning |
//! | `ipv6_over_a_1280_byte_link_carries_media` | client ⇄ server over IPv6, MTU 1280 (IPv6's minimum) | 1280 passes (1232 bytes of payload, 48 of headers): media fits, no finding |
//! | `a_1500_byte_link_carries_media` | the same with MTU 1500 (control) | 1500 passes in one round, no finding |
//! | `a_black_hole_behind_a_router_is_found_by_silence` | client ⇄ router (1500) ⇄ server (1100); the router's ICMP errors dropped | packets over 1100 vanish: limit 1100 by silence, warning |
//! | `a_router_that_reports_its_mtu_is_found_at_once` | the same, ICMP allowed | the router's ICMP teaches the kernel 1100: limit 1100, warning |
//!
//! Addresses are 10.231.N.0/30 (and 10.231.N.4/30 behind a router) and fd00:231:N::/64, inside
//! the namespaces only.
//! Needs root and iproute2 and nftables (CI runs as root and installs them).

mod lab;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use lab::{Netns, Serve};
use preflight_probes::mtu::{self, Outcome, TryResult};
use preflight_reports::Severity;

/// The STUN server the inner test probes.
const TARGET: &str = "TRTC_PREFLIGHT_TEST_MTU_TARGET";
/// What the inner test expects: `clean:PACKET` (the largest packet answered, media passes), or
/// `limit:PACKET:local|icmp|silent` (media does not pass, and how the limit shows).
const EXPECT: &str = "TRTC_PREFLIGHT_TEST_MTU_EXPECT";
/// The inner test's name.
const INNER: &str = "inner_probe_from_the_client_namespace";

/// Drops ICMP "fragmentation needed" and ICMPv6 "packet too big" leaving or crossing a
/// namespace, so that path MTU discovery cannot help.
const DROP_PMTU_ICMP: &str = "table inet lab {
 chain output { type filter hook output priority 0; policy accept;
  icmp type destination-unreachable icmp code frag-needed drop
  icmpv6 type packet-too-big drop
 }
 chain forward { type filter hook forward priority 0; policy accept;
  icmp type destination-unreachable icmp code frag-needed drop
  icmpv6 type packet-too-big drop
 }
}
";

/// Joins `a` and `b` with a veth pair (`a_if` in `a`, `b_if` in `b`) of the given MTU, with
/// an address (CIDR) on each end, both up.
fn link(a: (&Netns, &str, &str), b: (&Netns, &str, &str), mtu: u32) {
    let mtu = mtu.to_string();
    a.0.exec(&[
        "ip", "link", "add", a.1, "mtu", &mtu, "type", "veth", "peer", "name", b.1, "mtu", &mtu,
        "netns", &b.0.name,
    ]);
    for (namespace, interface, address) in [a, b] {
        namespace.exec(&["ip", "address", "add", address, "dev", interface]);
        namespace.exec(&["ip", "link", "set", interface, "up"]);
    }
}

/// `serve` on `address` in `namespace`, answering STUN on a free UDP port.
fn serve(namespace: &Netns, address: &str) -> (Serve, SocketAddr) {
    let serve = Serve::start(Some(namespace), &["--listen", address, "--stun-udp", "0"]);
    let target = SocketAddr::new(address.parse().unwrap(), serve.port("stun/udp"));
    (serve, target)
}

/// Runs the inner test inside `client` against `target`, and returns its output.
fn probe_from(client: &Netns, target: SocketAddr, expect: &str) -> String {
    let this = std::env::current_exe().expect("the test binary's path");
    let output = Command::new("ip")
        .args(["netns", "exec", &client.name])
        .arg(this)
        .args([
            INNER,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(TARGET, target.to_string())
        .env(EXPECT, expect)
        .output()
        .expect("ip netns exec runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the probe inside {} failed:\n{stdout}\n{stderr}",
        client.name
    );
    println!("{stdout}");
    stdout.into_owned()
}

/// Two namespaces joined directly: server 10.231.N.1/30 and fd00:231:N::1/64 on `s0`, client
/// 10.231.N.2/30 and fd00:231:N::2/64 on `c0`.
fn direct(n: u8, mtu: u32) -> (Netns, Netns) {
    let server = Netns::new();
    let client = Netns::new();
    link(
        (&client, "c0", &format!("10.231.{n}.2/30")),
        (&server, "s0", &format!("10.231.{n}.1/30")),
        mtu,
    );
    // IPv6 too where the link allows it (IPv6 needs an MTU of at least 1280), without duplicate
    // address detection's delay.
    if mtu >= 1280 {
        for (namespace, interface, host) in [(&client, "c0", 2), (&server, "s0", 1)] {
            let address = format!("fd00:231:{n}::{host}/64");
            namespace.exec(&["ip", "address", "add", &address, "dev", interface, "nodad"]);
        }
    }
    server.nft(DROP_PMTU_ICMP);
    (server, client)
}

/// Three namespaces: client 10.231.N.6 ⇄ (MTU 1500) ⇄ 10.231.N.5 router 10.231.N.2 ⇄
/// (MTU `mtu`) ⇄ 10.231.N.1 server. With `drop_icmp`, the router's ICMP errors are dropped.
fn routed(n: u8, mtu: u32, drop_icmp: bool) -> (Netns, Netns, Netns) {
    let server = Netns::new();
    let router = Netns::new();
    let client = Netns::new();
    link(
        (&router, "r1", &format!("10.231.{n}.2/30")),
        (&server, "s0", &format!("10.231.{n}.1/30")),
        mtu,
    );
    link(
        (&client, "c0", &format!("10.231.{n}.6/30")),
        (&router, "r0", &format!("10.231.{n}.5/30")),
        1500,
    );
    router.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    server.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &format!("10.231.{n}.2"),
    ]);
    client.exec(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &format!("10.231.{n}.5"),
    ]);
    if drop_icmp {
        router.nft(DROP_PMTU_ICMP);
    }
    (server, router, client)
}

#[test]
fn a_1100_byte_link_stops_media_sized_packets() {
    let (server, client) = direct(1, 1100);
    let (_serve, target) = serve(&server, "10.231.1.1");
    probe_from(&client, target, "limit:1100:local");
}

#[test]
fn ipv6_over_a_1280_byte_link_carries_media() {
    // IPv6's minimum MTU, 1280, is above a media packet over IPv6 (1248 bytes).
    let (server, client) = direct(5, 1280);
    let (_serve, target) = serve(&server, "fd00:231:5::1");
    probe_from(&client, target, "clean:1280");
}

#[test]
fn a_1500_byte_link_carries_media() {
    let (server, client) = direct(2, 1500);
    let (_serve, target) = serve(&server, "10.231.2.1");
    probe_from(&client, target, "clean:1500");
}

#[test]
fn a_black_hole_behind_a_router_is_found_by_silence() {
    let (server, _router, client) = routed(3, 1100, true);
    let (_serve, target) = serve(&server, "10.231.3.1");
    probe_from(&client, target, "limit:1100:silent");
}

#[test]
fn a_router_that_reports_its_mtu_is_found_at_once() {
    let (server, _router, client) = routed(4, 1100, false);
    let (_serve, target) = serve(&server, "10.231.4.1");
    probe_from(&client, target, "limit:1100:icmp");
}

/// Run by the tests above inside a client namespace; does nothing when run by itself.
#[test]
#[ignore = "run by the other tests of this file, inside a client namespace"]
fn inner_probe_from_the_client_namespace() {
    let (Ok(target), Ok(expect)) = (std::env::var(TARGET), std::env::var(EXPECT)) else {
        eprintln!("{INNER} runs only inside a namespace made by the other tests of tests/mtu.rs");
        return;
    };
    let target: SocketAddr = target.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let observation = runtime.block_on(mtu::probe(target, &mtu::Settings::default()));
    let findings = trtc_preflight::diagnose::mtu::findings(&observation);
    let metrics = trtc_preflight::diagnose::mtu::metrics(&observation);
    println!(
        "mtu probe to {target}: {} ms, {} rounds, {} sizes",
        observation.took.as_millis(),
        observation.rounds,
        observation.tries.len()
    );
    for t in &observation.tries {
        println!(
            "  round {} payload {} packet {}: {:?} in {} ms",
            t.round,
            t.size.udp_payload,
            t.size.ip_packet,
            t.result,
            t.took.as_millis()
        );
    }
    println!("metrics: {}", serde_json::Value::Object(metrics));
    for finding in &findings {
        println!(
            "finding ({}): {}\n  evidence: {}\n  fix: {}",
            finding.severity.as_str(),
            finding.description,
            finding.evidence,
            finding.fix
        );
    }
    assert!(
        observation.took < Duration::from_secs(4),
        "the probe took {:?}",
        observation.took
    );
    let egress = observation.egress.as_ref().expect("the egress is known");
    assert_eq!(egress.interface.as_deref(), Some("c0"));

    let mut parts = expect.split(':');
    let kind = parts.next().unwrap();
    let limit: u32 = parts.next().unwrap().parse().unwrap();
    if kind == "clean" {
        let Outcome::Measured {
            largest_ok,
            smallest_bad,
            media_size_ok,
        } = observation.outcome
        else {
            panic!("{observation:#?}");
        };
        assert_eq!(largest_ok.ip_packet, limit);
        assert_eq!(smallest_bad, None);
        assert!(media_size_ok);
        assert_eq!(observation.rounds, 1);
        assert!(findings.is_empty(), "{findings:#?}");
        return;
    }

    let how = parts.next().unwrap();
    let Outcome::Measured {
        largest_ok,
        smallest_bad,
        media_size_ok,
    } = observation.outcome
    else {
        panic!("{observation:#?}");
    };
    assert!(!media_size_ok);
    // The limit exactly: the largest payload that fits is a multiple of 4.
    assert!(
        largest_ok.ip_packet <= limit && largest_ok.ip_packet > limit - 8,
        "largest answered {largest_ok:?}, limit {limit}"
    );
    let smallest_bad = smallest_bad.expect("a size too big");
    assert!(smallest_bad.ip_packet > limit, "{smallest_bad:?}");
    let media = observation.media_try().expect("the media size was tried");
    match how {
        "local" => {
            assert!(
                matches!(
                    media.result,
                    TryResult::TooBig {
                        from_icmp: false,
                        kernel_path_mtu: Some(mtu),
                    } if mtu == limit
                ),
                "{media:?}"
            );
            assert_eq!(egress.mtu, Some(limit));
            // Nothing waits for silence: one round trip.
            assert_eq!(observation.rounds, 1);
            assert!(observation.took < Duration::from_millis(500));
        }
        "icmp" => {
            assert_eq!(observation.kernel_path_mtu, Some(limit), "{observation:#?}");
            assert!(
                observation.tries.iter().any(|t| matches!(
                    t.result,
                    TryResult::TooBig {
                        from_icmp: true,
                        ..
                    }
                )),
                "{observation:#?}"
            );
        }
        "silent" => {
            assert!(
                matches!(media.result, TryResult::Silent { attempts: 3, .. }),
                "{media:?}"
            );
            assert_eq!(observation.kernel_path_mtu, None, "no ICMP came back");
        }
        other => panic!("unknown expectation {other}"),
    }
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.code, None);
    assert!(
        finding
            .fix
            .contains(&format!("up to {} bytes pass", largest_ok.ip_packet)),
        "{}",
        finding.fix
    );
    assert!(finding.fix.contains("c0"), "{}", finding.fix);
    assert!(finding.fix.contains("TCP/TLS 443"), "{}", finding.fix);
}
