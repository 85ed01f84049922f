//! The metrics of the path probes (`stun`, `ports`, `mtu`) against the schema: the shapes the
//! application writes validate, in every status they come in, and metrics that break the shape
//! (an unknown result, a missing field, a wrong type, a field that contradicts the result) are
//! rejected.
//!
//! The objects follow `metrics()` of `src/diagnose/{stun,ports,mtu}.rs` and the runner's `mtu`
//! wrapper; the end-to-end tests of the workspace validate the reports the binary writes.

mod common;

use common::{assert_valid, plain, rendered, sdk_error, validator};
use preflight_reports::{Finding, Kind, Report, Severity};
use serde_json::{json, Value};

/// The status a case's findings give its probe.
#[derive(Clone, Copy, Debug)]
enum Status {
    /// No finding.
    Pass,
    /// Only an info finding.
    Info,
    Warn,
    Fail,
    Skip,
}

fn findings(status: Status) -> (bool, Vec<Finding>) {
    let info = || {
        plain(
            Severity::Info,
            "The path MTU could not be measured.",
            "edge.example.com did not resolve.",
            "Make edge.example.com resolve, then re-run.",
        )
    };
    match status {
        Status::Pass => (false, vec![]),
        Status::Info => (false, vec![info()]),
        Status::Warn => (
            false,
            vec![plain(
                Severity::Warning,
                "Some UDP media ports are closed.",
                "Closed: UDP 843 silent.",
                "Allow outbound UDP 843 to edge.example.com.",
            )],
        ),
        Status::Fail => (
            false,
            vec![sdk_error(
                16387,
                "ICE_TRANSPORT_ERROR",
                "0x4003",
                [
                    "No media path.",
                    "Nothing answered.",
                    "Allow outbound TCP 443.",
                ],
            )],
        ),
        Status::Skip => (true, vec![info()]),
    }
}

/// A one-probe report of `kind` with `metrics`, in `status`.
fn report(kind: Kind, status: Status, metrics: &Value) -> Value {
    let (skipped, findings) = findings(status);
    let probe = common::probe(
        &format!("{}/edge.example.com", kind.as_str()),
        kind,
        "edge.example.com",
        skipped,
        12,
        common::object(metrics.clone()),
        findings,
    );
    rendered(&Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        20,
        true,
        vec![probe],
    ))
}

// ---- stun

fn stun_udp_silent() -> Value {
    Value::Object(common::stun_silent_metrics())
}

fn stun_tcp_answered() -> Value {
    Value::Object(common::stun_tcp_answered_metrics())
}

/// Dual stack over UDP: IPv4 answered without a NAT, IPv6 has no route (and no egress).
fn stun_dual_stack() -> Value {
    json!({
        "transport": "udp",
        "attempts": 1,
        "rtt_ms": 0.412,
        "addresses": ["127.0.0.1", "::1"],
        "resolve": {"source": "override", "ms": 0.002, "error": null},
        "families": [
            {
                "family": "ipv4", "address": "127.0.0.1:3478", "result": "answered",
                "rtt_ms": 0.412, "attempts": 1, "waited_ms": null,
                "mapped": "127.0.0.1:40001", "local": "127.0.0.1:40001", "nat": false,
                "interface": "lo", "source": "127.0.0.1", "mtu": 65536, "tunnel": false,
                "ignored": 0, "silence_rule": null, "tls": null, "tls_failure": null
            },
            {
                "family": "ipv6", "address": "[::1]:3478", "result": "no_route",
                "rtt_ms": null, "attempts": 0, "waited_ms": null,
                "mapped": null, "local": null, "nat": null,
                "interface": null, "source": null, "mtu": null, "tunnel": null,
                "ignored": 0, "silence_rule": null, "tls": null, "tls_failure": null
            }
        ]
    })
}

