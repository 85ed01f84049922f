//! The HTML renderer: one self-contained page for a person who opens it from an email, a ticket or
//! the agent.
//!
//! The page, top to bottom:
//!
//! 1. the verdict, with the summary counts, the run's time and the SDK codes found;
//! 2. "To fix": every error and warning, most serious first, each linked to its probe;
//! 3. one card per [`Area`] (devices, browser, network paths, signaling, WebRTC, account and
//!    room), each listing its probes with their status, key figures, the path matrix of a `ports`
//!    probe as a table, an inline SVG chart of the RTT samples of a probe that has them (the
//!    quality burst), every finding with its code, name, hex, message, description, evidence and
//!    fix, and all the probe's metrics as JSON in a closed `<details>`; an area no probe ran in
//!    says so.
//!
//! The page loads nothing: the CSS is inline, the chart is inline SVG, there is no script, no
//! font, no image and no link outside the page, and a `Content-Security-Policy` of
//! `default-src 'none'` in the page itself forbids the browser any fetch. It reads on a narrow
//! screen (one column; wide tables scroll) and printed (no background, the JSON left out, cards
//! not split across pages).
//!
//! Every string from the report is escaped (`&`, `<`, `>`, `"`, `'`), control characters are shown
//! as `\u{1b}`, and the catalog's backtick spans (`like this`) become `<code>` elements; nothing in
//! a report can add markup.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::area::{self, Area};
use crate::phrases::{self, code_spans, duration, number};
use crate::{Finding, Kind, ProbeResult, RenderOptions, Report, Severity, Status, Verdict};

/// The page's own policy: nothing may be fetched; only the inline style applies. The `data:`
/// image is the empty favicon, which keeps a browser from asking for `/favicon.ico`.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// At most this many points are drawn in an RTT chart; longer bursts are averaged in buckets.
const CHART_POINTS: usize = 400;

/// Rows of key figures a probe of a kind without its own list shows at most.
const GENERIC_FIGURES: usize = 24;

/// Renders the report as one HTML page. The agent can serve the same page for a check it ran
/// (for example at `/api/v1/checks/ID/report.html`): it is a complete document with nothing to
/// fetch. `options` changes nothing yet; it is taken so every format renders alike.
pub fn render(report: &Report, options: RenderOptions) -> String {
    let _ = options;
    let mut page = Page::default();
    page.head(report);
    page.verdict(report);
    page.fix_list(report);
    for area in Area::ALL {
        page.area(area, report);
    }
    page.foot(report);
    page.out
}

/// The document being written. Anchors are `probe-N` and `probe-N-finding-M`, numbered from 1
/// in report order, so a link into a report stays valid for the same plan.
#[derive(Default)]
struct Page {
    out: String,
}

