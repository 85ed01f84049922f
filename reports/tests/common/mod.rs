//! Realistic reports shared by the integration tests: several kinds, every status, findings with
//! and without SDK codes, typed account, room, stun, ports, mtu and signaling metrics.

#![allow(dead_code)]

use preflight_reports::metrics::{
    self, AccountMetrics, GrantMetrics, RoomMetrics, SignatureCheck, TokenMetrics,
};
use preflight_reports::{json, Finding, Kind, ProbeResult, Report, Severity, SCHEMA_JSON};
use serde_json::{json, Map, Value};

/// The report's schema, checked against the 2020-12 meta-schema and compiled.
pub fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA_JSON).expect("the schema is JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Fails with every validation error and the instance when `instance` does not validate.
pub fn assert_valid(validator: &jsonschema::Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(instance).unwrap()
    );
}

/// What the `json` renderer writes for `report`.
pub fn rendered(report: &Report) -> Value {
    serde_json::from_slice(&json::render(report).expect("renders")).expect("the output is JSON")
}

/// An error finding carrying an SDK error, with its texts.
pub fn sdk_error(code: u32, name: &str, hex: &str, texts: [&str; 3]) -> Finding {
    let [description, evidence, fix] = texts;
    Finding {
        severity: Severity::Error,
        code: Some(code),
        name: Some(name.to_string()),
        hex: Some(hex.to_string()),
        message: None,
        detail_code: None,
        description: description.to_string(),
        fix: fix.to_string(),
        evidence: evidence.to_string(),
    }
}

/// A finding without an SDK code (a warning, or the reason for a skip).
pub fn plain(severity: Severity, description: &str, evidence: &str, fix: &str) -> Finding {
    Finding {
        severity,
        code: None,
        name: None,
        hex: None,
        message: None,
        detail_code: None,
        description: description.to_string(),
        fix: fix.to_string(),
        evidence: evidence.to_string(),
    }
}

/// A probe result whose status follows from its findings.
pub fn probe(
    id: &str,
    kind: Kind,
    target: &str,
    skipped: bool,
    duration_ms: u64,
    metrics: Map<String, Value>,
    findings: Vec<Finding>,
) -> ProbeResult {
    ProbeResult {
        id: id.to_string(),
        kind,
        target: target.to_string(),
        status: ProbeResult::status_from_findings(skipped, &findings),
        duration_ms,
        metrics,
        findings,
    }
}

/// Metrics written as a JSON object.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A STUN probe over UDP that no family answered, as `diagnose::stun::metrics` writes it.
pub fn stun_silent_metrics() -> Map<String, Value> {
    object(json!({
        "transport": "udp",
        "attempts": 3,
        "rtt_ms": null,
        "addresses": ["203.0.113.7"],
        "resolve": {"source": "system", "ms": 12.408, "error": null},
        "families": [{
            "family": "ipv4",
            "address": "203.0.113.7:3478",
            "result": "silent",
            "rtt_ms": null,
            "attempts": 3,
            "waited_ms": 1500.213,
            "mapped": null,
            "local": null,
            "nat": null,
            "interface": "eth0",
            "source": "192.0.2.10",
            "mtu": 1500,
            "tunnel": false,
            "ignored": 0,
            "silence_rule": "gave up after 1500 ms: the default schedule (no UDP port of this host answered to learn its RTT from)",
            "tls": null,
            "tls_failure": null
        }]
    }))
}

/// A STUN probe over TCP answered from behind a NAT, as `diagnose::stun::metrics` writes it.
pub fn stun_tcp_answered_metrics() -> Map<String, Value> {
    object(json!({
        "transport": "tcp",
        "attempts": 1,
        "rtt_ms": 37.112,
        "addresses": ["203.0.113.7"],
        "resolve": {"source": "system", "ms": 0.214, "error": null},
        "families": [{
            "family": "ipv4",
            "address": "203.0.113.7:3478",
            "result": "answered",
            "rtt_ms": 37.112,
            "attempts": 1,
            "waited_ms": null,
            "mapped": "198.51.100.20:61234",
            "local": "192.0.2.10:51514",
            "nat": true,
            "interface": "eth0",
            "source": "192.0.2.10",
            "mtu": 1500,
            "tunnel": false,
            "ignored": 0,
            "silence_rule": null,
            "tls": null,
            "tls_failure": null
        }]
    }))
}

