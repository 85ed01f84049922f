//! The WebRTC probe's findings: which stage of a peer connection to the test peer failed, in
//! the SDK's codes (16385 signaling, 16388 join, 16389 offer, 16387 ICE and DTLS), and media
//! that went one way only.

use std::time::Duration;

use preflight_probes::webrtc::probe::{Failure, MediaFacts, Observation, Stage};
use preflight_probes::webrtc::{Candidate, CandidateKind};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::{note, sdk_error};
use crate::catalog::sdk;

const WEBSOCKET_FAILED: &str = "failed to connect to remote server via websocket";
const JOIN_TIMEOUT: &str = "join room timeout";
const ICE_FAILED: &str = "ICE/DTLS Transport connection failed";
const DTLS_TIMEOUT: &str = "DTLS Transport connection timeout (10s)";

/// How the probe was asked to run, for the findings' words.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `--relay-only`.
    pub relay_only: bool,
    /// The TURN URLs given to the connection (UDP ones).
    pub relays: Vec<String>,
    /// `--turn` URLs over TCP or TLS, which the WebRTC stack cannot use.
    pub unusable_relays: Vec<String>,
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Says so when the peer stages failures on purpose (`serve --misbehave`).
fn staged(observation: &Observation, mut finding: Finding) -> Finding {
    if let Some(how) = &observation.peer_misbehaves {
        finding.evidence.push_str(&format!(
            " The test peer misbehaves on purpose (serve --misbehave {how}): this result is staged, not a fault of this network."
        ));
    }
    finding
}

fn list(candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        return "none".into();
    }
    let mut by_kind: Vec<String> = Vec::new();
    for kind in [
        CandidateKind::Host,
        CandidateKind::Srflx,
        CandidateKind::Prflx,
        CandidateKind::Relay,
    ] {
        let of_kind: Vec<String> = candidates
            .iter()
            .filter(|candidate| candidate.kind == kind)
            .map(|candidate| {
                format!(
                    "{} {}",
                    candidate.protocol,
                    address(&candidate.address, candidate.port)
                )
            })
            .collect();
        if !of_kind.is_empty() {
            by_kind.push(format!("{} {}", kind.as_str(), of_kind.join(", ")));
        }
    }
    by_kind.join("; ")
}

fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The findings of one probe.
pub fn findings(observation: &Observation, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !context.unusable_relays.is_empty() {
        findings.push(note(
            Severity::Info,
            "The WebRTC check relays over UDP only (the WebRTC stack it is built on has no TURN over TCP or TLS); the turn probe checks those relays on their own.",
            format!(
                "Not used by the WebRTC check: {}.",
                context.unusable_relays.join(", ")
            ),
            "Nothing to fix: read the turn findings for relays over TCP and TLS.".to_string(),
        ));
    }
    match &observation.failure {
        Some(failure) => findings.push(failure_finding(observation, failure, context)),
        None => findings.extend(connected_findings(observation, context)),
    }
    findings
        .into_iter()
        .map(|finding| staged(observation, finding))
        .collect()
}

