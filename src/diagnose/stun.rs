//! STUN rules: what a STUN server's answers (or their absence) mean for TRTC's media paths.
//!
//! A path's verdict depends on the others (DESIGN.md, "What TRTC's paths are"): UDP blocked
//! while TCP or TLS still carries STUN is a warning (media relays over TCP 443, with more
//! latency); 16387 is for no media path at all. So each probe is judged against a
//! [`PathContext`] built from every STUN probe of the run.
//!
//! | observation | finding |
//! |---|---|
//! | every family answered | pass (the mapped address and NAT in the metrics) |
//! | some family answered, another failed | warning naming the failing family |
//! | no family answered, another probe's path carried STUN | warning naming host, port and transport to open |
//! | no family answered and no path anywhere carried STUN | 16387 ICE_TRANSPORT_ERROR, `RtcError: no valid ice candidate found` |
//! | the same before every probe finished (an interrupted run) | warning: not compared with the other paths |
//! | the name did not resolve | as "no family answered", with the resolver's words |
//! | a STUN error response | warning: the path carries STUN, the server refused the request |
//! | TLS: answered over a chain the OS trusts that ends at a root no browser ships | info: TLS inspection, naming the root (and, where STUN failed, the evidence says the handshake was inspected) |

use preflight_probes::stun::probe::{FamilyObservation, Observation, PathResult, Transport};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

use super::{note, sdk_error};
use crate::catalog::sdk;

/// The message string for "no media path".
pub const NO_CANDIDATE: &str = "RtcError: no valid ice candidate found";

/// What the run as a whole knows about TRTC's media paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathContext {
    /// Every network probe finished: "no path at all" can be concluded.
    pub complete: bool,
    /// Some UDP path carried a STUN answer.
    pub udp_answered: bool,
    /// Some TCP (or TLS) path carried a STUN answer.
    pub stream_answered: bool,
}

impl PathContext {
    /// The context of a set of STUN observations.
    pub fn of<'a>(
        observations: impl IntoIterator<Item = &'a Observation>,
        complete: bool,
    ) -> PathContext {
        let mut context = PathContext {
            complete,
            ..PathContext::default()
        };
        for observation in observations {
            let answered = observation
                .families
                .iter()
                .any(|family| family.result.carries_payload());
            match observation.target.transport {
                Transport::Udp => context.udp_answered |= answered,
                Transport::Tcp | Transport::Tls => context.stream_answered |= answered,
            }
        }
        context
    }

    /// Adds what a port matrix saw.
    pub fn include_ports(&mut self, observation: &preflight_probes::ports::Observation) {
        for cell in observation
            .cells
            .iter()
            .filter(|cell| cell.result.carries_payload())
        {
            match cell.transport {
                Transport::Udp => self.udp_answered = true,
                Transport::Tcp | Transport::Tls => self.stream_answered = true,
            }
        }
    }

    /// Adds what a TURN relay showed: a relay that allocates and carries data is a path over
    /// its transport.
    pub fn include_turn(&mut self, observation: &preflight_probes::turn::Observation) {
        if observation.relays() {
            match observation.server.transport {
                preflight_probes::turn::Transport::Udp => self.udp_answered = true,
                _ => self.stream_answered = true,
            }
        }
    }

    /// Whether any path of the run carries anything.
    pub(crate) fn any_path(&self) -> bool {
        self.udp_answered || self.stream_answered
    }
}

/// The target as the report shows it: `host:port/udp`.
pub fn target_text(observation: &Observation) -> String {
    let target = &observation.target;
    format!(
        "{}:{}/{}",
        target.host,
        target.port,
        target.transport.as_str()
    )
}

/// Findings of one STUN probe, judged in `context`: the verdict on its paths, and a note when
/// the route goes through a tunnel.
pub fn findings(observation: &Observation, context: &PathContext) -> Vec<Finding> {
    let mut findings = path_findings(observation, context);
    let tunnels: Vec<String> = observation
        .families
        .iter()
        .filter_map(|family| {
            family
                .egress
                .as_ref()
                .filter(|egress| egress.tunnel)
                .map(|egress| (family, egress))
        })
        .map(|(family, egress)| {
            format!(
                "{} leaves through {} (source {}, MTU {})",
                family.address,
                egress.interface.as_deref().unwrap_or("a tunnel"),
                egress.source,
                egress
                    .mtu
                    .map_or("unknown".to_string(), |mtu| mtu.to_string())
            )
        })
        .collect();
    findings.extend(inspection(observation));
    if !tunnels.is_empty() {
        findings.push(note(
            Severity::Info,
            "The route to this server goes through a tunnel (a VPN): media takes the same way, with its latency and its smaller MTU.",
            format!("{}.", tunnels.join("; ")),
            "If calls suffer, ask whether the VPN can exclude TRTC's media traffic (split tunnelling), or check the mtu probe's result.".to_string(),
        ));
    }
    findings
}