/// A signaling probe whose TCP connection timed out, as `diagnose::signaling::metrics` writes
/// it.
pub fn signaling_timeout_metrics() -> Map<String, Value> {
    object(json!({
        "url": "wss://signal.example.com/ws",
        "route": "direct",
        "proxy": null,
        "addresses": ["198.51.100.9"],
        "opened": false,
        "families": [{
            "family": "ipv4",
            "address": "198.51.100.9:443",
            "via_proxy": false,
            "tcp": "timed_out",
            "proxy": null,
            "tls": null,
            "upgrade": null,
            "status": null,
            "opened": false,
            "first_failure": {
                "step": "tcp",
                "detail": "TCP to 198.51.100.9:443: no answer to the TCP connection within 5000 ms"
            },
            "pongs_ms": [],
            "dropped": null,
            "clock_offset_s": null,
            "timings_ms": {"tcp": 5000.418, "proxy": null, "tls": null, "upgrade": null, "open": null}
        }]
    }))
}

/// A port matrix where UDP 843 and 16285 are silent, as `diagnose::ports::metrics` writes it.
pub fn ports_metrics() -> Map<String, Value> {
    let udp = |port: u16, open: bool| {
        if open {
            json!({"port": port, "protocol": "udp", "family": "ipv4", "result": "open",
                   "rtt_ms": 21.5, "waited_ms": null, "silence_rule": null})
        } else {
            json!({"port": port, "protocol": "udp", "family": "ipv4", "result": "silent",
                   "rtt_ms": null, "waited_ms": 1000.402,
                   "silence_rule": "gave up after 1000 ms: UDP 8000 on the same host answered in 21.5 ms, so 4 x RTT + 200 ms, at least 1000 ms, suffices"})
        }
    };
    object(json!({
        "host": "edge.example.com",
        "addresses": ["203.0.113.20"],
        "took_ms": 2398.75,
        "open": {"udp": [8000, 8080, 8800, 443], "tcp": [443]},
        "closed": {"udp": [843, 16285], "tcp": []},
        "egress": [{
            "family": "ipv4",
            "interface": "wlan0",
            "source": "192.168.1.23",
            "mtu": 1500,
            "tunnel": false
        }],
        "matrix": [
            udp(8000, true),
            udp(8080, true),
            udp(8800, true),
            udp(843, false),
            udp(443, true),
            udp(16285, false),
            {"port": 443, "protocol": "tls", "family": "ipv4", "result": "open",
             "rtt_ms": 24.031, "waited_ms": null, "silence_rule": null}
        ]
    }))
}

/// The MTU of one family's path, measured: media-sized packets pass or not (`largest_ok`
/// bytes of UDP payload are the largest that crossed).
pub fn mtu_family(media_size_ok: bool) -> Value {
    let (largest, bad) = if media_size_ok {
        (1472, None)
    } else {
        (1072, Some(1076))
    };
    let size = |payload: u32| json!({"udp_payload": payload, "ip_packet": payload + 28});
    json!({
        "target": "203.0.113.20:8000",
        "family": "ipv4",
        "result": "measured",
        "reason": null,
        "direction": "request",
        "largest_ok": size(largest),
        "smallest_bad": bad.map_or(Value::Null, size),
        "media_size_ok": media_size_ok,
        "media": size(1200),
        "ceiling": size(1472),
        "interface": if media_size_ok { "eth0" } else { "wg0" },
        "interface_mtu": if media_size_ok { 1500 } else { 1420 },
        "tunnel": !media_size_ok,
        "source": "192.0.2.10",
        "kernel_path_mtu": null,
        "rounds": 1,
        "duration_ms": 640.118,
        "tries": [
            {"udp_payload": 548, "ip_packet": 576, "round": 1, "result": "answered", "passed": true,
             "attempts": 1, "rtt_ms": 1.904, "ms": 1.95, "kernel_path_mtu": null},
            {"udp_payload": 1200, "ip_packet": 1228, "round": 1,
             "result": if media_size_ok { "answered" } else { "silent" }, "passed": media_size_ok,
             "attempts": if media_size_ok { 1 } else { 3 },
             "rtt_ms": if media_size_ok { json!(2.113) } else { Value::Null },
             "ms": if media_size_ok { 2.2 } else { 600.31 }, "kernel_path_mtu": null}
        ]
    })
}

