//! MTU rules: whether media-sized UDP packets cross the path to TRTC's servers.
//!
//! WebRTC keeps every RTP packet, and every DTLS handshake datagram, within 1,200 bytes of UDP
//! payload. A path that carries small packets and drops those loses the DTLS handshake's largest
//! datagrams and every full video packet: the call connects (ICE's small STUN checks pass), then
//! video freezes or the SDK reports `DTLS Transport connection timeout (10s)`. The SDK raises no
//! error for the path itself, so this is a warning with no code.
//!
//! | observation | finding |
//! |---|---|
//! | 1,200-byte payloads answered | pass (the limit found and the sizes tried in the metrics) |
//! | small payloads answered, 1,200-byte ones not | warning; the fix names the interface (a tunnel and its MTU), the largest size that passed, and what to do |
//! | not even the small first request answered | info: not measured; reachability is the stun and ports probes' to judge |
//! | the probe could not run here (no route, no don't-fragment) | info: not measured, with the reason and a manual check |
//!
//! Only the request direction is measured (the server answers every size with a small
//! packet); evidence says so.

use preflight_probes::mtu::{MtuObservation, Outcome, Size, Try, TryResult};
use preflight_probes::stun::probe::Family;
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::note;
use crate::catalog;

/// The SDK's message when the DTLS handshake does not finish, as large datagrams are lost.
pub const DTLS_TIMEOUT: &str = "DTLS Transport connection timeout (10s)";

/// Findings of one `mtu` probe.
pub fn findings(observation: &MtuObservation) -> Vec<Finding> {
    match &observation.outcome {
        Outcome::Measured {
            media_size_ok: true,
            ..
        } => Vec::new(),
        Outcome::Measured {
            largest_ok,
            smallest_bad,
            media_size_ok: false,
        } => vec![media_dropped(observation, *largest_ok, *smallest_bad)],
        Outcome::Unreachable { floor } => vec![note(
            Severity::Info,
            "The path MTU could not be measured: the target does not answer even small STUN requests. Whether it is reachable at all is for the stun and ports probes to judge.",
            format!(
                "{}: a request of {} was {}.",
                at(observation),
                size_text(observation.family, *floor),
                unanswered(observation.tries.iter().find(|t| t.size == *floor))
            ),
            "Point the MTU probe at a STUN server that answers over UDP (TRTC's media host, or a `serve` beyond the firewall) to measure the path.".to_string(),
        )],
        Outcome::NotRun { reason } => vec![note(
            Severity::Info,
            "The path MTU was not measured on this machine.",
            format!("{}: {reason}.", at(observation)),
            format!(
                "If there is no route to {host}, the stun and ports probes say so. Elsewhere, check by hand that a media-sized packet passes with don't-fragment: `ping -M do -s 1200 {host}` (Linux), `ping -D -s 1200 {host}` (macOS), `ping -f -l 1200 {host}` (Windows); 1,200 bytes of ICMP payload make the same packet as 1,200 bytes of UDP payload.",
                host = observation.target.ip()
            ),
        )],
    }
}

/// Why the media size failed, which decides the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The egress interface itself is smaller than a media packet.
    Interface(u32),
    /// A router on the path said how much it carries (ICMP came back; the kernel learned it).
    Reported(u32),
    /// Dropped without a word: an MTU black hole.
    Silent,
}

fn cause(observation: &MtuObservation) -> Cause {
    let media = observation.media.ip_packet;
    let interface = observation.egress.as_ref().and_then(|egress| egress.mtu);
    match interface {
        Some(mtu) if mtu < media => return Cause::Interface(mtu),
        _ => {}
    }
    match observation.kernel_path_mtu {
        Some(mtu) if mtu < media && interface.is_none_or(|interface| mtu < interface) => {
            Cause::Reported(mtu)
        }
        _ => Cause::Silent,
    }
}