impl Page {
    fn head(&mut self, report: &Report) {
        let title = format!(
            "trtc-preflight: {} · {}",
            phrases::verdict_word(report),
            report.started_at
        );
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light\">\n\
             <meta name=\"generator\" content=\"{tool} {version}\">\n\
             <link rel=\"icon\" href=\"data:,\">\n\
             <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
            // A constant with nothing to escape; written as it is, so that it reads as it is.
            csp = CONTENT_SECURITY_POLICY,
            tool = escape(&report.tool.name),
            version = escape(&report.tool.version),
            title = escape(&title),
        );
    }

    fn verdict(&mut self, report: &Report) {
        let class = if phrases::nothing_checked(report) {
            "skip"
        } else {
            verdict_status(report).as_str()
        };
        let _ = write!(
            self.out,
            "<header class=\"verdict v-{class}\">\n\
             <p class=\"tool\">{tool} {version} · TRTC Web SDK pre-call check</p>\n\
             <h1><span class=\"word\">{word}</span> <span class=\"sentence\">{sentence}</span></h1>\n\
             <p class=\"meta\">Started <time>{started}</time> · took {took} · {counts}</p>\n",
            tool = escape(&report.tool.name),
            version = escape(&report.tool.version),
            word = phrases::verdict_word(report),
            sentence = phrases::verdict_sentence(report),
            started = escape(&report.started_at),
            took = duration(report.duration_ms),
            counts = phrases::counts(report),
        );
        if !report.codes.is_empty() {
            let codes: Vec<String> = report
                .codes
                .iter()
                .map(|code| format!("<code>{code}</code>"))
                .collect();
            let _ = writeln!(
                self.out,
                "<p class=\"codes\">SDK error codes: {}</p>",
                codes.join(" ")
            );
        }
        if !report.complete {
            self.out.push_str(
                "<p class=\"incomplete\">Incomplete: the run was interrupted, and the probes \
                 that had not finished are missing from this report.</p>\n",
            );
        }
        self.out.push_str("</header>\n<main>\n");
    }

    /// Every error and warning, most serious first, linked to its probe.
    fn fix_list(&mut self, report: &Report) {
        let mut problems: Vec<(usize, usize, &ProbeResult, &Finding)> = Vec::new();
        for (p, probe) in report.probes.iter().enumerate() {
            for (f, finding) in ordered(&probe.findings) {
                if finding.severity >= Severity::Warning {
                    problems.push((p, f, probe, finding));
                }
            }
        }
        if problems.is_empty() {
            return;
        }
        problems.sort_by_key(|(_, _, _, finding)| std::cmp::Reverse(finding.severity));
        self.out
            .push_str("<section class=\"to-fix\">\n<h2>To fix</h2>\n<ol>\n");
        for (p, f, probe, finding) in problems {
            let head = phrases::sdk_head(finding);
            let what = if head.is_empty() {
                rich(&finding.description)
            } else {
                format!(
                    "<code>{}</code> {}",
                    escape(&head),
                    rich(&finding.description)
                )
            };
            let _ = writeln!(
                self.out,
                "<li class=\"s-{severity}\"><span class=\"sev\">{severity}</span> \
                 <a href=\"#{anchor}\">{kind} <span class=\"target\">{label}</span></a>: {what}</li>",
                severity = finding.severity.as_str(),
                anchor = finding_anchor(p, f),
                kind = probe.kind.as_str(),
                label = escape(phrases::label(probe)),
            );
        }
        self.out.push_str("</ol>\n</section>\n");
    }

    fn area(&mut self, area: Area, report: &Report) {
        let probes = area.probes(&report.probes);
        let status = area::worst_status(probes.iter().copied());
        let _ = write!(
            self.out,
            "<section class=\"area{empty}\" id=\"area-{name}\">\n<h2>{title}{badge}</h2>\n",
            empty = if probes.is_empty() { " empty" } else { "" },
            name = area.as_str(),
            title = area.title(),
            badge = status
                .map(|status| format!(" {}", badge(status)))
                .unwrap_or_default(),
        );
        if probes.is_empty() {
            let _ = writeln!(
                self.out,
                "<p class=\"none\">Not checked in this run: {}.</p>",
                area.covers()
            );
        }
        for probe in probes {
            let index = report
                .probes
                .iter()
                .position(|other| std::ptr::eq(other, probe))
                .unwrap_or_default();
            self.probe(index, probe);
        }
        self.out.push_str("</section>\n");
    }

    fn probe(&mut self, index: usize, probe: &ProbeResult) {
        let _ = write!(
            self.out,
            "<article class=\"probe st-{status}\" id=\"{anchor}\">\n\
             <h3>{badge} <span class=\"kind\">{kind}</span> <span class=\"target\">{label}</span> \
             <span class=\"took\">{took}</span></h3>\n",
            status = probe.status.as_str(),
            anchor = probe_anchor(index),
            badge = badge(probe.status),
            kind = probe.kind.as_str(),
            label = escape(phrases::label(probe)),
            took = duration(probe.duration_ms),
        );
        if !probe.target.is_empty() && probe.target != probe.id {
            let _ = writeln!(
                self.out,
                "<p class=\"id\">id <code>{}</code></p>",
                escape(&probe.id)
            );
        }
        let figures = figures(probe.kind, &probe.metrics);
        if !figures.is_empty() {
            self.out.push_str("<dl class=\"figures\">\n");
            for (name, value) in figures {
                let _ = writeln!(
                    self.out,
                    "<div><dt>{}</dt><dd>{}</dd></div>",
                    escape(&name),
                    escape(&value)
                );
            }
            self.out.push_str("</dl>\n");
        }
        if let Some(table) = matrix_table(&probe.metrics) {
            self.out.push_str(&table);
        }
        if let Some(chart) = rtt_chart(&probe.metrics).or_else(|| rtt_range(&probe.metrics)) {
            self.out.push_str(&chart);
        }
        if !probe.findings.is_empty() {
            self.out.push_str("<ul class=\"findings\">\n");
            for (f, finding) in ordered(&probe.findings) {
                self.finding(&finding_anchor(index, f), finding);
            }
            self.out.push_str("</ul>\n");
        }
        if !probe.metrics.is_empty() {
            let json = serde_json::to_string_pretty(&probe.metrics).unwrap_or_default();
            let _ = writeln!(
                self.out,
                "<details class=\"metrics\"><summary>All figures (JSON)</summary><pre>{}</pre></details>",
                escape(&json)
            );
        }
        self.out.push_str("</article>\n");
    }

    fn finding(&mut self, anchor: &str, finding: &Finding) {
        let severity = finding.severity.as_str();
        let _ = write!(
            self.out,
            "<li class=\"finding s-{severity}\" id=\"{anchor}\">\n<p class=\"head\"><span class=\"sev\">{severity}</span>"
        );
        if let Some(code) = finding.code {
            let _ = write!(self.out, " <b class=\"code\">{code}</b>");
        }
        if let Some(name) = &finding.name {
            let _ = write!(self.out, " <code class=\"name\">{}</code>", escape(name));
        }
        if let Some(hex) = &finding.hex {
            let _ = write!(self.out, " <span class=\"hex\">{}</span>", escape(hex));
        }
        if let Some(detail) = finding.detail_code {
            let _ = write!(
                self.out,
                " <span class=\"detail\">detail <b>{detail}</b></span>"
            );
        }
        if finding.code.is_none() {
            // No SDK error: the description is the headline.
            let _ = write!(
                self.out,
                " <span class=\"description\">{}</span>",
                rich(&finding.description)
            );
        }
        self.out.push_str("</p>\n");
        if let Some(message) = &finding.message {
            let _ = writeln!(
                self.out,
                "<p class=\"message\">message <code>\"{}\"</code></p>",
                escape(message)
            );
        }
        if finding.code.is_some() && !finding.description.trim().is_empty() {
            let _ = writeln!(
                self.out,
                "<p class=\"description\">{}</p>",
                rich(&finding.description)
            );
        }
        for (class, label, text) in [
            ("evidence", "Evidence", &finding.evidence),
            ("fix", "Fix", &finding.fix),
        ] {
            if !text.trim().is_empty() {
                let _ = writeln!(
                    self.out,
                    "<p class=\"{class}\"><b>{label}</b> {}</p>",
                    rich(text)
                );
            }
        }
        self.out.push_str("</li>\n");
    }

    fn foot(&mut self, report: &Report) {
        let _ = write!(
            self.out,
            "</main>\n<footer>\n<p>Written by {tool} {version} · report schema <code>{schema}</code> \
             · this page is self-contained: it loads nothing and runs no script.</p>\n</footer>\n\
             </body>\n</html>\n",
            tool = escape(&report.tool.name),
            version = escape(&report.tool.version),
            schema = escape(&report.schema),
        );
    }
}

