//! The Prometheus renderer: `promtool check metrics` (Debian package `prometheus`) accepts every
//! output, hostile label values included; the output read back with a parser of the exposition
//! format written here has the series the README promises (a one-hot status per probe, a series
//! per matrix cell, the quality and throughput figures in base units); the README documents every
//! metric; and a snapshot. Without `promtool` its test says so and passes, unless
//! `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI) makes that a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use preflight_reports::prometheus::{self, METRICS};
use preflight_reports::{Kind, Report, Severity};

/// The real report `trtc-preflight demo --format json` wrote.
fn demo_report() -> Report {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-report.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("a report")
}

/// A report whose ids and targets hold what label values must escape, and a URL password.
fn hostile_report() -> Report {
    let mut report = common::showcase_report();
    report.probes[0].id = "camera/\"Logi\" C920 \\ back\nslash".into();
    report.probes[0].target = "Logi \"C920\"".into();
    report.probes[1].id = "signaling/wss://bob:hunter2@signal.example.com/ws".into();
    report.probes[1].target = "wss://bob:hunter2@signal.example.com/ws".into();
    report
}

fn reports() -> Vec<(&'static str, Report)> {
    vec![
        ("showcase", common::showcase_report()),
        ("full", common::full_report()),
        ("interrupted", common::interrupted_report()),
        ("passing", common::passing_report()),
        ("demo", demo_report()),
        ("hostile", hostile_report()),
        (
            "empty",
            Report::assemble("0.1.0", "2026-11-28T10:00:00Z".into(), 0, false, vec![]),
        ),
    ]
}

/// One sample: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the text exposition format strictly: HELP and TYPE once per metric and before its
/// samples, a metric's samples together, label values unescaped.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "no final line feed");
    let mut samples = Vec::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut typed: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty());
            assert!(helped.insert(name.to_string()), "HELP {name} twice");
            if let Some(previous) = current.replace(name.to_string()) {
                finished.insert(previous);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert_eq!(kind, "gauge", "{line}");
            assert_eq!(
                current.as_deref(),
                Some(name),
                "TYPE {name} after another metric's HELP"
            );
            assert!(typed.insert(name.to_string()), "TYPE {name} twice");
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        assert!(value.is_finite(), "{line}");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("}"), line)),
            None => (series, BTreeMap::new()),
        };
        assert_eq!(
            current.as_deref(),
            Some(name),
            "{name} outside its HELP/TYPE block"
        );
        assert!(typed.contains(name) && !finished.contains(name), "{line}");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// `a="x",b="y \"q\""` as a map, escapes undone.
