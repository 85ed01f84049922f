//! The metrics of the `signaling` probe against the schema: the shapes the application writes
//! validate, in every status they come in (with and without `--signal-reconnect`, direct and
//! through a proxy, over `ws://` and `wss://`, one step failing at a time), and metrics that
//! break the shape in one place (an unknown kind, a missing or extra field, a wrong type, a
//! field that contradicts another) are rejected.
//!
//! The objects follow `metrics()` and `reconnect_metrics()` of `src/diagnose/signaling.rs` and
//! the runner's `Job::Signaling`; the end-to-end tests of the workspace (`tests/signaling.rs`)
//! validate the reports the binary writes.

mod common;

use common::{assert_valid, plain, rendered, sdk_error, validator};
use preflight_reports::{Finding, Kind, Report, Severity};
use serde_json::{json, Value};

/// The status a case's findings give its probe.
#[derive(Clone, Copy, Debug)]
enum Status {
    /// No finding.
    Pass,
    /// Only an info finding (`--insecure`).
    Info,
    /// A warning (a family that failed, clock skew, a proxy asking for credentials).
    Warn,
    /// 16385, 16386 or 16390.
    Fail,
    /// Not run.
    Skip,
}

fn findings(status: Status) -> (bool, Vec<Finding>) {
    let info = |description: &str, evidence: &str| {
        plain(
            Severity::Info,
            description,
            evidence,
            "Drop --insecure and pass --pin sha256:... (printed by `serve`) or --ca FILE.",
        )
    };
    match status {
        Status::Pass => (false, vec![]),
        Status::Info => (
            false,
            vec![info(
                "The TLS certificate was not verified (--insecure).",
                "--insecure was given.",
            )],
        ),
        Status::Warn => (
            false,
            vec![plain(
                Severity::Warning,
                "The WebSocket opens over one address family and not over the other.",
                "wss://signal.example.com/ws over IPv6: the tcp step failed: connection refused.",
                "Fix the route or firewall for that family to signal.example.com (TCP 443).",
            )],
        ),
        Status::Fail => (
            false,
            vec![Finding {
                message: Some("failed to connect to remote server via websocket".into()),
                ..sdk_error(
                    16385,
                    "SIGNAL_CAHNNEL_SETUP_FAILED",
                    "0x4001",
                    [
                        "The SDK's WebSocket to the signaling server did not open.",
                        "The WebSocket to wss://signal.example.com/ws did not open (direct).",
                        "Allow outbound TCP 443 to signal.example.com.",
                    ],
                )
            }],
        ),
        Status::Skip => (
            true,
            vec![info(
                "This probe kind did not run.",
                "Not configured: no --signal option.",
            )],
        ),
    }
}

/// A one-probe signaling report with `metrics`, in `status`.
fn report(status: Status, metrics: &Value) -> Value {
    let (skipped, findings) = findings(status);
    let probe = common::probe(
        "signaling/wss://signal.example.com/ws",
        Kind::Signaling,
        "wss://signal.example.com/ws",
        skipped,
        1_204,
        common::object(metrics.clone()),
        findings,
    );
    rendered(&Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        1_300,
        true,
        vec![probe],
    ))
}

// ---- building blocks, as `metrics()` writes them

/// The top level: the URL, the route and the proxy, the addresses, and the attempts.
fn metrics(
    url: &str,
    route: &str,
    proxy: Option<&str>,
    addresses: &[&str],
    families: Vec<Value>,
) -> Value {
    let opened = families.iter().any(|family| family["opened"] == true);
    json!({
        "url": url,
        "route": route,
        "proxy": proxy,
        "addresses": addresses,
        "opened": opened,
        "families": families,
    })
}

/// A family whose TCP connection opened, and nothing after it yet.
fn connected(family: &str, address: &str) -> Value {
    json!({
        "family": family,
        "address": address,
        "via_proxy": false,
        "tcp": "connected",
        "proxy": null,
        "tls": null,
        "upgrade": null,
        "status": null,
        "opened": false,
        "first_failure": null,
        "pongs_ms": [],
        "dropped": null,
        "clock_offset_s": null,
        "timings_ms": {"tcp": 0.412, "proxy": null, "tls": null, "upgrade": null, "open": null}
    })
}

/// A family that opened over `ws://`, every ping answered.
fn opened(family: &str, address: &str) -> Value {
    let mut attempt = connected(family, address);
    attempt["upgrade"] = json!("opened");
    attempt["status"] = json!(101);
    attempt["opened"] = json!(true);
    attempt["pongs_ms"] = json!([0.351, 0.635, 0.591]);
    attempt["clock_offset_s"] = json!(0);
    attempt["timings_ms"]["upgrade"] = json!(1.099);
    attempt["timings_ms"]["open"] = json!(1.537);
    attempt
}

/// A family that opened over `wss://`, verified `verification`.
fn opened_tls(family: &str, address: &str, verification: &str) -> Value {
    let mut attempt = opened(family, address);
    attempt["tls"] = json!({
        "protocol": "TLS 1.3",
        "verification": verification,
        "issuer": "CN=R11, O=Let's Encrypt, C=US",
        "not_after": "2027-02-26T23:59:59Z"
    });
    attempt["timings_ms"]["tls"] = json!(3.439);
    attempt["timings_ms"]["open"] = json!(5.182);
    attempt
}