/// The verdict as the status it stands for (for styling).
fn verdict_status(report: &Report) -> Status {
    match report.verdict {
        Verdict::Pass => Status::Pass,
        Verdict::Warn => Status::Warn,
        Verdict::Fail => Status::Fail,
    }
}

/// A probe's findings with their indexes, most serious first; equally serious ones keep the
/// order diagnosis gave them.
fn ordered(findings: &[Finding]) -> Vec<(usize, &Finding)> {
    let mut ordered: Vec<(usize, &Finding)> = findings.iter().enumerate().collect();
    ordered.sort_by_key(|(_, finding)| std::cmp::Reverse(finding.severity));
    ordered
}

fn probe_anchor(index: usize) -> String {
    format!("probe-{}", index + 1)
}

fn finding_anchor(probe: usize, finding: usize) -> String {
    format!("probe-{}-finding-{}", probe + 1, finding + 1)
}

/// The status word in a coloured box (the word is there for those who cannot see the colour).
fn badge(status: Status) -> String {
    format!(
        "<span class=\"badge b-{}\">{}</span>",
        status.as_str(),
        phrases::status_word(status)
    )
}

/// Text for HTML content and attribute values: the five markup characters as entities, control
/// characters other than line feed and tab as visible `\u{..}` escapes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + text.len() / 8);
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\n' | '\t' => escaped.push(ch),
            '\r' => escaped.push(' '),
            ch if ch.is_control() => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(ch));
            }
            ch => escaped.push(ch),
        }
    }
    escaped
}

/// Escaped text with the catalog's backtick spans as `<code>` elements.
fn rich(text: &str) -> String {
    code_spans(text)
        .into_iter()
        .map(|(code, part)| {
            if code {
                format!("<code>{}</code>", escape(&part))
            } else {
                escape(&part)
            }
        })
        .collect()
}

/// The figures a person looks at first for a kind: `(label, path)`, where a path's keys are
/// separated by `.` and `*` takes every element of an array (the rows are then labelled by the
/// element's `family` or `kind`, else its position). `None`: the kind shows its top-level figures.
fn key_figures(kind: Kind) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match kind {
        Kind::Stun => &[
            ("transport", "transport"),
            ("RTT", "rtt_ms"),
            ("addresses", "addresses"),
            ("result", "families.*.result"),
            ("mapped address", "families.*.mapped"),
            ("waited", "families.*.waited_ms"),
            ("egress interface", "families.*.interface"),
            ("TLS", "families.*.tls.protocol"),
            (
                "certificate expires",
                "families.*.tls.certificate.not_after",
            ),
            ("TLS failure", "families.*.tls_failure.kind"),
        ],
        Kind::Ports => &[
            ("host", "host"),
            ("addresses", "addresses"),
            ("open UDP ports", "open.udp"),
            ("open TCP/TLS ports", "open.tcp"),
            ("closed UDP ports", "closed.udp"),
            ("closed TCP/TLS ports", "closed.tcp"),
            ("egress interface", "egress.*.interface"),
            ("matrix took", "took_ms"),
        ],
        Kind::Mtu => &[
            ("through UDP port", "port"),
            ("result", "families.*.result"),
            ("largest that passed", "families.*.largest_ok"),
            ("smallest that did not", "families.*.smallest_bad"),
            ("media-sized packets pass", "families.*.media_size_ok"),
            ("egress interface", "families.*.interface"),
            ("interface MTU", "families.*.interface_mtu"),
            ("why not run", "families.*.reason"),
        ],
        Kind::Quality => &[
            ("target", "target"),
            ("network quality", "level_name"),
            ("level (0–6)", "level"),
            ("because of", "level_causes"),
            ("uplink level", "uplink_level"),
            ("downlink level", "downlink_level"),
            ("RTT min", "rtt_ms.min"),
            ("RTT median", "rtt_ms.median"),
            ("RTT p95", "rtt_ms.p95"),
            ("RTT max", "rtt_ms.max"),
            ("jitter", "jitter_ms"),
            ("loss", "loss_percent"),
            ("uplink loss", "split.uplink_loss_percent"),
            ("downlink loss", "split.downlink_loss_percent"),
            ("late", "late_percent"),
            ("sent", "sent"),
            ("rate", "rate_per_s"),
            ("duplicates", "duplicates"),
            ("reordered", "reordered"),
            ("loss not split", "split_note"),
            ("why not run", "reason"),
        ],
        Kind::Throughput => &[
            ("target", "target"),
            ("call's rate", "required_kbps"),
            ("the call fits", "fits"),
            ("result", "result"),
            ("uplink achieved", "uplink.achieved_kbps"),
            ("uplink loss", "uplink.loss_percent"),
            ("uplink jitter", "uplink.jitter_ms"),
            ("uplink result", "uplink.result"),
            ("downlink achieved", "downlink.achieved_kbps"),
            ("downlink loss", "downlink.loss_percent"),
            ("downlink jitter", "downlink.jitter_ms"),
            ("downlink result", "downlink.result"),
            ("took", "took_ms"),
        ],
        Kind::Signaling => &[
            ("URL", "url"),
            ("route", "route"),
            ("proxy", "proxy"),
            ("addresses", "addresses"),
            ("opened", "opened"),
            ("TCP", "families.*.tcp"),
            ("proxy CONNECT", "families.*.proxy"),
            ("TLS", "families.*.tls.protocol"),
            ("TLS failure", "families.*.tls.failure"),
            ("upgrade", "families.*.upgrade"),
            ("HTTP status", "families.*.status"),
            ("first failure", "families.*.first_failure.detail"),
            ("open took", "families.*.timings_ms.open"),
            ("ping RTTs", "families.*.pongs_ms"),
            ("server clock offset", "families.*.clock_offset_s"),
        ],
        Kind::Webrtc => &[
            ("peer", "url"),
            ("connected", "connected"),
            ("failed stage", "failed_stage"),
            ("connected after", "timings_ms.connected"),
            ("ready after", "timings_ms.ready"),
            ("selected local candidate", "selected_pair.local.type"),
            ("selected remote candidate", "selected_pair.remote.type"),
            ("pair RTT", "selected_pair.rtt_ms"),
            ("data channel echoed", "data_channel.echoed"),
            ("data channel RTT (median)", "data_channel.rtt_ms.median"),
            ("RTP echoed", "media.*.received"),
        ],
        Kind::Account => &[
            ("SDKAppID", "sdk_app_id"),
            ("userId", "user_id"),
            ("checked at", "checked_at"),
            ("userSig characters", "user_sig.length"),
            ("userSig for userId", "user_sig.identifier"),
            ("userSig for SDKAppID", "user_sig.sdk_app_id"),
            ("userSig issued", "user_sig.issued_at"),
            ("userSig expires", "user_sig.expires_at"),
            ("signature", "user_sig.signature"),
        ],
        Kind::Room => &[
            ("roomId", "room_id"),
            ("roomId type", "room_id_type"),
            ("privateMapKey required", "private_map_key_required"),
            ("privateMapKey expires", "private_map_key.expires_at"),
            ("privateMapKey grants", "private_map_key.grant.privileges"),
            ("signature", "private_map_key.signature"),
        ],
        _ => return None,
    })
}

