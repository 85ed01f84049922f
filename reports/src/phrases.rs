//! Words and figures the renderers for people (HTML, Markdown) share, so that both say the same
//! thing the same way.

use std::fmt::Write as _;

use crate::{Finding, ProbeResult, Report, Severity, Status, Verdict};

/// The verdict word, or `NOTHING CHECKED` when every probe was skipped (a run that checked
/// nothing vouches for nothing, whatever `verdict` says).
pub(crate) fn verdict_word(report: &Report) -> &'static str {
    if nothing_checked(report) {
        return "NOTHING CHECKED";
    }
    match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    }
}

/// One sentence on what the verdict means for a call.
pub(crate) fn verdict_sentence(report: &Report) -> &'static str {
    if report.probes.is_empty() {
        return "No probe ran.";
    }
    if nothing_checked(report) {
        return "Every probe was skipped; the reasons are below.";
    }
    match report.verdict {
        Verdict::Pass => "Nothing was found that stops a call.",
        Verdict::Warn => "A call works, worse than it could: see the warnings.",
        Verdict::Fail => "A call will not work as configured: see the errors.",
    }
}

/// Whether no probe passed, warned or failed.
pub(crate) fn nothing_checked(report: &Report) -> bool {
    let summary = &report.summary;
    summary.pass + summary.warn + summary.fail == 0
}

/// `3 pass, 1 warn, 3 fail, 1 skip`.
pub(crate) fn counts(report: &Report) -> String {
    let summary = &report.summary;
    format!(
        "{} pass, {} warn, {} fail, {} skip",
        summary.pass, summary.warn, summary.fail, summary.skip
    )
}

/// The status word in capitals.
pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::Skip => "SKIP",
    }
}

/// The target as the user wrote it, or the probe's id when it has none.
pub(crate) fn label(probe: &ProbeResult) -> &str {
    if probe.target.is_empty() {
        &probe.id
    } else {
        &probe.target
    }
}

/// `16387 ICE_TRANSPORT_ERROR 0x4003`, with `detail 70001` after it; empty for a finding without
/// an SDK code or a detail code.
pub(crate) fn sdk_head(finding: &Finding) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(code) = finding.code {
        parts.push(code.to_string());
    }
    if let Some(name) = &finding.name {
        parts.push(name.clone());
    }
    if let Some(hex) = &finding.hex {
        parts.push(hex.clone());
    }
    if let Some(detail) = finding.detail_code {
        parts.push(format!("detail {detail}"));
    }
    parts.join(" ")
}

/// What a probe's line says after its duration: the SDK error of its most serious finding
/// (`16385 SIGNAL_CAHNNEL_SETUP_FAILED (70001)`), a warning's description, or why it was skipped.
pub(crate) fn headline(probe: &ProbeResult) -> Option<String> {
    if probe.status == Status::Skip {
        if let Some(reason) = probe
            .findings
            .iter()
            .find(|finding| finding.severity == Severity::Info)
        {
            let why = if reason.evidence.trim().is_empty() {
                &reason.description
            } else {
                &reason.evidence
            };
            return Some(why.clone());
        }
    }
    let finding = probe.most_serious()?;
    let mut headline = match (finding.code, &finding.name) {
        (Some(code), Some(name)) => format!("{code} {name}"),
        (Some(code), None) => code.to_string(),
        _ => finding.description.clone(),
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
    Some(headline)
}

/// `812 ms`, `1.5 s`, `2 min 5 s`.
pub(crate) fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, ms % 1_000 / 100)
    } else {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000)
    }
}

/// A measured figure with as many decimals as it deserves: `1472`, `21.5`, `1.9`, `0.214`.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let decimals = match value.abs() {
        magnitude if magnitude >= 100.0 => 0,
        magnitude if magnitude >= 10.0 => 1,
        magnitude if magnitude >= 1.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The text split at the catalog's backticks: `(false, text)` and `(true, code)` pieces in order.
/// An unpaired backtick is kept as text; empty pieces are dropped.
pub(crate) fn code_spans(text: &str) -> Vec<(bool, String)> {
    let mut parts: Vec<String> = text.split('`').map(str::to_string).collect();
    if parts.len().is_multiple_of(2) {
        // An odd number of backticks: the last one opens nothing.
        let last = parts.pop().unwrap_or_default();
        let before = parts.pop().unwrap_or_default();
        parts.push(format!("{before}`{last}"));
    }
    parts
        .into_iter()
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(index, part)| (index % 2 == 1, part))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_the_decimals_that_matter() {
        assert_eq!(number(1472.0), "1472");
        assert_eq!(number(21.5), "21.5");
        assert_eq!(number(37.112), "37.1");
        assert_eq!(number(1.904), "1.9");
        assert_eq!(number(0.214), "0.214");
        assert_eq!(number(2398.75), "2399");
        assert_eq!(number(-0.1), "-0.1");
    }

    #[test]
    fn backtick_spans_pair_up_and_a_lone_one_stays_text() {
        assert_eq!(
            code_spans("pass `--stun HOST` or `--ports`."),
            [
                (false, "pass ".to_string()),
                (true, "--stun HOST".to_string()),
                (false, " or ".to_string()),
                (true, "--ports".to_string()),
                (false, ".".to_string()),
            ]
        );
        assert_eq!(
            code_spans("a `b` c ` d"),
            [
                (false, "a ".to_string()),
                (true, "b".to_string()),
                (false, " c ` d".to_string()),
            ]
        );
        assert_eq!(code_spans("``"), []);
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(1_502), "1.5 s");
        assert_eq!(duration(125_000), "2 min 5 s");
    }
}
