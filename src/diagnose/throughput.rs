//! Throughput rules: can the path carry a call's bitrate, each way?
//!
//! The default rate is a 720p call as TRTC Web sends it: the `720p` video profile (1280×720, 15
//! fps, 1,500 kbit/s; `startLocalVideo({ option: { profile: '720p' } })`) and the `standard`
//! audio profile (48 kHz mono, 40 kbit/s): 1,540 kbit/s. A direction **fits** when what arrived
//! is at least 90 % of that rate ([`FIT_SHARE`]): the margin WebRTC's congestion control needs
//! before it starts lowering the resolution. The SDK raises no error for a slow path; it lowers
//! the bitrate, so this is a warning with no code.
//!
//! | observation | finding |
//! |---|---|
//! | both directions delivered ≥ 90 % of the call's rate | pass; rates, loss and jitter in the metrics |
//! | a direction delivered less | warning naming the direction, the rate achieved, the share, the loss; the fix names the largest TRTC video profile the path carries |
//! | `serve` granted less than the call's rate (its limits) | info: measured at the granted rate, the call's rate not tried |
//! | uplink data sent, `serve`'s report never came back | info: uplink not measured |
//! | no `TRTC_PREFLIGHT_TOKEN` | info, skipped: the test runs only against `serve` with its token |
//! | no answer to the handshake, `serve` busy, ICMP unreachable, no route | info, skipped, with the reason |

use preflight_probes::throughput::wire::{Direction, RefuseReason};
use preflight_probes::throughput::{
    DirectionResult, Measured, Observation, Outcome, DEFAULT_RATE_KBPS,
};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::note;

/// A direction fits when it delivered at least this share of the call's rate.
pub const FIT_SHARE: f64 = 0.9;

/// TRTC Web's video profiles (`startLocalVideo`), largest first, with their bitrates in kbit/s.
pub const VIDEO_PROFILES: [(&str, u32); 7] = [
    ("1080p", 2000),
    ("720p", 1500),
    ("480p", 900),
    ("360p", 800),
    ("240p", 400),
    ("180p", 350),
    ("120p", 200),
];
/// TRTC Web's `standard` audio profile, kbit/s.
pub const STANDARD_AUDIO_KBPS: u32 = 40;

/// IP and UDP header bytes per datagram for the target's family.
fn overhead(observation: &Observation) -> u32 {
    if observation.target.is_ipv4() {
        preflight_probes::mtu::IPV4_OVERHEAD
    } else {
        preflight_probes::mtu::IPV6_OVERHEAD
    }
}

/// What the call's rate is, for people.
fn call(observation: &Observation) -> String {
    if observation.rate_kbps == DEFAULT_RATE_KBPS {
        format!(
            "a 720p call ({} kbit/s: TRTC Web's 720p video profile, 1,500 kbit/s, and standard audio, 40 kbit/s)",
            DEFAULT_RATE_KBPS
        )
    } else {
        format!(
            "a call of {} kbit/s (--throughput-kbps)",
            observation.rate_kbps
        )
    }
}

/// Whether the probe measured nothing (the report marks it `skip`).
pub fn skipped(observation: &Observation) -> bool {
    match &observation.outcome {
        Outcome::Ran {
            uplink, downlink, ..
        } => {
            !matches!(uplink, DirectionResult::Measured(_))
                && !matches!(downlink, DirectionResult::Measured(_))
        }
        _ => true,
    }
}

/// Whether a measured direction fits the rate it was tested at.
pub fn fits(measured: &Measured) -> bool {
    measured
        .achieved_kbps()
        .is_some_and(|kbps| kbps >= FIT_SHARE * f64::from(measured.granted.rate_kbps))
}

/// The largest video profile (with standard audio) that fits in `kbps` with the same margin.
fn largest_profile(kbps: f64) -> Option<(&'static str, u32)> {
    VIDEO_PROFILES
        .iter()
        .copied()
        .find(|(_, video)| f64::from(video + STANDARD_AUDIO_KBPS) <= kbps * FIT_SHARE)
}