/// STUN over TLS through TLS inspection: information for the families that answered (the
/// path works through it). A family that did not answer says it in its evidence instead.
fn inspection(observation: &Observation) -> Option<Finding> {
    let target = target_text(observation);
    let mut issuers: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for family in observation
        .families
        .iter()
        .filter(|family| family.result.answered())
    {
        let Some(issuer) = inspected_by(family) else {
            continue;
        };
        seen.push(format!(
            "{target} at {} over {}: the OS accepted a chain that ends at {issuer}, which is not one of the publicly trusted roots (Mozilla's) that browsers ship",
            family.address,
            family.family.as_str().replace("ip", "IP")
        ));
        if !issuers.contains(&issuer) {
            issuers.push(issuer);
        }
    }
    super::signaling::inspection_note(
        &issuers,
        &observation.target.host,
        format!("{}.", seen.join("; ")),
    )
}

/// The root of a TLS-inspecting device: a TLS handshake whose chain the OS trusted ends at a
/// root no browser ships.
fn inspected_by(family: &FamilyObservation) -> Option<String> {
    family
        .tls
        .as_ref()
        .filter(|facts| facts.public_root == Some(false))
        .map(super::signaling::inspecting_root)
}

/// A failing family's evidence, and whether its TLS handshake was inspected.
fn failing_evidence(target: &str, family: &FamilyObservation) -> String {
    let evidence = family_evidence(target, family);
    match inspected_by(family) {
        Some(issuer) => format!(
            "{evidence} The TLS handshake went through TLS inspection by {issuer} (a root this machine trusts and browsers do not ship): the inspecting device may be what stops STUN."
        ),
        None => evidence,
    }
}

fn path_findings(observation: &Observation, context: &PathContext) -> Vec<Finding> {
    let target = target_text(observation);
    let failures: Vec<String> = match &observation.resolution {
        Err(error) => vec![format!("{error}.")],
        Ok(_) => observation
            .families
            .iter()
            .filter(|family| !family.result.answered())
            .map(|family| failing_evidence(&target, family))
            .collect(),
    };
    let answered = observation
        .families
        .iter()
        .filter(|family| family.result.answered())
        .count();
    if failures.is_empty() {
        return Vec::new();
    }
    let evidence = failures.join(" ");
    let transport = observation.target.transport;
    let open = open_rule(observation);
    if answered > 0 {
        return vec![note(
            Severity::Warning,
            "One address family reaches this STUN server and another does not: calls work, but a browser that prefers the failing family waits for it first.",
            evidence,
            format!("{open} for the failing family too, or fix its route (a broken IPv6 is common)."),
        )];
    }
    let refused = observation
        .families
        .iter()
        .any(|family| matches!(family.result, PathResult::ErrorResponse { .. }));
    if refused {
        return vec![note(
            Severity::Warning,
            "The path carries STUN, but the server refused the binding request.",
            evidence,
            format!(
                "Check the configuration of the STUN server at {}:{} (a `serve` started with a token wants the same TRTC_PREFLIGHT_TOKEN here).",
                observation.target.host, observation.target.port
            ),
        )];
    }
    if !context.complete {
        return vec![note(
            Severity::Warning,
            "No answer on this path; the run ended before it could be compared with the other paths.",
            evidence,
            format!("{open}, and run the check to the end to know whether media has another path."),
        )];
    }
    if context.any_path() {
        // Name the kind of path that did answer: another server over the same transport is not
        // a fallback to the other transport.
        let (description, fix) = match transport {
            Transport::Udp if context.udp_answered => (
                "This server does not answer over UDP, but another UDP path of this run does: UDP passes, just not to this server and port.",
                format!("{open} if TRTC's media should use this server and port, or check that a STUN server answers there."),
            ),
            Transport::Tcp | Transport::Tls if context.stream_answered => (
                "This server does not answer over TCP, but another TCP path of this run does: TCP passes, just not to this server and port.",
                format!("{open} if TRTC's media should fall back to TCP/TLS 443 through this server, or check that a STUN server answers there."),
            ),
            Transport::Udp => (
                "UDP to this server is blocked, but a TCP path answered: TRTC can relay media over TCP/TLS 443, with more latency and less resilience to loss.",
                format!("{open} for direct UDP media (TRTC Web uses UDP 8000, 8080, 8800, 843, 443 and 16285)."),
            ),
            Transport::Tcp | Transport::Tls => (
                "TCP to this server is blocked, but UDP answered: calls work over UDP, with no TCP fallback should UDP fail.",
                format!("{open} so that media can fall back to TCP/TLS 443."),
            ),
        };
        return vec![note(Severity::Warning, description, evidence, fix)];
    }
    vec![sdk_error(
        sdk::ICE_TRANSPORT_ERROR,
        Some(NO_CANDIDATE),
        None,
        evidence,
        format!(
            "No STUN server answered over any path, so no media candidate can be gathered. {open}; at the very least allow outbound TCP 443 (TLS) so that media can relay."
        ),
    )]
}

