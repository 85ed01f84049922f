//! The Prometheus renderer: the text exposition format (version 0.0.4), for node_exporter's
//! textfile collector, so that scheduled checks on a fleet of machines feed an existing
//! Prometheus with no collector of our own.
//!
//! Every metric is a gauge named `trtc_preflight_...` in base units (seconds, bytes, ratios), with
//! `# HELP` and `# TYPE` lines; [`METRICS`] lists them all, in the order they are written, and the
//! README documents each. A metric with no sample in a report is left out. Samples carry no
//! timestamp (the textfile collector refuses them): `trtc_preflight_run_timestamp_seconds` says
//! when the run started.
//!
//! States are one-hot: a probe's status is four series (`status="pass"`, `"warn"`, `"fail"`,
//! `"skip"`), 1 for the state it is in and 0 for the others, so the same series exist after every
//! run and `trtc_preflight_probe_status{status="fail"} == 1` selects the failures.
//!
//! Probe labels are `id`, `kind` and `target` from the report, which are built from the
//! configured targets and never hold a secret (those come from the environment or files); as a
//! second guard a password in a URL's user information is written as `***`. Label values are
//! escaped as the format requires (`\\`, `\"`, `\n`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::{Kind, ProbeResult, Report, Severity, Status, Verdict};

/// Every metric this renderer can write: name and help text, in output order.
pub const METRICS: [(&str, &str); 26] = [
    (
        "trtc_preflight_build_info",
        "The version of trtc-preflight that wrote the report (label version); always 1.",
    ),
    (
        "trtc_preflight_run_timestamp_seconds",
        "When the run started, in seconds since the UNIX epoch.",
    ),
    (
        "trtc_preflight_run_duration_seconds",
        "Wall time of the whole run.",
    ),
    (
        "trtc_preflight_run_complete",
        "1 when every probe finished; 0 when the run was interrupted and some are missing.",
    ),
    (
        "trtc_preflight_verdict",
        "The run's verdict, one-hot: 1 for the verdict (pass, warn or fail), 0 for the others.",
    ),
    (
        "trtc_preflight_probes",
        "How many probes ended in each status.",
    ),
    (
        "trtc_preflight_sdk_error_findings",
        "Findings that carry each TRTC Web SDK error code (labels code and name).",
    ),
    (
        "trtc_preflight_probe_status",
        "A probe's status, one-hot: 1 for its status (pass, warn, fail or skip), 0 for the others.",
    ),
    (
        "trtc_preflight_probe_duration_seconds",
        "Wall time of a probe.",
    ),
    (
        "trtc_preflight_probe_findings",
        "A probe's findings of each severity (info, warning, error).",
    ),
    (
        "trtc_preflight_probe_rtt_seconds",
        "A probe's round-trip time: stun the first family that answered, webrtc the selected candidate pair, quality the median of the burst.",
    ),
    (
        "trtc_preflight_path_open",
        "One cell of a ports probe's path matrix: 1 when real payload crossed (STUN answered, or the TLS server's certificate came back), 0 when not.",
    ),
    (
        "trtc_preflight_path_rtt_seconds",
        "The STUN round-trip time of an open cell of the path matrix.",
    ),
    (
        "trtc_preflight_path_result",
        "How a cell of the path matrix ended (label result: open, open_tls_untrusted, silent, rejected, accepts_but_blocks, ...); always 1.",
    ),
    (
        "trtc_preflight_mtu_largest_packet_bytes",
        "The largest IP packet that crossed the path, per address family.",
    ),
    (
        "trtc_preflight_mtu_media_size_ok",
        "1 when media-sized packets cross the path, 0 when not, per address family.",
    ),
    (
        "trtc_preflight_quality_rtt_seconds",
        "Round-trip time of the on-time answers of the quality burst (label stat: min, median, p95, max).",
    ),
    (
        "trtc_preflight_quality_jitter_seconds",
        "RFC 3550 interarrival jitter of the on-time answers of the quality burst.",
    ),
    (
        "trtc_preflight_quality_loss_ratio",
        "Requests of the quality burst lost, 0 to 1 (label direction: both for the round trip; uplink and downlink when serve split it).",
    ),
    (
        "trtc_preflight_quality_late_ratio",
        "Requests of the quality burst answered after the cut-off, 0 to 1.",
    ),
    (
        "trtc_preflight_quality_level",
        "TRTC's network-quality level: 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 disconnected (label direction: both, uplink, downlink).",
    ),
    (
        "trtc_preflight_throughput_required_bytes_per_second",
        "The call's rate the throughput probe tested (UDP payload).",
    ),
    (
        "trtc_preflight_throughput_bytes_per_second",
        "Throughput achieved at the call's rate, UDP payload (label direction: uplink, downlink).",
    ),
    (
        "trtc_preflight_throughput_loss_ratio",
        "Datagrams lost at the call's rate, 0 to 1 (label direction: uplink, downlink).",
    ),
    (
        "trtc_preflight_throughput_jitter_seconds",
        "RFC 3550 interarrival jitter at the call's rate (label direction: uplink, downlink).",
    ),
    (
        "trtc_preflight_throughput_fits",
        "1 when the call's rate fits, 0 when not (label direction: both, uplink, downlink).",
    ),
];

