//! The TURN probe's findings. A relay that allocates and carries data passes. A refusal by the
//! server is an error of that relay, named by its class (wrong credentials, forbidden, quota,
//! capacity, ...). A relay that cannot be reached is judged with every other path of the run:
//! UDP blocked while a relay over TCP or TLS works is a warning (calls work, with more
//! latency); no path at all is `16387` with `RtcError: no valid ice candidate found`.
//!
//! | observation | finding |
//! |---|---|
//! | allocated, data relayed both ways | info |
//! | allocated, data not relayed | error: the relay does not forward |
//! | 401 to the credentials, 441 | error: wrong user or password |
//! | 403 / 437 / 442 / 486 / 508 / other codes | error naming the class |
//! | unreachable (timeout, refused, proxy, TLS) over UDP, a TCP/TLS path works | warning |
//! | unreachable, and no path of the run carries anything | 16387 + `RtcError: no valid ice candidate found` |
//! | unreachable, another path works | error: this relay cannot be reached over this transport |

use preflight_probes::turn::client::TurnError;
use preflight_probes::turn::{DataCheck, Failure, Observation, Transport};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::stun::PathContext;
use super::{note, sdk_error};
use crate::catalog::sdk;

const NO_CANDIDATE: &str = "RtcError: no valid ice candidate found";