/// A family whose TCP connection failed (`tcp` one of `refused`, `timed_out`, ...).
fn tcp_failed(family: &str, address: &str, tcp: &str, detail: &str) -> Value {
    let mut attempt = connected(family, address);
    attempt["tcp"] = json!(tcp);
    attempt["first_failure"] =
        json!({"step": "tcp", "detail": format!("TCP to {address}: {detail}")});
    attempt["timings_ms"]["tcp"] = json!(if tcp == "timed_out" { 3001.204 } else { 0.311 });
    attempt
}

/// A family whose TLS handshake failed with `failure`.
fn tls_failed(failure: &str, detail: &str) -> Value {
    let mut attempt = connected("ipv4", "203.0.113.9:443");
    attempt["tls"] = json!({"failure": failure, "detail": detail});
    attempt["first_failure"] = json!({"step": "tls", "detail": detail});
    attempt["timings_ms"]["tls"] = json!(41.87);
    attempt
}

/// A family whose upgrade did not open: `upgrade` with its HTTP `status`, if any.
fn upgrade_failed(upgrade: &str, status: Option<u16>, detail: &str) -> Value {
    let mut attempt = connected("ipv4", "203.0.113.9:80");
    attempt["upgrade"] = json!(upgrade);
    attempt["status"] = json!(status);
    attempt["first_failure"] = json!({"step": "upgrade", "detail": detail});
    attempt["timings_ms"]["upgrade"] = json!(if upgrade == "timeout" { 5000.93 } else { 2.304 });
    attempt
}

/// A family through the proxy at 127.0.0.1:3128 that got `proxy` in answer to `CONNECT`.
fn via_proxy(proxy: &str) -> Value {
    let mut attempt = connected("ipv4", "127.0.0.1:3128");
    attempt["via_proxy"] = json!(true);
    attempt["proxy"] = json!(proxy);
    attempt["timings_ms"]["proxy"] = json!(1.206);
    attempt
}

// ---- cases

/// `ws://` to `serve`, direct, opened, every pong back.
fn ws_opened() -> Value {
    metrics(
        "ws://127.0.0.1:43851/",
        "direct",
        None,
        &["127.0.0.1"],
        vec![opened("ipv4", "127.0.0.1:43851")],
    )
}

/// `wss://` with the pin of `serve`.
fn wss_pinned() -> Value {
    let mut family = opened_tls("ipv4", "127.0.0.1:33739", "pin");
    family["tls"]["issuer"] = json!("CN=trtc-preflight serve cff050f3");
    family["tls"]["not_after"] = json!("2027-11-28T05:27:16Z");
    metrics(
        "wss://127.0.0.1:33739/",
        "direct",
        None,
        &["127.0.0.1"],
        vec![family],
    )
}

/// Dual stack: IPv4 opened over TLS, IPv6 refused (a warning).
fn wss_dual_stack_v6_refused() -> Value {
    metrics(
        "wss://signal.example.com/ws",
        "direct",
        None,
        &["203.0.113.9", "203.0.113.10", "2001:db8::9"],
        vec![
            opened_tls("ipv4", "203.0.113.9:443", "platform"),
            tcp_failed("ipv6", "[2001:db8::9]:443", "refused", "connection refused"),
        ],
    )
}

/// `--signal-reconnect`: opened, dropped on purpose, reopened at the first try.
fn reconnected() -> Value {
    let mut metrics = ws_opened();
    metrics["reconnect"] = json!([
        {"number": 0, "waited_ms": 0, "took_ms": 3, "opened": true},
        {"number": 1, "waited_ms": 500, "took_ms": 4, "opened": true}
    ]);
    metrics
}

/// `--signal-reconnect` against a server that stops accepting: 16390.
fn reconnection_failed() -> Value {
    let mut metrics = ws_opened();
    metrics["reconnect"] = json!([
        {"number": 0, "waited_ms": 0, "took_ms": 2, "opened": true},
        {"number": 1, "waited_ms": 500, "took_ms": 0, "opened": false},
        {"number": 2, "waited_ms": 1000, "took_ms": 0, "opened": false},
        {"number": 3, "waited_ms": 2000, "took_ms": 1, "opened": false}
    ]);
    metrics
}

/// `--signal-reconnect` whose own first open failed: nothing else tried.
fn reconnection_first_open_failed() -> Value {
    let mut metrics = ws_opened();
    metrics["reconnect"] = json!([{"number": 0, "waited_ms": 0, "took_ms": 5001, "opened": false}]);
    metrics
}

/// `--insecure`: opened, not verified.
fn wss_insecure() -> Value {
    metrics(
        "wss://127.0.0.1:33739/",
        "direct",
        None,
        &["127.0.0.1"],
        vec![opened_tls("ipv4", "127.0.0.1:33739", "off")],
    )
}

/// A handshake whose leaf certificate was not recorded (`HandshakeFacts::leaf` is `None`).
fn wss_no_leaf() -> Value {
    let mut metrics = wss_insecure();
    metrics["families"][0]["tls"]["issuer"] = Value::Null;
    metrics["families"][0]["tls"]["not_after"] = Value::Null;
    metrics
}

