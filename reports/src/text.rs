//! The text renderer: a report for a person who reads it at a glance.
//!
//! The layout is, top to bottom:
//!
//! 1. a header line: tool, version, start time and duration;
//! 2. one line per probe: status word, kind, target (or id), duration and the headline of its most
//!    serious finding;
//! 3. one block per probe that has something to act on (a warning, an error, or the reason it was
//!    skipped): severity, `code NAME hex`, detail code, message, description, evidence and fix;
//! 4. the verdict line with the summary counts.
//!
//! Colour (ANSI SGR) is written only when [`RenderOptions::color`] is set. Every string that comes
//! from the report has its control characters escaped, so a hostile server's reply quoted in the
//! evidence can never put an escape sequence on the user's terminal.

use std::fmt::Write as _;

use crate::{Finding, ProbeResult, RenderOptions, Report, Severity, Status, Verdict};

/// Lines are wrapped at word boundaries so that they end before this column; a single word longer
/// than the space left (a URL, a fingerprint) is kept whole.
const WIDTH: usize = 100;

/// Width of the target column in probe lines; a longer target pushes the rest of its line right.
const TARGET_WIDTH: usize = 36;

/// Column where a finding's text starts in a block (after the two-space indent and the severity).
const BODY_INDENT: usize = 11;

/// Renders the report for a person.
pub fn render(report: &Report, options: RenderOptions) -> Vec<u8> {
    let paint = Paint {
        color: options.color,
    };
    let mut out = String::new();

    let _ = writeln!(
        out,
        "{} {}  started {}  took {}",
        clean(&report.tool.name),
        clean(&report.tool.version),
        clean(&report.started_at),
        duration(report.duration_ms),
    );
    out.push('\n');

    if report.probes.is_empty() {
        out.push_str("no probes ran\n");
    }
    let kind_width = report
        .probes
        .iter()
        .map(|probe| probe.kind.as_str().len())
        .max()
        .unwrap_or(0);
    let target_width = report
        .probes
        .iter()
        .map(|probe| label(probe).chars().count())
        .max()
        .unwrap_or(0)
        .min(TARGET_WIDTH);
    for probe in &report.probes {
        let mut line = format!(
            "{}  {:kind_width$}  {:target_width$}  {:>7}",
            paint.status(probe.status),
            probe.kind.as_str(),
            label(probe),
            duration(probe.duration_ms),
        );
        if let Some((severity, headline)) = headline(probe) {
            line.push_str("  ");
            if severity == Severity::Info {
                // Context, not a problem: keep it out of the way.
                line.push_str(&paint.paint(Paint::DIM, &headline));
            } else {
                line.push_str(&headline);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }

    for probe in &report.probes {
        block(&mut out, probe, paint);
    }

    out.push('\n');
    let summary = &report.summary;
    // A run in which every probe was skipped vouches for nothing: say so rather than "PASS".
    let nothing_checked = summary.pass + summary.warn + summary.fail == 0;
    let verdict = if nothing_checked {
        paint.paint(
            Paint::DIM,
            "NOTHING CHECKED (every probe was skipped; see the reasons above)",
        )
    } else {
        paint.verdict(report.verdict)
    };
    let _ = write!(
        out,
        "verdict: {}  {} pass, {} warn, {} fail, {} skip",
        verdict, summary.pass, summary.warn, summary.fail, summary.skip,
    );
    if !report.complete {
        let _ = write!(out, "  {}", paint.red("(incomplete: interrupted)"));
    }
    out.push('\n');
    out.into_bytes()
}

/// The target as the user wrote it, or the probe's id when it has none.
fn label(probe: &ProbeResult) -> String {
    if probe.target.is_empty() {
        clean(&probe.id)
    } else {
        clean(&probe.target)
    }
}

/// What the probe line says after the duration: `16385 SIGNAL_CAHNNEL_SETUP_FAILED (70001)`, a
/// warning's description, or the reason a probe was skipped; with the finding's severity.
fn headline(probe: &ProbeResult) -> Option<(Severity, String)> {
    let reason = probe
        .findings
        .iter()
        .find(|finding| finding.severity == Severity::Info);
    let finding = match probe.status {
        Status::Skip => reason.or_else(|| probe.most_serious())?,
        _ => probe.most_serious()?,
    };
    if probe.status == Status::Skip && finding.severity == Severity::Info {
        // The reason a probe did not run is its evidence: "Not configured: pass --stun ...".
        return Some((finding.severity, clean(&finding.evidence)));
    }
    let mut headline = match finding.code {
        Some(code) => match &finding.name {
            Some(name) => format!("{code} {}", clean(name)),
            None => code.to_string(),
        },
        None => clean(&finding.description),
    };
    if let Some(detail) = finding.detail_code {
        let _ = write!(headline, " ({detail})");
    }
    let others = probe
        .findings
        .iter()
        .filter(|other| other.severity >= Severity::Warning && !std::ptr::eq(*other, finding))
        .count();
    if others > 0 {
        let _ = write!(headline, " (+{others} more)");
    }
    Some((finding.severity, headline))
}

/// The block that explains one probe: its warnings and errors, or why it was skipped.
fn block(out: &mut String, probe: &ProbeResult, paint: Paint) {
    let mut findings: Vec<&Finding> = probe
        .findings
        .iter()
        .filter(|finding| finding.severity >= Severity::Warning)
        .collect();
    // Most serious first; equally serious ones keep the order diagnosis gave them.
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    // A skipped probe's reason is on its line already; only problems get a block.
    if findings.is_empty() {
        return;
    }

    out.push('\n');
    let _ = writeln!(out, "{} {}", paint.status(probe.status), clean(&probe.id));
    for finding in findings {
        finding_head(out, finding, paint);
        if finding.code.is_some() {
            labelled(out, "", &finding.description);
        }
        labelled(out, "evidence: ", &finding.evidence);
        labelled(out, "fix: ", &finding.fix);
    }
}

/// A finding's first line: the severity, then `code NAME hex  detail D  message: "..."`, or its
/// description when it carries no SDK code.
fn finding_head(out: &mut String, finding: &Finding, paint: Paint) {
    let mut parts = Vec::new();
    if let Some(code) = finding.code {
        parts.push(code.to_string());
    }
    if let Some(name) = &finding.name {
        parts.push(clean(name));
    }
    if let Some(hex) = &finding.hex {
        parts.push(clean(hex));
    }
    let mut head = parts.join(" ");
    if let Some(detail) = finding.detail_code {
        if !head.is_empty() {
            head.push_str("  ");
        }
        let _ = write!(head, "detail {detail}");
    }
    let _ = write!(out, "  {}", paint.severity(finding.severity));
    if head.is_empty() {
        // No SDK error: the description is the headline.
        wrap(out, &clean(&finding.description), BODY_INDENT, BODY_INDENT);
    } else {
        out.push_str(&head);
        out.push('\n');
    }
    if let Some(message) = &finding.message {
        labelled(out, "message: ", &format!("\"{}\"", clean(message)));
    }
}

/// A `label: text` line of a block, indented to the body column, its continuation lines aligned
/// with the start of the text. Nothing is written for empty text.
fn labelled(out: &mut String, label: &str, text: &str) {
    let text = clean(text);
    if text.trim().is_empty() {
        return;
    }
    out.push_str(&" ".repeat(BODY_INDENT));
    out.push_str(label);
    wrap(
        out,
        &text,
        BODY_INDENT + label.len(),
        BODY_INDENT + label.len(),
    );
}

/// Writes `text` starting at column `first` (the caller has already filled the columns before
/// it), wrapping words before [`WIDTH`]; continuation lines start at column `indent`. Line breaks
/// in the text are kept.
fn wrap(out: &mut String, text: &str, first: usize, indent: usize) {
    let mut column = first;
    let mut first_line = true;
    for paragraph in text.split('\n') {
        if !first_line {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
        }
        first_line = false;
        let mut line_start = true;
        for word in paragraph.split_whitespace() {
            let len = word.chars().count();
            if !line_start && column + 1 + len > WIDTH {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
                line_start = true;
            }
            if !line_start {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
            line_start = false;
        }
    }
    out.push('\n');
}

/// `812 ms`, `1.5 s`, `2 min 5 s`.
fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, ms % 1_000 / 100)
    } else {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000)
    }
}