/// Renders the report in the Prometheus text exposition format.
pub fn render(report: &Report) -> String {
    let mut out = Exposition::default();
    out.add(
        "trtc_preflight_build_info",
        vec![("version", report.tool.version.clone())],
        1.0,
    );
    if let Some(started) = unix_seconds(&report.started_at) {
        out.add("trtc_preflight_run_timestamp_seconds", vec![], started);
    }
    out.add(
        "trtc_preflight_run_duration_seconds",
        vec![],
        seconds(report.duration_ms as f64),
    );
    out.add("trtc_preflight_run_complete", vec![], flag(report.complete));
    for (verdict, word) in [
        (Verdict::Pass, "pass"),
        (Verdict::Warn, "warn"),
        (Verdict::Fail, "fail"),
    ] {
        out.add(
            "trtc_preflight_verdict",
            vec![("verdict", word.into())],
            flag(report.verdict == verdict),
        );
    }
    let summary = &report.summary;
    for (status, count) in [
        (Status::Pass, summary.pass),
        (Status::Warn, summary.warn),
        (Status::Fail, summary.fail),
        (Status::Skip, summary.skip),
    ] {
        out.add(
            "trtc_preflight_probes",
            vec![("status", status.as_str().into())],
            f64::from(count),
        );
    }
    for &code in &report.codes {
        let findings = report
            .probes
            .iter()
            .flat_map(|probe| &probe.findings)
            .filter(|finding| finding.code == Some(code));
        let name = findings
            .clone()
            .find_map(|finding| finding.name.clone())
            .unwrap_or_default();
        out.add(
            "trtc_preflight_sdk_error_findings",
            vec![("code", code.to_string()), ("name", name)],
            findings.count() as f64,
        );
    }
    for probe in &report.probes {
        probe_metrics(&mut out, probe);
    }
    out.text()
}