/// STUN over TLS, answered, with the handshake's facts.
fn stun_tls_answered() -> Value {
    let mut metrics = stun_tcp_answered();
    metrics["transport"] = json!("tls");
    metrics["families"][0]["address"] = json!("203.0.113.7:443");
    metrics["families"][0]["tls"] = json!({
        "protocol": "TLS 1.3",
        "cipher_suite": "TLS13_AES_256_GCM_SHA384",
        "alpn": "stun.turn",
        "verification": "ca_file",
        "handshake_ms": 3.807,
        "certificate": {
            "subject": "CN=stun.example.com",
            "issuer": "CN=trtc-preflight lab CA",
            "names": ["stun.example.com", "203.0.113.7"],
            "not_after": "2027-11-28T10:00:00Z",
            "sha256": format!("sha256:{}", "ab".repeat(32))
        }
    });
    metrics
}

/// STUN over TLS whose handshake failed on trust.
fn stun_tls_failed() -> Value {
    let mut metrics = stun_tcp_answered();
    metrics["transport"] = json!("tls");
    metrics["rtt_ms"] = Value::Null;
    let family = &mut metrics["families"][0];
    for field in ["rtt_ms", "mapped", "local", "nat"] {
        family[field] = Value::Null;
    }
    family["result"] = json!("tls_failed");
    family["tls_failure"] = json!({
        "kind": "unknown_issuer",
        "detail": "the certificate of stun.example.com (CN=stun.example.com) was issued by CN=Corp Proxy CA, which this machine does not trust"
    });
    metrics
}

/// A failed STUN family of `result`, with what that result carries.
fn stun_failed_family(transport: &str, result: &str, waited: bool) -> Value {
    let mut metrics = stun_udp_silent();
    metrics["transport"] = json!(transport);
    let family = &mut metrics["families"][0];
    family["result"] = json!(result);
    family["attempts"] = json!(1);
    family["waited_ms"] = if waited { json!(250.5) } else { Value::Null };
    family["ignored"] = json!(if result == "garbage" { 2 } else { 0 });
    family["silence_rule"] = Value::Null;
    metrics
}

fn stun_unresolved() -> Value {
    json!({
        "transport": "udp",
        "attempts": 0,
        "rtt_ms": null,
        "addresses": [],
        "resolve": {
            "source": null,
            "ms": null,
            "error": "the name stun.invalid did not resolve: failed to lookup address information: Name or service not known"
        },
        "families": []
    })
}

/// The partial metrics of DESIGN.md's example (a failed probe).
fn stun_partial() -> Value {
    json!({"attempts": 3, "rtt_ms": null, "addresses": ["203.0.113.7"]})
}

// ---- ports

fn ports_warned() -> Value {
    Value::Object(common::ports_metrics())
}

/// One cell of every result the matrix writes, over both families; IPv6 has no egress known.
fn ports_every_result() -> Value {
    let cell = |port: u16, protocol: &str, family: &str, result: &str| {
        let rtt = if result == "open" {
            json!(1.25)
        } else {
            Value::Null
        };
        let waited = match result {
            "rejected" | "silent" | "accepts_but_blocks" | "garbage" => json!(1000.0),
            _ => Value::Null,
        };
        let rule = if protocol == "udp" && result == "silent" {
            json!("gave up after 1500 ms: the default schedule (no UDP port of this host answered to learn its RTT from)")
        } else {
            Value::Null
        };
        json!({"port": port, "protocol": protocol, "family": family, "result": result,
               "rtt_ms": rtt, "waited_ms": waited, "silence_rule": rule})
    };
    json!({
        "host": "media.lab",
        "addresses": ["10.0.0.2", "fd00::2"],
        "took_ms": 1530.004,
        "open": {"udp": [8000, 8000], "tcp": [443]},
        "closed": {"udp": [8080, 8800, 843, 16285, 8080], "tcp": [8687, 9000, 9001, 9002, 443]},
        "egress": [
            {"family": "ipv4", "interface": "veth0", "source": "10.0.0.1", "mtu": 1500, "tunnel": false},
            {"family": "ipv6", "interface": null, "source": null, "mtu": null, "tunnel": null}
        ],
        "matrix": [
            cell(8000, "udp", "ipv4", "open"),
            cell(8080, "udp", "ipv4", "error_response"),
            cell(8800, "udp", "ipv4", "rejected"),
            cell(843, "udp", "ipv4", "silent"),
            cell(16285, "udp", "ipv4", "garbage"),
            cell(443, "tls", "ipv4", "open_tls_untrusted"),
            cell(8687, "tcp", "ipv4", "accepts_but_blocks"),
            cell(9000, "tcp", "ipv4", "closed"),
            cell(9001, "tcp", "ipv4", "silent"),
            cell(9002, "tcp", "ipv4", "no_route"),
            cell(8000, "udp", "ipv6", "open"),
            cell(8080, "udp", "ipv6", "no_route"),
            cell(443, "tls", "ipv6", "tls_failed")
        ]
    })
}

