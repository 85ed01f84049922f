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
