//! The JUnit XML renderer, for CI systems.
//!
//! The report is `trtc-preflight`; each probe kind present is a test suite (in the order its first
//! probe appears) and each probe a test case named by its stable id, with the classname
//! `trtc-preflight.<kind>`. A failed probe is a `<failure>` whose message is the SDK error
//! (`16387 ICE_TRANSPORT_ERROR: RtcError: no valid ice candidate found`) and whose text lists every
//! error finding; a skipped probe is `<skipped>` with its reason; warnings and information go to
//! the test case's `system-out`. An interrupted run says so in each suite's properties and
//! `system-err`.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::{Finding, Kind, ProbeResult, RenderError, RenderOptions, Report, Severity, Status};

/// The note every suite of an interrupted run carries in `system-err`.
const INTERRUPTED: &str =
    "the run was interrupted: probes that had not finished are missing from this report";

/// Renders the report as JUnit XML. With `options.fail_on_warning`, a probe that warned is a
/// failure too, so that a CI system reading the XML agrees with the exit status.
pub fn render(report: &Report, options: RenderOptions) -> Result<Vec<u8>, RenderError> {
    let mut junit = quick_junit::Report::new("trtc-preflight");
    junit.set_time(Duration::from_millis(report.duration_ms));

    let mut kinds: Vec<Kind> = Vec::new();
    for probe in &report.probes {
        if !kinds.contains(&probe.kind) {
            kinds.push(probe.kind);
        }
    }
    let mut suites: Vec<TestSuite> = kinds
        .iter()
        .map(|&kind| {
            let mut suite = TestSuite::new(kind.as_str());
            let probes = report.probes.iter().filter(|probe| probe.kind == kind);
            suite.set_time(Duration::from_millis(
                probes.clone().map(|probe| probe.duration_ms).sum(),
            ));
            suite.add_test_cases(probes.map(|probe| test_case(probe, options)));
            suite
        })
        .collect();
    if suites.is_empty() && !report.complete {
        // Interrupted before any probe finished: one empty suite carries the note.
        suites.push(TestSuite::new("trtc-preflight"));
    }
    for suite in &mut suites {
        suite.add_properties([
            Property::new("schema", report.schema.as_str()),
            Property::new("tool.version", report.tool.version.as_str()),
            Property::new("started_at", report.started_at.as_str()),
            Property::new("complete", report.complete.to_string()),
        ]);
        if !report.complete {
            suite.set_system_err(INTERRUPTED);
        }
    }
    junit.add_test_suites(suites);

    let mut bytes = Vec::new();
    junit
        .serialize(&mut bytes)
        .map_err(|error| RenderError::Junit(error_chain(&error)))?;
    Ok(bytes)
}

/// One probe as a test case.
fn test_case(probe: &ProbeResult, options: RenderOptions) -> TestCase {
    // Findings the failure or skip element reports; the others go to system-out.
    let mut reported: Vec<&Finding> = Vec::new();
    let warning_fails = probe.status == Status::Warn && options.fail_on_warning;
    let status = match probe.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Warn if !warning_fails => TestCaseStatus::success(),
        Status::Fail | Status::Warn => {
            let failing = if warning_fails {
                Severity::Warning
            } else {
                Severity::Error
            };
            reported = probe
                .findings
                .iter()
                .filter(|finding| finding.severity == failing)
                .collect();
            if reported.is_empty() {
                // A failed probe always has an error finding; should it not, its most serious
                // finding stands in.
                reported.extend(probe.most_serious());
            }
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            match reported.first() {
                Some(finding) => {
                    status.set_message(failure_message(finding));
                    let fallback = finding.severity.as_str();
                    status.set_type(finding.name.as_deref().unwrap_or(fallback));
                    status.set_description(listing(&reported));
                }
                None => {
                    status.set_message("error: the probe failed without a finding");
                    status.set_type("error");
                }
            }
            status
        }
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            let reason = probe
                .findings
                .iter()
                .find(|finding| finding.severity == Severity::Info);
            match reason {
                Some(reason) => {
                    // The evidence says why ("Not configured: pass --stun ..."); older reports
                    // may have only a description.
                    let why = if reason.evidence.trim().is_empty() {
                        &reason.description
                    } else {
                        &reason.evidence
                    };
                    status.set_message(why.as_str());
                    let mut text = String::new();
                    line(&mut text, "evidence", &reason.evidence);
                    line(&mut text, "fix", &reason.fix);
                    if !text.is_empty() {
                        status.set_description(text);
                    }
                    reported.push(reason);
                }
                None => {
                    status.set_message("skipped");
                }
            }
            status
        }
    };

    let mut case = TestCase::new(probe.id.as_str(), status);
    case.set_classname(format!("trtc-preflight.{}", probe.kind.as_str()));
    case.set_time(Duration::from_millis(probe.duration_ms));

    // Whatever the failure or skip element does not already say: warnings, then information.
    let mut rest: Vec<&Finding> = probe
        .findings
        .iter()
        .filter(|finding| !reported.iter().any(|seen| std::ptr::eq(*seen, *finding)))
        .collect();
    rest.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    if !rest.is_empty() {
        case.set_system_out(listing(&rest));
    }
    case
}

/// `16387 ICE_TRANSPORT_ERROR: RtcError: no valid ice candidate found` (with ` (70001)` after the
/// name when there is a detail code), or
/// `error: <description>` for a finding without an SDK code.
fn failure_message(finding: &Finding) -> String {
    let text = finding
        .message
        .as_deref()
        .filter(|message| !message.is_empty())
        .unwrap_or(&finding.description);
    let mut head = match (finding.code, &finding.name) {
        (Some(code), Some(name)) => format!("{code} {name}"),
        (Some(code), None) => code.to_string(),
        (None, Some(name)) => name.clone(),
        (None, None) => finding.severity.as_str().to_string(),
    };
    if let Some(detail) = finding.detail_code {
        let _ = write!(head, " ({detail})");
    }
    format!("{head}: {text}")
}

/// Every field of each finding, one `field: value` per line, findings separated by a blank line.
fn listing(findings: &[&Finding]) -> String {
    let mut text = String::new();
    for (index, finding) in findings.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        line(&mut text, "severity", finding.severity.as_str());
        if let Some(code) = finding.code {
            line(&mut text, "code", &code.to_string());
        }
        if let Some(name) = &finding.name {
            line(&mut text, "name", name);
        }
        if let Some(hex) = &finding.hex {
            line(&mut text, "hex", hex);
        }
        if let Some(detail) = finding.detail_code {
            line(&mut text, "detail code", &detail.to_string());
        }
        if let Some(message) = &finding.message {
            line(&mut text, "message", message);
        }
        line(&mut text, "description", &finding.description);
        line(&mut text, "evidence", &finding.evidence);
        line(&mut text, "fix", &finding.fix);
    }
    text
}

/// Appends `label: value` and a newline, unless the value is empty.
fn line(text: &mut String, label: &str, value: &str) {
    if !value.trim().is_empty() {
        let _ = writeln!(text, "{label}: {value}");
    }
}

/// The error and each of its sources, joined by `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