/// Every family of a `wss://` URL refused or timed out.
fn tcp_failures() -> Value {
    metrics(
        "wss://signal.example.com/ws",
        "direct",
        None,
        &["203.0.113.9", "2001:db8::9"],
        vec![
            tcp_failed(
                "ipv4",
                "203.0.113.9:443",
                "timed_out",
                "no answer to the TCP connection within 3001 ms",
            ),
            tcp_failed(
                "ipv6",
                "[2001:db8::9]:443",
                "unreachable",
                "unreachable: Network is unreachable (os error 101)",
            ),
        ],
    )
}

/// TCP failed otherwise (no IPv6 address here).
fn tcp_other_failure() -> Value {
    metrics(
        "ws://[2001:db8::9]:8080/signal",
        "direct",
        None,
        &["2001:db8::9"],
        vec![tcp_failed(
            "ipv6",
            "[2001:db8::9]:8080",
            "failed",
            "Address family not supported by protocol (os error 97)",
        )],
    )
}

/// A certificate `serve` signed itself, without the pin.
fn wss_untrusted() -> Value {
    let detail = "certificate CN=trtc-preflight serve cff050f3 is self-signed and not trusted";
    metrics(
        "wss://signal.example.com/ws",
        "direct",
        None,
        &["203.0.113.9"],
        vec![tls_failed("unknown_issuer", detail)],
    )
}

/// Each TLS failure in turn.
fn wss_tls_failure(failure: &'static str) -> Value {
    let mut metrics = wss_untrusted();
    metrics["families"][0]["tls"]["failure"] = json!(failure);
    metrics
}

/// An upgrade that did not open: `upgrade` with its status.
fn ws_upgrade(upgrade: &str, status: Option<u16>, detail: &str) -> Value {
    metrics(
        "ws://203.0.113.9/signal",
        "direct",
        None,
        &["203.0.113.9"],
        vec![upgrade_failed(upgrade, status, detail)],
    )
}

/// A 403 from a server whose `Date` was a minute and a half behind.
fn ws_refused_403() -> Value {
    let mut metrics = ws_upgrade(
        "refused",
        Some(403),
        "the server refused the upgrade: 403 Forbidden (forbidden)",
    );
    metrics["families"][0]["clock_offset_s"] = json!(-93);
    metrics
}

/// A captive portal's redirect.
fn ws_redirected() -> Value {
    ws_upgrade(
        "redirected",
        Some(302),
        "the server redirected the upgrade: 302 Found to http://portal.lab/login",
    )
}

/// A `101` without `Sec-WebSocket-Accept`.
fn ws_bad_handshake() -> Value {
    let mut metrics = ws_upgrade(
        "bad_handshake",
        Some(101),
        "the server answered 101 but its Sec-WebSocket-Accept does not match the key",
    );
    metrics["families"][0]["clock_offset_s"] = json!(1);
    metrics
}

/// Opened, then dropped without a close frame after the first ping (16386).
fn ws_dropped(how: &str) -> Value {
    let mut metrics = ws_opened();
    let family = &mut metrics["families"][0];
    family["pongs_ms"] = json!([null]);
    family["dropped"] = json!(how);
    family["first_failure"] = json!({"step": "session", "detail": "the connection ended after 2 ms without a close frame"});
    metrics
}

/// Opened, and no pong came back (16386).
fn ws_mute() -> Value {
    let mut metrics = ws_opened();
    let family = &mut metrics["families"][0];
    family["pongs_ms"] = json!([null, null, null]);
    family["first_failure"] =
        json!({"step": "session", "detail": "3 of 3 pings got no pong in time"});
    metrics
}

/// Opened with a server clock hours off (a warning), and no server `Date` over IPv6.
fn ws_skewed() -> Value {
    let mut v4 = opened("ipv4", "127.0.0.1:40551");
    v4["clock_offset_s"] = json!(189_900_000);
    let mut v6 = opened("ipv6", "[::1]:40551");
    v6["clock_offset_s"] = Value::Null;
    metrics(
        "ws://localhost:40551/",
        "direct",
        None,
        &["127.0.0.1", "::1"],
        vec![v4, v6],
    )
}

/// Through an HTTP proxy (`HTTPS_PROXY`), tunnel open, pinned.
fn proxied() -> Value {
    let mut family = via_proxy("tunnel");
    let tls = opened_tls("ipv4", "127.0.0.1:3128", "pin");
    for field in [
        "tls",
        "upgrade",
        "status",
        "opened",
        "pongs_ms",
        "clock_offset_s",
    ] {
        family[field] = tls[field].clone();
    }
    family["timings_ms"]["tls"] = json!(3.712);
    family["timings_ms"]["upgrade"] = json!(1.406);
    family["timings_ms"]["open"] = json!(6.75);
    metrics(
        "wss://127.0.0.1:33739/",
        "proxy",
        Some("http://127.0.0.1:3128"),
        &["127.0.0.1"],
        vec![family],
    )
}