/// The text with every control character except line feed escaped (`\u{1b}`), and tabs and
/// carriage returns turned into spaces, so that no byte of it can drive the terminal.
fn clean(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\n' => cleaned.push('\n'),
            '\t' | '\r' => cleaned.push(' '),
            ch if ch.is_control() => {
                let _ = write!(cleaned, "\\u{{{:x}}}", u32::from(ch));
            }
            ch => cleaned.push(ch),
        }
    }
    cleaned
}

/// Colours words when asked to, and only then.
#[derive(Clone, Copy)]
struct Paint {
    color: bool,
}

impl Paint {
    const RED: &'static str = "31";
    const YELLOW: &'static str = "33";
    const GREEN: &'static str = "32";
    const DIM: &'static str = "2";

    fn paint(self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn red(self, text: &str) -> String {
        self.paint(Self::RED, text)
    }

    /// The status word, four characters wide.
    fn status(self, status: Status) -> String {
        match status {
            Status::Pass => self.paint(Self::GREEN, "PASS"),
            Status::Warn => self.paint(Self::YELLOW, "WARN"),
            Status::Fail => self.paint(Self::RED, "FAIL"),
            Status::Skip => self.paint(Self::DIM, "SKIP"),
        }
    }

    /// The severity word, padded to the body column of a block.
    fn severity(self, severity: Severity) -> String {
        let word = format!("{:<9}", severity.as_str());
        match severity {
            Severity::Error => self.paint(Self::RED, &word),
            Severity::Warning => self.paint(Self::YELLOW, &word),
            Severity::Info => self.paint(Self::DIM, &word),
        }
    }

    fn verdict(self, verdict: Verdict) -> String {
        match verdict {
            Verdict::Pass => self.paint(Self::GREEN, "PASS"),
            Verdict::Warn => self.paint(Self::YELLOW, "WARN"),
            Verdict::Fail => self.paint(Self::RED, "FAIL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;
    use serde_json::Map;

    fn finding(severity: Severity, evidence: &str) -> Finding {
        Finding {
            severity,
            code: Some(16385),
            name: Some("SIGNAL_CAHNNEL_SETUP_FAILED".into()),
            hex: Some("0x4001".into()),
            message: Some("failed to connect to remote server via websocket".into()),
            detail_code: Some(70001),
            description: "The userSig has expired.".into(),
            fix: "Issue a new userSig.".into(),
            evidence: evidence.into(),
        }
    }

    fn report(findings: Vec<Finding>, complete: bool) -> Report {
        let status = ProbeResult::status_from_findings(false, &findings);
        Report::assemble(
            "0.1.0",
            "2026-11-28T10:00:00Z".into(),
            812,
            complete,
            vec![ProbeResult {
                id: "account/1400000001/alice".into(),
                kind: Kind::Account,
                target: String::new(),
                status,
                duration_ms: 3,
                metrics: Map::new(),
                findings,
            }],
        )
    }

    #[test]
    fn no_escape_byte_without_colour_even_from_hostile_evidence() {
        let report = report(
            vec![finding(
                Severity::Error,
                "server said \x1b[2J\x1b]0;pwned\x07",
            )],
            false,
        );
        let plain = render(
            &report,
            RenderOptions {
                color: false,
                ..RenderOptions::default()
            },
        );
        assert!(
            !plain.contains(&0x1b),
            "{}",
            String::from_utf8_lossy(&plain)
        );
        assert!(!plain.contains(&0x07));
        let text = String::from_utf8(plain).unwrap();
        assert!(text.contains("server said \\u{1b}[2J"), "{text}");

        let coloured = render(
            &report,
            RenderOptions {
                color: true,
                ..RenderOptions::default()
            },
        );
        let coloured = String::from_utf8(coloured).unwrap();
        assert!(coloured.contains("\x1b[31mFAIL\x1b[0m"), "{coloured}");
        // Only our own SGR sequences: the hostile ones stay escaped.
        assert!(!coloured.contains("\x1b[2J"));
    }

    #[test]
    fn probe_line_carries_the_headline_and_the_verdict_line_the_counts() {
        let text = String::from_utf8(render(
            &report(vec![finding(Severity::Error, "expired")], false),
            RenderOptions::default(),
        ))
        .unwrap();
        assert!(
            text.contains(
                "FAIL  account  account/1400000001/alice     3 ms  \
                 16385 SIGNAL_CAHNNEL_SETUP_FAILED (70001)\n"
            ),
            "{text}"
        );
        assert!(text.contains("16385 SIGNAL_CAHNNEL_SETUP_FAILED 0x4001  detail 70001\n"));
        assert!(text.contains("message: \"failed to connect to remote server via websocket\"\n"));
        assert!(text.ends_with(
            "verdict: FAIL  0 pass, 0 warn, 1 fail, 0 skip  (incomplete: interrupted)\n"
        ));
    }

    #[test]
    fn long_text_wraps_with_aligned_continuation_lines() {
        let long = "word ".repeat(60);
        let text = String::from_utf8(render(
            &report(vec![finding(Severity::Warning, &long)], true),
            RenderOptions::default(),
        ))
        .unwrap();
        let evidence: Vec<&str> = text
            .lines()
            .skip_while(|line| !line.trim_start().starts_with("evidence: "))
            .take_while(|line| !line.trim_start().starts_with("fix: "))
            .collect();
        assert!(evidence.len() >= 3, "{text}");
        for line in &evidence {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        for line in &evidence[1..] {
            assert!(line.starts_with(&" ".repeat(BODY_INDENT + "evidence: ".len())));
        }
    }

    #[test]
    fn a_skip_line_gives_the_reason_even_beside_a_warning() {
        let reason = Finding {
            severity: Severity::Info,
            code: None,
            name: None,
            hex: None,
            message: None,
            detail_code: None,
            description: "This probe kind did not run.".into(),
            fix: String::new(),
            evidence: "Not configured: no TURN relay was given.".into(),
        };
        let warning = Finding {
            severity: Severity::Warning,
            description: "Clock skew of 40 s.".into(),
            ..reason.clone()
        };
        let mut report = report(vec![warning, reason], true);
        report.probes[0].status = Status::Skip;
        let text = String::from_utf8(render(&report, RenderOptions::default())).unwrap();
        assert!(
            text.contains("  Not configured: no TURN relay was given.\n"),
            "{text}"
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(1_502), "1.5 s");
        assert_eq!(duration(125_000), "2 min 5 s");
    }
}
