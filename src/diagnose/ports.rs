//! TRTC's path matrix: what the open and closed ports of a host mean for a call.
//!
//! TRTC Web sends media over direct UDP (8000, 8080, 8800, 843, 443, 16285), else relays it over
//! TCP/TLS 443; SDKs before 4.12 also need TCP 8687 for signaling. Judged with the run's
//! [`PathContext`] like the STUN probes:
//!
//! | observation | finding |
//! |---|---|
//! | every port answered | pass, the matrix in the metrics |
//! | some UDP ports closed | warning naming each port and how it failed |
//! | every UDP port closed, TCP carries STUN (here or another probe) | warning: media relays over TCP 443, open UDP ... |
//! | TCP 443 closed, UDP open | warning: no TCP fallback |
//! | TCP 8687 closed | info: only SDKs before 4.12 need it |
//! | other TCP ports closed | warning naming each |
//! | one family closed while the other answers | warning naming the family |
//! | nothing answered anywhere in the run | 16387 ICE_TRANSPORT_ERROR, `RtcError: no valid ice candidate found` |
//! | nothing answered here, the run was interrupted | warning: not compared with the other paths |

use preflight_probes::ports::{Cell, Observation};
use preflight_probes::stun::probe::{Family, PathResult, Transport};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::stun::{PathContext, NO_CANDIDATE};
use super::{note, sdk_error};
use crate::catalog::sdk;

/// TCP 8687: signaling for SDKs before 4.12 only.
pub const LEGACY_SIGNALING_PORT: u16 = 8687;
/// The TCP port TRTC relays media over (TLS).
pub const RELAY_PORT: u16 = 443;

/// A cell for people: `UDP 8000 silent (gave up after 1000 ms: ...)`.
fn cell_text(cell: &Cell) -> String {
    let protocol = cell.transport.as_str().to_uppercase();
    let what = match &cell.result {
        PathResult::Answered { rtt, .. } => format!("open ({:.1} ms)", rtt.as_secs_f64() * 1000.0),
        PathResult::ErrorResponse { code, .. } => {
            format!("refused by the server (STUN error {code})")
        }
        PathResult::Rejected { .. } if cell.transport == Transport::Udp => {
            "rejected (ICMP port unreachable)".into()
        }
        PathResult::Rejected { .. } => "refused (reset)".into(),
        PathResult::Silent { .. } if cell.transport == Transport::Udp => {
            format!(
                "silent ({})",
                cell.silence_rule.as_deref().unwrap_or("no answer")
            )
        }
        PathResult::Silent { waited, .. } => format!(
            "silent (the connection did not open in {} ms)",
            waited.as_millis()
        ),
        PathResult::AcceptedButSilent { .. } => {
            "accepts connections but blocks their payload".into()
        }
        PathResult::ClosedBeforeAnswer { .. } => "closed before answering".into(),
        PathResult::Garbage { .. } => "answers with something that is not STUN".into(),
        PathResult::NoRoute { reason } => format!("no route ({reason})"),
        PathResult::TlsFailed { failure } if failure.reached_certificate() => {
            format!("open: a TLS server answered, its certificate not trusted here ({failure})")
        }
        PathResult::TlsFailed { failure } => format!("TLS handshake failed ({failure})"),
    };
    format!("{protocol} {} {what}", cell.port)
}

fn ports_list(cells: &[&Cell]) -> String {
    let ports: Vec<String> = cells.iter().map(|cell| cell.port.to_string()).collect();
    ports.join(", ")
}

/// The whole matrix in one line per family, for evidence.
fn matrix_text(observation: &Observation) -> String {
    let mut lines = Vec::new();
    for family in [Family::V4, Family::V6] {
        let cells: Vec<String> = observation
            .cells
            .iter()
            .filter(|cell| cell.family == family)
            .map(cell_text)
            .collect();
        if !cells.is_empty() {
            lines.push(format!(
                "{}: {}.",
                family.as_str().replace("ip", "IP"),
                cells.join("; ")
            ));
        }
    }
    lines.join(" ")
}