/// The proxy refused the tunnel, or asked for credentials (a warning), or closed, ...
fn proxy_failed(proxy: &str) -> Value {
    let mut family = via_proxy(proxy);
    let detail = match proxy {
        "auth_required" => "the proxy asks for authentication (407; schemes: Basic, NTLM)",
        "refused" => "the proxy refused the tunnel: 403 Forbidden (Access denied)",
        "not_http" => "the proxy did not answer HTTP: \"SSH-2.0-OpenSSH_9.6\"",
        "closed" => "the proxy closed the connection before answering CONNECT",
        "timeout" => "the proxy did not answer CONNECT within 5000 ms",
        _ => "CONNECT through the proxy failed: Broken pipe (os error 32)",
    };
    family["first_failure"] =
        json!({"step": "proxy", "detail": format!("the proxy at 127.0.0.1:3128: {detail}")});
    metrics(
        "wss://signal.example.com/ws",
        "proxy",
        Some("http://alice:***@127.0.0.1:3128"),
        &["127.0.0.1"],
        vec![family],
    )
}

/// The proxy itself is unreachable: the TCP step to it failed, the `proxy` step is to blame.
fn proxy_unreachable() -> Value {
    let mut family = via_proxy("tunnel");
    family["proxy"] = Value::Null;
    family["tcp"] = json!("refused");
    family["timings_ms"]["proxy"] = Value::Null;
    family["first_failure"] = json!({
        "step": "proxy",
        "detail": "the proxy at 127.0.0.1:3128 is unreachable: connection refused"
    });
    metrics(
        "wss://127.0.0.1:33739/",
        "proxy",
        Some("http://127.0.0.1:3128"),
        &["127.0.0.1"],
        vec![family],
    )
}

/// `NO_PROXY` bypasses the proxy; another case: the proxy set cannot be used.
fn direct_by_route(route: &str) -> Value {
    let mut metrics = wss_pinned();
    metrics["route"] = json!(route);
    metrics
}

/// `--signal-mode reachability` (TRTC's own servers): a verified TLS handshake, then a bare
/// upgrade refused with 404, is a pass; IPv6 refused beside it says nothing more.
fn reachable() -> Value {
    let mut v4 = opened_tls("ipv4", "127.0.0.1:37277", "pin");
    v4["upgrade"] = json!("refused");
    v4["status"] = json!(404);
    v4["opened"] = json!(false);
    v4["pongs_ms"] = json!([]);
    v4["clock_offset_s"] = json!(0);
    v4["timings_ms"]["open"] = Value::Null;
    v4["first_failure"] =
        json!({"step": "upgrade", "detail": "the server refused the upgrade: 404 Not Found"});
    metrics(
        "wss://signaling.rtc.tencentcloud.com/",
        "direct",
        None,
        &["127.0.0.1", "::1"],
        vec![
            v4,
            tcp_failed("ipv6", "[::1]:37277", "refused", "connection refused"),
        ],
    )
}

/// The name did not resolve: no address, no attempt.
fn unresolved() -> Value {
    metrics("wss://signal.invalid/ws", "direct", None, &[], vec![])
}