fn media_dropped(
    observation: &MtuObservation,
    largest_ok: Size,
    smallest_bad: Option<Size>,
) -> Finding {
    let family = observation.family;
    let media = observation.media;
    let description = format!(
        "Media-sized UDP packets do not cross this path while smaller ones do. WebRTC sends up to {} bytes of UDP payload per packet, so in a call video freezes or stays black, or the SDK reports `{}` when the DTLS handshake's large datagrams are lost.",
        media.udp_payload,
        catalog::message(DTLS_TIMEOUT).message
    );
    let media_result = match observation.media_try() {
        Some(t) => format!(
            "a request of {} {}",
            size_text(family, media),
            outcome_text(t)
        ),
        None => format!("a request of {} was not tried", size_text(family, media)),
    };
    let bad = smallest_bad.map_or(String::new(), |bad| {
        format!(", the smallest not answered {}", size_text(family, bad))
    });
    let evidence = format!(
        "{}: {media_result}; the largest request answered was {}{bad}. Only requests were measured: the server answers every size with a small packet.",
        at(observation),
        size_text(family, largest_ok),
    );
    let passes = format!(
        "Packets of up to {} bytes pass ({} bytes of UDP payload); media needs {}.",
        largest_ok.ip_packet, largest_ok.udp_payload, media.ip_packet
    );
    let relay = "or let media relay over TCP/TLS 443 (for example by blocking outbound UDP to TRTC on this network), which carries packets of any size at the cost of latency";
    let icmp = match family {
        Family::V4 => "ICMP \"fragmentation needed\" (type 3, code 4)",
        Family::V6 => "ICMPv6 \"packet too big\" (type 2)",
    };
    let interface = interface_text(observation);
    let fix = match cause(observation) {
        Cause::Interface(mtu) => {
            let egress = observation.egress.as_ref();
            let name = egress
                .and_then(|egress| egress.interface.as_deref())
                .unwrap_or("used");
            let (kind, how) = if egress.is_some_and(|egress| egress.tunnel) {
                (", a tunnel (VPN),", "in the VPN's client or server configuration".to_string())
            } else {
                ("", format!("on Linux: `ip link set dev {name} mtu 1500`"))
            };
            format!(
                "{passes} The interface {name}{kind} has an MTU of {mtu}: raise it to at least {} ({how}), {relay}.",
                media.ip_packet
            )
        }
        Cause::Reported(mtu) => format!(
            "{passes} A router beyond {interface} reported a path MTU of {mtu} ({icmp} arrived): raise the MTU of that link or tunnel to at least {}, {relay}.",
            media.ip_packet
        ),
        Cause::Silent => format!(
            "{passes} Larger packets vanish without any {icmp}: a link on the path (often a VPN or tunnel; this machine sends via {interface}) has a smaller MTU, and its ICMP errors are dropped, so path MTU discovery cannot work. Allow {icmp} through the firewalls, raise the tunnel's MTU so that {}-byte packets pass, {relay}.",
            media.ip_packet
        ),
    };
    note(Severity::Warning, &description, evidence, fix)
}

/// "10.0.0.2:3478 over IPv4 (from 10.0.0.1 via wg0, a tunnel (VPN) with MTU 1420)".
fn at(observation: &MtuObservation) -> String {
    let family = match observation.family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    let via = observation.egress.as_ref().map_or(String::new(), |egress| {
        format!(
            " (from {} via {})",
            egress.source,
            interface_text(observation)
        )
    });
    format!("{} over {family}{via}", observation.target)
}

/// "wg0, a tunnel (VPN) with MTU 1420", "eth0 (MTU 1500)", "an unknown interface".
fn interface_text(observation: &MtuObservation) -> String {
    let Some(egress) = &observation.egress else {
        return "an unknown interface".to_string();
    };
    let name = egress
        .interface
        .as_deref()
        .unwrap_or("an unknown interface");
    match (egress.tunnel, egress.mtu) {
        (true, Some(mtu)) => format!("{name}, a tunnel (VPN) with MTU {mtu}"),
        (true, None) => format!("{name}, a tunnel (VPN)"),
        (false, Some(mtu)) => format!("{name} (MTU {mtu})"),
        (false, None) => name.to_string(),
    }
}