/// An mtu probe's metrics (`runner::mtu`): the port measured through and its families.
pub fn mtu_metrics(families: Vec<Value>) -> Map<String, Value> {
    object(json!({"port": 8000, "families": families}))
}

/// An expired userSig, checked against the secret key.
pub fn expired_user_sig() -> TokenMetrics {
    TokenMetrics {
        length: 196,
        decoded: true,
        version: Some("2.0".into()),
        identifier: Some("alice".into()),
        sdk_app_id: Some(1_400_000_001),
        issued_at: Some("2026-11-20T09:00:00Z".into()),
        expires_at: Some("2026-11-27T09:00:00Z".into()),
        lifetime_s: Some(604_800),
        has_userbuf: false,
        signature: SignatureCheck::Verified,
        grant: None,
    }
}

/// A privateMapKey for a string room that grants entering it.
pub fn private_map_key() -> TokenMetrics {
    TokenMetrics {
        length: 288,
        decoded: true,
        version: Some("2.0".into()),
        identifier: Some("alice".into()),
        sdk_app_id: Some(1_400_000_001),
        issued_at: Some("2026-11-28T09:00:00Z".into()),
        expires_at: Some("2026-11-29T09:00:00Z".into()),
        lifetime_s: Some(86_400),
        has_userbuf: true,
        signature: SignatureCheck::NotChecked,
        grant: Some(GrantMetrics {
            version: 1,
            account: "alice".into(),
            sdk_app_id: 1_400_000_001,
            room_id: 0,
            room_str: Some("standup-42".into()),
            expires_at: "2026-11-29T09:00:00Z".into(),
            privilege_map: 0xff,
            privileges: vec![
                "create".into(),
                "enter".into(),
                "send_audio".into(),
                "receive_audio".into(),
                "send_video".into(),
                "receive_video".into(),
            ],
            account_type: 0,
        }),
    }
}

/// The account probe: userSig expired (16385, detail 70001).
pub fn account_probe() -> ProbeResult {
    probe(
        "account/1400000001/alice",
        Kind::Account,
        "",
        false,
        4,
        metrics::to_object(&AccountMetrics {
            sdk_app_id: "1400000001".into(),
            user_id: "alice".into(),
            checked_at: "2026-11-28T10:00:00Z".into(),
            user_sig: Some(expired_user_sig()),
        }),
        vec![Finding {
            detail_code: Some(70001),
            ..sdk_error(
                16385,
                "SIGNAL_CAHNNEL_SETUP_FAILED",
                "0x4001",
                [
                    "The userSig has expired, so the server refuses the signaling channel.",
                    "TLS.time 2026-11-20T09:00:00Z + TLS.expire 604800 s = 2026-11-27T09:00:00Z, \
                     which is 1 day 1 h before 2026-11-28T10:00:00Z",
                    "Issue a new userSig for user alice on your server, with an expiry longer \
                     than the longest call (for example 86400 s or more).",
                ],
            )
        }],
    )
}

/// The room probe: a string room with a valid privateMapKey.
pub fn room_probe() -> ProbeResult {
    probe(
        "room/standup-42",
        Kind::Room,
        "standup-42",
        false,
        1,
        metrics::to_object(&RoomMetrics {
            room_id: "standup-42".into(),
            room_id_type: "string".into(),
            private_map_key_required: true,
            private_map_key: Some(private_map_key()),
        }),
        vec![],
    )
}