/// Findings of a port matrix, judged in `context`.
pub fn findings(observation: &Observation, context: &PathContext) -> Vec<Finding> {
    let host = &observation.spec.host;
    let open_udp = |cells: &[&Cell]| format!("Allow outbound UDP {} to {host}", ports_list(cells));
    if let Err(error) = &observation.resolution {
        return no_path(
            context,
            format!("{error}."),
            format!("Make {host} resolve (check the DNS settings), then re-run."),
        );
    }
    let answered: Vec<&Cell> = observation
        .cells
        .iter()
        .filter(|cell| cell.result.carries_payload())
        .collect();
    let evidence = matrix_text(observation);
    if answered.is_empty() {
        let udp: Vec<&Cell> = observation
            .cells
            .iter()
            .filter(|cell| cell.transport == Transport::Udp)
            .collect();
        return no_path(
            context,
            evidence,
            format!("{} for direct media, or at least outbound TCP {RELAY_PORT} (TLS) to {host} so that media can relay.", open_udp(&udp)),
        );
    }
    let mut findings = Vec::new();
    let families: Vec<Family> = observation
        .egress
        .iter()
        .map(|(family, _)| *family)
        .collect();
    for family in &families {
        let cells: Vec<&Cell> = observation
            .cells
            .iter()
            .filter(|cell| cell.family == *family)
            .collect();
        if !cells.is_empty() && cells.iter().all(|cell| !cell.result.carries_payload()) {
            findings.push(note(
                Severity::Warning,
                "Every port fails over one address family while the other works: calls work, but a browser that tries the failing family first loses time on it.",
                format!("{host} over {}: nothing answered. {evidence}", family.as_str().replace("ip", "IP")),
                format!("Fix the {} route or firewall to {host}, or remove the host's {} address.", family.as_str().replace("ip", "IP"), if *family == Family::V6 { "AAAA" } else { "A" }),
            ));
        }
    }
    // Judge the ports over the families that work at all, once per port.
    let working: Vec<&Cell> = observation
        .cells
        .iter()
        .filter(|cell| {
            observation
                .cells
                .iter()
                .any(|other| other.family == cell.family && other.result.carries_payload())
        })
        .collect();
    let closed = |transport: Transport| -> Vec<&Cell> {
        working
            .iter()
            .copied()
            .filter(|cell| cell.transport == transport && !cell.result.carries_payload())
            .collect()
    };
    let udp_cells: Vec<&Cell> = working
        .iter()
        .copied()
        .filter(|cell| cell.transport == Transport::Udp)
        .collect();
    let udp_closed = closed(Transport::Udp);
    let tcp_closed: Vec<&Cell> = working
        .iter()
        .copied()
        .filter(|cell| cell.transport != Transport::Udp && !cell.result.carries_payload())
        .collect();
    let tcp_open = working
        .iter()
        .any(|cell| cell.transport != Transport::Udp && cell.result.carries_payload());
    if !udp_cells.is_empty() && udp_closed.len() == udp_cells.len() {
        if tcp_open || context.stream_answered {
            findings.push(note(
                Severity::Warning,
                "Every UDP media port is closed, but TCP carries STUN: TRTC relays the media over TCP/TLS 443, with more latency and less resilience to loss.",
                evidence.clone(),
                format!("{} for direct media.", open_udp(&udp_closed)),
            ));
        }
    } else if !udp_closed.is_empty() {
        let each: Vec<String> = udp_closed.iter().map(|cell| cell_text(cell)).collect();
        findings.push(note(
            Severity::Warning,
            "Some UDP media ports are closed: the call works over the open ones, but a TRTC server that offers a closed port is reached only after a fallback.",
            format!("Closed: {}.{} {evidence}", each.join("; "), icmp_note(&udp_closed)),
            format!("{}.", open_udp(&udp_closed)),
        ));
    }
    let (legacy, other_tcp): (Vec<&Cell>, Vec<&Cell>) = tcp_closed
        .iter()
        .partition(|cell| cell.port == LEGACY_SIGNALING_PORT);
    let relay_closed = other_tcp.iter().any(|cell| cell.port == RELAY_PORT);
    if !other_tcp.is_empty() {
        let each: Vec<String> = other_tcp.iter().map(|cell| cell_text(cell)).collect();
        let description = if relay_closed
            && !udp_cells.is_empty()
            && udp_closed.len() < udp_cells.len()
        {
            "TCP 443 is closed while UDP works: calls work over UDP, but media has no TCP fallback should UDP fail (on another network, or when a firewall changes)."
        } else {
            "Some TCP ports are closed."
        };
        findings.push(note(
            Severity::Warning,
            description,
            format!("Closed: {}. {evidence}", each.join("; ")),
            format!("Allow outbound TCP {} to {host}.", ports_list(&other_tcp)),
        ));
    }
    if !legacy.is_empty() {
        findings.push(note(
            Severity::Info,
            "TCP 8687 is closed: only TRTC Web SDKs before 4.12 use it (for signaling); newer ones need just 443.",
            format!("{}.", cell_text(legacy[0])),
            format!("Upgrade the SDK to 4.12 or later, or allow outbound TCP 8687 to {host}."),
        ));
    }
    findings
}

