//! Diagnosis: the one place that knows TRTC. It maps observations to findings with the catalog:
//! SDK code, name, hex, message string, account or room-entry detail code, severity, evidence and
//! a fix that names the concrete value at fault. Every rule is exercised by a test.

pub mod account;
pub mod browser;
pub mod camera;
pub mod capture;
pub mod environment;
pub mod microphone;
pub mod mtu;
pub mod ports;
pub mod quality;
pub mod room;
pub mod signaling;
pub mod stun;
pub mod throughput;
pub mod turn;
pub mod webrtc;

use preflight_reports::{Finding, Severity};

use crate::catalog;

/// An error the SDK would raise: `code` with an optional message string and detail code.
///
/// The description comes from the most specific catalog entry (the detail code, else the
/// message, else the SDK error); evidence and fix are the rule's own, naming what was observed.
pub fn sdk_error(
    code: u32,
    message: Option<&'static str>,
    detail: Option<i64>,
    evidence: String,
    fix: String,
) -> Finding {
    let entry = catalog::sdk_error(code);
    let description = match (detail, message) {
        (Some(detail), _) => catalog::detail_code(detail).description,
        (None, Some(message)) => catalog::message(message).description,
        (None, None) => entry.description,
    };
    Finding {
        severity: Severity::Error,
        code: Some(entry.code),
        name: Some(entry.name.to_string()),
        hex: Some(entry.hex.to_string()),
        message: message.map(|message| catalog::message(message).message.to_string()),
        detail_code: detail,
        description: description.to_string(),
        fix,
        evidence,
    }
}

/// A finding the SDK raises no error for (a warning or information).
pub fn note(severity: Severity, description: &str, evidence: String, fix: String) -> Finding {
    Finding {
        severity,
        code: None,
        name: None,
        hex: None,
        message: None,
        detail_code: None,
        description: description.to_string(),
        fix,
        evidence,
    }
}

/// The finding for a probe that crashed, or did not finish within its deadline.
pub fn unknown(evidence: String) -> Finding {
    sdk_error(
        catalog::sdk::UNKNOWN,
        None,
        None,
        evidence,
        "Run the check again with -v; if it repeats, report this evidence with the command line (secrets are never printed)."
            .to_string(),
    )
}