/// What the camera probe measures of a healthy built-in camera (as diagnose::camera writes it).
pub fn camera_metrics() -> Map<String, Value> {
    object(json!({
        "api": "Video4Linux",
        "asked": "1280x720@30",
        "cameras": [{"id": "0", "name": "Integrated Camera", "path": "/dev/video0", "default": true, "formats": 14}],
        "camera": {"id": "0", "name": "Integrated Camera"},
        "granted": {"width": 1280, "height": 720, "fps": 30, "pixel_format": "MJPG"},
        "frames": 29,
        "fps": 29.6,
        "luma_frames": 29,
        "black_frames": 0,
        "mean_luma": 112.4,
        "frozen_frames": 0,
        "longest_frozen_ms": 0,
        "unreadable_frames": 0,
        "error": null,
        "holders": [],
        "list_ms": 4,
        "open_ms": 180,
        "first_frame_ms": 310,
        "verdict_ms": 640
    }))
}

/// What the microphone probe measures of a microphone whose gain is far too high.
pub fn clipping_microphone_metrics() -> Map<String, Value> {
    object(json!({
        "host": "PulseAudio",
        "notes": [],
        "microphones": [{"id": "alsa_input.pci-0000_00_1f.3.analog-stereo", "name": "Built-in Microphone", "default": true, "monitor": false}],
        "microphone": {"id": "alsa_input.pci-0000_00_1f.3.analog-stereo", "name": "Built-in Microphone", "monitor": false},
        "config": {"sample_rate": 48000, "channels": 2, "sample_format": "i16"},
        "window_ms": 1000,
        "rms_dbfs": -9.5,
        "peak_dbfs": -0.0,
        "clipped_samples": 212,
        "clipped_runs": 9,
        "clipped_share": 0.0044,
        "dc_offset": 0.001,
        "complete": true,
        "error": null,
        "holders": [],
        "list_ms": 6,
        "open_ms": 420,
        "first_audio_ms": 410,
        "verdict_ms": 1210
    }))
}

/// What the environment probe finds on a Linux laptop with a camera and a sound server.
pub fn environment_metrics() -> Map<String, Value> {
    object(json!({
        "os": {"family": "linux", "name": "Debian GNU/Linux 13 (trixie)", "kernel": "6.12.0", "arch": "x86_64"},
        "audio": {"present": true, "found": ["ALSA (/proc/asound)", "PulseAudio"], "missing": []},
        "video": {"present": true, "found": ["V4L2 (/sys/class/video4linux)"], "missing": []},
        "nodes": [{"path": "/dev/video0", "kind": "video", "opened": true, "error": null, "mode": "0660", "group": "video", "holders": []}],
        "policies": [],
        "unreadable_policies": []
    }))
}

/// A complete run: every status, several kinds, findings with and without codes.
pub fn full_report() -> Report {
    let probes = vec![
        probe(
            "camera/default",
            Kind::Camera,
            "",
            false,
            640,
            camera_metrics(),
            vec![],
        ),
        probe(
            "microphone/default",
            Kind::Microphone,
            "",
            false,
            1_210,
            clipping_microphone_metrics(),
            vec![plain(
                Severity::Warning,
                "The microphone clips: its peaks reach full scale.",
                "peak -0.1 dBFS, 212 of 48000 samples at full scale over 1.0 s",
                "Lower the input gain of \"Built-in Microphone\" in the system sound settings \
                 until the peaks stay below -3 dBFS.",
            )],
        ),
        probe(
            "stun/udp/stun.example.com:3478",
            Kind::Stun,
            "stun.example.com:3478/udp",
            false,
            1_502,
            stun_silent_metrics(),
            vec![Finding {
                message: Some("RtcError: no valid ice candidate found".into()),
                ..sdk_error(
                    16387,
                    "ICE_TRANSPORT_ERROR",
                    "0x4003",
                    [
                        "No media path: no STUN answer over UDP and no relay over TCP or TLS.",
                        "3 STUN binding requests to 203.0.113.7:3478/udp, none answered within \
                         1.5 s",
                        "Allow outbound UDP to 203.0.113.7 ports 8000, 8080, 8800, 843, 443 and \
                         16285, or TCP 443 to the TURN relay.",
                    ],
                )
            }],
        ),
        probe(
            "stun/tcp/stun.example.com:3478",
            Kind::Stun,
            "tcp:stun.example.com:3478",
            false,
            38,
            stun_tcp_answered_metrics(),
            vec![plain(
                Severity::Info,
                "The NAT maps addresses independently of the endpoint.",
                "mapped address 198.51.100.20:61234 from both servers",
                "",
            )],
        ),
        probe(
            "signaling/wss://signal.example.com/ws",
            Kind::Signaling,
            "wss://signal.example.com/ws",
            false,
            5_003,
            signaling_timeout_metrics(),
            vec![Finding {
                message: Some("failed to connect to remote server via websocket".into()),
                ..sdk_error(
                    16385,
                    "SIGNAL_CAHNNEL_SETUP_FAILED",
                    "0x4001",
                    [
                        "The signaling WebSocket could not be opened.",
                        "TCP connect to 198.51.100.9:443 timed out after 5.0 s",
                        "Allow outbound TCP 443 to signal.example.com (198.51.100.9), or set the \
                         HTTPS proxy the browser uses.",
                    ],
                )
            }],
        ),
        probe(
            "turn",
            Kind::Turn,
            "",
            true,
            0,
            Map::new(),
            vec![plain(
                Severity::Info,
                "This probe kind did not run.",
                "Not configured: no --turn option and no turn key in the profile.",
                "Pass --turn turns:relay.example.com:443?transport=tcp with --turn-user.",
            )],
        ),
        account_probe(),
        room_probe(),
    ];
    Report::assemble("0.1.0", "2026-11-28T10:00:00Z".into(), 9_120, true, probes)
}