/// When some closed UDP ports answered ICMP and others were silent, the silent ones may be
/// rejected too: hosts rate-limit their ICMP errors.
fn icmp_note(closed: &[&Cell]) -> &'static str {
    let rejected = closed
        .iter()
        .any(|cell| matches!(cell.result, PathResult::Rejected { .. }));
    let silent = closed
        .iter()
        .any(|cell| matches!(cell.result, PathResult::Silent { .. }));
    if rejected && silent {
        " (The far host rejected some ports with ICMP and not others: hosts rate-limit ICMP errors, so some silent ports may be rejected rather than dropped; either way they are closed.)"
    } else {
        ""
    }
}

fn no_path(context: &PathContext, evidence: String, fix: String) -> Vec<Finding> {
    if !context.complete {
        return vec![note(
            Severity::Warning,
            "Nothing answered on this host; the run ended before it could be compared with the other paths.",
            evidence,
            fix,
        )];
    }
    if context.udp_answered || context.stream_answered {
        return vec![note(
            Severity::Warning,
            "Nothing answered on this host, though another probe's path carries STUN: media can flow through that one.",
            evidence,
            fix,
        )];
    }
    vec![sdk_error(
        sdk::ICE_TRANSPORT_ERROR,
        Some(NO_CANDIDATE),
        None,
        evidence,
        fix,
    )]
}

/// The `metrics` object of a ports probe: the matrix an admin acts on.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let matrix: Vec<Value> = observation
        .cells
        .iter()
        .map(|cell| {
            let (result, rtt, waited) = match &cell.result {
                PathResult::Answered { rtt, .. } => ("open", Some(ms(*rtt)), None),
                PathResult::ErrorResponse { .. } => ("error_response", None, None),
                PathResult::Rejected { after } => ("rejected", None, Some(ms(*after))),
                PathResult::Silent { waited, .. } => ("silent", None, Some(ms(*waited))),
                PathResult::AcceptedButSilent { waited } => {
                    ("accepts_but_blocks", None, Some(ms(*waited)))
                }
                PathResult::ClosedBeforeAnswer { .. } => ("closed", None, None),
                PathResult::Garbage { waited } => ("garbage", None, Some(ms(*waited))),
                PathResult::NoRoute { .. } => ("no_route", None, None),
                // The TLS server's certificate came back: the path is open, trust is another matter.
                PathResult::TlsFailed { failure } if failure.reached_certificate() => {
                    ("open_tls_untrusted", None, None)
                }
                PathResult::TlsFailed { .. } => ("tls_failed", None, None),
            };
            json!({
                "port": cell.port,
                "protocol": cell.transport.as_str(),
                "family": cell.family.as_str(),
                "result": result,
                "rtt_ms": rtt,
                "waited_ms": waited,
                "silence_rule": cell.silence_rule,
            })
        })
        .collect();
    // A port is open when it carried payload over some family; closed when over none.
    let list = |transport: Transport, open: bool| -> Vec<u16> {
        let same = |cell: &&Cell| {
            cell.transport == transport
                || (transport == Transport::Tcp && cell.transport == Transport::Tls)
        };
        let opened: Vec<u16> = observation
            .cells
            .iter()
            .filter(same)
            .filter(|cell| cell.result.carries_payload())
            .map(|cell| cell.port)
            .collect();
        let mut ports: Vec<u16> = Vec::new();
        for cell in observation.cells.iter().filter(same) {
            if opened.contains(&cell.port) == open && !ports.contains(&cell.port) {
                ports.push(cell.port);
            }
        }
        ports
    };
    let addresses: Vec<String> = match &observation.resolution {
        Ok(resolved) => resolved.all().map(|address| address.to_string()).collect(),
        Err(_) => Vec::new(),
    };
    let egress: Vec<Value> = observation
        .egress
        .iter()
        .map(|(family, egress)| {
            json!({
                "family": family.as_str(),
                "interface": egress.as_ref().and_then(|egress| egress.interface.clone()),
                "source": egress.as_ref().map(|egress| egress.source.to_string()),
                "mtu": egress.as_ref().and_then(|egress| egress.mtu),
                "tunnel": egress.as_ref().map(|egress| egress.tunnel),
            })
        })
        .collect();
    let mut map = Map::new();
    map.insert("host".into(), json!(observation.spec.host));
    map.insert("addresses".into(), json!(addresses));
    map.insert("took_ms".into(), json!(ms(observation.took)));
    map.insert(
        "open".into(),
        json!({"udp": list(Transport::Udp, true), "tcp": list(Transport::Tcp, true)}),
    );
    map.insert(
        "closed".into(),
        json!({"udp": list(Transport::Udp, false), "tcp": list(Transport::Tcp, false)}),
    );
    map.insert("egress".into(), Value::Array(egress));
    map.insert("matrix".into(), Value::Array(matrix));
    map
}