fn direction_text(measured: &Measured, overhead: u32) -> String {
    let achieved = measured.achieved_kbps();
    format!(
        "{} of {} datagrams of {} bytes arrived ({:.1} % lost), at {} of payload ({} with IP and UDP headers); jitter {:.1} ms{}{}",
        measured.received,
        measured.sent,
        measured.granted.packet_size,
        measured.loss() * 100.0,
        achieved.map_or("no measurable rate".into(), |kbps| format!("{kbps:.0} kbit/s")),
        measured.wire_kbps(overhead).map_or("-".into(), |kbps| format!("{kbps:.0} kbit/s")),
        measured.jitter.as_secs_f64() * 1000.0,
        if measured.reported { "" } else { "; serve's report never came back, so the highest sequence received stands for what it sent" },
        if measured.paused { "; serve paused sending when ACKs stopped coming" } else { "" },
    )
}

/// Findings of one `throughput` probe.
pub fn findings(observation: &Observation) -> Vec<Finding> {
    let target = observation.target;
    let skip = |description: &str, evidence: String, fix: String| {
        vec![note(Severity::Info, description, evidence, fix)]
    };
    let (uplink, downlink) = match &observation.outcome {
        Outcome::NoToken => {
            return skip(
                "The throughput test runs only against a `trtc-preflight serve` with its token, so it did not run.",
                format!("TRTC_PREFLIGHT_TOKEN is not set; the test would have sent {} each way to {target}.", call(observation)),
                "Set TRTC_PREFLIGHT_TOKEN to the token the `serve` at --ports HOST was started with.".to_string(),
            )
        }
        Outcome::Rejected => {
            return skip(
                "Throughput could not be measured: nothing listens on that UDP port. Whether media can reach the host is for the ports and stun probes to judge.",
                format!("{target}: ICMP port unreachable came back to the first datagram."),
                format!("Run `trtc-preflight serve` with its token on UDP {} of the host, or pass --udp-ports with a port it listens on.", target.port()),
            )
        }
        Outcome::NotRun { reason } => {
            return skip(
                "Throughput was not measured on this machine.",
                format!("{target}: {reason}."),
                "If there is no route to the host, the stun and ports probes say so; otherwise run the check again.".to_string(),
            )
        }
        Outcome::Ran {
            uplink, downlink, ..
        } => (uplink, downlink),
    };
    if let DirectionResult::NoAccept { sends } = uplink {
        return skip(
            "Throughput could not be measured: the host did not answer the throughput test's handshake.",
            format!("{target}: {sends} STARTs sent, 250 ms apart, none answered."),
            "The host must be a `trtc-preflight serve` of this version started with the same TRTC_PREFLIGHT_TOKEN (a wrong token is never answered, by design); if it is, the path drops these datagrams: compare with the quality and ports findings.".to_string(),
        );
    }
    let mut found = Vec::new();
    for (direction, result) in [(Direction::Up, uplink), (Direction::Down, downlink)] {
        let name = direction.as_str();
        match result {
            DirectionResult::Measured(measured) => {
                found.extend(measured_findings(observation, direction, measured));
            }
            DirectionResult::Refused(reason) => found.push(note(
                Severity::Info,
                &format!("The {name} throughput was not measured: serve refused the session."),
                format!(
                    "{target}: {}.",
                    match reason {
                        RefuseReason::Busy => "serve is running as many throughput sessions as it allows (other clients are measuring)",
                        RefuseReason::BadRequest => "serve found the requested rate or duration unusable",
                    }
                ),
                "Run the check again in a minute, or raise serve's --throughput-sessions.".to_string(),
            )),
            DirectionResult::NoAccept { sends } => found.push(note(
                Severity::Info,
                &format!("The {name} throughput was not measured: the host stopped answering the handshake."),
                format!("{target}: {sends} STARTs sent for the {name}, none answered (the uplink's was)."),
                "Run the check again; if it repeats, the path drops these datagrams after a while (a firewall's flood protection).".to_string(),
            )),
            DirectionResult::NoReport { sent } => found.push(note(
                Severity::Info,
                &format!("The {name} throughput was not measured: serve's report of what it received never came back."),
                format!("{target}: {sent} datagrams sent; 4 STOPs, 250 ms apart, unanswered."),
                "Run the check again; the quality findings show how lossy the path is.".to_string(),
            )),
            DirectionResult::NotTried => {}
        }
    }
    found
}

