//! The report document: the wire model of `trtc-preflight/report/v1`.
//!
//! These types are the JSON contract described in DESIGN.md and in `schema/report.schema.json`.
//! The application builds them from its own domain types; changing an internal struct of the
//! application never changes this document by accident.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The value of the `schema` field of every report this crate writes.
pub const SCHEMA_ID: &str = "trtc-preflight/report/v1";

/// One run of `trtc-preflight check`, finished or interrupted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA_ID`].
    pub schema: String,
    /// The program that wrote the report.
    pub tool: Tool,
    /// When the run started, RFC 3339 in UTC (`2026-11-28T10:00:00Z`).
    pub started_at: String,
    /// Wall time of the whole run.
    pub duration_ms: u64,
    /// False when the run was interrupted and some probes never finished.
    pub complete: bool,
    /// The worst status of any probe.
    pub verdict: Verdict,
    /// One entry per probe, in plan order.
    pub probes: Vec<ProbeResult>,
    /// How many probes ended in each status.
    pub summary: Summary,
    /// The sorted, distinct SDK error codes of every finding.
    pub codes: Vec<u32>,
}

/// Name and version of the program that wrote a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `trtc-preflight`.
    pub name: String,
    /// The program's version.
    pub version: String,
}

/// The overall result of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No probe failed or warned.
    Pass,
    /// At least one probe warned, none failed.
    Warn,
    /// At least one probe failed.
    Fail,
}

/// What a probe looks at. The names are part of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A camera: enumeration and capture.
    Camera,
    /// A microphone: enumeration, capture and level.
    Microphone,
    /// The operating system, clock and local environment.
    Environment,
    /// Checks that run in the user's own browser, through the agent's page.
    Browser,
    /// STUN over UDP, TCP or TLS.
    Stun,
    /// The TRTC port and path matrix.
    Ports,
    /// Path MTU.
    Mtu,
    /// TURN relays.
    Turn,
    /// Loss, jitter and round-trip time.
    Quality,
    /// Throughput.
    Throughput,
    /// The WebSocket signaling channel.
    Signaling,
    /// A full WebRTC peer connection with a test peer.
    Webrtc,
    /// SDKAppID, userId and userSig, offline.
    Account,
    /// roomId and privateMapKey, offline.
    Room,
}

impl Kind {
    /// Every kind, in the order reports and help texts list them.
    pub const ALL: [Kind; 14] = [
        Kind::Camera,
        Kind::Microphone,
        Kind::Environment,
        Kind::Browser,
        Kind::Stun,
        Kind::Ports,
        Kind::Mtu,
        Kind::Turn,
        Kind::Quality,
        Kind::Throughput,
        Kind::Signaling,
        Kind::Webrtc,
        Kind::Account,
        Kind::Room,
    ];

    /// The kind's name as it appears in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Camera => "camera",
            Kind::Microphone => "microphone",
            Kind::Environment => "environment",
            Kind::Browser => "browser",
            Kind::Stun => "stun",
            Kind::Ports => "ports",
            Kind::Mtu => "mtu",
            Kind::Turn => "turn",
            Kind::Quality => "quality",
            Kind::Throughput => "throughput",
            Kind::Signaling => "signaling",
            Kind::Webrtc => "webrtc",
            Kind::Account => "account",
            Kind::Room => "room",
        }
    }

    /// Parses a kind name as written on the command line (any case).
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong.
    Pass,
    /// Something to know; the call can still work.
    Warn,
    /// The call will not work as configured.
    Fail,
    /// The probe did not run; an `info` finding says why.
    Skip,
}

impl Status {
    /// The status as it is written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context: why a probe was skipped, what was found that decides nothing.
    Info,
    /// The call works, worse than it could.
    Warning,
    /// The call fails as configured.
    Error,
}

impl Severity {
    /// The severity as it is written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The result of one probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Stable across runs: built from the configured target, never from a resolved address.
    pub id: String,
    /// What the probe looks at.
    pub kind: Kind,
    /// The configured target, as the user wrote it (empty when the probe has none).
    pub target: String,
    /// How the probe ended.
    pub status: Status,
    /// Wall time of the probe.
    pub duration_ms: u64,
    /// Kind-specific figures; each kind's shape is in the schema.
    pub metrics: Map<String, Value>,
    /// What the probe's observations mean for a TRTC call.
    pub findings: Vec<Finding>,
}

/// One conclusion about a probe's observations, in the SDK's own terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The SDK error code (4096 to 65535), or null when the SDK would raise none.
    pub code: Option<u32>,
    /// The SDK error's key name, as published (`ICE_TRANSPORT_ERROR`).
    pub name: Option<String>,
    /// The SDK error's hex value, as published (`0x4003`).
    pub hex: Option<String>,
    /// The SDK's message string where the published table has one.
    pub message: Option<String>,
    /// An account (`70001`) or room-entry (`-10012`) code.
    pub detail_code: Option<i64>,
    /// What the finding means.
    pub description: String,
    /// What to do about it, naming the concrete port, host, device or certificate.
    pub fix: String,
    /// What was observed.
    pub evidence: String,
}

/// How many probes ended in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Probes that passed.
    pub pass: u32,
    /// Probes that warned.
    pub warn: u32,
    /// Probes that failed.
    pub fail: u32,
    /// Probes that were skipped.
    pub skip: u32,
}

impl ProbeResult {
    /// The most serious finding, the first one among equally serious findings.
    pub fn most_serious(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .rev()
            .max_by_key(|finding| finding.severity)
    }

    /// The status its findings imply: `fail` with an error, `warn` with a warning, else `pass`.
    /// A skipped probe stays skipped unless a finding is an error.
    pub fn status_from_findings(skipped: bool, findings: &[Finding]) -> Status {
        let worst = findings.iter().map(|finding| finding.severity).max();
        match worst {
            Some(Severity::Error) => Status::Fail,
            _ if skipped => Status::Skip,
            Some(Severity::Warning) => Status::Warn,
            _ => Status::Pass,
        }
    }
}

impl Report {
    /// Builds a report from finished probe results, computing `verdict`, `summary` and `codes`.
    pub fn assemble(
        version: &str,
        started_at: String,
        duration_ms: u64,
        complete: bool,
        probes: Vec<ProbeResult>,
    ) -> Report {
        let mut summary = Summary::default();
        for probe in &probes {
            match probe.status {
                Status::Pass => summary.pass += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
                Status::Skip => summary.skip += 1,
            }
        }
        let verdict = if summary.fail > 0 {
            Verdict::Fail
        } else if summary.warn > 0 {
            Verdict::Warn
        } else {
            Verdict::Pass
        };
        let mut codes: Vec<u32> = probes
            .iter()
            .flat_map(|probe| probe.findings.iter().filter_map(|finding| finding.code))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        Report {
            schema: SCHEMA_ID.to_string(),
            tool: Tool {
                name: "trtc-preflight".to_string(),
                version: version.to_string(),
            },
            started_at,
            duration_ms,
            complete,
            verdict,
            probes,
            summary,
            codes,
        }
    }

    /// The most serious severity of any finding in the report.
    pub fn worst_severity(&self) -> Option<Severity> {
        self.probes
            .iter()
            .flat_map(|probe| probe.findings.iter().map(|finding| finding.severity))
            .max()
    }
}