/// The key figures of a probe, as `(label, value)` rows; nulls are left out.
fn figures(kind: Kind, metrics: &Map<String, Value>) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    match key_figures(kind) {
        Some(paths) => {
            for (label, path) in paths {
                for (suffix, unit, value) in lookup(metrics, path) {
                    if let Some(text) = figure(unit, value) {
                        rows.push((format!("{label}{suffix}"), text));
                    }
                }
            }
        }
        None => {
            for (key, value) in metrics {
                match value {
                    Value::Object(inner) => {
                        for (child, value) in inner {
                            let unit = unit_of(child).or(unit_of(key));
                            if let Some(text) = figure(unit, value) {
                                rows.push((format!("{} {}", words(key), words(child)), text));
                            }
                        }
                    }
                    value => {
                        if let Some(text) = figure(unit_of(key), value) {
                            rows.push((words(key), text));
                        }
                    }
                }
            }
            rows.truncate(GENERIC_FIGURES);
        }
    }
    rows
}

/// `rtt_ms` → `rtt`, `media_size_ok` → `media size ok`: a key as words, without its unit.
fn words(key: &str) -> String {
    let bare = UNITS
        .iter()
        .find_map(|(suffix, _)| key.strip_suffix(suffix))
        .unwrap_or(key);
    bare.replace('_', " ")
}

/// Key suffixes and the unit they stand for.
const UNITS: [(&str, &str); 10] = [
    ("_ms", "ms"),
    ("_per_s", "/s"),
    ("_s", "s"),
    // A ratio from 0 to 1, shown as a percentage.
    ("_ratio", "ratio"),
    ("_dbfs", "dBFS"),
    ("_bytes", "B"),
    ("_kbps", "kbit/s"),
    ("_bps", "bit/s"),
    ("_percent", "%"),
    ("_pct", "%"),
];

fn unit_of(key: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(suffix, _)| key.ends_with(suffix))
        .map(|(_, unit)| *unit)
}

/// The values a path reaches, each with a label suffix (` (ipv4)` after a `*`) and the unit its
/// keys name (the last key that has one).
fn lookup<'a>(
    metrics: &'a Map<String, Value>,
    path: &str,
) -> Vec<(String, Option<&'static str>, &'a Value)> {
    let mut reached: Vec<(String, Option<&'static str>, &'a Value)> = Vec::new();
    let keys: Vec<&str> = path.split('.').collect();
    let Some(first) = metrics.get(keys[0]) else {
        return reached;
    };
    reached.push((String::new(), unit_of(keys[0]), first));
    for key in &keys[1..] {
        let mut next = Vec::new();
        for (suffix, unit, value) in reached {
            if *key == "*" {
                let Value::Array(items) = value else { continue };
                for (position, item) in items.iter().enumerate() {
                    let name = ["family", "kind"]
                        .iter()
                        .find_map(|field| item.get(field).and_then(Value::as_str))
                        .map(str::to_string)
                        .unwrap_or_else(|| (position + 1).to_string());
                    next.push((format!("{suffix} ({name})"), unit, item));
                }
            } else if let Some(child) = value.get(key) {
                next.push((suffix, unit_of(key).or(unit), child));
            }
        }
        reached = next;
    }
    reached
}

/// A value as a person reads it; `None` for null and for what does not fit on a line.
fn figure(unit: Option<&str>, value: &Value) -> Option<String> {
    let with_unit = |text: String| match unit {
        Some("ratio") => format!("{text} %"),
        Some(unit) if unit.starts_with('/') => format!("{text}{unit}"),
        Some(unit) => format!("{text} {unit}"),
        None => text,
    };
    match value {
        Value::Null => None,
        Value::Bool(true) => Some("yes".into()),
        Value::Bool(false) => Some("no".into()),
        Value::Number(n) if unit == Some("ratio") => {
            n.as_f64().map(|n| with_unit(number(n * 100.0)))
        }
        Value::Number(n) => n.as_f64().map(|n| with_unit(number(n))),
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        Value::Array(items) if items.is_empty() => Some("none".into()),
        Value::Array(items) => {
            let texts: Option<Vec<String>> = items
                .iter()
                .map(|item| match item {
                    Value::Number(n) => n.as_f64().map(number),
                    Value::String(text) => Some(text.clone()),
                    Value::Bool(flag) => Some(flag.to_string()),
                    _ => None,
                })
                .collect();
            let texts = texts?;
            const SHOWN: usize = 12;
            let mut line = texts[..texts.len().min(SHOWN)].join(", ");
            if texts.len() > SHOWN {
                let _ = write!(line, " … ({} in all)", texts.len());
            }
            Some(with_unit(line))
        }
        Value::Object(object) => {
            // A datagram size of the mtu probe: {"udp_payload", "ip_packet"}.
            let packet = object.get("ip_packet")?.as_u64()?;
            let payload = object.get("udp_payload")?.as_u64()?;
            Some(format!("{packet} B IP packet ({payload} B UDP payload)"))
        }
    }
}