fn ports_unresolved() -> Value {
    json!({
        "host": "media.invalid",
        "addresses": [],
        "took_ms": 3.5,
        "open": {"udp": [], "tcp": []},
        "closed": {"udp": [], "tcp": []},
        "egress": [],
        "matrix": []
    })
}

// ---- mtu

fn mtu_ok() -> Value {
    Value::Object(common::mtu_metrics(vec![common::mtu_family(true)]))
}

fn mtu_media_dropped() -> Value {
    Value::Object(common::mtu_metrics(vec![common::mtu_family(false)]))
}

/// IPv4 measured with every kind of try; IPv6 not answering even the small first request.
fn mtu_dual_stack() -> Value {
    let mut v4 = common::mtu_family(false);
    v4["kernel_path_mtu"] = json!(1100);
    v4["rounds"] = json!(2);
    let try_of = |payload: u32, round: u32, result: &str| {
        let passed = matches!(result, "answered" | "error_response");
        json!({
            "udp_payload": payload, "ip_packet": payload + 28, "round": round,
            "result": result, "passed": passed,
            "attempts": match result { "answered" | "error_response" => json!(1), "silent" => json!(3), _ => Value::Null },
            "rtt_ms": if result == "answered" { json!(0.9) } else { Value::Null },
            "ms": 1.0,
            "kernel_path_mtu": if result.starts_with("too_big") { json!(1100) } else { Value::Null }
        })
    };
    v4["tries"] = json!([
        try_of(548, 1, "answered"),
        try_of(1200, 1, "too_big_icmp"),
        try_of(1300, 1, "too_big_local"),
        try_of(1400, 1, "silent"),
        try_of(1472, 1, "rejected"),
        try_of(1072, 2, "error_response"),
        try_of(1076, 2, "local_error")
    ]);
    let v6 = json!({
        "target": "[2001:db8::20]:8000",
        "family": "ipv6",
        "result": "unreachable",
        "reason": null,
        "direction": "request",
        "largest_ok": null,
        "smallest_bad": null,
        "media_size_ok": null,
        "media": {"udp_payload": 1200, "ip_packet": 1248},
        "ceiling": {"udp_payload": 1452, "ip_packet": 1500},
        "interface": "eth0",
        "interface_mtu": 1500,
        "tunnel": false,
        "source": "2001:db8::10",
        "kernel_path_mtu": null,
        "rounds": 1,
        "duration_ms": 1800.0,
        "tries": [{
            "udp_payload": 528, "ip_packet": 576, "round": 1, "result": "silent",
            "passed": false, "attempts": 3, "rtt_ms": null, "ms": 600.2, "kernel_path_mtu": null
        }]
    });
    Value::Object(common::mtu_metrics(vec![v4, v6]))
}

/// The probe could not run here: no route, so no egress and no try.
fn mtu_not_run() -> Value {
    let family = json!({
        "target": "203.0.113.20:8000",
        "family": "ipv4",
        "result": "not_run",
        "reason": "no route to 203.0.113.20:8000: Network is unreachable (os error 101)",
        "direction": "request",
        "largest_ok": null,
        "smallest_bad": null,
        "media_size_ok": null,
        "media": {"udp_payload": 1200, "ip_packet": 1228},
        "ceiling": {"udp_payload": 1472, "ip_packet": 1500},
        "interface": null,
        "interface_mtu": null,
        "tunnel": null,
        "source": null,
        "kernel_path_mtu": null,
        "rounds": 0,
        "duration_ms": 0.031,
        "tries": []
    });
    Value::Object(common::mtu_metrics(vec![family]))
}