fn measured_findings(
    observation: &Observation,
    direction: Direction,
    measured: &Measured,
) -> Vec<Finding> {
    let mut found = Vec::new();
    let name = direction.as_str();
    let target = observation.target;
    let granted = measured.granted.rate_kbps;
    if granted < observation.rate_kbps {
        found.push(note(
            Severity::Info,
            &format!("The {name} was measured at a lower rate than the call's: serve's limits allow no more."),
            format!("Asked for {} kbit/s, serve granted {granted} kbit/s.", observation.rate_kbps),
            "Raise serve's --throughput-max-kbps to test the call's full rate.".to_string(),
        ));
    }
    if fits(measured) {
        return found;
    }
    let evidence = format!(
        "{name} to {target} at {granted} kbit/s for {} s: {}.",
        f64::from(measured.granted.duration_ms) / 1000.0,
        direction_text(measured, overhead(observation))
    );
    let achieved = measured.achieved_kbps().unwrap_or(0.0);
    let share = achieved / f64::from(granted.max(1)) * 100.0;
    let description = format!(
        "The {name} cannot carry {}: it delivered {achieved:.0} kbit/s, {share:.0} % of it. In a call the SDK would lower the {} video's resolution and frame rate to fit, or freeze.",
        call(observation),
        match direction {
            Direction::Up => "published",
            Direction::Down => "remote",
        },
    );
    let profile = match largest_profile(achieved) {
        Some((profile, video)) => format!(
            "the largest of TRTC Web's video profiles this {name} carries is '{profile}' ({video} kbit/s with {STANDARD_AUDIO_KBPS} kbit/s of audio): set it with startLocalVideo({{ option: {{ profile: '{profile}' }} }})"
        ),
        None => format!("this {name} carries too little even for TRTC Web's smallest video profile ('120p', 200 kbit/s): make audio-only calls"),
    };
    let fix = format!(
        "Find what limits the {name}: {}, a VPN or firewall that shapes traffic, or a link shared with other heavy traffic. Until then, {profile}.",
        match direction {
            Direction::Up => "an uplink slower than the call (many home and mobile links upload far slower than they download), a Wi-Fi link far from its access point",
            Direction::Down => "a slow or congested downlink, a Wi-Fi link far from its access point",
        }
    );
    found.push(note(Severity::Warning, &description, evidence, fix));
    found
}

fn round(value: f64) -> Value {
    json!((value * 10.0).round() / 10.0)
}

