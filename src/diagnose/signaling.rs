//! Signaling rules: what each step of opening TRTC's WebSocket means, in the SDK's terms.
//!
//! | observation | finding |
//! |---|---|
//! | no family opened the WebSocket (name, TCP, proxy, TLS or upgrade failed) | 16385 SIGNAL_CAHNNEL_SETUP_FAILED, `failed to connect to remote server via websocket`; the step and its cause in the evidence, a fix for that step |
//! | the proxy asks for authentication (407) | warning naming the schemes (browsers answer NTLM and Negotiate themselves) |
//! | the upgrade is redirected, or every name gets a certificate for another name | the same 16385, named as a captive portal |
//! | one family opened, another failed | warning naming the family and the step |
//! | opened, then dropped or pings unanswered | 16386 SIGNAL_CHANNEL_ERROR |
//! | the server's `Date` is more than a minute from this clock | warning: clock skew, with the offset |
//! | `--signal-reconnect`: opened, dropped, and no reconnection opened | 16390 SIGNAL_CHANNEL_RECONNECTION_FAILED, `SignalChannel reconnect failed` |
//! | TLS not verified (`--insecure`) | info |
//! | opened (or reachable) over a chain the OS trusts that ends at a root no browser ships | info: TLS inspection by that root's owner, naming it |
//! | `--signal-mode reachability` (TRTC's own servers): a trusted TLS handshake and any HTTP answer | info: reachable |

use preflight_probes::signaling::{Attempt, AttemptOutcome, Target};
use preflight_probes::signaling::{DropKind, ProxyStep, UpgradeOutcome};
use preflight_probes::signaling::{FamilyAttempt, Observation, Route, Step, TcpStep};
use preflight_probes::tls::{HandshakeFacts, TlsFailure, Verification};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::{note, sdk_error};
use crate::catalog::sdk;
use crate::time::{human_duration, UnixTime};

/// The message string of a WebSocket that cannot be opened.
pub const WEBSOCKET_FAILED: &str = "failed to connect to remote server via websocket";
/// A server clock further than this from ours is a warning.
pub const SKEW_WARNING_S: i64 = 60;

/// Whether a family got an HTTP answer from the server itself (not a redirect) after a trusted
/// TLS handshake: for TRTC's own servers, the path is open even when a bare upgrade is refused.
fn reached(attempt: &FamilyAttempt) -> Option<u16> {
    let trusted =
        matches!(&attempt.tls, Some(Ok(facts)) if facts.verification != Verification::Off);
    match &attempt.upgrade {
        Some(UpgradeOutcome::Refused { status, .. }) if trusted => Some(*status),
        _ => None,
    }
}