#[test]
fn path_metrics_as_the_application_writes_them_validate() {
    let validator = validator();
    let empty = json!({});
    let cases: Vec<(&str, Kind, Status, Value)> = vec![
        (
            "stun over udp, silent",
            Kind::Stun,
            Status::Fail,
            stun_udp_silent(),
        ),
        (
            "stun over tcp, answered behind a NAT",
            Kind::Stun,
            Status::Pass,
            stun_tcp_answered(),
        ),
        (
            "stun dual stack, no IPv6 route",
            Kind::Stun,
            Status::Warn,
            stun_dual_stack(),
        ),
        (
            "stun over tls, answered",
            Kind::Stun,
            Status::Pass,
            stun_tls_answered(),
        ),
        (
            "stun over tls, untrusted",
            Kind::Stun,
            Status::Warn,
            stun_tls_failed(),
        ),
        (
            "stun error response",
            Kind::Stun,
            Status::Warn,
            stun_failed_family("udp", "error_response", false),
        ),
        (
            "stun rejected",
            Kind::Stun,
            Status::Fail,
            stun_failed_family("udp", "rejected", true),
        ),
        (
            "stun garbage",
            Kind::Stun,
            Status::Warn,
            stun_failed_family("udp", "garbage", true),
        ),
        (
            "stun accepted but silent",
            Kind::Stun,
            Status::Warn,
            stun_failed_family("tcp", "accepted_but_silent", true),
        ),
        (
            "stun closed",
            Kind::Stun,
            Status::Warn,
            stun_failed_family("tcp", "closed", false),
        ),
        (
            "stun over tcp, silent",
            Kind::Stun,
            Status::Warn,
            stun_failed_family("tcp", "silent", true),
        ),
        (
            "stun name that did not resolve",
            Kind::Stun,
            Status::Fail,
            stun_unresolved(),
        ),
        (
            "stun, DESIGN.md's partial metrics",
            Kind::Stun,
            Status::Fail,
            stun_partial(),
        ),
        ("stun crashed", Kind::Stun, Status::Fail, empty.clone()),
        ("stun skipped", Kind::Stun, Status::Skip, empty.clone()),
        (
            "ports, some UDP closed",
            Kind::Ports,
            Status::Warn,
            ports_warned(),
        ),
        (
            "ports, every result",
            Kind::Ports,
            Status::Warn,
            ports_every_result(),
        ),
        ("ports, every port open", Kind::Ports, Status::Pass, {
            let mut metrics = ports_warned();
            metrics["matrix"] = json!([metrics["matrix"][0]]);
            metrics
        }),
        (
            "ports, name that did not resolve",
            Kind::Ports,
            Status::Fail,
            ports_unresolved(),
        ),
        ("ports crashed", Kind::Ports, Status::Fail, empty.clone()),
        ("ports skipped", Kind::Ports, Status::Skip, empty.clone()),
        ("mtu, media passes", Kind::Mtu, Status::Pass, mtu_ok()),
        (
            "mtu, media dropped",
            Kind::Mtu,
            Status::Warn,
            mtu_media_dropped(),
        ),
        (
            "mtu, dual stack, IPv6 unreachable",
            Kind::Mtu,
            Status::Warn,
            mtu_dual_stack(),
        ),
        ("mtu, not run here", Kind::Mtu, Status::Info, mtu_not_run()),
        (
            "mtu, name that did not resolve",
            Kind::Mtu,
            Status::Info,
            empty.clone(),
        ),
        ("mtu crashed", Kind::Mtu, Status::Fail, empty.clone()),
        ("mtu skipped", Kind::Mtu, Status::Skip, empty.clone()),
    ];
    for (what, kind, status, metrics) in cases {
        let report = report(kind, status, &metrics);
        assert_eq!(
            report["probes"][0]["status"],
            match status {
                Status::Pass | Status::Info => "pass",
                Status::Warn => "warn",
                Status::Fail => "fail",
                Status::Skip => "skip",
            },
            "{what}"
        );
        assert_valid(&validator, &report);
    }
}

/// Metrics that break the shape: `apply` changes a valid object of `kind` in one place.
struct Broken {
    what: &'static str,
    kind: Kind,
    status: Status,
    metrics: fn() -> Value,
    apply: fn(&mut Value),
}

fn remove(object: &mut Value, field: &str) {
    let removed = object.as_object_mut().expect("an object").remove(field);
    assert!(removed.is_some(), "no {field} to remove");
}