#[test]
fn signaling_metrics_as_the_application_writes_them_validate() {
    let validator = validator();
    let empty = json!({});
    let mut cases: Vec<(String, Status, Value)> = vec![
        ("ws, opened".into(), Status::Pass, ws_opened()),
        ("wss, pinned".into(), Status::Pass, wss_pinned()),
        ("wss, dual stack, IPv6 refused".into(), Status::Warn, wss_dual_stack_v6_refused()),
        ("reconnected".into(), Status::Pass, reconnected()),
        ("reconnection failed (16390)".into(), Status::Fail, reconnection_failed()),
        ("reconnection whose first open failed".into(), Status::Pass, reconnection_first_open_failed()),
        ("wss, --insecure".into(), Status::Info, wss_insecure()),
        ("wss, no certificate".into(), Status::Info, wss_no_leaf()),
        ("tcp timed out and unreachable".into(), Status::Fail, tcp_failures()),
        ("tcp failed otherwise".into(), Status::Fail, tcp_other_failure()),
        ("wss, untrusted".into(), Status::Fail, wss_untrusted()),
        ("upgrade refused with 403, clock behind".into(), Status::Fail, ws_refused_403()),
        ("upgrade redirected".into(), Status::Fail, ws_redirected()),
        ("upgrade with a bad 101".into(), Status::Fail, ws_bad_handshake()),
        (
            "upgrade answered TLS".into(),
            Status::Fail,
            ws_upgrade("not_http", None, "the server did not answer HTTP (it speaks TLS: wss:// needed?): \"\\x15\\x03\\x03\\x00\\x02\\x02\\x16\""),
        ),
        (
            "upgrade closed".into(),
            Status::Fail,
            ws_upgrade("closed", None, "the connection was reset before an answer to the upgrade"),
        ),
        (
            "upgrade timed out".into(),
            Status::Fail,
            ws_upgrade("timeout", None, "no answer to the upgrade within 5000 ms (0 bytes received)"),
        ),
        (
            "upgrade failed".into(),
            Status::Fail,
            ws_upgrade("failed", None, "the upgrade failed: the upgrade request cannot be made: invalid header value"),
        ),
        ("upgrade refused with 200".into(), Status::Fail, ws_upgrade("refused", Some(200), "the server refused the upgrade: 200 OK")),
        ("dropped without a close frame".into(), Status::Fail, ws_dropped("closed_without_close_frame")),
        ("dropped with a close frame".into(), Status::Fail, ws_dropped("close_frame")),
        ("dropped by a reset".into(), Status::Fail, ws_dropped("reset")),
        ("dropped by an error".into(), Status::Fail, ws_dropped("error")),
        ("pings unanswered".into(), Status::Fail, ws_mute()),
        ("server clock hours off".into(), Status::Warn, ws_skewed()),
        ("through a proxy".into(), Status::Pass, proxied()),
        ("proxy asks for credentials".into(), Status::Warn, proxy_failed("auth_required")),
        ("proxy unreachable".into(), Status::Fail, proxy_unreachable()),
        ("bypassed by NO_PROXY".into(), Status::Pass, direct_by_route("bypassed")),
        ("unsupported proxy".into(), Status::Pass, direct_by_route("unsupported_proxy")),
        ("name that did not resolve".into(), Status::Fail, unresolved()),
        ("judged by reachability, reachable".into(), Status::Pass, reachable()),
        ("judged as a WebSocket, refused".into(), Status::Fail, reachable()),
        ("crashed".into(), Status::Fail, empty.clone()),
        ("skipped".into(), Status::Skip, empty.clone()),
        ("required and not run".into(), Status::Fail, empty),
    ];
    for proxy in ["refused", "not_http", "closed", "timeout", "failed"] {
        cases.push((format!("proxy {proxy}"), Status::Fail, proxy_failed(proxy)));
    }
    for failure in [
        "expired",
        "not_yet_valid",
        "name_mismatch",
        "unknown_issuer",
        "pin_mismatch",
        "bad_certificate",
        "alert",
        "not_tls",
        "incompatible",
        "protocol",
        "timeout",
        "closed",
        "invalid_name",
        "setup",
        "io",
    ] {
        cases.push((
            format!("tls {failure}"),
            Status::Fail,
            wss_tls_failure(failure),
        ));
    }
    for verification in ["platform", "bundled_roots", "ca_file", "pin"] {
        let mut metrics = wss_pinned();
        metrics["families"][0]["tls"]["verification"] = json!(verification);
        cases.push((format!("verified by {verification}"), Status::Pass, metrics));
    }
    for (what, status, metrics) in cases {
        let report = report(status, &metrics);
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
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {errors:#?}\n{report:#}");
    }
}

/// Metrics that break the shape: `apply` changes a valid object in one place.
struct Broken {
    what: &'static str,
    status: Status,
    metrics: fn() -> Value,
    apply: fn(&mut Value),
}

fn remove(object: &mut Value, field: &str) {
    let removed = object.as_object_mut().expect("an object").remove(field);
    assert!(removed.is_some(), "no {field} to remove");
}

fn broken_metrics() -> Vec<Broken> {
    use Status::{Fail, Pass, Warn};
    vec![
        // enumerations
        Broken {
            what: "unknown route",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["route"] = json!("socks"),
        },
        Broken {
            what: "unknown tcp step (the proxy's word)",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["tcp"] = json!("timeout"),
        },
        Broken {
            what: "unknown proxy step",
            status: Warn,
            metrics: || proxy_failed("auth_required"),
            apply: |m| m["families"][0]["proxy"] = json!("407"),
        },
        Broken {
            what: "unknown upgrade outcome",
            status: Fail,
            metrics: ws_redirected,
            apply: |m| m["families"][0]["upgrade"] = json!("moved"),
        },
        Broken {
            what: "unknown drop",
            status: Fail,
            metrics: || ws_dropped("reset"),
            apply: |m| m["families"][0]["dropped"] = json!("closed"),
        },
        Broken {
            what: "unknown tls failure",
            status: Fail,
            metrics: wss_untrusted,
            apply: |m| m["families"][0]["tls"]["failure"] = json!("untrusted"),
        },
        Broken {
            what: "unknown verification",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| m["families"][0]["tls"]["verification"] = json!("system"),
        },
        Broken {
            what: "unknown step",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("connect"),
        },
        Broken {
            what: "unknown family",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["family"] = json!("ipv5"),
        },
        // fields
        Broken {
            what: "missing url",
            status: Pass,
            metrics: ws_opened,
            apply: |m| remove(m, "url"),
        },
        Broken {
            what: "missing addresses, even when failed",
            status: Fail,
            metrics: unresolved,
            apply: |m| remove(m, "addresses"),
        },
        Broken {
            what: "an unknown top-level field",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["resolve"] = json!({"source": "system", "ms": 1.2, "error": null}),
        },
        Broken {
            what: "a family missing a field",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| remove(&mut m["families"][1], "clock_offset_s"),
        },
        Broken {
            what: "a family with an unknown field",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["egress"] = json!({"interface": "lo"}),
        },
        Broken {
            what: "timings missing a step",
            status: Pass,
            metrics: ws_opened,
            apply: |m| remove(&mut m["families"][0]["timings_ms"], "proxy"),
        },
        Broken {
            what: "timings with an unknown step",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["timings_ms"]["dns"] = json!(1.0),
        },
        Broken {
            what: "tls facts in stun's shape",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| m["families"][0]["tls"]["cipher_suite"] = json!("TLS13_AES_256_GCM_SHA384"),
        },
        Broken {
            what: "tls facts without the issuer",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| remove(&mut m["families"][0]["tls"], "issuer"),
        },
        Broken {
            what: "a tls failure in stun's shape (`kind`)",
            status: Fail,
            metrics: wss_untrusted,
            apply: |m| {
                let failure = m["families"][0]["tls"]["failure"].take();
                remove(&mut m["families"][0]["tls"], "failure");
                m["families"][0]["tls"]["kind"] = failure;
            },
        },
        Broken {
            what: "a first failure without its detail",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| remove(&mut m["families"][0]["first_failure"], "detail"),
        },
        Broken {
            what: "a reconnection attempt with an unknown field",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"][1]["family"] = json!("ipv4"),
        },
        Broken {
            what: "a reconnection attempt missing took_ms",
            status: Pass,
            metrics: reconnected,
            apply: |m| remove(&mut m["reconnect"][1], "took_ms"),
        },
        // types
        Broken {
            what: "status as a string",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["status"] = json!("101"),
        },
        Broken {
            what: "clock offset with a fraction",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["clock_offset_s"] = json!(0.5),
        },
        Broken {
            what: "a negative round trip",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["pongs_ms"][1] = json!(-0.2),
        },
        Broken {
            what: "a round trip as a string",
            status: Fail,
            metrics: ws_mute,
            apply: |m| m["families"][0]["pongs_ms"][0] = json!("timeout"),
        },
        Broken {
            what: "opened as a string",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["opened"] = json!("true"),
        },
        Broken {
            what: "an address that is not an IP address",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["addresses"][0] = json!("localhost"),
        },
        Broken {
            what: "a family address without its port",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["address"] = json!("127.0.0.1"),
        },
        Broken {
            what: "notAfter not in RFC 3339 UTC",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| m["families"][0]["tls"]["not_after"] = json!("Nov 28 05:27:16 2027 GMT"),
        },
        Broken {
            what: "a timing as a whole object",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["timings_ms"]["tcp"] = json!({"ms": 0.4}),
        },
        Broken {
            what: "the TCP connect without a time",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["timings_ms"]["tcp"] = Value::Null,
        },
        Broken {
            what: "a backoff with a fraction",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"][1]["waited_ms"] = json!(500.5),
        },
        Broken {
            what: "a url that is not a WebSocket URL",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["url"] = json!("https://127.0.0.1:43851/"),
        },
        Broken {
            what: "a proxy URL on a direct route",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["proxy"] = json!("http://127.0.0.1:3128"),
        },
        // the route and the proxy
        Broken {
            what: "through a proxy without its URL",
            status: Pass,
            metrics: proxied,
            apply: |m| m["proxy"] = Value::Null,
        },
        Broken {
            what: "an attempt through a proxy on a route that bypasses it",
            status: Pass,
            metrics: proxied,
            apply: |m| {
                m["route"] = json!("bypassed");
                m["proxy"] = Value::Null;
            },
        },
        Broken {
            what: "a direct attempt on a proxy route",
            status: Pass,
            metrics: proxied,
            apply: |m| m["families"][0]["via_proxy"] = json!(false),
        },
        Broken {
            what: "a proxy answer on a direct attempt",
            status: Pass,
            metrics: ws_opened,
            apply: |m| {
                m["families"][0]["proxy"] = json!("tunnel");
                m["families"][0]["timings_ms"]["proxy"] = json!(1.0);
            },
        },
        Broken {
            what: "an attempt through a proxy that connected, without its answer",
            status: Pass,
            metrics: proxied,
            apply: |m| {
                m["families"][0]["proxy"] = Value::Null;
                m["families"][0]["timings_ms"]["proxy"] = Value::Null;
            },
        },
        Broken {
            what: "a proxy answer when the proxy was unreachable",
            status: Fail,
            metrics: proxy_unreachable,
            apply: |m| {
                m["families"][0]["proxy"] = json!("closed");
                m["families"][0]["timings_ms"]["proxy"] = json!(1.0);
            },
        },
        Broken {
            what: "an unreachable proxy blamed on the tcp step",
            status: Fail,
            metrics: proxy_unreachable,
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("tcp"),
        },
        Broken {
            what: "a direct TCP failure blamed on the proxy",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("proxy"),
        },
        Broken {
            what: "a refusing proxy blamed on the upgrade",
            status: Fail,
            metrics: || proxy_failed("refused"),
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("upgrade"),
        },
        Broken {
            what: "TLS after a refusing proxy",
            status: Fail,
            metrics: || proxy_failed("refused"),
            apply: |m| {
                m["families"][0]["tls"] = json!({"failure": "closed", "detail": "closed"});
                m["families"][0]["timings_ms"]["tls"] = json!(1.0);
            },
        },
        // one step after another
        Broken {
            what: "no failure after a refused connection",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["first_failure"] = Value::Null,
        },
        Broken {
            what: "an upgrade after a failed connection",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| {
                m["families"][0]["upgrade"] = json!("closed");
                m["families"][0]["timings_ms"]["upgrade"] = json!(1.0);
            },
        },
        Broken {
            what: "an upgrade after a failed TLS handshake",
            status: Fail,
            metrics: wss_untrusted,
            apply: |m| {
                m["families"][0]["upgrade"] = json!("closed");
                m["families"][0]["timings_ms"]["upgrade"] = json!(1.0);
            },
        },
        Broken {
            what: "a failed TLS handshake blamed on the upgrade",
            status: Fail,
            metrics: wss_untrusted,
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("upgrade"),
        },
        Broken {
            what: "a refused upgrade blamed on the session",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("session"),
        },
        Broken {
            what: "opened while the upgrade was refused",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["opened"] = json!(true),
        },
        Broken {
            what: "not opened while the upgrade opened",
            status: Fail,
            metrics: ws_mute,
            apply: |m| m["families"][0]["opened"] = json!(false),
        },
        Broken {
            what: "TLS facts over ws://",
            status: Pass,
            metrics: ws_opened,
            apply: |m| {
                m["families"][0]["tls"] = json!({"protocol": "TLS 1.3", "verification": "pin", "issuer": null, "not_after": null});
                m["families"][0]["timings_ms"]["tls"] = json!(1.0);
            },
        },
        Broken {
            what: "no TLS step over wss://",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| {
                m["families"][0]["tls"] = Value::Null;
                m["families"][0]["timings_ms"]["tls"] = Value::Null;
            },
        },
        Broken {
            what: "an issuer without notAfter",
            status: Pass,
            metrics: wss_pinned,
            apply: |m| m["families"][0]["tls"]["not_after"] = Value::Null,
        },
        // the status of the answer
        Broken {
            what: "an open WebSocket without its 101",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["status"] = Value::Null,
        },
        Broken {
            what: "an open WebSocket with a 200",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["status"] = json!(200),
        },
        Broken {
            what: "a redirect that is not a 3xx",
            status: Fail,
            metrics: ws_redirected,
            apply: |m| m["families"][0]["status"] = json!(403),
        },
        Broken {
            what: "a refusal with a 3xx",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["status"] = json!(301),
        },
        Broken {
            what: "a refusal with a 101",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["status"] = json!(101),
        },
        Broken {
            what: "a refusal without its status",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| {
                m["families"][0]["status"] = Value::Null;
                m["families"][0]["clock_offset_s"] = Value::Null;
            },
        },
        Broken {
            what: "a status without an HTTP answer",
            status: Fail,
            metrics: || {
                ws_upgrade(
                    "closed",
                    None,
                    "the connection was closed before an answer to the upgrade",
                )
            },
            apply: |m| m["families"][0]["status"] = json!(400),
        },
        Broken {
            what: "a status that is not HTTP",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["status"] = json!(1403),
        },
        Broken {
            what: "a clock offset without an HTTP answer",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["families"][0]["clock_offset_s"] = json!(12),
        },
        // the session
        Broken {
            what: "pongs of an attempt that did not open",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["pongs_ms"] = json!([0.4]),
        },
        Broken {
            what: "a drop of an attempt that did not open",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["dropped"] = json!("reset"),
        },
        Broken {
            what: "a drop without a session failure",
            status: Fail,
            metrics: || ws_dropped("reset"),
            apply: |m| m["families"][0]["first_failure"] = Value::Null,
        },
        Broken {
            what: "a drop blamed on the upgrade",
            status: Fail,
            metrics: || ws_dropped("reset"),
            apply: |m| m["families"][0]["first_failure"]["step"] = json!("upgrade"),
        },
        Broken {
            what: "unanswered pings without a failure",
            status: Fail,
            metrics: ws_mute,
            apply: |m| m["families"][0]["first_failure"] = Value::Null,
        },
        Broken {
            what: "a session failure with every ping answered and no drop",
            status: Fail,
            metrics: ws_opened,
            apply: |m| {
                m["families"][0]["first_failure"] = json!({"step": "session", "detail": "?"});
            },
        },
        // timings
        Broken {
            what: "an open WebSocket without its open time",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["timings_ms"]["open"] = Value::Null,
        },
        Broken {
            what: "an open time of an attempt that did not open",
            status: Fail,
            metrics: ws_refused_403,
            apply: |m| m["families"][0]["timings_ms"]["open"] = json!(4.2),
        },
        Broken {
            what: "a TLS time without a TLS step",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["timings_ms"]["tls"] = json!(1.0),
        },
        Broken {
            what: "an upgrade without its time",
            status: Fail,
            metrics: ws_redirected,
            apply: |m| m["families"][0]["timings_ms"]["upgrade"] = Value::Null,
        },
        Broken {
            what: "a proxy answer without its time",
            status: Pass,
            metrics: proxied,
            apply: |m| m["families"][0]["timings_ms"]["proxy"] = Value::Null,
        },
        // the attempts together
        Broken {
            what: "opened while no family opened",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| m["opened"] = json!(true),
        },
        Broken {
            what: "not opened while a family opened",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| m["opened"] = json!(false),
        },
        Broken {
            what: "attempts without an address",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["addresses"] = json!([]),
        },
        Broken {
            what: "addresses without an attempt",
            status: Fail,
            metrics: unresolved,
            apply: |m| m["addresses"] = json!(["203.0.113.9"]),
        },
        Broken {
            what: "IPv6 before IPv4",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| {
                let families = m["families"].as_array_mut().unwrap();
                families.swap(0, 1);
            },
        },
        Broken {
            what: "two IPv4 attempts",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| {
                m["families"][1] =
                    tcp_failed("ipv4", "203.0.113.10:443", "refused", "connection refused");
            },
        },
        Broken {
            what: "three attempts",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| {
                let third = m["families"][1].clone();
                m["families"].as_array_mut().unwrap().push(third);
            },
        },
        Broken {
            what: "an IPv4 attempt to an IPv6 address",
            status: Pass,
            metrics: ws_opened,
            apply: |m| m["families"][0]["address"] = json!("[::1]:43851"),
        },
        Broken {
            what: "an IPv6 attempt to an IPv4 address",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| m["families"][1]["address"] = json!("203.0.113.10:443"),
        },
        // reconnection
        Broken {
            what: "a reconnection check that never opened in the first place",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| {
                m["reconnect"] =
                    json!([{"number": 0, "waited_ms": 0, "took_ms": 1, "opened": false}])
            },
        },
        Broken {
            what: "an empty reconnection check",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"] = json!([]),
        },
        Broken {
            what: "a reconnection check as an object",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"] = json!({"attempts": 2, "opened": true}),
        },
        Broken {
            what: "a first open numbered 1",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"][0]["number"] = json!(1),
        },
        Broken {
            what: "a first open after a backoff",
            status: Pass,
            metrics: reconnected,
            apply: |m| m["reconnect"][0]["waited_ms"] = json!(500),
        },
        Broken {
            what: "a reopening numbered 0",
            status: Fail,
            metrics: reconnection_failed,
            apply: |m| m["reconnect"][2]["number"] = json!(0),
        },
        Broken {
            what: "reopenings after a first open that failed",
            status: Pass,
            metrics: reconnection_first_open_failed,
            apply: |m| {
                m["reconnect"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"number": 1, "waited_ms": 500, "took_ms": 1, "opened": false}));
            },
        },
        Broken {
            what: "reopenings after one that opened",
            status: Pass,
            metrics: reconnected,
            apply: |m| {
                m["reconnect"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"number": 2, "waited_ms": 1000, "took_ms": 1, "opened": true}));
            },
        },
        // status and metrics
        Broken {
            what: "a probe that warned without metrics",
            status: Warn,
            metrics: wss_dual_stack_v6_refused,
            apply: |m| *m = json!({}),
        },
        Broken {
            what: "a probe that passed without metrics",
            status: Pass,
            metrics: ws_opened,
            apply: |m| *m = json!({}),
        },
        Broken {
            what: "stun metrics on a signaling probe that failed",
            status: Fail,
            metrics: tcp_failures,
            apply: |m| *m = Value::Object(common::stun_silent_metrics()),
        },
    ]
}