/// Findings of one signaling probe. With `reachability`, any HTTP answer after a trusted TLS
/// handshake counts as a reachable server (TRTC's own servers want the SDK's parameters).
pub fn findings(observation: &Observation, reachability: bool) -> Vec<Finding> {
    let target = &observation.target;
    let mut findings = Vec::new();
    let failures = observation.failures();
    if reachability && !observation.opened() {
        if let Some((attempt, status)) = observation
            .families
            .iter()
            .find_map(|attempt| reached(attempt).map(|status| (attempt, status)))
        {
            findings.push(note(
                Severity::Info,
                "TRTC's signaling server is reachable: DNS, TCP, and a TLS handshake trusted for its name all passed, and the server answered HTTP; a bare upgrade without the SDK's parameters is refused, as expected.",
                format!("{} ({}) answered {status} to the upgrade after TLS with a certificate trusted for {}.", target.url, attempt.address, target.host),
                "Nothing to fix: the path the SDK's signaling takes is open.".to_string(),
            ));
            for other in observation
                .families
                .iter()
                .filter(|other| reached(other).is_none() && !other.opened())
            {
                if let Some((step, detail)) = other.first_failure() {
                    findings.push(note(
                        Severity::Warning,
                        "TRTC's signaling server is reachable over one address family and not over the other: a browser that tries the failing family first loses seconds before it falls back.",
                        format!("{} over {}: the {} step failed: {detail}.", target.url, other.family.as_str().replace("ip", "IP"), step.as_str()),
                        format!("Fix the route or firewall for that family to {} (TCP {}), or remove its DNS record.", target.host, target.port),
                    ));
                }
            }
            findings.extend(skew(observation));
            findings.extend(inspection(
                observation,
                observation
                    .families
                    .iter()
                    .filter(|attempt| reached(attempt).is_some()),
            ));
            return findings;
        }
    }
    if !observation.opened() {
        // 407: the browser would answer the challenge itself; this tool cannot vouch either way.
        let auth: Vec<&FamilyAttempt> = observation
            .families
            .iter()
            .filter(|attempt| matches!(attempt.proxy, Some(ProxyStep::AuthRequired { .. })))
            .collect();
        if let (Some(attempt), Route::Proxy(proxy)) = (auth.first(), &observation.route) {
            if let Some(ProxyStep::AuthRequired { schemes, .. }) = &attempt.proxy {
                findings.push(note(
                    Severity::Warning,
                    "The proxy asks for authentication before it opens the tunnel to TRTC's signaling: browsers answer NTLM and Negotiate challenges with the user's login themselves; this tool could not, so it cannot tell whether signaling passes beyond the proxy.",
                    format!(
                        "The proxy {} ({}) answered 407 to CONNECT {} and offers {}.",
                        proxy.url,
                        proxy.variable,
                        target.authority(),
                        if schemes.is_empty() { "no scheme".to_string() } else { schemes.join(", ") }
                    ),
                    format!(
                        "Make sure the users' browsers are configured to authenticate to {} (integrated Windows authentication for NTLM/Negotiate), or exempt {} from proxy authentication.",
                        proxy.host, target.host
                    ),
                ));
                return findings;
            }
        }
        let evidence = failures
            .iter()
            .map(|failure| {
                let family = failure.family.map_or(String::new(), |family| {
                    format!("{}, ", family.as_str().replace("ip", "IP"))
                });
                format!(
                    "{}{} step: {}",
                    family,
                    failure.step.as_str(),
                    failure.detail
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let fix = fix_for(observation);
        findings.push(sdk_error(
            sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
            Some(WEBSOCKET_FAILED),
            None,
            format!(
                "The WebSocket to {} did not open ({}). {evidence}.",
                target.url,
                route_text(&observation.route)
            ),
            fix,
        ));
        findings.extend(skew(observation));
        return findings;
    }
    for failure in failures.iter().filter(|failure| failure.step.before_open()) {
        findings.push(note(
            Severity::Warning,
            "The WebSocket opens over one address family and not over the other: a browser that tries the failing family first loses seconds before it falls back.",
            format!(
                "{} over {}: the {} step failed: {}.",
                target.url,
                failure.family.map_or("?".to_string(), |family| family.as_str().replace("ip", "IP")),
                failure.step.as_str(),
                failure.detail
            ),
            format!("Fix the route or firewall for that family to {} (TCP {}), or remove its DNS record.", target.host, target.port),
        ));
    }
    for attempt in observation
        .families
        .iter()
        .filter(|attempt| attempt.opened())
    {
        if let Some((Step::Session, detail)) = attempt.first_failure() {
            // A protocol violation (a frame or message over the limit, a malformed frame) is
            // not a connection cut for being idle: say so.
            let violated = matches!(
                attempt.dropped.as_ref().map(|dropped| &dropped.how),
                Some(DropKind::Error { .. })
            );
            let fix = if violated {
                format!(
                    "The server at {} (or a proxy rewriting WebSocket traffic on the way) sent what the WebSocket protocol or a signaling channel does not allow: check that {} is a signaling server, and what stands between here and it on TCP {}.",
                    target.host, target.url, target.port
                )
            } else {
                format!(
                    "Something between here and {} cuts or stalls idle WebSocket connections (a proxy or firewall with a short timeout, or a load balancer): allow long-lived WebSocket connections to {} on TCP {}.",
                    target.host, target.host, target.port
                )
            };
            findings.push(sdk_error(
                sdk::SIGNAL_CHANNEL_ERROR,
                None,
                None,
                format!(
                    "The WebSocket to {} ({}) opened, then: {detail}.",
                    target.url, attempt.address
                ),
                fix,
            ));
        }
    }
    findings.extend(skew(observation));
    if observation.families.iter().any(|attempt| matches!(&attempt.tls, Some(Ok(facts)) if facts.verification == Verification::Off)) {
        findings.push(note(
            Severity::Info,
            "The TLS certificate was not verified (--insecure): the WebSocket opened, but who answered is not proven.",
            "--insecure was given.".to_string(),
            "Drop --insecure and pass --pin sha256:... (printed by `serve`) or --ca FILE.".to_string(),
        ));
    }
    findings.extend(inspection(
        observation,
        observation
            .families
            .iter()
            .filter(|attempt| attempt.opened()),
    ));
    findings
}

/// TLS inspection, as information: among `attempts` (those that got through), the ones whose
/// chain the OS trusted ends at a root that no browser ships (`public_root == Some(false)`).
/// The call works through it; one finding names every such root.
fn inspection<'a>(
    observation: &Observation,
    attempts: impl Iterator<Item = &'a FamilyAttempt>,
) -> Option<Finding> {
    let host = &observation.target.host;
    let mut issuers: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    for attempt in attempts {
        let Some(Ok(facts)) = &attempt.tls else {
            continue;
        };
        if facts.public_root != Some(false) {
            continue;
        }
        let issuer = inspecting_root(facts);
        let chain = match facts.leaf.as_ref().map(|leaf| leaf.issuer.as_str()) {
            Some(leaf_issuer) if leaf_issuer != issuer && !leaf_issuer.is_empty() => {
                format!("issued by {leaf_issuer}, in a chain that ends at {issuer}")
            }
            _ => format!("issued by {issuer}"),
        };
        seen.push(format!(
            "{} ({}) over {}: the OS accepted a certificate for {host} {chain}, which is not one of the publicly trusted roots (Mozilla's) that browsers ship",
            observation.target.url,
            attempt.address,
            attempt.family.as_str().replace("ip", "IP"),
        ));
        if !issuers.contains(&issuer) {
            issuers.push(issuer);
        }
    }
    inspection_note(&issuers, host, format!("{}.", seen.join("; ")))
}

/// The information that TLS to `host` is inspected by `issuers` (the roots the chains end at);
/// `None` without any. Shared with the STUN-over-TLS rules.
pub(crate) fn inspection_note(issuers: &[String], host: &str, evidence: String) -> Option<Finding> {
    if issuers.is_empty() {
        return None;
    }
    let by = issuers.join(" and ");
    Some(note(
        Severity::Info,
        &format!(
            "TLS inspection by {by} in place: the connection to {host} is decrypted and re-encrypted by a device or program this machine trusts; TRTC works through it, but it adds latency and can break when its certificate expires."
        ),
        evidence,
        format!(
            "If unexpected, ask IT about the inspecting device or program ({by}: a proxy, firewall or antivirus whose root certificate is installed on this machine); exempt TRTC's hosts (*.rtc.tencentcloud.com) from inspection. If {host} is your own server with a certificate from your organisation's CA, nothing to fix."
        ),
    ))
}

/// The root a trusted chain ends at, as a report names it.
pub(crate) fn inspecting_root(facts: &HandshakeFacts) -> String {
    facts
        .top_issuer
        .clone()
        .or_else(|| facts.leaf.as_ref().map(|leaf| leaf.issuer.clone()))
        .filter(|issuer| !issuer.is_empty())
        .unwrap_or_else(|| "an unnamed authority".to_string())
}

fn route_text(route: &Route) -> String {
    match route {
        Route::Direct => "direct".to_string(),
        Route::Bypassed { variable, entry } => {
            format!("direct: {variable} entry {entry:?} bypasses the proxy")
        }
        Route::Proxy(proxy) => format!("through the proxy {} from {}", proxy.url, proxy.variable),
        Route::Unsupported(error) => format!("direct: {error}"),
    }
}

/// A fix for the first step that failed.
fn fix_for(observation: &Observation) -> String {
    let target = &observation.target;
    let (host, port) = (&target.host, target.port);
    if let Err(error) = &observation.resolution.result {
        return format!(
            "The name {} does not resolve here ({error}): check this machine's DNS servers, and that the network lets DNS out; a captive portal may also hold DNS until you sign in.",
            observation.resolution.host
        );
    }
    let Some(attempt) = observation
        .families
        .iter()
        .find(|attempt| attempt.first_failure().is_some())
    else {
        return format!("Allow outbound TCP {port} to {host}.");
    };
    if !attempt.tcp.connected() {
        if attempt.via_proxy {
            return format!(
                "The proxy at {} does not accept connections: check the proxy settings ({}) or ask who runs the proxy.",
                attempt.address,
                match &observation.route {
                    Route::Proxy(proxy) => proxy.variable.clone(),
                    _ => "HTTPS_PROXY".to_string(),
                }
            );
        }
        return match &attempt.tcp {
            TcpStep::Refused => format!(
                "Nothing accepts TCP {port} at {} or a firewall resets it: allow outbound TCP {port} to {host}.",
                attempt.address
            ),
            TcpStep::TimedOut { .. } => format!(
                "A firewall drops TCP {port} to {host} ({}): allow outbound TCP {port} to {host}.",
                attempt.address.ip()
            ),
            _ => format!("This machine has no route to {} ({}): check its network connection and routes.", host, attempt.address.ip()),
        };
    }
    if let Some(step) = &attempt.proxy {
        if let Route::Proxy(proxy) = &observation.route {
            return match step {
                ProxyStep::Refused { status, reason, .. } => format!(
                    "The proxy {} refuses CONNECT {}:{port} ({status} {reason}): ask its administrators to allow {host} on port {port} (TRTC's signaling is a WebSocket over TLS).",
                    proxy.url, host
                ),
                _ => format!("The proxy {} did not open a tunnel to {host}:{port}: check the proxy, or bypass it for {host} with NO_PROXY.", proxy.url),
            };
        }
    }
    if let Some(Err(failure)) = &attempt.tls {
        return tls_fix(failure, host, observation);
    }
    // TLS passed through an inspecting device: the likeliest thing to break the upgrade.
    let inspected = match &attempt.tls {
        Some(Ok(facts)) if facts.public_root == Some(false) => format!(
            " TLS to {host} is inspected by {} (a root this machine trusts that is not public): such devices often drop `Upgrade: websocket`; exempt {host} from inspection first.",
            facts.top_issuer.as_deref().unwrap_or("a private authority")
        ),
        _ => String::new(),
    };
    let fix = match &attempt.upgrade {
        Some(UpgradeOutcome::Redirected { location, .. }) => format!(
            "The request was redirected{}: a captive portal (sign in to the network in a browser) or a proxy rewriting requests; then re-run.",
            location.as_deref().map_or(String::new(), |location| format!(" to {location}"))
        ),
        Some(UpgradeOutcome::Refused { status, .. }) => format!(
            "The server (or a proxy or web filter in front of it) refused the WebSocket upgrade with {status}: allow WebSocket upgrades to {host} (TCP {port}), and check the URL's path."
        ),
        _ => format!(
            "Something between here and {host} breaks the WebSocket upgrade (a proxy or web filter that does not pass `Upgrade: websocket`): allow WebSocket traffic to {host} on TCP {port}."
        ),
    };
    format!("{fix}{inspected}")
}

fn tls_fix(failure: &TlsFailure, host: &str, observation: &Observation) -> String {
    match failure {
        TlsFailure::UnknownIssuer { .. } if failure.leaf().is_some_and(|leaf| leaf.self_signed) => {
            let subject = failure.leaf().map_or(String::new(), |leaf| leaf.subject.clone());
            format!(
                "{host} presents a self-signed certificate ({subject}): for a `trtc-preflight serve`, pass the --pin it printed at start; anywhere else, a device is intercepting TLS to {host}."
            )
        }
        TlsFailure::UnknownIssuer { .. } => {
            let issuer = failure.leaf().map_or("an unknown authority".to_string(), |leaf| leaf.issuer.clone());
            format!(
                "The certificate for {host} was issued by {issuer}, which this machine does not trust: usually TLS inspection by a firewall or antivirus. Install that authority's root certificate in the OS trust store (or pass --ca), or exempt {host} from inspection."
            )
        }
        TlsFailure::Expired { .. } | TlsFailure::NotYetValid { .. } => format!(
            "The certificate for {host} is outside its dates by this machine's clock: if this clock is wrong, set it right (NTP); if it is right, whoever serves {host} must renew the certificate (or a TLS-inspecting device serves a stale one)."
        ),
        TlsFailure::NameMismatch { .. } => {
            let captive = observation.families.iter().all(|attempt| matches!(&attempt.tls, Some(Err(TlsFailure::NameMismatch { .. }))));
            let names = failure.leaf().map_or(String::new(), |leaf| leaf.names.join(", "));
            if captive {
                format!(
                    "Another server answers for {host} with a certificate for {names}: typically a captive portal (sign in to the network in a browser) or a proxy intercepting TLS."
                )
            } else {
                format!("The certificate presented for {host} names only {names}: check the URL's host, or what intercepts TLS to it.")
            }
        }
        TlsFailure::PinMismatch { .. } => "The certificate is not the pinned one: pass the --pin that this `serve` printed at start.".to_string(),
        TlsFailure::NotTls { .. } => format!(
            "Something that does not speak TLS answers on {host}'s port: a proxy or firewall that expects plain HTTP there; use wss:// through the configured proxy or allow TLS to {host}."
        ),
        _ => format!(
            "The TLS handshake with {host} failed: {failure}. Allow TLS 1.2 or 1.3 to {host} on TCP {} without interception.",
            observation.target.port
        ),
    }
}

/// The clock-skew warning, when the server's `Date` is far from this machine's clock.
fn skew(observation: &Observation) -> Option<Finding> {
    let attempt = observation
        .families
        .iter()
        .find(|attempt| attempt.server_date.is_some() && attempt.received_at.is_some())?;
    let (server, local) = (attempt.server_date?, attempt.received_at?);
    let offset = local - server;
    if offset.abs() <= SKEW_WARNING_S {
        return None;
    }
    Some(note(
        Severity::Warning,
        "This machine's clock is far from the signaling server's: userSig and certificate checks compare times, so a skewed clock makes valid ones look expired or not yet valid.",
        format!(
            "{} said it is {}; this machine said {} ({} {}).",
            observation.target.host,
            UnixTime(server).rfc3339(),
            UnixTime(local).rfc3339(),
            human_duration(offset),
            if offset > 0 { "ahead" } else { "behind" }
        ),
        "Synchronise this machine's clock with NTP (timedatectl set-ntp true, or the OS's date and time settings).".to_string(),
    ))
}

/// The message string of a reconnection that never succeeded.
pub const RECONNECT_FAILED: &str = "SignalChannel reconnect failed";

/// After a forced drop: `16390` when no reconnection succeeded.
pub fn reconnect_findings(target: &Target, attempts: &[Attempt]) -> Vec<Finding> {
    // The check itself opened before this ran: every entry here is a reconnection, the first
    // one included (it follows the check's own close).
    if attempts.iter().any(Attempt::opened) && attempts.iter().skip(1).any(Attempt::opened) {
        return Vec::new();
    }
    if attempts.first().is_some_and(Attempt::opened) && attempts.len() == 1 {
        return Vec::new();
    }
    let tries: Vec<String> = attempts
        .iter()
        .filter(|attempt| !attempt.opened())
        .map(|attempt| {
            let why = match &attempt.outcome {
                AttemptOutcome::Failed { failures } => failures
                    .iter()
                    .map(|failure| format!("{} step: {}", failure.step.as_str(), failure.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
                AttemptOutcome::Opened { .. } => "opened".to_string(),
            };
            format!(
                "try {} after {} ms: {why}",
                attempt.number,
                attempt.waited.as_millis()
            )
        })
        .collect();
    vec![sdk_error(
        sdk::SIGNAL_CHANNEL_RECONNECTION_FAILED,
        Some(RECONNECT_FAILED),
        None,
        format!("The WebSocket to {} opened, was dropped on purpose, and did not open again: {}.", target.url, tries.join("; ")),
        format!(
            "The first connection works but new ones are refused: a proxy, firewall or load balancer that limits connections per client, or a server that stops accepting; allow repeated WebSocket connections to {} on TCP {}.",
            target.host, target.port
        ),
    )]
}

/// The reconnection attempts as metrics.
pub fn reconnect_metrics(attempts: &[Attempt]) -> Value {
    Value::Array(
        attempts
            .iter()
            .map(|attempt| {
                json!({
                    "number": attempt.number,
                    "waited_ms": attempt.waited.as_millis() as u64,
                    "took_ms": attempt.took.as_millis() as u64,
                    "opened": attempt.opened(),
                })
            })
            .collect(),
    )
}

/// The `metrics` object of a signaling probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let ms = |duration: Option<std::time::Duration>| {
        duration.map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
    };
    let families: Vec<Value> = observation
        .families
        .iter()
        .map(|attempt| {
            json!({
                "family": attempt.family.as_str(),
                "address": attempt.address.to_string(),
                "via_proxy": attempt.via_proxy,
                "tcp": attempt.tcp.kind(),
                "proxy": attempt.proxy.as_ref().map(ProxyStep::kind),
                "tls": attempt.tls.as_ref().map(|tls| match tls {
                    Ok(facts) => json!({
                        "protocol": facts.protocol,
                        "verification": facts.verification.as_str(),
                        "issuer": facts.leaf.as_ref().map(|leaf| leaf.issuer.clone()),
                        "not_after": facts.leaf.as_ref().map(|leaf| UnixTime(leaf.not_after).rfc3339()),
                    }),
                    Err(failure) => json!({"failure": failure.kind(), "detail": failure.to_string()}),
                }),
                "upgrade": attempt.upgrade.as_ref().map(UpgradeOutcome::kind),
                "status": attempt.upgrade.as_ref().and_then(UpgradeOutcome::status),
                "opened": attempt.opened(),
                "first_failure": attempt.first_failure().map(|(step, detail)| json!({"step": step.as_str(), "detail": detail})),
                "pongs_ms": attempt.pongs.iter().map(|pong| ms(*pong)).collect::<Vec<_>>(),
                "dropped": attempt.dropped.as_ref().map(|dropped| dropped.how.kind()),
                "clock_offset_s": attempt.server_date.zip(attempt.received_at).map(|(server, local)| local - server),
                "timings_ms": {
                    "tcp": ms(attempt.timings.tcp),
                    "proxy": ms(attempt.timings.proxy),
                    "tls": ms(attempt.timings.tls),
                    "upgrade": ms(attempt.timings.upgrade),
                    "open": ms(attempt.timings.open),
                },
            })
        })
        .collect();
    let mut map = Map::new();
    map.insert("url".into(), json!(observation.target.url));
    map.insert(
        "route".into(),
        json!(match &observation.route {
            Route::Direct => "direct",
            Route::Bypassed { .. } => "bypassed",
            Route::Proxy(_) => "proxy",
            Route::Unsupported(_) => "unsupported_proxy",
        }),
    );
    map.insert(
        "proxy".into(),
        json!(observation.route.proxy().map(|proxy| proxy.url.clone())),
    );
    map.insert(
        "addresses".into(),
        json!(match &observation.resolution.result {
            Ok(resolved) => resolved
                .all()
                .map(|address| address.to_string())
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        }),
    );
    map.insert("opened".into(), json!(observation.opened()));
    map.insert("families".into(), Value::Array(families));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::resolve::{Resolved, Source};
    use preflight_probes::signaling::{Family, Resolution, Timings};
    use preflight_probes::tls::CertFacts;
    use std::time::Duration;

    const INSPECTOR: &str = "CN=Example Inspection Root CA, O=Example Corp";

    /// A handshake whose chain the OS trusted, with `public_root` as given.
    fn facts(verification: Verification, public_root: Option<bool>) -> HandshakeFacts {
        HandshakeFacts {
            server_name: "signal.lab".into(),
            protocol: "TLS 1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            alpn: Some("http/1.1".into()),
            leaf: Some(CertFacts {
                subject: "CN=signal.lab".into(),
                issuer: "CN=Example Inspection Intermediate".into(),
                names: vec!["signal.lab".into()],
                not_before: 0,
                not_after: 4_102_444_800,
                sha256: [1; 32],
                self_signed: false,
                parse_error: None,
            }),
            chain: Vec::new(),
            verification,
            public_root,
            top_issuer: Some(INSPECTOR.into()),
            duration: Duration::from_millis(4),
        }
    }

    fn attempt(address: &str, tls: HandshakeFacts, upgrade: UpgradeOutcome) -> FamilyAttempt {
        let address: std::net::SocketAddr = address.parse().unwrap();
        FamilyAttempt {
            family: if address.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            },
            address,
            via_proxy: false,
            egress: None,
            tcp: TcpStep::Connected { local: None },
            proxy: None,
            tls: Some(Ok(tls)),
            upgrade: Some(upgrade),
            server_date: None,
            received_at: None,
            pongs: vec![Some(Duration::from_millis(2))],
            dropped: None,
            closed_cleanly: Some(true),
            messages: 0,
            timings: Timings::default(),
        }
    }

    fn opened() -> UpgradeOutcome {
        UpgradeOutcome::Opened {
            headers: Vec::new(),
        }
    }

    fn observation(families: Vec<FamilyAttempt>) -> Observation {
        Observation {
            target: Target::parse("wss://signal.lab/ws").unwrap(),
            route: Route::Direct,
            resolution: Resolution {
                host: "signal.lab".into(),
                result: Ok(Resolved {
                    v4: vec!["127.0.0.1".parse().unwrap()],
                    v6: vec!["::1".parse().unwrap()],
                    source: Source::Override,
                    took: Duration::ZERO,
                }),
                took: Duration::ZERO,
            },
            families,
        }
    }

    #[test]
    fn an_open_websocket_through_a_private_root_is_tls_inspection() {
        let observation = observation(vec![attempt(
            "127.0.0.1:443",
            facts(Verification::Platform, Some(false)),
            opened(),
        )]);
        let findings = findings(&observation, false);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Info);
        assert_eq!(finding.code, None);
        assert!(
            finding.description.starts_with(&format!(
                "TLS inspection by {INSPECTOR} in place: the connection to signal.lab is decrypted and re-encrypted"
            )),
            "{}",
            finding.description
        );
        assert!(
            finding.evidence.contains("127.0.0.1:443")
                && finding.evidence.contains("IPv4")
                && finding
                    .evidence
                    .contains("CN=Example Inspection Intermediate"),
            "{}",
            finding.evidence
        );
        assert!(
            finding.fix.contains("ask IT") && finding.fix.contains("*.rtc.tencentcloud.com"),
            "{}",
            finding.fix
        );
    }

    #[test]
    fn a_tls_timeout_names_the_target_port_in_its_fix() {
        let mut failed = attempt("127.0.0.1:8443", facts(Verification::Pin, None), opened());
        failed.tls = Some(Err(TlsFailure::Timeout {
            after: Duration::from_secs(5),
        }));
        failed.upgrade = None;
        let mut observation = observation(vec![failed]);
        observation.target = Target::parse("wss://signal.lab:8443/ws").unwrap();
        let findings = findings(&observation, false);
        assert_eq!(findings[0].code, Some(16385), "{findings:#?}");
        assert!(
            findings[0].evidence.contains("tls step"),
            "{}",
            findings[0].evidence
        );
        assert!(
            findings[0].fix.contains("on TCP 8443"),
            "{}",
            findings[0].fix
        );
        assert!(!findings[0].fix.contains("TCP 443 "), "{}", findings[0].fix);
    }

    #[test]
    fn a_protocol_violation_once_open_is_16386_not_named_an_idle_cut() {
        let dropped = |how| {
            let mut broken = attempt("127.0.0.1:443", facts(Verification::Pin, None), opened());
            broken.dropped = Some(preflight_probes::signaling::Dropped {
                after: Duration::from_millis(3),
                how,
            });
            broken.closed_cleanly = None;
            findings(&observation(vec![broken]), false)
        };
        let violated = dropped(DropKind::Error {
            reason: "Space limit exceeded: Message too long: 67108864 > 1048576".into(),
        });
        assert_eq!(violated[0].code, Some(16386), "{violated:#?}");
        assert!(
            violated[0].evidence.contains("Message too long"),
            "{}",
            violated[0].evidence
        );
        assert!(
            violated[0].fix.contains("does not allow"),
            "{}",
            violated[0].fix
        );
        assert!(!violated[0].fix.contains("idle"), "{}", violated[0].fix);
        let cut = dropped(DropKind::ClosedWithoutCloseFrame);
        assert_eq!(cut[0].code, Some(16386), "{cut:#?}");
        assert!(cut[0].fix.contains("idle"), "{}", cut[0].fix);
    }

    #[test]
    fn a_public_root_or_no_judgement_is_no_finding() {
        for (verification, public_root) in [
            (Verification::Platform, Some(true)),
            (Verification::Platform, None),
            (Verification::BundledRoots, Some(true)),
            (Verification::CaFile, None),
            (Verification::Pin, None),
        ] {
            let observation = observation(vec![attempt(
                "127.0.0.1:443",
                facts(verification, public_root),
                opened(),
            )]);
            let findings = findings(&observation, false);
            assert!(
                findings.is_empty(),
                "{verification:?} {public_root:?}: {findings:#?}"
            );
        }
    }

    #[test]
    fn both_families_through_the_same_root_is_one_finding() {
        let observation = observation(vec![
            attempt(
                "127.0.0.1:443",
                facts(Verification::Platform, Some(false)),
                opened(),
            ),
            attempt(
                "[::1]:443",
                facts(Verification::Platform, Some(false)),
                opened(),
            ),
        ]);
        let findings = findings(&observation, false);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].description.matches(INSPECTOR).count(), 1);
        assert!(
            findings[0].evidence.contains("IPv4") && findings[0].evidence.contains("IPv6"),
            "{}",
            findings[0].evidence
        );
    }

    #[test]
    fn inspection_is_said_when_reachable_and_not_when_the_websocket_failed() {
        let refused = || UpgradeOutcome::Refused {
            status: 404,
            reason: "Not Found".into(),
            headers: Vec::new(),
            body: String::new(),
        };
        let observation = observation(vec![attempt(
            "127.0.0.1:443",
            facts(Verification::Platform, Some(false)),
            refused(),
        )]);
        // TRTC's own servers (reachability): the path works, through the inspecting device.
        let reachable = findings(&observation, true);
        assert_eq!(reachable.len(), 2, "{reachable:#?}");
        assert!(reachable.iter().all(|f| f.severity == Severity::Info));
        assert!(reachable[1].description.contains(INSPECTOR));
        // Our own server: the upgrade failed, 16385 only (the call does not work).
        let failed = findings(&observation, false);
        assert_eq!(failed.len(), 1, "{failed:#?}");
        assert_eq!(failed[0].code, Some(sdk::SIGNAL_CAHNNEL_SETUP_FAILED));
    }
}