fn broken_metrics() -> Vec<Broken> {
    use Kind::{Mtu, Ports, Stun};
    use Status::{Fail, Info, Pass, Warn};
    vec![
        // stun
        Broken {
            what: "unknown stun result",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["result"] = json!("timeout"),
        },
        Broken {
            what: "a ports result in stun metrics",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["result"] = json!("open"),
        },
        Broken {
            what: "unknown transport",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["transport"] = json!("quic"),
        },
        Broken {
            what: "stun that passed without its families",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| remove(m, "families"),
        },
        Broken {
            what: "a family missing a field, even when failed",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| remove(&mut m["families"][0], "tls_failure"),
        },
        Broken {
            what: "failed stun with an unknown field",
            kind: Stun,
            status: Fail,
            metrics: stun_partial,
            apply: |m| m["loss"] = json!(0.5),
        },
        Broken {
            what: "a family with an unknown field",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["jitter_ms"] = json!(1.0),
        },
        Broken {
            what: "attempts as a string",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["attempts"] = json!("3"),
        },
        Broken {
            what: "negative attempts",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["attempts"] = json!(-1),
        },
        Broken {
            what: "round-trip time as a string",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["rtt_ms"] = json!("37.1 ms"),
        },
        Broken {
            what: "nat as a word",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["nat"] = json!("yes"),
        },
        Broken {
            what: "an address without its port",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["address"] = json!("203.0.113.7"),
        },
        Broken {
            what: "addresses as one string",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["addresses"] = json!("203.0.113.7"),
        },
        Broken {
            what: "an answer without a round-trip time",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["rtt_ms"] = Value::Null,
        },
        Broken {
            what: "a silent family with a mapped address",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["mapped"] = json!("198.51.100.20:61234"),
        },
        Broken {
            what: "a silent family without its wait",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["waited_ms"] = Value::Null,
        },
        Broken {
            what: "a silent UDP family without its silence rule",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["silence_rule"] = Value::Null,
        },
        Broken {
            what: "a silence rule over TCP",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["transport"] = json!("tcp"),
        },
        Broken {
            what: "a silence rule on an answer",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["families"][0]["silence_rule"] = json!("gave up after 1000 ms"),
        },
        Broken {
            what: "an unknown egress with an interface",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"][0]["source"] = Value::Null,
        },
        Broken {
            what: "TLS facts over UDP",
            kind: Stun,
            status: Pass,
            metrics: stun_tls_answered,
            apply: |m| m["transport"] = json!("udp"),
        },
        Broken {
            what: "tls_failed without its failure",
            kind: Stun,
            status: Warn,
            metrics: stun_tls_failed,
            apply: |m| m["families"][0]["tls_failure"] = Value::Null,
        },
        Broken {
            what: "unknown TLS failure",
            kind: Stun,
            status: Warn,
            metrics: stun_tls_failed,
            apply: |m| m["families"][0]["tls_failure"]["kind"] = json!("untrusted"),
        },
        Broken {
            what: "unknown verification",
            kind: Stun,
            status: Pass,
            metrics: stun_tls_answered,
            apply: |m| m["families"][0]["tls"]["verification"] = json!("system"),
        },
        Broken {
            what: "a fingerprint that is not sha256 hex",
            kind: Stun,
            status: Pass,
            metrics: stun_tls_answered,
            apply: |m| m["families"][0]["tls"]["certificate"]["sha256"] = json!("AB:CD"),
        },
        Broken {
            what: "a certificate with an unknown field",
            kind: Stun,
            status: Pass,
            metrics: stun_tls_answered,
            apply: |m| m["families"][0]["tls"]["certificate"]["pem"] = json!("-----BEGIN"),
        },
        Broken {
            what: "a lookup with both a source and an error",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["resolve"]["error"] = json!("timed out"),
        },
        Broken {
            what: "unknown lookup source",
            kind: Stun,
            status: Pass,
            metrics: stun_tcp_answered,
            apply: |m| m["resolve"]["source"] = json!("hosts"),
        },
        Broken {
            what: "a name that did not resolve, with a family tried",
            kind: Stun,
            status: Fail,
            metrics: stun_unresolved,
            apply: |m| m["families"] = stun_udp_silent()["families"].clone(),
        },
        Broken {
            what: "a name that resolved, with no family tried",
            kind: Stun,
            status: Fail,
            metrics: stun_udp_silent,
            apply: |m| m["families"] = json!([]),
        },
        // ports
        Broken {
            what: "unknown ports result",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][3]["result"] = json!("blocked"),
        },
        Broken {
            what: "a stun result in the matrix",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["result"] = json!("answered"),
        },
        Broken {
            what: "an untrusted TLS result over UDP",
            kind: Ports,
            status: Warn,
            metrics: ports_every_result,
            apply: |m| m["matrix"][5]["protocol"] = json!("udp"),
        },
        Broken {
            what: "unknown protocol",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["protocol"] = json!("sctp"),
        },
        Broken {
            what: "a cell missing its silence rule",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| remove(&mut m["matrix"][0], "silence_rule"),
        },
        Broken {
            what: "a silent UDP port without its rule",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][3]["silence_rule"] = Value::Null,
        },
        Broken {
            what: "an open port with a silence rule",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["silence_rule"] = json!("gave up"),
        },
        Broken {
            what: "an open port without a round-trip time",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["rtt_ms"] = Value::Null,
        },
        Broken {
            what: "a cell with an unknown field",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["loss"] = json!(0),
        },
        Broken {
            what: "a port beyond 65535",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["matrix"][0]["port"] = json!(70000),
        },
        Broken {
            what: "open ports as strings",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["open"]["udp"] = json!(["8000"]),
        },
        Broken {
            what: "a TLS list beside udp and tcp",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["closed"]["tls"] = json!([]),
        },
        Broken {
            what: "ports that warned without the open list",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| remove(m, "open"),
        },
        Broken {
            what: "ports that failed missing a field",
            kind: Ports,
            status: Fail,
            metrics: ports_unresolved,
            apply: |m| remove(m, "took_ms"),
        },
        Broken {
            what: "unknown egress family",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["egress"][0]["family"] = json!("inet"),
        },
        Broken {
            what: "a tunnel flag as a number",
            kind: Ports,
            status: Warn,
            metrics: ports_warned,
            apply: |m| m["egress"][0]["tunnel"] = json!(0),
        },
        Broken {
            what: "a name that did not resolve, with cells",
            kind: Ports,
            status: Fail,
            metrics: ports_unresolved,
            apply: |m| m["matrix"] = ports_warned()["matrix"].clone(),
        },
        Broken {
            what: "ports that passed without metrics",
            kind: Ports,
            status: Pass,
            metrics: ports_warned,
            apply: |m| *m = json!({}),
        },
        // mtu
        Broken {
            what: "unknown mtu result",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["result"] = json!("ok"),
        },
        Broken {
            what: "unknown try result",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["tries"][0]["result"] = json!("too_big"),
        },
        Broken {
            what: "a family missing its direction",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| remove(&mut m["families"][0], "direction"),
        },
        Broken {
            what: "the response direction",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["direction"] = json!("response"),
        },
        Broken {
            what: "measured without the largest size",
            kind: Mtu,
            status: Warn,
            metrics: mtu_media_dropped,
            apply: |m| m["families"][0]["largest_ok"] = Value::Null,
        },
        Broken {
            what: "unreachable with a verdict on media",
            kind: Mtu,
            status: Warn,
            metrics: mtu_dual_stack,
            apply: |m| m["families"][1]["media_size_ok"] = json!(false),
        },
        Broken {
            what: "not run without its reason",
            kind: Mtu,
            status: Info,
            metrics: mtu_not_run,
            apply: |m| m["families"][0]["reason"] = Value::Null,
        },
        Broken {
            what: "a size as a number",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["media"] = json!(1200),
        },
        Broken {
            what: "a size with an unknown field",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["ceiling"]["udp_header"] = json!(8),
        },
        Broken {
            what: "a silent try that passed",
            kind: Mtu,
            status: Warn,
            metrics: mtu_media_dropped,
            apply: |m| m["families"][0]["tries"][1]["passed"] = json!(true),
        },
        Broken {
            what: "a try in round 0",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["tries"][0]["round"] = json!(0),
        },
        Broken {
            what: "a path MTU on an answered try",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["tries"][0]["kernel_path_mtu"] = json!(1500),
        },
        Broken {
            what: "an interface MTU as a string",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0]["interface_mtu"] = json!("1500"),
        },
        Broken {
            what: "no family measured",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"] = json!([]),
        },
        Broken {
            what: "the port as a string",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["port"] = json!("8000"),
        },
        Broken {
            what: "an unknown field beside the families",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["host"] = json!("edge.example.com"),
        },
        Broken {
            what: "one family's metrics without the wrapper",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| *m = m["families"][0].clone(),
        },
        Broken {
            what: "stun metrics on an mtu probe",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| m["families"][0] = stun_tcp_answered()["families"][0].clone(),
        },
        Broken {
            what: "mtu that warned without metrics",
            kind: Mtu,
            status: Warn,
            metrics: mtu_media_dropped,
            apply: |m| *m = json!({}),
        },
        Broken {
            what: "mtu that passed without metrics and without saying why",
            kind: Mtu,
            status: Pass,
            metrics: mtu_ok,
            apply: |m| *m = json!({}),
        },
    ]
}