/// The path matrix of a `ports` probe as a table: a row per protocol and port, a column per
/// address family, each cell its result and RTT. `None` when the metrics have no matrix.
fn matrix_table(metrics: &Map<String, Value>) -> Option<String> {
    let cells = metrics
        .get("matrix")
        .or_else(|| metrics.get("cells"))?
        .as_array()?;
    let text = |cell: &Value, key: &str| cell.get(key).and_then(Value::as_str).map(str::to_string);
    let protocol = |cell: &Value| {
        text(cell, "protocol")
            .or_else(|| text(cell, "transport"))
            .unwrap_or_default()
    };
    let mut families: Vec<String> = Vec::new();
    let mut rows: Vec<(String, u64)> = Vec::new();
    for cell in cells {
        let family = text(cell, "family").unwrap_or_default();
        if !families.contains(&family) {
            families.push(family);
        }
        let row = (
            protocol(cell),
            cell.get("port").and_then(Value::as_u64).unwrap_or_default(),
        );
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut table = String::from(
        "<div class=\"scroll\"><table class=\"matrix\">\n<caption>Path matrix</caption>\n<thead><tr><th scope=\"col\">protocol</th>\
         <th scope=\"col\">port</th>",
    );
    for family in &families {
        let _ = write!(
            table,
            "<th scope=\"col\">{}</th>",
            escape(&family_name(family))
        );
    }
    table.push_str("</tr></thead>\n<tbody>\n");
    for (protocol_name, port) in &rows {
        let _ = write!(
            table,
            "<tr><td>{}</td><th scope=\"row\">{port}</th>",
            escape(&protocol_name.to_uppercase())
        );
        for family in &families {
            let cell = cells.iter().find(|cell| {
                protocol(cell) == *protocol_name
                    && cell.get("port").and_then(Value::as_u64) == Some(*port)
                    && text(cell, "family").as_deref() == Some(family.as_str())
            });
            let Some(cell) = cell else {
                table.push_str("<td class=\"na\">not tried</td>");
                continue;
            };
            let result = text(cell, "result").unwrap_or_default();
            let class = match result.as_str() {
                "open" => "open",
                "open_tls_untrusted" => "untrusted",
                _ => "closed",
            };
            let mut content = escape(&result_words(&result));
            if let Some(rtt) = cell.get("rtt_ms").and_then(Value::as_f64) {
                let _ = write!(content, " <span class=\"rtt\">{} ms</span>", number(rtt));
            } else if let Some(waited) = cell.get("waited_ms").and_then(Value::as_f64) {
                let _ = write!(
                    content,
                    " <span class=\"rtt\">after {} ms</span>",
                    number(waited)
                );
            }
            let title = text(cell, "silence_rule")
                .map(|rule| format!(" title=\"{}\"", escape(&rule)))
                .unwrap_or_default();
            let _ = write!(table, "<td class=\"{class}\"{title}>{content}</td>");
        }
        table.push_str("</tr>\n");
    }
    table.push_str("</tbody>\n</table></div>\n");
    Some(table)
}

fn family_name(family: &str) -> String {
    match family {
        "ipv4" => "IPv4".into(),
        "ipv6" => "IPv6".into(),
        other => other.into(),
    }
}

/// A path result of the matrix in words.
fn result_words(result: &str) -> String {
    match result {
        "open" => "open".into(),
        "open_tls_untrusted" => "open (TLS not trusted)".into(),
        "error_response" => "STUN error".into(),
        "accepts_but_blocks" => "accepts, then blocks".into(),
        "tls_failed" => "TLS failed".into(),
        "no_route" => "no route".into(),
        other => other.replace('_', " "),
    }
}

/// Where a probe keeps RTT samples in order, a lost or late one as null (or an object without a
/// number `rtt_ms`): the first of these keys that holds an array, in the metrics or under `rtt`.
pub const RTT_SAMPLE_KEYS: [&str; 5] = [
    "rtt_samples_ms",
    "samples_ms",
    "rtts_ms",
    "samples",
    "rtt_ms",
];

/// The RTT samples of a probe, `None` for a lost one; `None` when it has no array of samples with
/// at least one number.
fn rtt_samples(metrics: &Map<String, Value>) -> Option<Vec<Option<f64>>> {
    let nested = metrics.get("rtt").and_then(Value::as_object);
    let items = RTT_SAMPLE_KEYS.iter().find_map(|key| {
        metrics
            .get(*key)
            .and_then(Value::as_array)
            .or_else(|| nested?.get(*key)?.as_array())
    })?;
    let samples: Vec<Option<f64>> = items
        .iter()
        .map(|item| match item {
            Value::Number(n) => n.as_f64(),
            Value::Object(object) => object.get("rtt_ms").and_then(Value::as_f64),
            _ => None,
        })
        .map(|sample| sample.filter(|rtt| rtt.is_finite() && *rtt >= 0.0))
        .collect();
    samples.iter().any(Option::is_some).then_some(samples)
}

/// An inline SVG chart of a probe's RTT samples over its burst, with lost samples marked; `None`
/// when the probe has no samples.
fn rtt_chart(metrics: &Map<String, Value>) -> Option<String> {
    let samples = rtt_samples(metrics)?;
    let total = samples.len();
    let lost = samples.iter().filter(|sample| sample.is_none()).count();
    let mut sorted: Vec<f64> = samples.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let median = sorted[sorted.len() / 2];

    // Long bursts are averaged in buckets; a bucket with no answer at all counts as lost.
    let bucket = total.div_ceil(CHART_POINTS).max(1);
    let points: Vec<Option<f64>> = samples
        .chunks(bucket)
        .map(|chunk| {
            let answered: Vec<f64> = chunk.iter().flatten().copied().collect();
            (!answered.is_empty()).then(|| answered.iter().sum::<f64>() / answered.len() as f64)
        })
        .collect();

    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 200.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 12.0;
    const BOTTOM: f64 = 36.0;
    let top = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| {
        if points.len() <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |rtt: f64| TOP + plot_h * (1.0 - rtt / top);

    let summary = format!(
        "RTT of {total} samples over the burst: min {} ms, median {} ms, max {} ms; {lost} lost",
        number(min),
        number(median),
        number(max)
    );
    let mut svg = format!(
        "<figure class=\"chart\">\n<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{label}\">\n<title>{label}</title>\n",
        label = escape(&summary)
    );
    // 1, 2 or 5 times a power of ten: in fifths, quarters or fifths, so every tick is round.
    let ticks: u32 = if (top / 10f64.powf(top.log10().floor()) - 2.0).abs() < 1e-9 {
        4
    } else {
        5
    };
    for step in 0..=ticks {
        let value = top * f64::from(step) / f64::from(ticks);
        let at = y(value);
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{at:.1}\" y2=\"{at:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            number(value)
        );
    }
    let median_y = y(median);
    let _ = writeln!(
        svg,
        "<line class=\"median\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{median_y:.1}\" y2=\"{median_y:.1}\"/>",
        WIDTH - RIGHT
    );
    // The line breaks where samples were lost.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, point) in points.iter().enumerate() {
        match point {
            Some(rtt) => {
                let _ = write!(
                    path,
                    "{}{:.1} {:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(i),
                    y(*rtt)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = writeln!(svg, "<path class=\"rtt\" d=\"{}\"/>", path.trim_end());
    if points.iter().filter(|point| point.is_some()).count() == 1 {
        // A lone answer draws no line: a dot.
        if let Some((i, Some(rtt))) = points.iter().enumerate().find(|(_, p)| p.is_some()) {
            let _ = writeln!(
                svg,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                x(i),
                y(*rtt)
            );
        }
    }
    for (i, point) in points.iter().enumerate() {
        if point.is_none() {
            let _ = writeln!(
                svg,
                "<line class=\"lost\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{1:.1}\"/>",
                x(i),
                TOP + plot_h
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">1</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{total}</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">sample</text>",
        HEIGHT - BOTTOM + 16.0,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM + 16.0,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0
    );
    svg.push_str("</svg>\n");
    let _ = writeln!(
        svg,
        "<figcaption>{}{}. Dashed: the median; red lines: lost.</figcaption>\n</figure>",
        escape(&summary),
        if bucket > 1 {
            format!(" (each point the mean of {bucket} samples)")
        } else {
            String::new()
        }
    );
    Some(svg)
}

/// Without samples, the RTT's spread as a bar: min to max, the median and the 95th percentile
/// marked (from `rtt_ms: {min, median, p95, max}`); `None` without those four figures.
fn rtt_range(metrics: &Map<String, Value>) -> Option<String> {
    let rtt = metrics.get("rtt_ms")?.as_object()?;
    let figure = |key: &str| {
        rtt.get(key)?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let (min, median, p95, max) = (
        figure("min")?,
        figure("median")?,
        figure("p95")?,
        figure("max")?,
    );
    const WIDTH: f64 = 640.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 12.0;
    let top = nice_ceiling(max);
    let x = |rtt: f64| LEFT + (WIDTH - LEFT - RIGHT) * rtt / top;
    let summary = format!(
        "RTT over the burst: min {} ms, median {} ms, p95 {} ms, max {} ms",
        number(min),
        number(median),
        number(p95),
        number(max)
    );
    let mut svg = format!(
        "<figure class=\"chart\">\n<svg viewBox=\"0 0 {WIDTH} 64\" role=\"img\" aria-label=\"{label}\">\n\
         <title>{label}</title>\n",
        label = escape(&summary)
    );
    let _ = writeln!(
        svg,
        "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{end}\" y1=\"22\" y2=\"22\"/>\
         <rect class=\"range\" x=\"{from:.1}\" y=\"14\" width=\"{range:.1}\" height=\"16\"/>\
         <rect class=\"p95\" x=\"{from:.1}\" y=\"14\" width=\"{p95:.1}\" height=\"16\"/>\
         <line class=\"median-mark\" x1=\"{median:.1}\" x2=\"{median:.1}\" y1=\"10\" y2=\"34\"/>",
        end = WIDTH - RIGHT,
        from = x(min),
        range = (x(max) - x(min)).max(1.0),
        p95 = (x(p95) - x(min)).max(1.0),
        median = x(median),
    );
    let _ = writeln!(
        svg,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"52\" text-anchor=\"middle\">0 ms</text>"
    );
    let _ = writeln!(
        svg,
        "<text class=\"axis\" x=\"{}\" y=\"52\" text-anchor=\"end\">{} ms</text>",
        WIDTH - RIGHT,
        number(top)
    );
    svg.push_str("</svg>\n");
    let _ = writeln!(
        svg,
        "<figcaption>{}. The bar runs from min to max, its dark part to the 95th percentile; the \
         line is the median.</figcaption>\n</figure>",
        escape(&summary)
    );
    Some(svg)
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `value` (at least 1 ms).
fn nice_ceiling(value: f64) -> f64 {
    // Also NaN.
    if value.is_nan() || value <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|ceiling| *ceiling >= value)
        .unwrap_or(10.0 * magnitude)
}

/// The page's style: light, system fonts only, one column on a narrow screen, no background and
/// no JSON when printed.
const STYLE: &str = r#":root { --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --skip: #6e7781;
  --line: #d0d7de; --soft: #f6f8fa; --ink: #1f2328; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #fff; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.9em; }
code { background: var(--soft); border-radius: 4px; padding: 0 0.25em; }
main, .verdict > * { max-width: 72rem; margin-left: auto; margin-right: auto; }
main { padding: 0 1rem 1rem; }
.verdict { padding: 1.25rem 1rem 1rem; color: #fff; background: var(--skip); margin-bottom: 1rem; }
.verdict.v-pass { background: var(--pass); } .verdict.v-warn { background: var(--warn); }
.verdict.v-fail { background: var(--fail); }
.verdict h1 { margin: 0.2rem 0; font-size: 1.6rem; line-height: 1.25; }
.verdict .word { font-weight: 800; letter-spacing: 0.04em; margin-right: 0.4rem; }
.verdict .sentence { font-weight: 500; }
.verdict p { margin: 0.2rem auto; } .verdict .tool { opacity: 0.85; font-size: 0.85rem; }
.verdict code { background: rgba(255,255,255,0.2); color: #fff; }
.incomplete { font-weight: 700; }
h2 { font-size: 1.2rem; margin: 0 0 0.6rem; display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
h3 { font-size: 1rem; margin: 0; display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; }
.to-fix, .area { border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 0 0 1rem; }
.to-fix ol { margin: 0; padding-left: 1.4rem; } .to-fix li { margin: 0.2rem 0; }
.to-fix a { color: inherit; }
.area.empty { padding: 0.6rem 1rem; } .area.empty h2 { margin: 0; font-size: 1rem; color: var(--skip); }
.none { color: var(--skip); margin: 0.2rem 0 0; font-size: 0.9rem; }
.probe { border-top: 1px solid var(--line); padding: 0.75rem 0 0.5rem; }
.probe:first-of-type { border-top: 0; padding-top: 0; }
.kind { font-weight: 700; } .target { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
.took { color: var(--skip); font-weight: 400; font-size: 0.9em; margin-left: auto; }
.id { margin: 0.1rem 0 0.4rem; color: var(--skip); font-size: 0.85rem; }
.badge { display: inline-block; min-width: 3.2em; text-align: center; border-radius: 4px; padding: 0 0.4em;
  font-size: 0.8rem; font-weight: 700; color: #fff; background: var(--skip); }
.b-pass { background: var(--pass); } .b-warn { background: var(--warn); } .b-fail { background: var(--fail); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 0.1rem 1.5rem;
  margin: 0.4rem 0; font-size: 0.9rem; }
.figures div { display: flex; gap: 0.5rem; justify-content: space-between; border-bottom: 1px dotted var(--line); }
.figures dt { color: #57606a; flex: 0 1 auto; overflow-wrap: break-word; }
.figures dd { margin: 0; flex: 1 1 auto; min-width: 0; text-align: right; font-variant-numeric: tabular-nums;
  overflow-wrap: break-word; }
.scroll { overflow-x: auto; margin: 0.5rem 0; }
table.matrix { border-collapse: collapse; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
.matrix caption { text-align: left; color: #57606a; font-size: 0.85rem; padding-bottom: 0.2rem; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: left;
  overflow-wrap: normal; white-space: nowrap; }
.matrix thead th { background: var(--soft); }
.matrix td.open { background: #dafbe1; } .matrix td.untrusted { background: #fff8c5; }
.matrix td.closed { background: #ffebe9; } .matrix td.na { color: var(--skip); }
.matrix .rtt { color: #57606a; white-space: nowrap; }
.chart { margin: 0.5rem 0; max-width: 44rem; } .chart svg { width: 100%; height: auto; display: block; }
.chart figcaption { font-size: 0.85rem; color: #57606a; }
.chart .grid { stroke: var(--line); stroke-width: 1; } .chart .axis { font-size: 11px; fill: #57606a; }
.chart .rtt { fill: none; stroke: #0969da; stroke-width: 1.5; stroke-linejoin: round; }
.chart .dot { fill: #0969da; } .chart .median { stroke: #8250df; stroke-dasharray: 4 3; }
.chart .lost { stroke: var(--fail); stroke-width: 1; opacity: 0.6; }
.chart .range { fill: #b6d7fb; } .chart .p95 { fill: #0969da; opacity: 0.55; }
.chart .median-mark { stroke: #8250df; stroke-width: 3; }
.findings { list-style: none; margin: 0.4rem 0; padding: 0; }
.finding { border-left: 4px solid var(--skip); background: var(--soft); border-radius: 0 6px 6px 0;
  padding: 0.4rem 0.75rem; margin: 0.4rem 0; }
.finding.s-error { border-left-color: var(--fail); } .finding.s-warning { border-left-color: var(--warn); }
.finding p { margin: 0.15rem 0; white-space: pre-line; }
.finding code { background: #fff; }
.sev { text-transform: uppercase; font-size: 0.75rem; font-weight: 700; letter-spacing: 0.05em; color: var(--skip); }
.s-error .sev { color: var(--fail); } .s-warning .sev { color: var(--warn); }
.finding .code { font-size: 1.05rem; } .finding .hex, .finding .detail { color: #57606a; }
.finding .head .description { font-weight: 600; }
.evidence b, .fix b, .message { color: #57606a; } .fix b, .evidence b { margin-right: 0.3rem; }
.message code { color: var(--ink); }
details.metrics { margin: 0.3rem 0; font-size: 0.85rem; } details.metrics summary { color: #57606a; cursor: pointer; }
details.metrics pre { background: var(--soft); padding: 0.5rem; overflow-x: auto; white-space: pre; }
footer { max-width: 72rem; margin: 0 auto; padding: 0 1rem 2rem; color: var(--skip); font-size: 0.8rem; }
@media (max-width: 40rem) {
  body { font-size: 14px; }
  .verdict h1 { font-size: 1.3rem; }
  .to-fix, .area { border-left: 0; border-right: 0; border-radius: 0; padding: 0.75rem 0; }
  main { padding: 0 0.6rem 1rem; }
  .figures { grid-template-columns: 1fr; }
  .matrix th, .matrix td { padding: 0.2rem 0.4rem; }
  .matrix td { white-space: normal; }
  .took { margin-left: 0; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .verdict { background: #fff !important; color: var(--ink); border: 2px solid var(--skip); border-radius: 6px; }
  .verdict.v-pass { border-color: var(--pass); } .verdict.v-warn { border-color: var(--warn); }
  .verdict.v-fail { border-color: var(--fail); }
  .verdict code { background: var(--soft); color: var(--ink); }
  .probe, .finding, .chart, table.matrix { break-inside: avoid; }
  .area > h2 { break-after: avoid; }
  details.metrics { display: none; }
  .to-fix a { text-decoration: none; }
  .scroll { overflow: visible; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1b}[2J\n"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\\u{1b}[2J\n"
        );
    }

    #[test]
    fn backtick_spans_become_code_and_stay_escaped() {
        assert_eq!(
            rich("run `a <b> & c` now"),
            "run <code>a &lt;b&gt; &amp; c</code> now"
        );
    }

    #[test]
    fn samples_are_read_from_any_of_the_known_keys_and_lost_ones_are_none() {
        for key in RTT_SAMPLE_KEYS {
            let metrics = object(json!({ key: [20.5, null, 22.0] }));
            assert_eq!(
                rtt_samples(&metrics),
                Some(vec![Some(20.5), None, Some(22.0)]),
                "{key}"
            );
        }
        let objects =
            object(json!({"samples": [{"seq": 0, "rtt_ms": 3.0}, {"seq": 1, "rtt_ms": null}]}));
        assert_eq!(rtt_samples(&objects), Some(vec![Some(3.0), None]));
        let nested = object(json!({"rtt": {"samples_ms": [1.0]}}));
        assert_eq!(rtt_samples(&nested), Some(vec![Some(1.0)]));
        // A number (a summary), no numbers at all, or nonsense: no chart.
        for metrics in [
            json!({"rtt_ms": 21.5}),
            json!({"rtt_samples_ms": [null, null]}),
            json!({"rtt_samples_ms": "fast"}),
            json!({}),
        ] {
            assert_eq!(rtt_samples(&object(metrics.clone())), None, "{metrics}");
        }
    }

    #[test]
    fn a_chart_draws_every_answer_and_marks_every_loss() {
        let samples: Vec<Value> = (0..50)
            .map(|i| {
                if i % 10 == 9 {
                    Value::Null
                } else {
                    json!(20.0 + f64::from(i % 7))
                }
            })
            .collect();
        let chart = rtt_chart(&object(json!({ "rtt_samples_ms": samples }))).unwrap();
        assert_eq!(chart.matches("class=\"lost\"").count(), 5, "{chart}");
        assert!(
            chart.contains("min 20 ms, median 23 ms, max 26 ms; 5 lost"),
            "{chart}"
        );
        // Five segments between the losses (the last one ends at a loss).
        assert_eq!(chart.matches('M').count(), 5, "{chart}");
        assert!(!chart.contains("NaN") && !chart.contains("inf"), "{chart}");
    }

    #[test]
    fn long_bursts_are_bucketed_and_a_single_answer_is_a_dot() {
        let samples: Vec<Value> = (0..10_000).map(|i| json!(f64::from(i % 100))).collect();
        let chart = rtt_chart(&object(json!({ "samples_ms": samples }))).unwrap();
        assert!(chart.contains("the mean of 25 samples"), "{chart}");
        assert!(chart.matches(" L").count() < CHART_POINTS + 1);

        let lone = rtt_chart(&object(json!({ "samples_ms": [null, 5.0, null] }))).unwrap();
        assert!(lone.contains("<circle class=\"dot\""), "{lone}");
    }

    #[test]
    fn chart_ceilings_are_round() {
        assert_eq!(nice_ceiling(0.3), 1.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
        assert_eq!(nice_ceiling(26.0), 50.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
    }

    #[test]
    fn key_figures_follow_arrays_by_family() {
        let metrics = object(json!({
            "transport": "udp", "rtt_ms": 21.5,
            "families": [{"family": "ipv4", "result": "answered"}, {"family": "ipv6", "result": "silent"}]
        }));
        let rows = figures(Kind::Stun, &metrics);
        assert_eq!(
            rows,
            [
                ("transport".to_string(), "udp".to_string()),
                ("RTT".to_string(), "21.5 ms".to_string()),
                ("result (ipv4)".to_string(), "answered".to_string()),
                ("result (ipv6)".to_string(), "silent".to_string()),
            ]
        );
        let generic = figures(
            Kind::Microphone,
            &object(json!({"peak_dbfs": -0.1, "level": {"rms_dbfs": -9.5}, "label": "Mic"})),
        );
        assert_eq!(
            generic,
            [
                ("label".to_string(), "Mic".to_string()),
                ("level rms".to_string(), "-9.5 dBFS".to_string()),
                ("peak".to_string(), "-0.1 dBFS".to_string()),
            ]
        );
    }
}