fn ms(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::ports::Spec;
    use preflight_probes::resolve::{Resolved, Source};
    use preflight_probes::stun::engine::IgnoredCounts;
    use std::time::Duration;

    fn cell(transport: Transport, port: u16, open: bool) -> Cell {
        Cell {
            port,
            transport,
            family: Family::V4,
            result: if open {
                PathResult::Answered {
                    rtt: Duration::from_micros(300),
                    attempts: 1,
                    mapped: "127.0.0.1:1".parse().unwrap(),
                    local: None,
                }
            } else {
                PathResult::Silent {
                    attempts: 4,
                    waited: Duration::from_millis(1000),
                }
            },
            silence_rule: (!open && transport == Transport::Udp)
                .then(|| "gave up after 1000 ms".to_string()),
            ignored: IgnoredCounts::default(),
        }
    }

    fn matrix(udp: &[(u16, bool)], tcp: &[(u16, bool)]) -> Observation {
        let mut cells: Vec<Cell> = udp
            .iter()
            .map(|&(port, open)| cell(Transport::Udp, port, open))
            .collect();
        cells.extend(
            tcp.iter()
                .map(|&(port, open)| cell(Transport::Tcp, port, open)),
        );
        Observation {
            spec: Spec {
                host: "media.lab".into(),
                udp: vec![],
                tcp: vec![],
            },
            resolution: Ok(Resolved {
                v4: vec![],
                v6: vec![],
                source: Source::Override,
                took: Duration::ZERO,
            }),
            egress: vec![(Family::V4, None)],
            cells,
            took: Duration::from_millis(5),
        }
    }

    fn summary(findings: &[Finding]) -> Vec<(Severity, Option<u32>)> {
        findings
            .iter()
            .map(|finding| (finding.severity, finding.code))
            .collect()
    }

    const DONE: PathContext = PathContext {
        complete: true,
        udp_answered: false,
        stream_answered: false,
    };

    #[test]
    fn every_row_of_the_table() {
        let all_open = matrix(&[(8000, true), (8080, true)], &[(443, true)]);
        assert_eq!(summary(&findings(&all_open, &DONE)), []);

        let some_udp = matrix(
            &[(8000, true), (8080, false), (8800, false)],
            &[(443, true)],
        );
        let found = findings(&some_udp, &DONE);
        assert_eq!(summary(&found), [(Severity::Warning, None)]);
        assert!(
            found[0].fix.contains("UDP 8080, 8800 to media.lab"),
            "{}",
            found[0].fix
        );
        assert!(
            found[0]
                .evidence
                .contains("UDP 8080 silent (gave up after 1000 ms)"),
            "{}",
            found[0].evidence
        );

        let udp_blocked = matrix(&[(8000, false), (8080, false)], &[(443, true)]);
        let found = findings(&udp_blocked, &DONE);
        assert_eq!(summary(&found), [(Severity::Warning, None)]);
        assert!(found[0]
            .description
            .contains("relays the media over TCP/TLS 443"));

        let no_tcp = matrix(&[(8000, true)], &[(443, false)]);
        let found = findings(&no_tcp, &DONE);
        assert_eq!(summary(&found), [(Severity::Warning, None)]);
        assert!(found[0].description.contains("no TCP fallback"));

        let legacy = matrix(&[(8000, true)], &[(443, true), (8687, false)]);
        assert_eq!(summary(&findings(&legacy, &DONE)), [(Severity::Info, None)]);

        let nothing = matrix(&[(8000, false)], &[(443, false)]);
        let found = findings(&nothing, &DONE);
        assert_eq!(summary(&found), [(Severity::Error, Some(16387))]);
        assert_eq!(found[0].message.as_deref(), Some(NO_CANDIDATE));
        assert!(found[0].fix.contains("UDP 8000 to media.lab") && found[0].fix.contains("TCP 443"));

        let elsewhere = PathContext {
            stream_answered: true,
            ..DONE
        };
        assert_eq!(
            summary(&findings(&nothing, &elsewhere)),
            [(Severity::Warning, None)]
        );
        let interrupted = PathContext {
            complete: false,
            ..DONE
        };
        assert_eq!(
            summary(&findings(&nothing, &interrupted)),
            [(Severity::Warning, None)]
        );
    }

    #[test]
    fn the_matrix_in_the_metrics() {
        let observation = matrix(&[(8000, true), (8080, false)], &[(443, true)]);
        let metrics = metrics(&observation);
        assert_eq!(metrics["open"], json!({"udp": [8000], "tcp": [443]}));
        assert_eq!(metrics["closed"], json!({"udp": [8080], "tcp": []}));
        assert_eq!(metrics["matrix"][1]["result"], "silent");
        assert_eq!(
            metrics["matrix"][1]["silence_rule"],
            "gave up after 1000 ms"
        );
    }
}