/// "Allow outbound UDP 3478 to stun.example.com (127.0.0.1)".
fn open_rule(observation: &Observation) -> String {
    let target = &observation.target;
    let addresses: Vec<String> = observation
        .families
        .iter()
        .map(|family| family.address.ip().to_string())
        .collect();
    let at = if addresses.is_empty() || addresses.contains(&target.host) {
        target.host.clone()
    } else {
        format!("{} ({})", target.host, addresses.join(", "))
    };
    let protocol = match target.transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TCP (TLS)",
    };
    format!("Allow outbound {protocol} {} to {at}", target.port)
}

fn family_evidence(target: &str, family: &FamilyObservation) -> String {
    let udp = target.ends_with("/udp");
    let via = family.egress.as_ref().map_or(String::new(), |egress| {
        let interface = egress
            .interface
            .as_deref()
            .unwrap_or("an unknown interface");
        let tunnel = if egress.tunnel {
            ", a tunnel (VPN)"
        } else {
            ""
        };
        format!(" (from {} via {interface}{tunnel})", egress.source)
    });
    // "stun.lab:3478/udp at 127.0.0.1:3478", or just the target when it is an address already.
    let host = target.rsplit_once('/').map_or(target, |(host, _)| host);
    let address = family.address.to_string();
    let at = if host == address {
        format!(
            "{target} over {}{via}",
            family.family.as_str().replace("ip", "IP")
        )
    } else {
        format!(
            "{target} at {address} over {}{via}",
            family.family.as_str().replace("ip", "IP")
        )
    };
    let ignored = family.ignored.before_end();
    match &family.result {
        PathResult::Answered { .. } => format!("{at}: answered."),
        PathResult::ErrorResponse { code, reason } => format!("{at}: STUN error response {code} {reason:?}."),
        PathResult::Rejected { after } if udp => format!(
            "{at}: rejected with ICMP port unreachable after {} ms: nothing listens on that port, or a firewall rejects.",
            after.as_millis()
        ),
        PathResult::Rejected { after } => {
            format!("{at}: connection refused after {} ms: nothing listens, or a firewall resets.", after.as_millis())
        }
        PathResult::Silent { attempts, .. } if udp => format!(
            "{at}: no answer to {attempts} binding requests ({}): the datagrams or the answers are dropped.",
            family.silence_rule.as_deref().unwrap_or("no answer")
        ),
        PathResult::Silent { waited, .. } => {
            format!("{at}: the TCP connection did not open in {} ms: dropped by a firewall.", waited.as_millis())
        }
        PathResult::AcceptedButSilent { waited } => format!(
            "{at}: the TCP connection opened, then no STUN answer in {} ms: something accepts connections and blocks their payload (a proxy, or a firewall that inspects).",
            waited.as_millis()
        ),
        PathResult::ClosedBeforeAnswer { reset } => format!(
            "{at}: the connection was {} before any answer: something in the way refuses the payload.",
            if *reset { "reset" } else { "closed" }
        ),
        PathResult::Garbage { waited } => format!(
            "{at}: {ignored} replies in {} ms, none a valid STUN answer (not STUN, wrong transaction, bad fingerprint or truncated): something other than a STUN server answers there.",
            waited.as_millis()
        ),
        PathResult::NoRoute { reason } => format!("{at}: this machine cannot send there ({reason})."),
        PathResult::TlsFailed { failure } => format!("{at}: the TCP connection opened, then the TLS handshake failed: {failure}."),
    }
}