fn labels(text: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|ch| *ch != '=').collect();
        assert!(
            name.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
            "label name {name:?} in {line}"
        );
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                '"' => break,
                '\n' => panic!("raw line feed in {line}"),
                ch => value.push(ch),
            }
        }
        assert!(labels.insert(name.clone(), value).is_none(), "{name} twice");
        match chars.next() {
            Some(',') | None => {}
            other => panic!("{other:?} after a label in {line}"),
        }
    }
    labels
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
        .collect()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(samples, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

#[test]
fn promtool_accepts_every_output() {
    let promtool = "/usr/bin/promtool";
    if !Path::new(promtool).is_file() {
        let what = "no /usr/bin/promtool (Debian package prometheus)";
        if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
        }
        eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
        return;
    }
    for (name, report) in reports() {
        let text = prometheus::render(&report);
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        // promtool exits 1 on a parse error, 3 on a lint problem; it prints both.
        assert!(
            output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
            "{name}: promtool check metrics: {}\n{}{}\n{text}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

#[test]
fn every_output_parses_and_every_metric_is_declared() {
    let declared: BTreeSet<&str> = METRICS.iter().map(|(name, _)| *name).collect();
    for (name, report) in reports() {
        let samples = parse(&prometheus::render(&report));
        for sample in &samples {
            assert!(
                declared.contains(sample.name.as_str()),
                "{name}: {sample:?}"
            );
        }
        // No two series are the same.
        let mut series = BTreeSet::new();
        for sample in &samples {
            assert!(
                series.insert((sample.name.clone(), sample.labels.clone())),
                "{name}: {sample:?} twice"
            );
        }
    }
}

#[test]
fn run_series_say_when_what_and_how_it_ended() {
    let report = common::interrupted_report();
    let samples = parse(&prometheus::render(&report));
    // 2026-11-28T10:00:00.250+08:00
    assert_eq!(
        value(&samples, "trtc_preflight_run_timestamp_seconds", &[]),
        1_795_831_200.25
    );
    assert_eq!(
        value(&samples, "trtc_preflight_run_duration_seconds", &[]),
        3.1
    );
    assert_eq!(value(&samples, "trtc_preflight_run_complete", &[]), 0.0);
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_build_info",
            &[("version", "0.1.0")]
        ),
        1.0
    );
    for (verdict, expected) in [("pass", 0.0), ("warn", 1.0), ("fail", 0.0)] {
        assert_eq!(
            value(&samples, "trtc_preflight_verdict", &[("verdict", verdict)]),
            expected
        );
    }
    for (status, expected) in [("pass", 1.0), ("warn", 1.0), ("fail", 0.0), ("skip", 0.0)] {
        assert_eq!(
            value(&samples, "trtc_preflight_probes", &[("status", status)]),
            expected
        );
    }
    let full = parse(&prometheus::render(&common::full_report()));
    assert_eq!(
        value(
            &full,
            "trtc_preflight_sdk_error_findings",
            &[("code", "16385"), ("name", "SIGNAL_CAHNNEL_SETUP_FAILED")]
        ),
        2.0
    );
    assert_eq!(
        find(&full, "trtc_preflight_sdk_error_findings", &[]).len(),
        2
    );
}

#[test]
fn every_probe_has_a_one_hot_status_its_duration_and_its_findings() {
    let report = common::showcase_report();
    let samples = parse(&prometheus::render(&report));
    assert_eq!(
        find(&samples, "trtc_preflight_probe_status", &[]).len(),
        4 * report.probes.len()
    );
    for probe in &report.probes {
        let id = [("id", probe.id.as_str())];
        let statuses = find(&samples, "trtc_preflight_probe_status", &id);
        assert_eq!(statuses.len(), 4, "{}", probe.id);
        for sample in statuses {
            assert_eq!(sample.labels["kind"], probe.kind.as_str());
            assert_eq!(sample.labels["target"], probe.target);
            let on = sample.labels["status"] == probe.status.as_str();
            assert_eq!(sample.value, if on { 1.0 } else { 0.0 }, "{sample:?}");
        }
        assert_eq!(
            value(&samples, "trtc_preflight_probe_duration_seconds", &id),
            probe.duration_ms as f64 / 1000.0
        );
        for severity in [Severity::Info, Severity::Warning, Severity::Error] {
            let count = probe
                .findings
                .iter()
                .filter(|finding| finding.severity == severity)
                .count();
            assert_eq!(
                value(
                    &samples,
                    "trtc_preflight_probe_findings",
                    &[("id", probe.id.as_str()), ("severity", severity.as_str())]
                ),
                count as f64
            );
        }
    }
    // Headline RTTs: the STUN probe that answered, the quality burst's median.
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_probe_rtt_seconds",
            &[("id", "stun/tcp/stun.example.com:3478")]
        ),
        0.037112
    );
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_probe_rtt_seconds",
            &[("id", "quality/edge.example.com")]
        ),
        0.022149
    );
    assert_eq!(
        find(&samples, "trtc_preflight_probe_rtt_seconds", &[]).len(),
        2
    );
}

#[test]
fn a_series_per_matrix_cell() {
    let report = common::showcase_report();
    let samples = parse(&prometheus::render(&report));
    let ports = report
        .probes
        .iter()
        .find(|probe| probe.kind == Kind::Ports)
        .unwrap();
    let cells = ports.metrics["matrix"].as_array().unwrap();
    assert_eq!(
        find(&samples, "trtc_preflight_path_open", &[]).len(),
        cells.len()
    );
    assert_eq!(
        find(&samples, "trtc_preflight_path_result", &[]).len(),
        cells.len()
    );
    for cell in cells {
        let port = cell["port"].to_string();
        let labels = [
            ("id", ports.id.as_str()),
            ("family", cell["family"].as_str().unwrap()),
            ("protocol", cell["protocol"].as_str().unwrap()),
            ("port", port.as_str()),
        ];
        let open = cell["result"] == "open";
        assert_eq!(
            value(&samples, "trtc_preflight_path_open", &labels),
            if open { 1.0 } else { 0.0 }
        );
        let result = find(&samples, "trtc_preflight_path_result", &labels);
        assert_eq!(result[0].labels["result"], cell["result"].as_str().unwrap());
        assert_eq!(result[0].value, 1.0);
        let rtt = find(&samples, "trtc_preflight_path_rtt_seconds", &labels);
        match cell["rtt_ms"].as_f64() {
            Some(ms) => assert_eq!(rtt[0].value, ms / 1000.0),
            None => assert!(rtt.is_empty()),
        }
    }
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_path_open",
            &[("family", "ipv4"), ("protocol", "udp"), ("port", "843")]
        ),
        0.0
    );
    // The MTU per family.
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_mtu_largest_packet_bytes",
            &[("family", "ipv4")]
        ),
        1500.0
    );
    assert_eq!(
        value(
            &samples,
            "trtc_preflight_mtu_media_size_ok",
            &[("family", "ipv4")]
        ),
        1.0
    );
    // The demo's real matrix: every cell open.
    let demo = demo_report();
    let samples = parse(&prometheus::render(&demo));
    let open = find(&samples, "trtc_preflight_path_open", &[]);
    assert_eq!(open.len(), 8);
    assert!(open.iter().all(|sample| sample.value == 1.0));
}