fn failure_finding(observation: &Observation, failure: &Failure, context: &Context) -> Finding {
    let url = &observation.target.url;
    let host = &observation.target.host;
    let port = observation.target.port;
    match failure {
        Failure::Signaling(failures) => {
            let steps = if failures.is_empty() {
                "it did not open".to_string()
            } else {
                failures
                    .iter()
                    .map(|failure| {
                        let family = failure.family.map_or(String::new(), |family| {
                            format!("{}, ", family.as_str().replace("ip", "IP"))
                        });
                        format!("{family}{} step: {}", failure.step.as_str(), failure.detail)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            sdk_error(
                sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
                Some(WEBSOCKET_FAILED),
                None,
                format!("The test peer's signaling WebSocket {url} did not open ({steps}); nothing of WebRTC could be tried."),
                format!(
                    "Check that `trtc-preflight serve` runs on {host} with its signaling port {port} (--signal-ws or --signal-wss) and that TCP {port} is open from here; `check --signal {url}` shows every step."
                ),
            )
        }
        Failure::Closed { during, detail } => sdk_error(
            sdk::SIGNAL_CHANNEL_ERROR,
            None,
            None,
            format!("The signaling WebSocket {url} opened, then ended during the {} stage: {detail}.", during.as_str()),
            format!("Look for a proxy or firewall between here and {host} that cuts WebSockets on TCP {port}, or a `serve` that stopped; then run the check again."),
        ),
        Failure::NotOurServer { detail } => sdk_error(
            sdk::SIGNAL_CHANNEL_ERROR,
            None,
            None,
            format!("{url} opened a WebSocket but does not speak the test peer's protocol: {detail}."),
            format!("Point --peer at the signaling URL of `trtc-preflight serve` (ws://HOST:PORT/ or wss://HOST:PORT/ as `serve` prints it); {host}:{port} is something else."),
        ),
        Failure::NoAnswerer => sdk_error(
            sdk::JOIN_ROOM_FAILED,
            None,
            None,
            format!("The test peer at {url} runs without a WebRTC answerer (its welcome says \"answerer\": false), so no connection can be tried."),
            format!("Restart `trtc-preflight serve` on {host} without --no-answerer."),
        ),
        Failure::Refused { during, code, message } => {
            let fix = match code.as_str() {
                "no_answerer" => format!("Restart `trtc-preflight serve` on {host} without --no-answerer."),
                "answer_failed" if message.contains("sessions are open") => format!(
                    "The test peer on {host} is at its session limit: wait for other checks to end, or raise `serve --webrtc-sessions`."
                ),
                _ => format!("Read the test peer's reason above; `serve -v` on {host} logs the offer it refused."),
            };
            sdk_error(
                sdk::JOIN_ROOM_FAILED,
                None,
                None,
                format!("The test peer at {url} refused the {} stage: {code}: {message}.", during.as_str()),
                fix,
            )
        }
        Failure::Timeout { during, waited } => {
            let what = match during {
                Stage::Signaling => "did not answer hello",
                Stage::Join => "did not answer the join",
                _ => "took the offer and sent no answer",
            };
            sdk_error(
                sdk::JOIN_ROOM_FAILED,
                Some(JOIN_TIMEOUT),
                None,
                format!(
                    "The test peer at {url} {what} within {} (the WebSocket itself was open{}).",
                    ms(*waited),
                    observation
                        .timings
                        .signaling
                        .map_or(String::new(), |took| format!("; joining took {}", ms(took)))
                ),
                format!(
                    "The peer is overloaded, misconfigured (`serve --misbehave never-answer` does this on purpose), or a proxy holds its messages back: check `serve`'s log on {host} and run the check again. TRTC's servers answer a join within a second."
                ),
            )
        }
        Failure::CreateOffer(detail) => sdk_error(
            sdk::CREATE_OFFER_FAILED,
            None,
            None,
            format!("The peer connection or its offer could not be made on this machine: {detail}."),
            format!(
                "Check that this machine can open UDP sockets on {} (a sandbox or a security product may forbid them), then run the check again.",
                bound_text(observation)
            ),
        ),
        Failure::AnswerRejected(detail) => sdk_error(
            sdk::JOIN_ROOM_FAILED,
            None,
            None,
            format!("The test peer at {url} answered, but its answer could not be applied: {detail}."),
            "Use a `serve` of the same version as this tool; a peer that answers with codecs or transports the offer did not have is not a TRTC-compatible peer.".to_string(),
        ),
        Failure::Ice { waited, state } => {
            let local = &observation.local_candidates;
            let remote = &observation.remote_candidates;
            let evidence = format!(
                "ICE with the test peer at {url} did not connect within {} (last state: {state}). Local candidates: {}. The peer's candidates: {}.",
                ms(*waited),
                list(local),
                list(remote)
            );
            let fix = if context.relay_only
                && !local.iter().any(|candidate| candidate.kind == CandidateKind::Relay)
            {
                format!(
                    "No relay candidate was gathered from {}: the relay refused the allocation or did not answer over UDP. Check --turn-user and TRTC_PREFLIGHT_TURN_PASSWORD, and that UDP to the relay's port is open; the turn probe names the exact refusal.",
                    context.relays.join(", ")
                )
            } else if remote.is_empty() {
                format!("The test peer sent no candidates: restart `serve` on {host}, and check that it can bind UDP ports there.")
            } else {
                let ports: Vec<String> = remote
                    .iter()
                    .filter(|candidate| candidate.protocol == "udp")
                    .map(|candidate| address(&candidate.address, candidate.port))
                    .collect();
                format!(
                    "UDP between this machine ({}) and the test peer ({}) is blocked: allow outbound UDP to those addresses and their answers (TRTC's own media ports are UDP 8000, 8080, 8800, 843, 443 and 16285), or make TURN over TLS on TCP 443 reachable so that calls can relay.",
                    bound_text(observation),
                    if ports.is_empty() { "no UDP candidate".to_string() } else { ports.join(", ") }
                )
            };
            sdk_error(sdk::ICE_TRANSPORT_ERROR, Some(ICE_FAILED), None, evidence, fix)
        }
        Failure::Dtls { waited, state } => {
            let ice = observation
                .timings
                .ice
                .map_or(String::new(), |took| format!(" in {}", ms(took)));
            let failed = state == "failed";
            let evidence = format!(
                "ICE with the test peer at {url} connected{ice}, then the DTLS handshake {} after {} (the SDK gives up after 10 s; this check waits less). Local candidates: {}. The peer's candidates: {}.",
                if failed { "failed" } else { "did not complete" },
                ms(*waited),
                list(&observation.local_candidates),
                list(&observation.remote_candidates)
            );
            sdk_error(
                sdk::ICE_TRANSPORT_ERROR,
                Some(if failed { ICE_FAILED } else { DTLS_TIMEOUT }),
                None,
                evidence,
                format!(
                    "Something between this machine and {host} passes STUN but not DTLS: a firewall or VPN that filters UDP by content, or drops fragments of large datagrams. Allow UDP between the two both ways without inspection, and check the MTU finding; TURN over TLS on TCP 443 is the way around it."
                ),
            )
        }
    }
}

fn bound_text(observation: &Observation) -> String {
    if observation.bound.is_empty() {
        return "its local addresses".into();
    }
    observation
        .bound
        .iter()
        .map(|address| address.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn connected_findings(observation: &Observation, context: &Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    let url = &observation.target.url;
    let timings = &observation.timings;
    let pair = observation.selected.as_ref().map_or(String::new(), |pair| {
        format!(
            " over {} {} ↔ {}{}",
            pair.local.kind.as_str(),
            address(&pair.local.address, pair.local.port),
            address(&pair.remote.address, pair.remote.port),
            pair.round_trip
                .map_or(String::new(), |rtt| format!(" (RTT {})", ms(rtt)))
        )
    });
    let stages = format!(
        "connected in {} (signaling {}, answer {}, ICE {}, DTLS {}){pair}",
        timings.connected.map_or("?".into(), ms),
        timings.signaling.map_or("?".into(), ms),
        timings.answer.map_or("?".into(), ms),
        timings.ice.map_or("?".into(), ms),
        timings.dtls.map_or("?".into(), ms),
    );
    let channel = observation.channel.clone().unwrap_or_default();
    if !channel.opened {
        findings.push(note(
            Severity::Warning,
            "The peer connection came up, but its data channel (SCTP over DTLS) did not open: the SDK's custom messages (`sendCustomMessage`, SEI) would not get through.",
            format!("WebRTC with {url} {stages}; the data channel did not open."),
            "Allow UDP between the two without content filtering (SCTP rides in the same DTLS as media), then run the check again.".to_string(),
        ));
    } else if channel.echoed < channel.sent {
        findings.push(note(
            Severity::Warning,
            "Some data-channel messages did not come back: large messages are lost where small ones pass, which points at fragments being dropped.",
            format!(
                "WebRTC with {url} {stages}; {} of {} data-channel messages came back (largest echoed: {} bytes).",
                channel.echoed,
                channel.sent,
                channel.largest_echoed.unwrap_or(0)
            ),
            "Check the MTU finding and allow IP fragments (or lower the MTU on the VPN link) between this machine and the peer.".to_string(),
        ));
    }
    let lost: Vec<&MediaFacts> = observation
        .media
        .iter()
        .filter(|media| media.received == 0)
        .collect();
    for media in &lost {
        let kind = media.kind.as_str();
        let (direction, effect, fix) = match media.peer_received {
            Some(0) => (
                format!("from this machine to the peer: the peer received none of the {} {kind} packets sent", media.sent),
                if kind == "video" {
                    "the others in a call would see black video from this user"
                } else {
                    "the others in a call would hear silence from this user"
                },
                "Something on the way out drops this machine's media (SRTP) while STUN and DTLS pass: a firewall or VPN filtering UDP by content, or a QoS policy. Allow outbound UDP to the peer without inspection.",
            ),
            Some(received) => (
                format!("from the peer back to this machine: the peer received {received} {kind} packets and echoed them, none arrived here"),
                if kind == "video" {
                    "this user would see black video from the others"
                } else {
                    "this user would hear silence from the others"
                },
                "Something on the way in drops the peer's media (SRTP) while STUN and DTLS pass: a stateful firewall that lets answers through only for a while, or inbound UDP filtering. Allow inbound UDP answers from the peer.",
            ),
            None => (
                format!("in an unknown direction: {} {kind} packets sent, none came back, and this peer does not say what it received", media.sent),
                if kind == "video" {
                    "black video in a call"
                } else {
                    "silence in a call"
                },
                "Run the check against `trtc-preflight serve`, which says which direction lost the media; then allow UDP media that way.",
            ),
        };
        findings.push(note(
            Severity::Warning,
            &format!("The peer connection works, but {kind} went one way only: {effect}."),
            format!("WebRTC with {url} {stages}; {kind} was lost {direction}."),
            fix.to_string(),
        ));
    }
    if findings.is_empty() {
        let media = observation
            .media
            .iter()
            .map(|media| {
                format!(
                    "{} back in {} ({} of {} packets)",
                    media.kind.as_str(),
                    media.first_after.map_or("?".into(), ms),
                    media.received,
                    media.sent
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let relayed = if context.relay_only {
            format!(" through the relay {}", context.relays.join(", "))
        } else {
            String::new()
        };
        findings.push(note(
            Severity::Info,
            "A WebRTC call works with the test peer: ICE, DTLS, the data channel and media in both directions.",
            format!(
                "WebRTC with {url}{relayed} {stages}; {} data-channel messages echoed (up to {} bytes){}{}.",
                channel.echoed,
                channel.largest_echoed.unwrap_or(0),
                if media.is_empty() { String::new() } else { "; ".to_string() },
                media
            ),
            "Nothing to fix.".to_string(),
        ));
    }
    findings
}

/// The probe's metrics.
pub fn metrics(observation: &Observation, context: &Context) -> Map<String, Value> {
    let ms = |duration: Option<Duration>| {
        duration.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
    };
    let candidate = |candidate: &Candidate| {
        json!({
            "type": candidate.kind.as_str(),
            "protocol": candidate.protocol,
            "address": candidate.address,
            "port": candidate.port,
        })
    };
    let timings = &observation.timings;
    let mut map = Map::new();
    map.insert("url".into(), json!(observation.target.url));
    map.insert(
        "signaling_address".into(),
        json!(observation.signaling_address.map(|a| a.to_string())),
    );
    map.insert("server".into(), json!(observation.server));
    map.insert("relay_only".into(), json!(context.relay_only));
    map.insert("relays".into(), json!(context.relays));
    map.insert("connected".into(), json!(observation.connected()));
    map.insert(
        "failed_stage".into(),
        json!(observation.failure.as_ref().map(|f| f.stage().as_str())),
    );
    map.insert(
        "timings_ms".into(),
        json!({
            "signaling": ms(timings.signaling),
            "answer": ms(timings.answer),
            "ice": ms(timings.ice),
            "dtls": ms(timings.dtls),
            "connected": ms(timings.connected),
            "channel_open": ms(timings.channel_open),
            "first_media": ms(timings.first_media),
            "ready": ms(timings.ready),
            "total": ms(Some(timings.total)),
        }),
    );
    map.insert(
        "local_candidates".into(),
        Value::Array(observation.local_candidates.iter().map(candidate).collect()),
    );
    map.insert(
        "remote_candidates".into(),
        Value::Array(
            observation
                .remote_candidates
                .iter()
                .map(candidate)
                .collect(),
        ),
    );
    map.insert(
        "ice_states".into(),
        Value::Array(
            observation
                .ice_states
                .iter()
                .map(|(state, at)| json!({"state": state, "at_ms": ms(Some(*at))}))
                .collect(),
        ),
    );
    map.insert(
        "selected_pair".into(),
        observation.selected.as_ref().map_or(Value::Null, |pair| {
            json!({
                "local": candidate(&pair.local),
                "remote": candidate(&pair.remote),
                "rtt_ms": ms(pair.round_trip),
            })
        }),
    );
    map.insert(
        "data_channel".into(),
        observation.channel.as_ref().map_or(Value::Null, |channel| {
            let mut rtts: Vec<Duration> = channel.round_trips.clone();
            rtts.sort();
            json!({
                "opened": channel.opened,
                "sent": channel.sent,
                "echoed": channel.echoed,
                "largest_echoed_bytes": channel.largest_echoed,
                "rtt_ms": {
                    "min": ms(rtts.first().copied()),
                    "median": ms(rtts.get(rtts.len() / 2).copied()),
                    "max": ms(rtts.last().copied()),
                },
            })
        }),
    );
    map.insert(
        "media".into(),
        Value::Array(
            observation
                .media
                .iter()
                .map(|media| {
                    json!({
                        "kind": media.kind.as_str(),
                        "sent": media.sent,
                        "received": media.received,
                        "first_ms": ms(media.first_after),
                        "peer_received": media.peer_received,
                    })
                })
                .collect(),
        ),
    );
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::signaling::{Family, Step, Target};
    use preflight_probes::webrtc::media::MediaKind;
    use preflight_probes::webrtc::probe::{ChannelFacts, SelectedPair, Timings};

    fn candidate(kind: CandidateKind, address: &str, port: u16) -> Candidate {
        Candidate {
            kind,
            protocol: "udp".into(),
            address: address.into(),
            port,
        }
    }

    /// An observation of a probe that failed with `failure`, after a join in 3 ms.
    fn failed(failure: Failure) -> Observation {
        Observation {
            target: Target::parse("ws://peer.lab:8080/").unwrap(),
            signaling_address: Some("10.0.0.2:8080".parse().unwrap()),
            server: Some("trtc-preflight 0.1.0".into()),
            peer_misbehaves: None,
            bound: vec!["10.0.0.1:0".parse().unwrap()],
            relay_only: false,
            failure: Some(failure),
            timings: Timings {
                signaling: Some(Duration::from_millis(3)),
                ..Timings::default()
            },
            local_candidates: vec![candidate(CandidateKind::Host, "10.0.0.1", 50000)],
            remote_candidates: vec![candidate(CandidateKind::Host, "10.0.0.2", 40000)],
            ice_states: Vec::new(),
            selected: None,
            channel: None,
            media: Vec::new(),
        }
    }

    fn connected(media: Vec<MediaFacts>, channel: ChannelFacts) -> Observation {
        let mut observation = failed(Failure::NoAnswerer);
        observation.failure = None;
        observation.timings = Timings {
            signaling: Some(Duration::from_millis(3)),
            answer: Some(Duration::from_millis(4)),
            ice: Some(Duration::from_millis(2)),
            dtls: Some(Duration::from_millis(30)),
            connected: Some(Duration::from_millis(40)),
            channel_open: Some(Duration::from_millis(2)),
            first_media: Some(Duration::from_millis(3)),
            ready: Some(Duration::from_millis(60)),
            total: Duration::from_millis(250),
        };
        observation.selected = Some(SelectedPair {
            local: candidate(CandidateKind::Host, "10.0.0.1", 50000),
            remote: candidate(CandidateKind::Host, "10.0.0.2", 40000),
            round_trip: Some(Duration::from_micros(400)),
        });
        observation.channel = Some(channel);
        observation.media = media;
        observation
    }

    fn all_echoed() -> ChannelFacts {
        ChannelFacts {
            opened: true,
            sent: 3,
            echoed: 3,
            round_trips: vec![Duration::from_millis(1); 3],
            largest_echoed: Some(16_000),
        }
    }

    fn media(kind: MediaKind, received: u64, peer_received: Option<u64>) -> MediaFacts {
        MediaFacts {
            kind,
            sent: 50,
            received,
            first_after: (received > 0).then(|| Duration::from_millis(3)),
            peer_received,
        }
    }

    fn one(observation: &Observation) -> Finding {
        let findings = findings(observation, &Context::default());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    fn coded(finding: &Finding) -> (Option<u32>, Option<&str>) {
        (finding.code, finding.message.as_deref())
    }

    #[test]
    fn each_failed_stage_has_its_sdk_code_and_message() {
        let cases: Vec<(Failure, u32, Option<&str>)> = vec![
            (
                Failure::Signaling(vec![preflight_probes::signaling::Failure {
                    family: Some(Family::V4),
                    step: Step::Tcp,
                    detail: "refused".into(),
                }]),
                16385,
                Some(WEBSOCKET_FAILED),
            ),
            (
                Failure::Closed {
                    during: Stage::Ice,
                    detail: "reset".into(),
                },
                16386,
                None,
            ),
            (
                Failure::NotOurServer {
                    detail: "the first reply to hello was {}".into(),
                },
                16386,
                None,
            ),
            (Failure::NoAnswerer, 16388, None),
            (
                Failure::Refused {
                    during: Stage::Answer,
                    code: "answer_failed".into(),
                    message: "16 WebRTC sessions are open; try again later".into(),
                },
                16388,
                None,
            ),
            (
                Failure::Timeout {
                    during: Stage::Answer,
                    waited: Duration::from_secs(5),
                },
                16388,
                Some(JOIN_TIMEOUT),
            ),
            (Failure::CreateOffer("bind: denied".into()), 16389, None),
            (Failure::AnswerRejected("no codec".into()), 16388, None),
            (
                Failure::Ice {
                    waited: Duration::from_secs(5),
                    state: "checking".into(),
                },
                16387,
                Some(ICE_FAILED),
            ),
            (
                Failure::Dtls {
                    waited: Duration::from_secs(5),
                    state: "connecting".into(),
                },
                16387,
                Some(DTLS_TIMEOUT),
            ),
            (
                Failure::Dtls {
                    waited: Duration::from_millis(300),
                    state: "failed".into(),
                },
                16387,
                Some(ICE_FAILED),
            ),
        ];
        for (failure, code, message) in cases {
            let finding = one(&failed(failure.clone()));
            assert_eq!(coded(&finding), (Some(code), message), "{failure:?}");
            assert_eq!(finding.severity, Severity::Error);
        }
    }

    #[test]
    fn the_fixes_name_the_concrete_values() {
        let finding = one(&failed(Failure::Ice {
            waited: Duration::from_secs(5),
            state: "checking".into(),
        }));
        assert_eq!(
            finding.evidence,
            "ICE with the test peer at ws://peer.lab:8080/ did not connect within 5.0 s (last state: checking). Local candidates: host udp 10.0.0.1:50000. The peer's candidates: host udp 10.0.0.2:40000."
        );
        assert!(finding.fix.starts_with(
            "UDP between this machine (10.0.0.1) and the test peer (10.0.0.2:40000) is blocked"
        ));
        let busy = one(&failed(Failure::Refused {
            during: Stage::Answer,
            code: "answer_failed".into(),
            message: "16 WebRTC sessions are open; try again later".into(),
        }));
        assert!(
            busy.fix.contains("raise `serve --webrtc-sessions`"),
            "{}",
            busy.fix
        );
        let timeout = one(&failed(Failure::Timeout {
            during: Stage::Answer,
            waited: Duration::from_millis(5002),
        }));
        assert_eq!(
            timeout.evidence,
            "The test peer at ws://peer.lab:8080/ took the offer and sent no answer within 5.0 s (the WebSocket itself was open; joining took 3.0 ms)."
        );
    }

    #[test]
    fn no_remote_candidates_and_no_relay_candidates_have_their_own_fixes() {
        let mut observation = failed(Failure::Ice {
            waited: Duration::from_secs(5),
            state: "checking".into(),
        });
        observation.remote_candidates.clear();
        assert!(one(&observation)
            .fix
            .starts_with("The test peer sent no candidates"));
        let context = Context {
            relay_only: true,
            relays: vec!["turn:relay.lab:3478?transport=udp".into()],
            unusable_relays: vec!["turns:relay.lab:5349".into()],
        };
        let findings = findings(&observation, &context);
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].severity, Severity::Info);
        assert_eq!(
            findings[0].evidence,
            "Not used by the WebRTC check: turns:relay.lab:5349."
        );
        assert!(findings[1]
            .fix
            .starts_with("No relay candidate was gathered from turn:relay.lab:3478?transport=udp"));
    }

    #[test]
    fn a_working_call_is_one_info_finding_with_every_stage() {
        let observation = connected(
            vec![
                media(MediaKind::Audio, 10, Some(12)),
                media(MediaKind::Video, 8, Some(9)),
            ],
            all_echoed(),
        );
        let finding = one(&observation);
        assert_eq!(finding.severity, Severity::Info);
        assert_eq!(
            finding.evidence,
            "WebRTC with ws://peer.lab:8080/ connected in 40 ms (signaling 3.0 ms, answer 4.0 ms, ICE 2.0 ms, DTLS 30 ms) over host 10.0.0.1:50000 ↔ 10.0.0.2:40000 (RTT 0.4 ms); 3 data-channel messages echoed (up to 16000 bytes); audio back in 3.0 ms (10 of 50 packets), video back in 3.0 ms (8 of 50 packets)."
        );
    }

    #[test]
    fn one_way_media_is_a_warning_per_kind_with_its_direction() {
        let observation = connected(
            vec![
                media(MediaKind::Audio, 0, Some(0)),
                media(MediaKind::Video, 0, Some(40)),
            ],
            all_echoed(),
        );
        let findings = findings(&observation, &Context::default());
        assert_eq!(findings.len(), 2);
        assert!(findings
            .iter()
            .all(|f| f.severity == Severity::Warning && f.code.is_none()));
        assert!(findings[0]
            .description
            .contains("the others in a call would hear silence"));
        assert!(findings[0]
            .evidence
            .contains("audio was lost from this machine to the peer: the peer received none of the 50 audio packets sent"));
        assert!(findings[1]
            .description
            .contains("this user would see black video"));
        assert!(findings[1].evidence.contains(
            "video was lost from the peer back to this machine: the peer received 40 video packets"
        ));
        // A peer that does not say what it received: the direction is unknown.
        let observation = connected(vec![media(MediaKind::Video, 0, None)], all_echoed());
        assert!(one(&observation)
            .evidence
            .contains("in an unknown direction"));
    }

    #[test]
    fn a_data_channel_that_loses_messages_or_never_opens_is_a_warning() {
        let lossy = ChannelFacts {
            echoed: 2,
            largest_echoed: Some(1_200),
            ..all_echoed()
        };
        let finding = one(&connected(vec![], lossy));
        assert_eq!(finding.severity, Severity::Warning);
        assert!(finding
            .evidence
            .ends_with("2 of 3 data-channel messages came back (largest echoed: 1200 bytes)."));
        let closed = ChannelFacts::default();
        let finding = one(&connected(vec![], closed));
        assert!(finding.description.contains("did not open"));
    }

    #[test]
    fn a_staged_failure_says_so() {
        let mut observation = failed(Failure::Dtls {
            waited: Duration::from_secs(5),
            state: "connecting".into(),
        });
        observation.peer_misbehaves = Some("stall-dtls".into());
        assert!(one(&observation).evidence.ends_with(
            "The test peer misbehaves on purpose (serve --misbehave stall-dtls): this result is staged, not a fault of this network."
        ));
    }

    #[test]
    fn metrics_hold_every_stage_and_the_pair() {
        let observation = connected(vec![media(MediaKind::Audio, 10, Some(12))], all_echoed());
        let metrics = Value::Object(metrics(&observation, &Context::default()));
        assert_eq!(metrics["timings_ms"]["dtls"], 30.0);
        assert_eq!(metrics["timings_ms"]["ready"], 60.0);
        assert_eq!(metrics["selected_pair"]["rtt_ms"], 0.4);
        assert_eq!(metrics["selected_pair"]["local"]["type"], "host");
        assert_eq!(metrics["data_channel"]["rtt_ms"]["median"], 1.0);
        assert_eq!(metrics["media"][0]["peer_received"], 12);
        assert_eq!(metrics["failed_stage"], Value::Null);
        let metrics = Value::Object(metrics_of_failure());
        assert_eq!(metrics["failed_stage"], "ice");
        assert_eq!(metrics["connected"], false);
    }

    fn metrics_of_failure() -> Map<String, Value> {
        metrics(
            &failed(Failure::Ice {
                waited: Duration::from_secs(5),
                state: "failed".into(),
            }),
            &Context::default(),
        )
    }
}