/// With two or more UDP servers answering over the same family from behind a NAT, whether they
/// saw the same public address: information, never a warning (TRTC's SFU is reached either way).
pub fn mapping_note(observations: &[&Observation]) -> Option<Finding> {
    let mut seen: Vec<(String, SocketAddr)> = Vec::new();
    for observation in observations
        .iter()
        .filter(|o| o.target.transport == Transport::Udp)
    {
        for family in &observation.families {
            if let PathResult::Answered {
                mapped,
                local: Some(local),
                ..
            } = family.result
            {
                if mapped != local
                    && seen
                        .iter()
                        .all(|(_, other)| other.is_ipv4() == mapped.is_ipv4())
                {
                    seen.push((target_text(observation), mapped));
                }
            }
        }
    }
    if seen.len() < 2 {
        return None;
    }
    let list: Vec<String> = seen
        .iter()
        .map(|(target, mapped)| format!("{target} saw {mapped}"))
        .collect();
    // Each probe uses its own socket, so ports differ anyway: only the public address compares.
    let same = seen.iter().all(|(_, mapped)| mapped.ip() == seen[0].1.ip());
    let description = if same {
        "Behind a NAT: every STUN server saw the same public address."
    } else {
        "Behind a NAT that maps to different public addresses by destination (an address pool, or several uplinks): peer-to-peer media would be harder; TRTC's servers are reached either way."
    };
    Some(note(
        Severity::Info,
        description,
        format!("{}.", list.join("; ")),
        "Nothing to fix for TRTC: its media servers are reached through any NAT.".to_string(),
    ))
}

/// The `metrics` object of a STUN probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let families: Vec<Value> = observation.families.iter().map(family_metrics).collect();
    let first_answer = observation
        .families
        .iter()
        .find_map(|family| match family.result {
            PathResult::Answered { rtt, .. } => Some(rtt),
            _ => None,
        });
    let attempts: u32 = observation
        .families
        .iter()
        .map(|family| attempts_of(&family.result))
        .sum();
    let (addresses, resolve) = match &observation.resolution {
        Ok(resolved) => (
            resolved
                .all()
                .map(|address| address.to_string())
                .collect::<Vec<_>>(),
            json!({"source": format!("{:?}", resolved.source).to_lowercase(), "ms": millis(resolved.took), "error": null}),
        ),
        Err(error) => (
            Vec::new(),
            json!({"source": null, "ms": null, "error": error.to_string()}),
        ),
    };
    let mut map = Map::new();
    map.insert(
        "transport".into(),
        json!(observation.target.transport.as_str()),
    );
    map.insert("attempts".into(), json!(attempts));
    map.insert("rtt_ms".into(), json!(first_answer.map(millis)));
    map.insert("addresses".into(), json!(addresses));
    map.insert("resolve".into(), resolve);
    map.insert("families".into(), Value::Array(families));
    map
}

fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn attempts_of(result: &PathResult) -> u32 {
    match result {
        PathResult::Answered { attempts, .. } | PathResult::Silent { attempts, .. } => *attempts,
        PathResult::NoRoute { .. } => 0,
        _ => 1,
    }
}