#[test]
fn quality_and_throughput_in_base_units() {
    let samples = parse(&prometheus::render(&common::showcase_report()));
    let q = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("kind", "quality")];
        labels.extend_from_slice(extra);
        value(&samples, name, &labels)
    };
    assert_eq!(
        q("trtc_preflight_quality_rtt_seconds", &[("stat", "min")]),
        0.020031
    );
    assert_eq!(
        q("trtc_preflight_quality_rtt_seconds", &[("stat", "p95")]),
        0.034886
    );
    assert_eq!(
        q("trtc_preflight_quality_rtt_seconds", &[("stat", "max")]),
        0.048349
    );
    assert_eq!(q("trtc_preflight_quality_jitter_seconds", &[]), 0.00325);
    assert_eq!(
        q(
            "trtc_preflight_quality_loss_ratio",
            &[("direction", "both")]
        ),
        0.0267
    );
    assert_eq!(
        q(
            "trtc_preflight_quality_loss_ratio",
            &[("direction", "uplink")]
        ),
        0.0133
    );
    assert_eq!(q("trtc_preflight_quality_late_ratio", &[]), 0.0);
    assert_eq!(
        q("trtc_preflight_quality_level", &[("direction", "both")]),
        3.0
    );
    assert_eq!(
        q("trtc_preflight_quality_level", &[("direction", "downlink")]),
        2.0
    );
    let t = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("kind", "throughput")];
        labels.extend_from_slice(extra);
        value(&samples, name, &labels)
    };
    assert_eq!(
        t("trtc_preflight_throughput_required_bytes_per_second", &[]),
        192_500.0
    );
    assert_eq!(
        t(
            "trtc_preflight_throughput_bytes_per_second",
            &[("direction", "uplink")]
        ),
        191_550.0
    );
    assert_eq!(
        t(
            "trtc_preflight_throughput_loss_ratio",
            &[("direction", "uplink")]
        ),
        0.0041
    );
    assert_eq!(
        t(
            "trtc_preflight_throughput_jitter_seconds",
            &[("direction", "downlink")]
        ),
        0.0008
    );
    for direction in ["both", "uplink", "downlink"] {
        assert_eq!(
            t(
                "trtc_preflight_throughput_fits",
                &[("direction", direction)]
            ),
            1.0
        );
    }
}

#[test]
fn label_values_survive_escaping_and_passwords_do_not() {
    let report = hostile_report();
    let text = prometheus::render(&report);
    assert!(!text.contains("hunter2"), "{text}");
    let samples = parse(&text);
    assert_eq!(
        find(
            &samples,
            "trtc_preflight_probe_status",
            &[
                ("id", "camera/\"Logi\" C920 \\ back\nslash"),
                ("target", "Logi \"C920\"")
            ]
        )
        .len(),
        4
    );
    assert_eq!(
        find(
            &samples,
            "trtc_preflight_probe_status",
            &[("target", "wss://bob:***@signal.example.com/ws")]
        )
        .len(),
        4
    );
    // Nothing from a token's fields: the account probe gives its status, duration and findings.
    let account: BTreeSet<&str> = samples
        .iter()
        .filter(|sample| sample.labels.get("kind").map(String::as_str) == Some("account"))
        .map(|sample| sample.name.as_str())
        .collect();
    assert_eq!(
        account,
        BTreeSet::from([
            "trtc_preflight_probe_duration_seconds",
            "trtc_preflight_probe_findings",
            "trtc_preflight_probe_status"
        ])
    );
}

#[test]
fn the_readme_documents_every_metric() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    for (name, _) in METRICS {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README.md has no table row for {name}"
        );
    }
}

#[test]
fn showcase_report() {
    insta::assert_snapshot!(prometheus::render(&common::showcase_report()));
}