fn direction_metrics(result: &DirectionResult, overhead: u32) -> Value {
    let (result_name, reason) = match result {
        DirectionResult::Measured(_) => ("measured", None),
        DirectionResult::Refused(RefuseReason::Busy) => ("refused", Some("busy")),
        DirectionResult::Refused(RefuseReason::BadRequest) => ("refused", Some("bad request")),
        DirectionResult::NoAccept { .. } => ("no_answer", None),
        DirectionResult::NoReport { .. } => ("no_report", None),
        DirectionResult::NotTried => ("not_tried", None),
    };
    let DirectionResult::Measured(m) = result else {
        return json!({
            "result": result_name, "reason": reason, "granted_kbps": null, "duration_ms": null,
            "sent": match result { DirectionResult::NoReport { sent } => json!(sent), _ => Value::Null },
            "received": null, "duplicates": null, "reordered": null, "loss_percent": null,
            "achieved_kbps": null, "wire_kbps": null, "jitter_ms": null, "reported": null,
            "paused": null, "fits": null,
        });
    };
    json!({
        "result": result_name,
        "reason": reason,
        "granted_kbps": m.granted.rate_kbps,
        "duration_ms": m.granted.duration_ms,
        "sent": m.sent,
        "received": m.received,
        "duplicates": m.duplicates,
        "reordered": m.reordered,
        "loss_percent": round(m.loss() * 100.0),
        "achieved_kbps": m.achieved_kbps().map(round),
        "wire_kbps": m.wire_kbps(overhead).map(round),
        "jitter_ms": (m.jitter.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "reported": m.reported,
        "paused": m.paused,
        "fits": fits(m),
    })
}

/// `metrics` of one `throughput` probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("target".into(), json!(observation.target.to_string()));
    m.insert("required_kbps".into(), json!(observation.rate_kbps));
    m.insert("packet_bytes".into(), json!(observation.packet_size));
    let (result, uplink, downlink, elapsed) = match &observation.outcome {
        Outcome::Ran {
            uplink,
            downlink,
            elapsed,
        } => ("ran", Some(uplink), Some(downlink), Some(*elapsed)),
        Outcome::Rejected => ("rejected", None, None, None),
        Outcome::NoToken => ("no_token", None, None, None),
        Outcome::NotRun { .. } => ("not_run", None, None, None),
    };
    m.insert("result".into(), json!(result));
    let overhead = overhead(observation);
    m.insert(
        "uplink".into(),
        uplink.map_or(Value::Null, |r| direction_metrics(r, overhead)),
    );
    m.insert(
        "downlink".into(),
        downlink.map_or(Value::Null, |r| direction_metrics(r, overhead)),
    );
    let fit = |r: Option<&DirectionResult>| match r {
        Some(DirectionResult::Measured(m)) => Some(fits(m)),
        _ => None,
    };
    let call_fits = match (fit(uplink), fit(downlink)) {
        (Some(up), Some(down)) => json!(up && down),
        (Some(false), None) | (None, Some(false)) => json!(false),
        _ => Value::Null,
    };
    m.insert("fits".into(), call_fits);
    m.insert(
        "took_ms".into(),
        json!(elapsed.map_or(0, |e| e.as_millis() as u64)),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::throughput::wire::Params;
    use std::time::Duration;

    fn measured(direction: Direction, achieved_share: f64, loss: f64) -> Measured {
        // 1,540 kbit/s for 3 s of 1,200-byte datagrams: 482 sent.
        let sent = 482_u32;
        let received = ((1.0 - loss) * f64::from(sent)).round() as u32;
        let bytes = u64::from(received) * 1200;
        let kbps = 1540.0 * achieved_share;
        let bits = (bytes - 1200) as f64 * 8.0;
        Measured {
            granted: Params {
                direction,
                rate_kbps: 1540,
                duration_ms: 3000,
                packet_size: 1200,
                nonce: 0,
            },
            sent,
            reported: true,
            received,
            duplicates: 0,
            reordered: 0,
            bytes,
            span: Duration::from_secs_f64(bits / (kbps * 1000.0)),
            jitter: Duration::from_micros(800),
            paused: false,
        }
    }

    fn observation(uplink: DirectionResult, downlink: DirectionResult) -> Observation {
        Observation {
            target: "192.0.2.1:3478".parse().unwrap(),
            rate_kbps: 1540,
            duration: Duration::from_secs(3),
            packet_size: 1200,
            outcome: Outcome::Ran {
                uplink,
                downlink,
                elapsed: Duration::from_secs(7),
            },
        }
    }

    #[test]
    fn a_path_that_carries_the_call_both_ways_passes() {
        let o = observation(
            DirectionResult::Measured(measured(Direction::Up, 1.0, 0.0)),
            DirectionResult::Measured(measured(Direction::Down, 0.95, 0.0)),
        );
        assert!(findings(&o).is_empty());
        let m = metrics(&o);
        assert_eq!(m["fits"], true);
        assert_eq!(m["uplink"]["achieved_kbps"], 1540.0);
        assert_eq!(m["uplink"]["wire_kbps"], 1575.9);
        assert!(!skipped(&o));
    }

    #[test]
    fn a_slow_uplink_is_a_warning_naming_the_rate_and_a_profile_that_fits() {
        // 1,000 kbit/s: 65 % of 1,540; 480p + audio = 940 > 900 = 90 % of 1,000; 360p fits.
        let o = observation(
            DirectionResult::Measured(measured(Direction::Up, 1000.0 / 1540.0, 0.3)),
            DirectionResult::Measured(measured(Direction::Down, 1.0, 0.0)),
        );
        let found = findings(&o);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!((f.severity, f.code), (Severity::Warning, None));
        assert!(
            f.description
                .contains("The uplink cannot carry a 720p call"),
            "{}",
            f.description
        );
        assert!(
            f.description.contains("1000 kbit/s, 65 %"),
            "{}",
            f.description
        );
        assert!(f.evidence.contains("30.1 % lost"), "{}", f.evidence);
        assert!(f.fix.contains("'360p' (800 kbit/s"), "{}", f.fix);
        let m = metrics(&o);
        assert_eq!(m["fits"], false);
        assert_eq!(m["uplink"]["fits"], false);
        assert_eq!(m["downlink"]["fits"], true);
    }

    #[test]
    fn a_downlink_too_slow_for_any_video_says_audio_only() {
        let o = observation(
            DirectionResult::Measured(measured(Direction::Up, 1.0, 0.0)),
            DirectionResult::Measured(measured(Direction::Down, 150.0 / 1540.0, 0.9)),
        );
        let f = &findings(&o)[0];
        assert!(
            f.description.starts_with("The downlink"),
            "{}",
            f.description
        );
        assert!(f.fix.contains("audio-only"), "{}", f.fix);
    }

    #[test]
    fn the_boundary_is_ninety_percent() {
        assert!(fits(&measured(Direction::Up, 0.905, 0.0)));
        assert!(!fits(&measured(Direction::Up, 0.895, 0.0)));
        assert_eq!(largest_profile(2000.0), Some(("720p", 1500)));
        assert_eq!(largest_profile(100.0), None);
    }

    #[test]
    fn a_lower_grant_is_said() {
        let mut up = measured(Direction::Up, 1.0, 0.0);
        up.granted.rate_kbps = 1000;
        let o = observation(DirectionResult::Measured(up), DirectionResult::NotTried);
        let found = findings(&o);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].evidence.contains("granted 1000 kbit/s"));
    }

    #[test]
    fn what_cannot_run_is_a_skip_with_its_reason() {
        let base = observation(DirectionResult::NotTried, DirectionResult::NotTried);
        for (outcome, words) in [
            (Outcome::NoToken, "TRTC_PREFLIGHT_TOKEN is not set"),
            (Outcome::Rejected, "ICMP port unreachable"),
            (
                Outcome::NotRun {
                    reason: "no route".into(),
                },
                "no route",
            ),
            (
                Outcome::Ran {
                    uplink: DirectionResult::NoAccept { sends: 4 },
                    downlink: DirectionResult::NotTried,
                    elapsed: Duration::from_secs(1),
                },
                "4 STARTs sent",
            ),
        ] {
            let o = Observation {
                outcome,
                ..base.clone()
            };
            let found = findings(&o);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].severity, Severity::Info);
            assert!(found[0].evidence.contains(words), "{}", found[0].evidence);
            assert!(skipped(&o));
            assert_eq!(metrics(&o)["fits"], Value::Null);
        }
    }

    #[test]
    fn a_refusal_or_a_missing_report_is_information() {
        let o = observation(
            DirectionResult::NoReport { sent: 482 },
            DirectionResult::Refused(RefuseReason::Busy),
        );
        let found = findings(&o);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.severity == Severity::Info));
        assert!(found[0].description.contains("report"));
        assert!(found[1].evidence.contains("as many throughput sessions"));
        assert!(skipped(&o));
        let m = metrics(&o);
        assert_eq!(m["uplink"]["result"], "no_report");
        assert_eq!(m["uplink"]["sent"], 482);
        assert_eq!(m["downlink"]["reason"], "busy");
    }
}