/// "1200 bytes of UDP payload (a 1228-byte IPv4 packet)".
fn size_text(family: Family, size: Size) -> String {
    let family = match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    format!(
        "{} bytes of UDP payload (a {}-byte {family} packet)",
        size.udp_payload, size.ip_packet
    )
}

fn outcome_text(t: &Try) -> String {
    match &t.result {
        TryResult::Answered { .. } | TryResult::ErrorResponse { .. } => "was answered".into(),
        TryResult::TooBig {
            from_icmp: false,
            kernel_path_mtu,
        } => format!(
            "was refused by this machine at the send{}",
            kernel_path_mtu.map_or(String::new(), |mtu| format!(
                ": larger than the {mtu}-byte path MTU it knows"
            ))
        ),
        TryResult::TooBig {
            from_icmp: true,
            kernel_path_mtu,
        } => format!(
            "was turned back by a router on the path with an ICMP error{}",
            kernel_path_mtu.map_or(String::new(), |mtu| format!(" (path MTU {mtu})"))
        ),
        _ => format!("was {}", unanswered(Some(t))),
    }
}

fn unanswered(t: Option<&Try>) -> String {
    match t.map(|t| &t.result) {
        Some(TryResult::Silent {
            attempts, waited, ..
        }) => format!(
            "not answered ({attempts} sends, {} ms)",
            waited.as_millis()
        ),
        Some(TryResult::Rejected { after }) => format!(
            "rejected with ICMP port unreachable after {} ms (nothing listens there, or a firewall rejects)",
            after.as_millis()
        ),
        Some(TryResult::TooBig { .. }) => "refused as too big".into(),
        Some(TryResult::LocalError { reason }) => format!("not sent ({reason})"),
        Some(TryResult::Answered { .. } | TryResult::ErrorResponse { .. }) => "answered".into(),
        None => "not answered".into(),
    }
}

/// The `metrics` object of an `mtu` probe.
///
/// Sizes are objects `{"udp_payload": 1200, "ip_packet": 1228}`; `direction` is `"request"`
/// (only this machine to the server is measured).
pub fn metrics(observation: &MtuObservation) -> Map<String, Value> {
    let size = |size: Size| json!({"udp_payload": size.udp_payload, "ip_packet": size.ip_packet});
    let (result, largest_ok, smallest_bad, media_size_ok, reason) = match &observation.outcome {
        Outcome::Measured {
            largest_ok,
            smallest_bad,
            media_size_ok,
        } => (
            "measured",
            size(*largest_ok),
            smallest_bad.map_or(Value::Null, size),
            json!(media_size_ok),
            Value::Null,
        ),
        Outcome::Unreachable { .. } => (
            "unreachable",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ),
        Outcome::NotRun { reason } => (
            "not_run",
            Value::Null,
            Value::Null,
            Value::Null,
            json!(reason),
        ),
    };
    let egress = observation.egress.as_ref();
    let tries: Vec<Value> = observation
        .tries
        .iter()
        .map(|t| {
            let (result, attempts, rtt, path_mtu) = match &t.result {
                TryResult::Answered { rtt, attempts } => {
                    ("answered", Some(*attempts), Some(millis(*rtt)), None)
                }
                TryResult::ErrorResponse { attempts, .. } => {
                    ("error_response", Some(*attempts), None, None)
                }
                TryResult::Silent { attempts, .. } => ("silent", Some(*attempts), None, None),
                TryResult::TooBig {
                    from_icmp,
                    kernel_path_mtu,
                } => (
                    if *from_icmp {
                        "too_big_icmp"
                    } else {
                        "too_big_local"
                    },
                    None,
                    None,
                    *kernel_path_mtu,
                ),
                TryResult::Rejected { .. } => ("rejected", None, None, None),
                TryResult::LocalError { .. } => ("local_error", None, None, None),
            };
            json!({
                "udp_payload": t.size.udp_payload,
                "ip_packet": t.size.ip_packet,
                "round": t.round,
                "result": result,
                "passed": t.result.passed(),
                "attempts": attempts,
                "rtt_ms": rtt,
                "ms": millis(t.took),
                "kernel_path_mtu": path_mtu,
            })
        })
        .collect();
    let mut map = Map::new();
    map.insert("target".into(), json!(observation.target.to_string()));
    map.insert("family".into(), json!(observation.family.as_str()));
    map.insert("result".into(), json!(result));
    map.insert("reason".into(), reason);
    map.insert("direction".into(), json!("request"));
    map.insert("largest_ok".into(), largest_ok);
    map.insert("smallest_bad".into(), smallest_bad);
    map.insert("media_size_ok".into(), media_size_ok);
    map.insert("media".into(), size(observation.media));
    map.insert("ceiling".into(), size(observation.ceiling));
    map.insert(
        "interface".into(),
        json!(egress.and_then(|egress| egress.interface.clone())),
    );
    map.insert(
        "interface_mtu".into(),
        json!(egress.and_then(|egress| egress.mtu)),
    );
    map.insert("tunnel".into(), json!(egress.map(|egress| egress.tunnel)));
    map.insert(
        "source".into(),
        json!(egress.map(|egress| egress.source.to_string())),
    );
    map.insert("kernel_path_mtu".into(), json!(observation.kernel_path_mtu));
    map.insert("rounds".into(), json!(observation.rounds));
    map.insert("duration_ms".into(), json!(millis(observation.took)));
    map.insert("tries".into(), Value::Array(tries));
    map
}

fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::route::Egress;
    use std::time::Duration;

    fn v4(payload: u32) -> Size {
        Size::of_payload(Family::V4, payload)
    }

    fn answered() -> TryResult {
        TryResult::Answered {
            rtt: Duration::from_millis(2),
            attempts: 1,
        }
    }

    fn silent() -> TryResult {
        TryResult::Silent {
            attempts: 3,
            waited: Duration::from_millis(600),
            ignored: 0,
        }
    }

    fn too_big(from_icmp: bool, mtu: u32) -> TryResult {
        TryResult::TooBig {
            from_icmp,
            kernel_path_mtu: Some(mtu),
        }
    }

    /// An observation over `interface` (name, MTU, tunnel) whose tries are `(payload, result)`.
    fn observation(
        interface: Option<(&str, u32, bool)>,
        tries: &[(u32, TryResult)],
        outcome: Outcome,
    ) -> MtuObservation {
        let kernel_path_mtu = tries
            .iter()
            .filter_map(|(_, result)| match result {
                TryResult::TooBig {
                    kernel_path_mtu, ..
                } => *kernel_path_mtu,
                _ => None,
            })
            .min();
        MtuObservation {
            target: "203.0.113.10:3478".parse().unwrap(),
            family: Family::V4,
            egress: interface.map(|(name, mtu, tunnel)| Egress {
                source: "192.0.2.5".parse().unwrap(),
                interface: Some(name.to_string()),
                mtu: Some(mtu),
                tunnel,
            }),
            ceiling: Size::fitting_packet(Family::V4, interface.map_or(1500, |i| i.1.min(1500))),
            media: v4(1200),
            outcome,
            tries: tries
                .iter()
                .map(|(payload, result)| Try {
                    size: v4(*payload),
                    round: 1,
                    result: result.clone(),
                    took: Duration::from_millis(1),
                })
                .collect(),
            rounds: 1,
            kernel_path_mtu,
            took: Duration::from_millis(700),
        }
    }

    fn measured(largest: u32, bad: Option<u32>) -> Outcome {
        Outcome::Measured {
            largest_ok: v4(largest),
            smallest_bad: bad.map(v4),
            media_size_ok: largest >= 1200,
        }
    }

    /// A rule: the observation, the severity expected, and words the evidence and the fix
    /// must contain.
    struct Case {
        name: &'static str,
        observation: MtuObservation,
        severity: Option<Severity>,
        evidence: &'static [&'static str],
        fix: &'static [&'static str],
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "healthy path: pass",
                observation: observation(
                    Some(("eth0", 1500, false)),
                    &[(548, answered()), (1200, answered()), (1472, answered())],
                    measured(1472, None),
                ),
                severity: None,
                evidence: &[],
                fix: &[],
            },
            Case {
                name: "a 1,400-byte path still carries media: pass",
                observation: observation(
                    Some(("eth0", 1500, false)),
                    &[(548, answered()), (1200, answered()), (1472, silent())],
                    measured(1372, Some(1376)),
                ),
                severity: None,
                evidence: &[],
                fix: &[],
            },
            Case {
                name: "black hole behind a tunnel",
                observation: observation(
                    Some(("wg0", 1420, true)),
                    &[(548, answered()), (1200, silent()), (1392, silent())],
                    measured(1072, Some(1076)),
                ),
                severity: Some(Severity::Warning),
                evidence: &[
                    "203.0.113.10:3478 over IPv4",
                    "wg0, a tunnel (VPN) with MTU 1420",
                    "1200 bytes of UDP payload (a 1228-byte IPv4 packet) was not answered (3 sends, 600 ms)",
                    "largest request answered was 1072 bytes of UDP payload (a 1100-byte IPv4 packet)",
                    "Only requests were measured",
                ],
                fix: &[
                    "up to 1100 bytes pass",
                    "wg0, a tunnel (VPN) with MTU 1420",
                    "type 3, code 4",
                    "raise the tunnel's MTU",
                    "TCP/TLS 443",
                ],
            },
            Case {
                name: "the interface itself is too small",
                observation: observation(
                    Some(("tun0", 1100, true)),
                    &[(548, answered()), (1072, answered()), (1200, too_big(false, 1100))],
                    measured(1072, Some(1200)),
                ),
                severity: Some(Severity::Warning),
                evidence: &["refused by this machine at the send: larger than the 1100-byte path MTU"],
                fix: &[
                    "up to 1100 bytes pass",
                    "interface tun0, a tunnel (VPN), has an MTU of 1100: raise it to at least 1228",
                    "TCP/TLS 443",
                ],
            },
            Case {
                name: "a router reported a smaller path MTU",
                observation: observation(
                    Some(("eth0", 1500, false)),
                    &[(548, answered()), (1200, too_big(true, 1100)), (1472, too_big(false, 1100))],
                    measured(1072, Some(1076)),
                ),
                severity: Some(Severity::Warning),
                evidence: &["turned back by a router on the path with an ICMP error (path MTU 1100)"],
                fix: &[
                    "up to 1100 bytes pass",
                    "beyond eth0 (MTU 1500) reported a path MTU of 1100",
                    "at least 1228",
                    "TCP/TLS 443",
                ],
            },
            Case {
                name: "target silent even for small packets: info, never a false alarm",
                observation: observation(
                    Some(("eth0", 1500, false)),
                    &[(548, silent()), (1200, silent()), (1472, silent())],
                    Outcome::Unreachable { floor: v4(548) },
                ),
                severity: Some(Severity::Info),
                evidence: &["548 bytes of UDP payload (a 576-byte IPv4 packet) was not answered (3 sends, 600 ms)"],
                fix: &["STUN server that answers"],
            },
            Case {
                name: "target rejects: info",
                observation: observation(
                    None,
                    &[(548, TryResult::Rejected { after: Duration::from_millis(1) })],
                    Outcome::Unreachable { floor: v4(548) },
                ),
                severity: Some(Severity::Info),
                evidence: &["ICMP port unreachable"],
                fix: &["serve"],
            },
            Case {
                name: "not run here: info with a manual check",
                observation: observation(
                    None,
                    &[],
                    Outcome::NotRun {
                        reason: "the mtu probe sets don't-fragment on Linux only so far".into(),
                    },
                ),
                severity: Some(Severity::Info),
                evidence: &["Linux only so far"],
                fix: &["ping -M do -s 1200 203.0.113.10", "ping -f -l 1200"],
            },
        ]
    }

    #[test]
    fn every_row_of_the_table() {
        for case in cases() {
            let findings = findings(&case.observation);
            assert_eq!(
                findings.first().map(|finding| finding.severity),
                case.severity,
                "{}: {findings:#?}",
                case.name
            );
            assert!(findings.len() <= 1, "{}", case.name);
            let Some(finding) = findings.first() else {
                continue;
            };
            assert_eq!(finding.code, None, "{}: never an SDK code", case.name);
            for words in case.evidence {
                assert!(
                    finding.evidence.contains(words),
                    "{}: evidence lacks {words:?}: {}",
                    case.name,
                    finding.evidence
                );
            }
            for words in case.fix {
                assert!(
                    finding.fix.contains(words),
                    "{}: fix lacks {words:?}: {}",
                    case.name,
                    finding.fix
                );
            }
            if finding.severity == Severity::Warning {
                assert!(finding.description.contains(DTLS_TIMEOUT));
            }
        }
    }

    #[test]
    fn ipv6_names_packet_too_big() {
        let mut observation = observation(
            Some(("eth0", 1500, false)),
            &[(528, answered()), (1200, silent())],
            Outcome::Measured {
                largest_ok: Size::of_payload(Family::V6, 1052),
                smallest_bad: Some(Size::of_payload(Family::V6, 1056)),
                media_size_ok: false,
            },
        );
        observation.family = Family::V6;
        observation.target = "[2001:db8::10]:3478".parse().unwrap();
        observation.media = Size::of_payload(Family::V6, 1200);
        for t in &mut observation.tries {
            t.size = Size::of_payload(Family::V6, t.size.udp_payload);
        }
        let finding = &findings(&observation)[0];
        assert!(
            finding.fix.contains("ICMPv6 \"packet too big\" (type 2)"),
            "{}",
            finding.fix
        );
        assert!(finding.fix.contains("media needs 1248"), "{}", finding.fix);
        assert!(
            finding.evidence.contains("a 1248-byte IPv6 packet"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn metrics_say_what_was_seen() {
        let observation = observation(
            Some(("wg0", 1420, true)),
            &[
                (548, answered()),
                (1200, silent()),
                (1392, too_big(true, 1100)),
            ],
            measured(1072, Some(1076)),
        );
        let metrics = metrics(&observation);
        assert_eq!(metrics["result"], "measured");
        assert_eq!(metrics["direction"], "request");
        assert_eq!(
            metrics["largest_ok"],
            json!({"udp_payload": 1072, "ip_packet": 1100})
        );
        assert_eq!(
            metrics["smallest_bad"],
            json!({"udp_payload": 1076, "ip_packet": 1104})
        );
        assert_eq!(metrics["media_size_ok"], false);
        assert_eq!(
            metrics["media"],
            json!({"udp_payload": 1200, "ip_packet": 1228})
        );
        assert_eq!(
            metrics["ceiling"],
            json!({"udp_payload": 1392, "ip_packet": 1420})
        );
        assert_eq!(metrics["interface"], "wg0");
        assert_eq!(metrics["interface_mtu"], 1420);
        assert_eq!(metrics["tunnel"], true);
        assert_eq!(metrics["kernel_path_mtu"], 1100);
        assert_eq!(metrics["duration_ms"], json!(700.0));
        let tries = metrics["tries"].as_array().unwrap();
        assert_eq!(tries.len(), 3);
        assert_eq!(tries[0]["result"], "answered");
        assert_eq!(tries[0]["rtt_ms"], json!(2.0));
        assert_eq!(tries[1]["result"], "silent");
        assert_eq!(tries[1]["attempts"], 3);
        assert_eq!(tries[2]["result"], "too_big_icmp");
        assert_eq!(tries[2]["kernel_path_mtu"], 1100);

        let unreachable = observation_unreachable();
        let metrics = super::metrics(&unreachable);
        assert_eq!(metrics["result"], "unreachable");
        assert_eq!(metrics["largest_ok"], Value::Null);
        assert_eq!(metrics["media_size_ok"], Value::Null);
    }

    fn observation_unreachable() -> MtuObservation {
        observation(
            None,
            &[(548, silent())],
            Outcome::Unreachable { floor: v4(548) },
        )
    }
}