fn ms(duration: std::time::Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Where the relay was reached, for evidence.
fn reached(observation: &Observation) -> String {
    let server = &observation.server;
    let mut text = format!(
        "{} ({}:{} over {})",
        server.url,
        observation
            .address
            .map_or(server.host.clone(), |address| address.ip().to_string()),
        observation
            .address
            .map_or(server.port, |address| address.port()),
        server.transport.as_str().to_uppercase()
    );
    if let Some(proxy) = &observation.proxy {
        text.push_str(&format!(" through the proxy {proxy}"));
    }
    text
}

/// The findings of one probe, with what every path of the run showed.
pub fn findings(observation: &Observation, context: &PathContext) -> Vec<Finding> {
    let server = &observation.server;
    let mut findings = Vec::new();
    if let Some(from) = observation.redirected_from {
        findings.push(note(
            Severity::Info,
            "The relay sent the client elsewhere (300 Try Alternate), as a load-balanced TURN service does; the alternate was followed.",
            format!("{from} answered 300 with ALTERNATE-SERVER {}.", observation.address.map_or("?".into(), |a| a.to_string())),
            "Nothing to fix, as long as the alternate is reachable too (it was tested).".to_string(),
        ));
    }
    if observation.stale_nonces > 0 {
        findings.push(note(
            Severity::Info,
            "The relay asked for a fresh nonce (438 Stale Nonce), which is normal; the request was repeated with it.",
            format!("{} stale-nonce answer(s) from {}.", observation.stale_nonces, server.url),
            "Nothing to fix.".to_string(),
        ));
    }
    let Some(failure) = &observation.failure else {
        findings.push(allocated(observation));
        return findings;
    };
    findings.push(match failure {
        Failure::Turn(TurnError::Code { code, reason, authenticated, request, .. }) => {
            refused(observation, *code, reason, *authenticated, request)
        }
        Failure::Turn(TurnError::NoChallenge) => note(
            Severity::Error,
            "The relay refused the allocation without naming a realm and nonce to authenticate with: it is not a TURN server with long-term credentials, or it is misconfigured.",
            format!("{} answered 401 without REALM or NONCE.", reached(observation)),
            format!("Check that {} is the TURN server's URL and that it uses long-term credentials (lt-cred-mech).", server.url),
        ),
        // It answered before (the challenge), then went silent: the relay, not the path.
        Failure::Turn(TurnError::Timeout { request, .. })
            if observation.exchanges.iter().any(|exchange| exchange.error != Some(0)) =>
        {
            note(
                Severity::Error,
                "The relay answered, then stopped answering: the path is open, but the server drops its later requests (overloaded, or it rejects authenticated requests silently).",
                format!("{}: {failure}, after it had answered an earlier request.", reached(observation)),
                format!("Check the load and the logs of {} (its answer to the authenticated {request} never came).", server.host),
            )
        }
        Failure::Turn(TurnError::Encode(detail)) | Failure::Broken(detail) => note(
            Severity::Error,
            "The relay's answers could not be used: the connection broke or carried something that is not TURN.",
            format!("{}: {detail}.", reached(observation)),
            format!("Check that {} is a TURN server on that port and transport, and that nothing in between rewrites the traffic.", server.url),
        ),
        unreachable => unreachable_finding(observation, unreachable, context),
    });
    findings
}

fn allocated(observation: &Observation) -> Finding {
    let server = &observation.server;
    let allocation = observation
        .allocation
        .as_ref()
        .unwrap_or_else(|| unreachable!("no failure means an allocation"));
    let lifetime = allocation.lifetime.map_or(String::new(), |lifetime| {
        format!(", lifetime {} s", lifetime.as_secs())
    });
    let base = format!(
        "{} allocated the relayed address {}{lifetime} in {}",
        reached(observation),
        allocation.relayed,
        ms(allocation.took)
    );
    match &observation.data {
        Some(DataCheck {
            second_allocation: Some(Failure::Turn(TurnError::Code { code, reason, authenticated, request, .. })),
            ..
        }) => {
            let mut finding = refused(observation, *code, reason, *authenticated, request);
            finding.evidence = format!(
                "{base}; a second allocation for the same user was refused: {code} {reason}. A call needs an allocation per connection."
            );
            finding
        }
        Some(data) if data.failure.is_some() || data.echoed == 0 => note(
            Severity::Error,
            "The relay allocates but does not forward data between relayed addresses: media through it would not flow.",
            format!(
                "{base}; the data check failed: {}.",
                data.failure.clone().unwrap_or_else(|| "nothing came back".into())
            ),
            format!(
                "Check the relay's peer policy (coturn: denied-peer-ip / allowed-peer-ip, --allow-loopback-peers on a lab) and that {} can send from its relay ports to itself.",
                server.host
            ),
        ),
        Some(data) => {
            let mut rtts = data.round_trips.clone();
            rtts.sort();
            let median = rtts.get(rtts.len() / 2).copied().unwrap_or_default();
            note(
                Severity::Info,
                &format!(
                    "The TURN relay works over {}: it allocates with these credentials and forwards data both ways.",
                    server.transport.as_str().to_uppercase()
                ),
                format!(
                    "{base}; {} of {} messages relayed both ways (median round trip {}, twice through the relay).",
                    data.echoed,
                    data.sent,
                    ms(median)
                ),
                "Nothing to fix.".to_string(),
            )
        }
        None => note(
            Severity::Info,
            "The TURN relay allocates with these credentials (the data check was not run).",
            format!("{base}."),
            "Nothing to fix.".to_string(),
        ),
    }
}

fn refused(
    observation: &Observation,
    code: u16,
    reason: &str,
    authenticated: bool,
    request: &str,
) -> Finding {
    let server = &observation.server;
    let evidence = format!(
        "{} answered {request} with {code} {reason}.",
        reached(observation)
    );
    let (description, fix): (&str, String) = match code {
        401 | 441 if authenticated || code == 441 => (
            "The relay refused the credentials: the user name or the password is wrong (or, for time-limited TURN credentials, expired).",
            "Check --turn-user and TRTC_PREFLIGHT_TURN_PASSWORD against the relay's accounts; with time-limited (REST) credentials, issue a fresh pair.".to_string(),
        ),
        401 => (
            "The relay asked for credentials again after the challenge was answered.",
            "Check that the relay's realm and credentials are configured as the client uses them.".to_string(),
        ),
        403 => (
            "The relay forbids this allocation (403 Forbidden): a server policy refuses this user, this address, or this kind of request.",
            format!("Ask the administrator of {} whether this user and this network may allocate relays.", server.host),
        ),
        437 => (
            "The relay says an allocation already exists for this connection (437 Allocation Mismatch).",
            "Run the check again in a minute; if it repeats, something else on this machine uses the same local port toward the relay.".to_string(),
        ),
        442 => (
            "The relay does not offer this transport (442 Unsupported Transport Protocol).",
            format!("Use a transport {} supports, or enable UDP relaying on it.", server.host),
        ),
        486 => (
            "The user has reached its quota of allocations on this relay (486 Allocation Quota Reached): calls beyond it cannot relay.",
            format!("Raise the user's quota on {} (coturn: user-quota) or close the sessions holding allocations.", server.host),
        ),
        508 => (
            "The relay is out of capacity (508 Insufficient Capacity): it has no relay ports left.",
            format!("Give {} more relay ports (coturn: min-port/max-port) or more servers.", server.host),
        ),
        438 => (
            "The relay kept answering 438 Stale Nonce to fresh nonces: its nonce handling is broken.",
            format!("Check the clock and the nonce settings of {}.", server.host),
        ),
        300 => (
            "The relay redirected the client (300 Try Alternate) without a usable alternate, or a second time.",
            format!("Check the alternate-server settings of {}.", server.host),
        ),
        _ => (
            "The relay refused the allocation.",
            format!("Read the relay's reason above and its logs on {}.", server.host),
        ),
    };
    note(Severity::Error, description, evidence, fix)
}

fn unreachable_finding(
    observation: &Observation,
    failure: &Failure,
    context: &PathContext,
) -> Finding {
    let server = &observation.server;
    let evidence = format!("{}: {failure}.", reached(observation));
    if context.complete && !context.any_path() {
        return sdk_error(
            sdk::ICE_TRANSPORT_ERROR,
            Some(NO_CANDIDATE),
            None,
            format!("{evidence} No other path of this run carried anything either."),
            format!(
                "Open outbound UDP to TRTC's media ports (8000, 8080, 8800, 843, 443, 16285), or at least let TLS on TCP 443 reach the relay {}:{}.",
                server.host, server.port
            ),
        );
    }
    if server.transport == Transport::Udp && context.stream_answered {
        return note(
            Severity::Warning,
            "UDP to this relay is blocked, but a path over TCP or TLS works: calls relay over TCP/TLS 443, with more latency and less resilience to loss.",
            evidence,
            format!("Allow outbound UDP to {}:{} (and TRTC's UDP media ports) for the best call quality.", server.host, server.port),
        );
    }
    let fix = match failure {
        Failure::Tls(failure) => format!(
            "The TLS handshake with {} failed ({failure}): pass --pin or --ca for a private relay, or exempt {} from TLS inspection.",
            server.host, server.host
        ),
        Failure::Proxy(step) => format!("The proxy did not open a tunnel to {}:{}: {step}. Allow CONNECT to that port on the proxy.", server.host, server.port),
        Failure::Resolve(_) => format!("Make {} resolve with this machine's DNS, or pass --resolve {}=ADDRESS.", server.host, server.host),
        _ => format!(
            "Allow outbound {} to {}:{} (and the answers back) in the firewall.",
            server.transport.as_str().to_uppercase(),
            server.host,
            server.port
        ),
    };
    note(
        Severity::Error,
        &format!(
            "The relay cannot be reached over {}.",
            server.transport.as_str().to_uppercase()
        ),
        evidence,
        fix,
    )
}

/// The probe's metrics.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let ms = |duration: Option<std::time::Duration>| {
        duration.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
    };
    let mut map = Map::new();
    map.insert("url".into(), json!(observation.server.url));
    map.insert(
        "transport".into(),
        json!(observation.server.transport.as_str()),
    );
    map.insert(
        "address".into(),
        json!(observation.address.map(|a| a.to_string())),
    );
    map.insert("proxy".into(), json!(observation.proxy));
    map.insert("connect_ms".into(), json!(ms(observation.connected_in)));
    map.insert(
        "tls".into(),
        json!(observation.tls.as_ref().map(
            |facts| json!({"protocol": facts.protocol, "verification": facts.verification.as_str()})
        )),
    );
    map.insert(
        "redirected_from".into(),
        json!(observation.redirected_from.map(|a| a.to_string())),
    );
    map.insert("realm".into(), json!(observation.realm));
    map.insert("software".into(), json!(observation.software));
    map.insert(
        "allocation".into(),
        json!(observation.allocation.as_ref().map(|allocation| json!({
            "relayed": allocation.relayed.to_string(),
            "mapped": allocation.mapped.map(|a| a.to_string()),
            "lifetime_s": allocation.lifetime.map(|l| l.as_secs()),
            "took_ms": ms(Some(allocation.took)),
        }))),
    );
    map.insert(
        "exchanges".into(),
        Value::Array(
            observation
                .exchanges
                .iter()
                .map(|exchange| {
                    json!({
                        "request": exchange.request,
                        "authenticated": exchange.authenticated,
                        "error": exchange.error,
                        "took_ms": ms(Some(exchange.took)),
                        "transmissions": exchange.transmissions,
                    })
                })
                .collect(),
        ),
    );
    map.insert("stale_nonces".into(), json!(observation.stale_nonces));
    map.insert(
        "data".into(),
        json!(observation.data.as_ref().map(|data| json!({
            "sent": data.sent,
            "echoed": data.echoed,
            "rtt_ms": data.round_trips.iter().map(|rtt| ms(Some(*rtt))).collect::<Vec<_>>(),
            "failure": data.failure,
        }))),
    );
    map.insert("relays".into(), json!(observation.relays()));
    map.insert(
        "failure".into(),
        json!(observation.failure.as_ref().map(|f| f.to_string())),
    );
    map.insert("took_ms".into(), json!(ms(Some(observation.took))));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::turn::{Allocation, Server};
    use std::time::Duration;

    fn observation(url: &str) -> Observation {
        let server = Server::parse(url).unwrap();
        Observation {
            address: Some(std::net::SocketAddr::new(
                server.host.parse().unwrap(),
                server.port,
            )),
            server,
            proxy: None,
            connected_in: None,
            tls: None,
            redirected_from: None,
            allocation: None,
            realm: Some("lab".into()),
            software: None,
            exchanges: Vec::new(),
            stale_nonces: 0,
            data: None,
            failure: None,
            took: Duration::from_millis(5),
        }
    }

    fn allocated(mut observation: Observation, data: Option<DataCheck>) -> Observation {
        observation.allocation = Some(Allocation {
            relayed: "10.0.0.2:50000".parse().unwrap(),
            mapped: Some("10.0.0.1:40000".parse().unwrap()),
            lifetime: Some(Duration::from_secs(600)),
            took: Duration::from_millis(2),
        });
        observation.data = data;
        observation
    }

    fn relayed() -> DataCheck {
        DataCheck {
            sent: 3,
            echoed: 3,
            round_trips: vec![Duration::from_millis(1); 3],
            failure: None,
            second_allocation: None,
        }
    }

    fn code(code: u16, reason: &str, authenticated: bool) -> Failure {
        Failure::Turn(TurnError::Code {
            request: "allocate",
            code,
            reason: reason.into(),
            authenticated,
            alternate: None,
        })
    }

    fn only(observation: &Observation, context: &PathContext) -> Finding {
        let findings = findings(observation, context);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    fn context(udp: bool, stream: bool) -> PathContext {
        PathContext {
            complete: true,
            udp_answered: udp,
            stream_answered: stream,
        }
    }

    #[test]
    fn a_relay_that_allocates_and_relays_is_information_with_its_figures() {
        let observation = allocated(observation("turn:10.0.0.2:3478"), Some(relayed()));
        let finding = only(&observation, &context(true, false));
        assert_eq!(finding.severity, Severity::Info);
        assert_eq!(
            finding.evidence,
            "turn:10.0.0.2:3478 (10.0.0.2:3478 over UDP) allocated the relayed address 10.0.0.2:50000, lifetime 600 s in 2.0 ms; 3 of 3 messages relayed both ways (median round trip 1.0 ms, twice through the relay)."
        );
        assert!(observation.relays());
    }

    #[test]
    fn a_relay_that_allocates_but_does_not_forward_is_an_error() {
        let data = DataCheck {
            sent: 1,
            failure: Some("a message did not arrive".into()),
            ..DataCheck::default()
        };
        let observation = allocated(observation("turn:10.0.0.2:3478"), Some(data));
        let finding = only(&observation, &context(true, false));
        assert_eq!(finding.severity, Severity::Error);
        assert!(finding.description.contains("does not forward data"));
        assert!(!observation.relays());
    }

    #[test]
    fn every_refusal_is_named_by_its_class() {
        for (failure, starts) in [
            (
                code(401, "Unauthorized", true),
                "The relay refused the credentials",
            ),
            (
                code(441, "Wrong Credentials", true),
                "The relay refused the credentials",
            ),
            (
                code(403, "Forbidden", true),
                "The relay forbids this allocation",
            ),
            (
                code(437, "Allocation Mismatch", true),
                "The relay says an allocation already exists",
            ),
            (
                code(442, "Unsupported Transport Protocol", true),
                "The relay does not offer this transport",
            ),
            (
                code(486, "Allocation Quota Reached", true),
                "The user has reached its quota",
            ),
            (
                code(508, "Insufficient Capacity", true),
                "The relay is out of capacity",
            ),
            (
                code(438, "Stale Nonce", true),
                "The relay kept answering 438",
            ),
            (
                code(300, "Try Alternate", false),
                "The relay redirected the client",
            ),
            (code(499, "Odd", true), "The relay refused the allocation."),
            (
                Failure::Turn(TurnError::NoChallenge),
                "The relay refused the allocation without naming a realm",
            ),
            (
                Failure::Broken("garbage".into()),
                "The relay's answers could not be used",
            ),
        ] {
            let mut observation = observation("turn:10.0.0.2:3478");
            observation.failure = Some(failure.clone());
            // Refusals are the relay's own errors, whatever the other paths did.
            let finding = only(&observation, &context(true, true));
            assert_eq!(finding.severity, Severity::Error, "{failure:?}");
            assert!(finding.code.is_none());
            assert!(
                finding.description.starts_with(starts),
                "{failure:?}: {}",
                finding.description
            );
        }
    }

    #[test]
    fn an_unreachable_relay_is_judged_with_every_other_path() {
        let timeout = Failure::Turn(TurnError::Timeout {
            request: "allocate",
            waited: Duration::from_millis(3750),
            transmissions: 4,
        });
        let mut udp = observation("turn:10.0.0.2:3478");
        udp.failure = Some(timeout.clone());
        // UDP blocked, a TCP/TLS path works: a warning.
        let finding = only(&udp, &context(false, true));
        assert_eq!(finding.severity, Severity::Warning);
        assert_eq!(
            finding.evidence,
            "turn:10.0.0.2:3478 (10.0.0.2:3478 over UDP): no answer to allocate (4 sent over 3750 ms)."
        );
        // Nothing works anywhere: 16387.
        let finding = only(&udp, &context(false, false));
        assert_eq!(finding.code, Some(16387));
        assert_eq!(finding.message.as_deref(), Some(NO_CANDIDATE));
        // Not every path was tried (interrupted): not 16387, the relay's own error.
        let incomplete = PathContext {
            complete: false,
            ..context(false, false)
        };
        let finding = only(&udp, &incomplete);
        assert_eq!(finding.code, None);
        assert_eq!(finding.severity, Severity::Error);
        // A TCP relay that cannot be reached while UDP works: its own error with the fix.
        let mut tcp = observation("turn:10.0.0.2:3478?transport=tcp");
        tcp.failure = Some(Failure::Connect("to 10.0.0.2:3478: refused".into()));
        let finding = only(&tcp, &context(true, false));
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.description, "The relay cannot be reached over TCP.");
        assert_eq!(
            finding.fix,
            "Allow outbound TCP to 10.0.0.2:3478 (and the answers back) in the firewall."
        );
    }

    #[test]
    fn a_relay_that_answered_then_went_silent_is_its_own_error_not_the_path() {
        let mut observation = observation("turn:10.0.0.2:3478");
        observation.exchanges = vec![
            preflight_probes::turn::client::Exchange {
                request: "allocate",
                authenticated: false,
                error: Some(401),
                took: Duration::from_millis(1),
                transmissions: 1,
            },
            preflight_probes::turn::client::Exchange {
                request: "allocate",
                authenticated: true,
                error: Some(0),
                took: Duration::from_millis(3750),
                transmissions: 4,
            },
        ];
        observation.failure = Some(Failure::Turn(TurnError::Timeout {
            request: "allocate",
            waited: Duration::from_millis(3750),
            transmissions: 4,
        }));
        // Even with no other path, this is not 16387: the path to the relay is open.
        let finding = only(&observation, &context(false, false));
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.code, None);
        assert!(finding
            .description
            .starts_with("The relay answered, then stopped answering"));
    }

    #[test]
    fn redirects_and_stale_nonces_are_told_but_are_not_problems() {
        let mut observation = allocated(observation("turn:10.0.0.2:3478"), Some(relayed()));
        observation.redirected_from = Some("10.0.0.9:3478".parse().unwrap());
        observation.stale_nonces = 1;
        let findings = findings(&observation, &context(true, false));
        assert_eq!(findings.len(), 3);
        assert!(findings.iter().all(|f| f.severity == Severity::Info));
        assert!(findings[0].description.contains("300 Try Alternate"));
        assert!(findings[1].description.contains("438 Stale Nonce"));
    }

    #[test]
    fn metrics_hold_the_allocation_and_the_exchanges() {
        let mut observation = allocated(observation("turns:10.0.0.2"), Some(relayed()));
        observation
            .exchanges
            .push(preflight_probes::turn::client::Exchange {
                request: "allocate",
                authenticated: false,
                error: Some(401),
                took: Duration::from_micros(500),
                transmissions: 1,
            });
        let metrics = Value::Object(metrics(&observation));
        assert_eq!(metrics["transport"], "tls");
        assert_eq!(metrics["allocation"]["relayed"], "10.0.0.2:50000");
        assert_eq!(metrics["allocation"]["lifetime_s"], 600);
        assert_eq!(metrics["exchanges"][0]["error"], 401);
        assert_eq!(metrics["data"]["echoed"], 3);
        assert_eq!(metrics["relays"], true);
    }
}