/// Everything one probe contributes.
fn probe_metrics(out: &mut Exposition, probe: &ProbeResult) {
    let labels = || -> Labels {
        vec![
            ("id", masked(&probe.id)),
            ("kind", probe.kind.as_str().into()),
            ("target", masked(&probe.target)),
        ]
    };
    let with = |extra: &[(&'static str, String)]| -> Labels {
        let mut labels = labels();
        labels.extend(extra.iter().cloned());
        labels
    };
    for status in [Status::Pass, Status::Warn, Status::Fail, Status::Skip] {
        out.add(
            "trtc_preflight_probe_status",
            with(&[("status", status.as_str().into())]),
            flag(probe.status == status),
        );
    }
    out.add(
        "trtc_preflight_probe_duration_seconds",
        labels(),
        seconds(probe.duration_ms as f64),
    );
    for severity in [Severity::Info, Severity::Warning, Severity::Error] {
        let count = probe
            .findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count();
        out.add(
            "trtc_preflight_probe_findings",
            with(&[("severity", severity.as_str().into())]),
            count as f64,
        );
    }

    let metrics = &probe.metrics;
    let rtt = match probe.kind {
        Kind::Stun => number(metrics, &["rtt_ms"]),
        Kind::Webrtc => number(metrics, &["selected_pair", "rtt_ms"]),
        Kind::Quality => number(metrics, &["rtt_ms", "median"]),
        _ => None,
    };
    if let Some(rtt) = rtt {
        out.add("trtc_preflight_probe_rtt_seconds", labels(), seconds(rtt));
    }

    // The path matrix of a ports probe: a series per cell.
    let cells = metrics
        .get("matrix")
        .or_else(|| metrics.get("cells"))
        .and_then(Value::as_array);
    for cell in cells.into_iter().flatten() {
        let text = |key: &str| cell.get(key).and_then(Value::as_str);
        let (Some(result), Some(port)) = (text("result"), cell.get("port").and_then(Value::as_u64))
        else {
            continue;
        };
        let cell_labels = with(&[
            ("family", text("family").unwrap_or_default().into()),
            (
                "protocol",
                text("protocol")
                    .or_else(|| text("transport"))
                    .unwrap_or_default()
                    .into(),
            ),
            ("port", port.to_string()),
        ]);
        let open = matches!(result, "open" | "open_tls_untrusted");
        out.add("trtc_preflight_path_open", cell_labels.clone(), flag(open));
        if let Some(rtt) = cell.get("rtt_ms").and_then(Value::as_f64) {
            out.add(
                "trtc_preflight_path_rtt_seconds",
                cell_labels.clone(),
                seconds(rtt),
            );
        }
        let mut result_labels = cell_labels;
        result_labels.push(("result", result.into()));
        out.add("trtc_preflight_path_result", result_labels, 1.0);
    }

    // The mtu probe: per address family.
    if probe.kind == Kind::Mtu {
        let families = metrics.get("families").and_then(Value::as_array);
        for family in families.into_iter().flatten() {
            let Some(name) = family.get("family").and_then(Value::as_str) else {
                continue;
            };
            let family_labels = with(&[("family", name.into())]);
            if let Some(bytes) = family
                .get("largest_ok")
                .and_then(|size| size.get("ip_packet"))
                .and_then(Value::as_f64)
            {
                out.add(
                    "trtc_preflight_mtu_largest_packet_bytes",
                    family_labels.clone(),
                    bytes,
                );
            }
            if let Some(ok) = family.get("media_size_ok").and_then(Value::as_bool) {
                out.add("trtc_preflight_mtu_media_size_ok", family_labels, flag(ok));
            }
        }
    }

    if probe.kind == Kind::Quality {
        for stat in ["min", "median", "p95", "max"] {
            if let Some(rtt) = number(metrics, &["rtt_ms", stat]) {
                out.add(
                    "trtc_preflight_quality_rtt_seconds",
                    with(&[("stat", stat.into())]),
                    seconds(rtt),
                );
            }
        }
        if let Some(jitter) = number(metrics, &["jitter_ms"]) {
            out.add(
                "trtc_preflight_quality_jitter_seconds",
                labels(),
                seconds(jitter),
            );
        }
        for (direction, path) in [
            ("both", &["loss_percent"][..]),
            ("uplink", &["split", "uplink_loss_percent"][..]),
            ("downlink", &["split", "downlink_loss_percent"][..]),
        ] {
            if let Some(percent) = number(metrics, path) {
                out.add(
                    "trtc_preflight_quality_loss_ratio",
                    with(&[("direction", direction.into())]),
                    percent / 100.0,
                );
            }
        }
        if let Some(percent) = number(metrics, &["late_percent"]) {
            out.add(
                "trtc_preflight_quality_late_ratio",
                labels(),
                percent / 100.0,
            );
        }
        for (direction, key) in [
            ("both", "level"),
            ("uplink", "uplink_level"),
            ("downlink", "downlink_level"),
        ] {
            if let Some(level) = number(metrics, &[key]) {
                out.add(
                    "trtc_preflight_quality_level",
                    with(&[("direction", direction.into())]),
                    level,
                );
            }
        }
    }

    if probe.kind == Kind::Throughput {
        if let Some(kbps) = number(metrics, &["required_kbps"]) {
            out.add(
                "trtc_preflight_throughput_required_bytes_per_second",
                labels(),
                bytes_per_second(kbps),
            );
        }
        if let Some(fits) = metrics.get("fits").and_then(Value::as_bool) {
            out.add(
                "trtc_preflight_throughput_fits",
                with(&[("direction", "both".into())]),
                flag(fits),
            );
        }
        for direction in ["uplink", "downlink"] {
            let direction_labels = with(&[("direction", direction.into())]);
            if let Some(kbps) = number(metrics, &[direction, "achieved_kbps"]) {
                out.add(
                    "trtc_preflight_throughput_bytes_per_second",
                    direction_labels.clone(),
                    bytes_per_second(kbps),
                );
            }
            if let Some(percent) = number(metrics, &[direction, "loss_percent"]) {
                out.add(
                    "trtc_preflight_throughput_loss_ratio",
                    direction_labels.clone(),
                    percent / 100.0,
                );
            }
            if let Some(jitter) = number(metrics, &[direction, "jitter_ms"]) {
                out.add(
                    "trtc_preflight_throughput_jitter_seconds",
                    direction_labels.clone(),
                    seconds(jitter),
                );
            }
            if let Some(fits) = metrics
                .get(direction)
                .and_then(|d| d.get("fits"))
                .and_then(Value::as_bool)
            {
                out.add(
                    "trtc_preflight_throughput_fits",
                    direction_labels,
                    flag(fits),
                );
            }
        }
    }
}

/// kbit/s (of 1000 bits) as bytes a second.
fn bytes_per_second(kbps: f64) -> f64 {
    kbps * 1000.0 / 8.0
}

/// The number at a path of keys, if it is one.
fn number(metrics: &Map<String, Value>, path: &[&str]) -> Option<f64> {
    let (first, rest) = path.split_first()?;
    let mut value = metrics.get(*first)?;
    for key in rest {
        value = value.get(key)?;
    }
    value.as_f64().filter(|n| n.is_finite())
}

fn seconds(ms: f64) -> f64 {
    ms / 1000.0
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// A label value with a URL's password (`user:secret@`) replaced by `***`.
fn masked(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = text[authority_start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |end| authority_start + end);
    let authority = &text[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    if user.len() == userinfo.len() {
        return text.to_string();
    }
    format!(
        "{}{user}:***{}",
        &text[..authority_start],
        &text[authority_start + at..]
    )
}

/// `2026-11-28T10:00:00.250+08:00` as seconds since the UNIX epoch.
fn unix_seconds(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't') || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        fraction = format!("0.{}", &after_dot[..len]).parse().ok()?;
        rest = &after_dot[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds as f64 + fraction)
}

/// A value rid of the binary noise of a unit conversion (`48.349 / 1000` is
/// `0.048348999999999996`): rounded to nine decimals when that keeps every significant digit.
fn tidy(value: f64) -> f64 {
    if value.abs() < 1e6 {
        (value * 1e9).round() / 1e9
    } else {
        value
    }
}

type Labels = Vec<(&'static str, String)>;

/// Samples gathered per metric, written grouped under their metric's HELP and TYPE.
#[derive(Default)]
struct Exposition {
    samples: Vec<(&'static str, Labels, f64)>,
}

impl Exposition {
    fn add(&mut self, name: &'static str, labels: Labels, value: f64) {
        debug_assert!(
            METRICS.iter().any(|(known, _)| *known == name),
            "{name} is not in METRICS"
        );
        if value.is_finite() {
            self.samples.push((name, labels, tidy(value)));
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (name, help) in METRICS {
            let mut samples = self
                .samples
                .iter()
                .filter(|(sample, _, _)| *sample == name)
                .peekable();
            if samples.peek().is_none() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (_, labels, value) in samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (index, (label, value)) in labels.iter().enumerate() {
                        if index > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{label}=\"{}\"", escape_label(value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        out
    }
}

/// A label value as the exposition format wants it: backslash, double quote and line feed
/// escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_to_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_seconds("2026-11-28T10:00:00Z"), Some(1_795_860_000.0));
        assert_eq!(
            unix_seconds("2026-11-28T10:00:00.250+08:00"),
            Some(1_795_831_200.25)
        );
        assert_eq!(
            unix_seconds("2000-02-29T23:59:59-01:30"),
            Some(951_874_199.0)
        );
        for bad in [
            "",
            "2026-11-28",
            "2026-13-01T00:00:00Z",
            "2026-11-28T10:00:00",
            "2026-11-28T10:00:00.Z",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn conversions_read_as_decimals() {
        assert_eq!(tidy(seconds(48.349)).to_string(), "0.048349");
        assert_eq!(tidy(2.67 / 100.0).to_string(), "0.0267");
        assert_eq!(tidy(1_795_831_200.25), 1_795_831_200.25);
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            masked("signaling/wss://bob:hunter2@host:443/ws?x=1"),
            "signaling/wss://bob:***@host:443/ws?x=1"
        );
        assert_eq!(masked("wss://host/ws"), "wss://host/ws");
        assert_eq!(masked("wss://bob@host/ws"), "wss://bob@host/ws");
        assert_eq!(
            masked("turn:relay.example.com:3478"),
            "turn:relay.example.com:3478"
        );
    }

    #[test]
    fn every_metric_is_a_valid_name_once() {
        for (index, (name, help)) in METRICS.iter().enumerate() {
            assert!(name.starts_with("trtc_preflight_"), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(!help.is_empty());
            assert!(
                METRICS[index + 1..].iter().all(|(other, _)| other != name),
                "{name} twice"
            );
        }
    }
}