#[test]
fn signaling_metrics_that_break_the_shape_are_rejected() {
    let validator = validator();
    for broken in broken_metrics() {
        let original = (broken.metrics)();
        assert_valid(&validator, &report(broken.status, &original));
        let mut metrics = original.clone();
        (broken.apply)(&mut metrics);
        assert_ne!(
            metrics, original,
            "{}: the variant changed nothing",
            broken.what
        );
        let instance = report(broken.status, &metrics);
        assert!(
            !validator.is_valid(&instance),
            "{}: accepted\n{}",
            broken.what,
            serde_json::to_string_pretty(&instance).unwrap()
        );
    }
}

#[test]
fn signaling_metrics_in_a_status_that_does_not_allow_them_are_rejected() {
    let validator = validator();
    // Each: the metrics, the status they came with, and a status they cannot come with.
    let cases: Vec<(&str, Value, Status, Status)> = vec![
        (
            "a family that failed is a warning, not a pass",
            wss_dual_stack_v6_refused(),
            Status::Warn,
            Status::Pass,
        ),
        (
            "a WebSocket that did not open is not a pass",
            tcp_failures(),
            Status::Fail,
            Status::Pass,
        ),
        (
            "a proxy asking for credentials is not a pass",
            proxy_failed("auth_required"),
            Status::Warn,
            Status::Info,
        ),
        (
            "unanswered pings are 16386, not a pass",
            ws_mute(),
            Status::Fail,
            Status::Pass,
        ),
        (
            "a drop is 16386, not a pass",
            ws_dropped("close_frame"),
            Status::Fail,
            Status::Info,
        ),
        (
            "no reopening is 16390, not a pass",
            reconnection_failed(),
            Status::Fail,
            Status::Pass,
        ),
        (
            "a refused upgrade is not a pass without TLS",
            ws_refused_403(),
            Status::Fail,
            Status::Pass,
        ),
        (
            "a refused upgrade is not a pass after TLS that was not verified",
            {
                let mut metrics = reachable();
                metrics["families"][0]["tls"]["verification"] = json!("off");
                metrics
            },
            Status::Fail,
            Status::Pass,
        ),
        (
            "a redirect after verified TLS is not a pass, even by reachability",
            {
                let mut metrics = reachable();
                metrics["families"][0]["upgrade"] = json!("redirected");
                metrics["families"][0]["status"] = json!(302);
                metrics
            },
            Status::Fail,
            Status::Pass,
        ),
        (
            "a failed TLS handshake is not a pass, even by reachability",
            wss_untrusted(),
            Status::Fail,
            Status::Info,
        ),
        (
            "a probe that warned has its metrics",
            json!({}),
            Status::Fail,
            Status::Warn,
        ),
        (
            "a probe that passed has its metrics",
            json!({}),
            Status::Skip,
            Status::Pass,
        ),
    ];
    for (what, metrics, valid, invalid) in cases {
        assert_valid(&validator, &report(valid, &metrics));
        let instance = report(invalid, &metrics);
        assert!(
            !validator.is_valid(&instance),
            "{what}: accepted\n{}",
            serde_json::to_string_pretty(&instance).unwrap()
        );
    }
}