fn family_metrics(family: &FamilyObservation) -> Value {
    let (result, rtt, mapped, local, waited) = match &family.result {
        PathResult::Answered {
            rtt, mapped, local, ..
        } => ("answered", Some(millis(*rtt)), Some(*mapped), *local, None),
        PathResult::ErrorResponse { .. } => ("error_response", None, None, None, None),
        PathResult::Rejected { after } => ("rejected", None, None, None, Some(millis(*after))),
        PathResult::Silent { waited, .. } => ("silent", None, None, None, Some(millis(*waited))),
        PathResult::AcceptedButSilent { waited } => (
            "accepted_but_silent",
            None,
            None,
            None,
            Some(millis(*waited)),
        ),
        PathResult::ClosedBeforeAnswer { .. } => ("closed", None, None, None, None),
        PathResult::Garbage { waited } => ("garbage", None, None, None, Some(millis(*waited))),
        PathResult::NoRoute { .. } => ("no_route", None, None, None, None),
        PathResult::TlsFailed { .. } => ("tls_failed", None, None, None, None),
    };
    let nat = match (mapped, local) {
        (Some(mapped), Some(local)) => Some(mapped != local),
        _ => None,
    };
    json!({
        "family": family.family.as_str(),
        "address": family.address.to_string(),
        "result": result,
        "rtt_ms": rtt,
        "attempts": attempts_of(&family.result),
        "waited_ms": waited,
        "mapped": mapped.map(|address| address.to_string()),
        "local": local.map(|address| address.to_string()),
        "nat": nat,
        "interface": family.egress.as_ref().and_then(|egress| egress.interface.clone()),
        "source": family.egress.as_ref().map(|egress| egress.source.to_string()),
        "mtu": family.egress.as_ref().and_then(|egress| egress.mtu),
        "tunnel": family.egress.as_ref().map(|egress| egress.tunnel),
        "ignored": family.ignored.before_end(),
        "silence_rule": family.silence_rule,
        "tls": family.tls.as_ref().map(|facts| json!({
            "protocol": facts.protocol,
            "cipher_suite": facts.cipher_suite,
            "alpn": facts.alpn,
            "verification": facts.verification.as_str(),
            "handshake_ms": millis(facts.duration),
            "certificate": facts.leaf.as_ref().map(|leaf| json!({
                "subject": leaf.subject,
                "issuer": leaf.issuer,
                "names": leaf.names,
                "not_after": crate::time::UnixTime(leaf.not_after).rfc3339(),
                "sha256": preflight_probes::tls::format_pin(&leaf.sha256),
            })),
        })),
        "tls_failure": match &family.result {
            PathResult::TlsFailed { failure } => json!({"kind": failure.kind(), "detail": failure.to_string()}),
            _ => Value::Null,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::resolve::{Resolved, Source};
    use preflight_probes::stun::engine::IgnoredCounts;
    use preflight_probes::stun::probe::{Family, Target};
    use std::time::Duration;

    fn observation(transport: Transport, results: &[PathResult]) -> Observation {
        let families = results
            .iter()
            .enumerate()
            .map(|(index, result)| FamilyObservation {
                family: if index == 0 { Family::V4 } else { Family::V6 },
                address: if index == 0 {
                    "127.0.0.1:3478".parse().unwrap()
                } else {
                    "[::1]:3478".parse().unwrap()
                },
                egress: None,
                result: result.clone(),
                ignored: IgnoredCounts::default(),
                tls: None,
                silence_rule: None,
            })
            .collect();
        Observation {
            target: Target {
                host: "stun.lab".into(),
                port: 3478,
                transport,
            },
            resolution: Ok(Resolved {
                v4: vec![],
                v6: vec![],
                source: Source::Override,
                took: Duration::ZERO,
            }),
            families,
        }
    }

    fn answered() -> PathResult {
        PathResult::Answered {
            rtt: Duration::from_millis(3),
            attempts: 1,
            mapped: "127.0.0.1:5000".parse().unwrap(),
            local: Some("127.0.0.1:5000".parse().unwrap()),
        }
    }

    fn silent() -> PathResult {
        PathResult::Silent {
            attempts: 4,
            waited: Duration::from_millis(1500),
        }
    }

    /// (transport, family results, context: udp answered, stream answered, complete) -> (severity, code)
    type Case = (
        Transport,
        Vec<PathResult>,
        (bool, bool, bool),
        Option<(Severity, Option<u32>)>,
    );

    #[test]
    fn every_row_of_the_table() {
        let cases: Vec<Case> = vec![
            (Transport::Udp, vec![answered()], (true, false, true), None),
            (
                Transport::Udp,
                vec![answered(), silent()],
                (true, false, true),
                Some((Severity::Warning, None)),
            ),
            (
                Transport::Udp,
                vec![silent()],
                (false, true, true),
                Some((Severity::Warning, None)),
            ),
            (
                Transport::Tcp,
                vec![PathResult::AcceptedButSilent {
                    waited: Duration::from_secs(1),
                }],
                (true, false, true),
                Some((Severity::Warning, None)),
            ),
            (
                Transport::Udp,
                vec![silent()],
                (false, false, true),
                Some((Severity::Error, Some(16387))),
            ),
            (
                Transport::Udp,
                vec![PathResult::Rejected {
                    after: Duration::ZERO,
                }],
                (false, false, true),
                Some((Severity::Error, Some(16387))),
            ),
            (
                Transport::Udp,
                vec![silent()],
                (false, false, false),
                Some((Severity::Warning, None)),
            ),
            (
                Transport::Udp,
                vec![PathResult::ErrorResponse {
                    code: 401,
                    reason: "Unauthorized".into(),
                }],
                (false, false, true),
                Some((Severity::Warning, None)),
            ),
        ];
        for (transport, results, (udp_answered, stream_answered, complete), expected) in cases {
            let observation = observation(transport, &results);
            let context = PathContext {
                complete,
                udp_answered,
                stream_answered,
            };
            let findings = findings(&observation, &context);
            let got = findings
                .first()
                .map(|finding| (finding.severity, finding.code));
            assert_eq!(
                got, expected,
                "{transport:?} {results:?} {context:?}: {findings:#?}"
            );
            assert!(findings.len() <= 1);
            if let Some(finding) = findings.first() {
                assert!(
                    finding.fix.contains("3478") && finding.fix.contains("stun.lab"),
                    "{}",
                    finding.fix
                );
                if finding.code == Some(16387) {
                    assert_eq!(finding.message.as_deref(), Some(NO_CANDIDATE));
                }
            }
        }
    }

    #[test]
    fn the_warning_names_the_kind_of_path_that_answered() {
        // (transport, udp answered, stream answered) -> words of the description
        let cases = [
            (Transport::Udp, true, false, "another UDP path"),
            (Transport::Udp, true, true, "another UDP path"),
            (Transport::Udp, false, true, "a TCP path answered"),
            (Transport::Tcp, false, true, "another TCP path"),
            (Transport::Tls, true, true, "another TCP path"),
            (Transport::Tls, true, false, "but UDP answered"),
        ];
        for (transport, udp_answered, stream_answered, words) in cases {
            let context = PathContext {
                complete: true,
                udp_answered,
                stream_answered,
            };
            let findings = findings(&observation(transport, &[silent()]), &context);
            assert_eq!(findings.len(), 1);
            assert_eq!(findings[0].severity, Severity::Warning);
            assert!(
                findings[0].description.contains(words),
                "{transport:?} {context:?}: {}",
                findings[0].description
            );
            assert!(findings[0].fix.contains("3478"), "{}", findings[0].fix);
        }
    }

    #[test]
    fn context_of_observations() {
        let udp = observation(Transport::Udp, &[silent()]);
        let tcp = observation(Transport::Tcp, &[answered()]);
        let context = PathContext::of([&udp, &tcp], true);
        assert_eq!(
            context,
            PathContext {
                complete: true,
                udp_answered: false,
                stream_answered: true
            }
        );
    }

    #[test]
    fn the_public_address_compared_across_servers() {
        let behind_nat = |public: &str| {
            let mut observation = observation(Transport::Udp, &[answered()]);
            observation.families[0].result = PathResult::Answered {
                rtt: Duration::from_millis(1),
                attempts: 1,
                mapped: public.parse().unwrap(),
                local: Some("10.0.0.2:5000".parse().unwrap()),
            };
            observation
        };
        let (a, b, c) = (
            behind_nat("198.51.100.1:7000"),
            behind_nat("198.51.100.1:7001"),
            behind_nat("198.51.100.9:7000"),
        );
        let same = mapping_note(&[&a, &b]).unwrap();
        assert_eq!(same.severity, Severity::Info);
        assert!(same.description.contains("same public address"));
        assert!(mapping_note(&[&a, &c])
            .unwrap()
            .description
            .contains("different public addresses"));
        assert_eq!(mapping_note(&[&a]), None);
        let no_nat = observation(Transport::Udp, &[answered()]);
        assert_eq!(mapping_note(&[&no_nat, &no_nat.clone()]), None);
    }

    #[test]
    fn a_name_that_did_not_resolve() {
        let mut observation = observation(Transport::Udp, &[]);
        observation.resolution = Err(preflight_probes::resolve::ResolveError::Failed {
            host: "stun.lab".into(),
            reason: "no such name".into(),
        });
        let alone = findings(
            &observation,
            &PathContext {
                complete: true,
                ..PathContext::default()
            },
        );
        assert_eq!(
            (alone[0].severity, alone[0].code),
            (Severity::Error, Some(16387))
        );
        assert!(
            alone[0].evidence.contains("did not resolve: no such name"),
            "{}",
            alone[0].evidence
        );
        let beside = findings(
            &observation,
            &PathContext {
                complete: true,
                udp_answered: true,
                stream_answered: false,
            },
        );
        assert_eq!(
            (beside[0].severity, beside[0].code),
            (Severity::Warning, None)
        );
    }

    #[test]
    fn a_route_through_a_tunnel_is_said() {
        let mut observation = observation(Transport::Udp, &[answered()]);
        observation.families[0].egress = Some(preflight_probes::route::Egress {
            source: "10.8.0.2".parse().unwrap(),
            interface: Some("wg0".into()),
            mtu: Some(1420),
            tunnel: true,
        });
        let context = PathContext {
            complete: true,
            udp_answered: true,
            stream_answered: false,
        };
        let findings = findings(&observation, &context);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Info);
        assert!(
            findings[0].evidence.contains("wg0") && findings[0].evidence.contains("MTU 1420"),
            "{}",
            findings[0].evidence
        );
    }

    /// A TLS handshake the OS trusted, ending at `root` (`public_root` as given).
    fn tls_facts(public_root: Option<bool>, root: &str) -> preflight_probes::tls::HandshakeFacts {
        preflight_probes::tls::HandshakeFacts {
            server_name: "stun.lab".into(),
            protocol: "TLS 1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            alpn: Some("stun.turn".into()),
            leaf: None,
            chain: Vec::new(),
            verification: preflight_probes::tls::Verification::Platform,
            public_root,
            top_issuer: Some(root.into()),
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn stun_over_tls_through_a_private_root_is_tls_inspection() {
        let context = PathContext {
            complete: true,
            udp_answered: true,
            stream_answered: true,
        };
        let root = "CN=Example Inspection Root CA";
        let mut inspected = observation(Transport::Tls, &[answered(), answered()]);
        for family in &mut inspected.families {
            family.tls = Some(tls_facts(Some(false), root));
        }
        let found = findings(&inspected, &context);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!((found[0].severity, found[0].code), (Severity::Info, None));
        assert!(
            found[0].description.starts_with(&format!(
                "TLS inspection by {root} in place: the connection to stun.lab"
            )),
            "{}",
            found[0].description
        );
        assert!(
            found[0].evidence.contains("IPv4") && found[0].evidence.contains("IPv6"),
            "{}",
            found[0].evidence
        );

        for public_root in [Some(true), None] {
            let mut clean = observation(Transport::Tls, &[answered()]);
            clean.families[0].tls = Some(tls_facts(public_root, root));
            assert_eq!(findings(&clean, &context), Vec::new(), "{public_root:?}");
        }

        // The handshake went through, STUN did not: the path's own finding says who is in
        // the way, and no separate information is given.
        let mut stopped = observation(
            Transport::Tls,
            &[PathResult::AcceptedButSilent {
                waited: Duration::from_secs(1),
            }],
        );
        stopped.families[0].tls = Some(tls_facts(Some(false), root));
        let found = findings(&stopped, &context);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(
            found[0]
                .evidence
                .contains(&format!("TLS inspection by {root}")),
            "{}",
            found[0].evidence
        );
    }

    #[test]
    fn metrics_say_what_was_seen() {
        let observation = observation(Transport::Udp, &[answered(), silent()]);
        let metrics = metrics(&observation);
        assert_eq!(metrics["rtt_ms"], json!(3.0));
        assert_eq!(metrics["attempts"], json!(5));
        assert_eq!(metrics["families"][0]["result"], "answered");
        assert_eq!(metrics["families"][0]["nat"], false);
        assert_eq!(metrics["families"][1]["result"], "silent");
        assert_eq!(metrics["families"][1]["waited_ms"], json!(1500.0));
    }
}