/// A run interrupted after two probes: one passed, one warned.
pub fn interrupted_report() -> Report {
    let probes = vec![
        probe(
            "environment",
            Kind::Environment,
            "",
            false,
            12,
            environment_metrics(),
            vec![],
        ),
        probe(
            "ports/udp/edge.example.com",
            Kind::Ports,
            "edge.example.com",
            false,
            2_400,
            ports_metrics(),
            vec![plain(
                Severity::Warning,
                "Some of TRTC's UDP ports are blocked; media can still use the open ones.",
                "no answer on UDP 16285 and 843 after 3 attempts each; 8000, 8080, 8800, 443 \
                 answered",
                "Allow outbound UDP 16285 and 843 to edge.example.com.",
            )],
        ),
    ];
    Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00.250+08:00".into(),
        3_100,
        false,
        probes,
    )
}

/// A run where nothing is wrong.
pub fn passing_report() -> Report {
    Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        20,
        true,
        vec![room_probe()],
    )
}

/// The RTT samples of a 3 s burst at 50 a second: about 22 ms with a little jitter (a seeded
/// generator), a congested stretch in the middle, and four lost (null).
pub fn quality_samples() -> Vec<Value> {
    let mut state: u32 = 0x2545_f491;
    (0..150)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from(state >> 24) / 255.0 * 4.0;
            let congestion = if (60..75).contains(&i) {
                f64::from(15 - (i - 60)) * 1.8
            } else {
                0.0
            };
            if [37, 88, 89, 140].contains(&i) {
                Value::Null
            } else {
                json!(((20.0 + noise + congestion) * 1000.0).round() / 1000.0)
            }
        })
        .collect()
}

/// A quality probe's metrics in the shape `diagnose::quality::metrics` writes (the schema's
/// `quality_metrics`), computed from [`quality_samples`], plus those samples as
/// `rtt_samples_ms`: the quality probe's RTT of each request in send order, which the HTML
/// report's chart reads.
pub fn quality_metrics() -> Map<String, Value> {
    let samples = quality_samples();
    let mut rtts: Vec<f64> = samples.iter().filter_map(Value::as_f64).collect();
    rtts.sort_by(f64::total_cmp);
    let at = |quantile: f64| rtts[((rtts.len() - 1) as f64 * quantile).round() as usize];
    let lost = samples.len() - rtts.len();
    let percent = |part: usize, of: usize| (part as f64 * 10_000.0 / of as f64).round() / 100.0;
    object(json!({
        "target": "203.0.113.20:8000",
        "rate_per_s": 50,
        "duration_ms": 3000,
        "cutoff_ms": 1000,
        "result": "measured",
        "reason": null,
        "sent": samples.len(),
        "on_time": rtts.len(),
        "late": 0,
        "lost": lost,
        "duplicates": 0,
        "reordered": 2,
        "loss_percent": percent(lost, samples.len()),
        "late_percent": 0.0,
        "rtt_ms": {"min": at(0.0), "median": at(0.5), "p95": at(0.95), "max": at(1.0)},
        "jitter_ms": 3.25,
        "split": {
            "server_received": 148,
            "server_duplicates": 0,
            "uplink_lost": 2,
            "uplink_loss_percent": percent(2, samples.len()),
            "downlink_lost": 2,
            "downlink_loss_percent": percent(2, 148)
        },
        "split_note": null,
        "level": 3,
        "level_name": "poor",
        "uplink_level": 2,
        "downlink_level": 2,
        "level_causes": ["loss 2.7 %"],
        "took_ms": 3120,
        "rtt_samples_ms": samples
    }))
}