#[test]
fn path_metrics_that_break_the_shape_are_rejected() {
    let validator = validator();
    for broken in broken_metrics() {
        let original = (broken.metrics)();
        let valid = report(broken.kind, broken.status, &original);
        assert_valid(&validator, &valid);
        let mut metrics = original.clone();
        (broken.apply)(&mut metrics);
        assert_ne!(
            metrics, original,
            "{}: the variant changed nothing",
            broken.what
        );
        let instance = report(broken.kind, broken.status, &metrics);
        assert!(
            !validator.is_valid(&instance),
            "{}: accepted\n{}",
            broken.what,
            serde_json::to_string_pretty(&instance).unwrap()
        );
    }
}

#[test]
fn metrics_in_a_status_that_does_not_allow_them_are_rejected() {
    let validator = validator();
    let empty = json!({});
    let cases: Vec<(&str, Kind, Status, Value)> = vec![
        (
            "stun that passed with partial metrics",
            Kind::Stun,
            Status::Pass,
            stun_partial(),
        ),
        (
            "stun that warned with partial metrics",
            Kind::Stun,
            Status::Warn,
            stun_partial(),
        ),
        (
            "stun skipped with partial metrics",
            Kind::Stun,
            Status::Skip,
            stun_partial(),
        ),
        (
            "stun that passed without metrics",
            Kind::Stun,
            Status::Pass,
            empty.clone(),
        ),
        (
            "stun that warned without metrics",
            Kind::Stun,
            Status::Warn,
            empty.clone(),
        ),
        (
            "ports metrics on a stun probe",
            Kind::Stun,
            Status::Warn,
            ports_warned(),
        ),
        (
            "mtu metrics on a stun probe that failed",
            Kind::Stun,
            Status::Fail,
            mtu_ok(),
        ),
        (
            "ports that passed without metrics",
            Kind::Ports,
            Status::Pass,
            empty.clone(),
        ),
        (
            "ports that warned without metrics",
            Kind::Ports,
            Status::Info,
            empty.clone(),
        ),
        (
            "stun metrics on a ports probe",
            Kind::Ports,
            Status::Warn,
            stun_tcp_answered(),
        ),
        (
            "partial metrics on a ports probe that failed",
            Kind::Ports,
            Status::Fail,
            json!({"host": "edge.example.com"}),
        ),
        (
            "mtu that warned without metrics",
            Kind::Mtu,
            Status::Warn,
            empty.clone(),
        ),
        (
            "mtu that passed without metrics, saying nothing",
            Kind::Mtu,
            Status::Pass,
            empty,
        ),
        (
            "ports metrics on an mtu probe",
            Kind::Mtu,
            Status::Warn,
            ports_warned(),
        ),
    ];
    for (what, kind, status, metrics) in cases {
        let instance = report(kind, status, &metrics);
        assert!(
            !validator.is_valid(&instance),
            "{what}: accepted\n{}",
            serde_json::to_string_pretty(&instance).unwrap()
        );
    }
}