/// A throughput probe's metrics in the shape `diagnose::throughput::metrics` writes: a 720p call
/// fits both ways.
pub fn throughput_metrics() -> Map<String, Value> {
    let direction = |sent: u32, received: u32, achieved: f64, jitter: f64, downlink: bool| {
        json!({
            "result": "measured", "reason": null, "granted_kbps": 1540, "duration_ms": 3000,
            "sent": sent, "received": received, "duplicates": 0, "reordered": 0,
            "loss_percent": (f64::from(sent - received) * 10_000.0 / f64::from(sent)).round() / 100.0,
            "achieved_kbps": achieved, "wire_kbps": achieved * 1.023, "jitter_ms": jitter,
            "reported": if downlink { json!(true) } else { Value::Null },
            "paused": if downlink { json!(false) } else { Value::Null },
            "fits": true
        })
    };
    object(json!({
        "target": "203.0.113.20:8000",
        "required_kbps": 1540,
        "packet_bytes": 1200,
        "result": "ran",
        "uplink": direction(482, 480, 1532.4, 1.2, false),
        "downlink": direction(482, 482, 1539.8, 0.8, true),
        "fits": true,
        "took_ms": 6240
    }))
}

/// A port matrix over both families: IPv4 as [`ports_metrics`], IPv6 with no route.
pub fn dual_stack_ports_metrics() -> Map<String, Value> {
    let mut metrics = ports_metrics();
    metrics["addresses"] = json!(["203.0.113.20", "2001:db8::20"]);
    let mut matrix = metrics["matrix"].as_array().unwrap().clone();
    for port in [8000, 8080, 8800, 843, 443, 16285] {
        matrix.push(
            json!({"port": port, "protocol": "udp", "family": "ipv6", "result": "no_route",
                           "rtt_ms": null, "waited_ms": null, "silence_rule": null}),
        );
    }
    matrix.push(
        json!({"port": 443, "protocol": "tls", "family": "ipv6", "result": "no_route",
                       "rtt_ms": null, "waited_ms": null, "silence_rule": null}),
    );
    metrics["matrix"] = Value::Array(matrix);
    metrics["egress"] = json!([
        {"family": "ipv4", "interface": "wlan0", "source": "192.168.1.23", "mtu": 1500, "tunnel": false},
        {"family": "ipv6", "interface": null, "source": null, "mtu": null, "tunnel": null}
    ]);
    metrics
}

/// Text a hostile server or a careless catalog entry could put in a finding: markup, quotes,
/// ampersands, table pipes, line breaks that look like Markdown blocks, an unpaired backtick,
/// a control character, and a URL that must stay text.
pub fn hostile_finding() -> Finding {
    plain(
        Severity::Warning,
        "Clock skew of <5 s> & \"more\" for 'this' host; see `date -u`.",
        "server said: </p><script>alert(\"x\")</script><img src=\"http://evil.example/x.png\" \
         onerror=alert(1)> | a | pipe\n- not a list\n# not a heading\n1. not numbered \u{1b}[2J",
        "Run `chronyc makestep` & check <ntp.conf> | *twice*; a lone ` backtick stays [x](y).",
    )
}

/// Every area and most kinds: devices, the browser, STUN, a dual-stack port matrix, MTU, quality
/// with RTT samples, throughput, signaling, account and room; every status; findings with and
/// without SDK codes, and one with hostile text.
pub fn showcase_report() -> Report {
    let mut probes = full_report().probes;
    let browser = probe(
        "browser",
        Kind::Browser,
        "",
        false,
        2_310,
        object(
            json!({"name": "Chrome", "version": "131.0.6778.85", "major": 131, "minimum": 56,
                      "page_errors": 0, "apis": {"RTCPeerConnection": true, "getUserMedia": true}}),
        ),
        vec![],
    );
    let environment = probe(
        "environment",
        Kind::Environment,
        "",
        false,
        12,
        environment_metrics(),
        vec![hostile_finding()],
    );
    let ports = probe(
        "ports/edge.example.com",
        Kind::Ports,
        "edge.example.com",
        false,
        2_400,
        dual_stack_ports_metrics(),
        vec![plain(
            Severity::Warning,
            "Some of TRTC's UDP ports are blocked; media can still use the open ones.",
            "no answer on UDP 16285 and 843 after 3 attempts each; 8000, 8080, 8800, 443 \
             answered; IPv6 has no route",
            "Allow outbound UDP 16285 and 843 to edge.example.com.",
        )],
    );
    let mtu = probe(
        "mtu/edge.example.com",
        Kind::Mtu,
        "edge.example.com",
        false,
        700,
        mtu_metrics(vec![mtu_family(true)]),
        vec![],
    );
    let quality = probe(
        "quality/edge.example.com",
        Kind::Quality,
        "edge.example.com",
        false,
        3_050,
        quality_metrics(),
        vec![plain(
            Severity::Warning,
            "Network quality is poor (level 3): 2.7 % of packets were lost.",
            "150 STUN requests at 50/s to 203.0.113.20:8000: 4 lost (2 on the way there, 2 on \
             the way back), none late; RTT min 20.0, median 22.1, p95 34.9, max 48.3 ms; jitter \
             3.25 ms",
            "Move closer to the Wi-Fi access point or use a wired connection; close uploads \
             that compete with the call.",
        )],
    );
    let throughput = probe(
        "throughput/edge.example.com",
        Kind::Throughput,
        "edge.example.com",
        false,
        6_250,
        throughput_metrics(),
        vec![],
    );
    let webrtc = probe(
        "webrtc",
        Kind::Webrtc,
        "",
        true,
        0,
        Map::new(),
        vec![plain(
            Severity::Info,
            "This probe kind did not run.",
            "Not configured: no --peer option and no peer key in the profile.",
            "Pass --peer wss://HOST:PORT/ of a `trtc-preflight serve`.",
        )],
    );
    // Plan order: devices, browser, network, signaling, WebRTC, account.
    let mut ordered = vec![probes.remove(0), probes.remove(0), environment, browser];
    let stun: Vec<ProbeResult> = probes.drain(0..2).collect();
    ordered.extend(stun);
    ordered.extend([ports, mtu]);
    let signaling = probes.remove(0);
    let turn = probes.remove(0);
    ordered.extend([turn, quality, throughput, signaling, webrtc]);
    ordered.extend(probes);
    Report::assemble(
        "0.1.0",
        "2026-11-28T10:00:00Z".into(),
        17_100,
        true,
        ordered,
    )
}

/// Blanks collapsed to single spaces.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A finding's text as it reads rendered (an HTML page, GitHub's Markdown): backtick spans lose
/// their backticks (an unpaired one stays), control characters are shown escaped, blanks are
/// collapsed.
pub fn as_rendered(text: &str) -> String {
    let ticks = text.matches('`').count();
    let mut shown = String::new();
    let mut seen = 0;
    for ch in text.chars() {
        match ch {
            '`' => {
                seen += 1;
                if ticks % 2 == 1 && seen == ticks {
                    shown.push('`');
                }
            }
            '\n' | '\t' => shown.push(' '),
            ch if ch.is_control() => shown.push_str(&format!("\\u{{{:x}}}", u32::from(ch))),
            ch => shown.push(ch),
        }
    }
    squash(&shown)
}
