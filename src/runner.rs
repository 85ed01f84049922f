//! The runner: executes a plan's probes and assembles the report.
//!
//! Quick probes run concurrently on tokio; heavy ones after them, one at a time. Each probe runs
//! in its own task under its own deadline, so one that hangs or panics becomes a finding
//! (`65535 UNKNOWN`) and never holds up the others. The whole run has a deadline too. An interrupt
//! (Ctrl-C) ends the run at once: what finished is kept, the rest is reported as skipped, and the
//! report says `"complete": false`. After every probe the caller gets the partial report, so files
//! on disk always hold what has finished.

use std::future::Future;
use std::time::{Duration, Instant};

use preflight_reports::{Finding, Kind, ProbeResult, Report, Severity, Status};
use serde_json::Map;
use tokio::task::JoinSet;

use crate::diagnose;
use crate::offline;
use crate::plan::{Job, NotRun, Phase, Plan, PlannedProbe};
use crate::time::UnixTime;
use preflight_probes::resolve::Overrides;
use preflight_probes::stun::message::ShortTermCredential;
use preflight_probes::stun::probe::{self as stun_probe, Observation as StunObservation};
use std::sync::Arc;

/// What a probe produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Kind-specific figures.
    pub metrics: Map<String, serde_json::Value>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// The probe did not run (its findings say why).
    pub skipped: bool,
    /// What a path probe saw, kept for judging every path together at the end.
    pub path: Option<PathObservation>,
}

/// What a probe of TRTC's media paths saw.
#[derive(Clone, Debug)]
pub enum PathObservation {
    /// One STUN server.
    Stun(StunObservation),
    /// A port matrix.
    Ports(preflight_probes::ports::Observation),
    /// A TURN relay (boxed: its TLS facts make it the largest).
    Turn(Box<preflight_probes::turn::Observation>),
}

impl PathObservation {
    /// Whether any of its paths used TLS.
    fn uses_tls(&self) -> bool {
        match self {
            PathObservation::Stun(observation) => {
                observation.target.transport == stun_probe::Transport::Tls
            }
            PathObservation::Ports(observation) => observation
                .cells
                .iter()
                .any(|cell| cell.transport == stun_probe::Transport::Tls),
            PathObservation::Turn(observation) => {
                observation.server.transport == preflight_probes::turn::Transport::Tls
            }
        }
    }

    fn findings(&self, context: &diagnose::stun::PathContext) -> Vec<Finding> {
        match self {
            PathObservation::Stun(observation) => diagnose::stun::findings(observation, context),
            PathObservation::Ports(observation) => diagnose::ports::findings(observation, context),
            PathObservation::Turn(observation) => diagnose::turn::findings(observation, context),
        }
    }
}

/// What every path observation of a run says about the paths, together.
fn path_context<'a>(
    observations: impl IntoIterator<Item = &'a PathObservation>,
    complete: bool,
) -> diagnose::stun::PathContext {
    let observations: Vec<&PathObservation> = observations.into_iter().collect();
    let stun = observations
        .iter()
        .filter_map(|observation| match observation {
            PathObservation::Stun(observation) => Some(observation),
            PathObservation::Ports(_) | PathObservation::Turn(_) => None,
        });
    let mut context = diagnose::stun::PathContext::of(stun, complete);
    for observation in &observations {
        match observation {
            PathObservation::Ports(ports) => context.include_ports(ports),
            PathObservation::Turn(turn) => context.include_turn(turn),
            PathObservation::Stun(_) => {}
        }
    }
    context
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The report (partial when interrupted).
    pub report: Report,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

/// Reconnections tried after a forced drop (`--signal-reconnect`), and the first backoff
/// (doubled each time: 0.5, 1, 2 s).
const RECONNECT_ATTEMPTS: u32 = 3;
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

/// What every probe task shares: the plan's clock, faults and network settings.
#[derive(Clone, Debug)]
struct Shared {
    now: UnixTime,
    faults: crate::faults::Faults,
    stun: stun_probe::Settings,
    mtu: preflight_probes::mtu::Settings,
    signaling: preflight_probes::signaling::Settings,
    webrtc: preflight_probes::webrtc::probe::Settings,
    webrtc_context: diagnose::webrtc::Context,
    turn: preflight_probes::turn::Settings,
    quality: preflight_probes::quality::Settings,
    throughput: preflight_probes::throughput::Settings,
}

impl Shared {
    fn of(plan: &Plan) -> Shared {
        let credential = plan
            .network
            .token
            .as_ref()
            .map(|token| ShortTermCredential {
                username: "trtc-preflight".to_string(),
                password: token.expose().to_string(),
            });
        let trust = preflight_probes::tls::Trust {
            ca: plan
                .network
                .ca
                .as_ref()
                .map(|_| plan.network.ca_certificates.clone()),
            pin: plan
                .network
                .pin
                .as_deref()
                .and_then(|pin| preflight_probes::tls::parse_pin(pin).ok()),
            insecure: plan.network.insecure,
            clock: u64::try_from(plan.now.0).ok(),
        };
        let signaling = preflight_probes::signaling::Settings {
            overrides: Overrides::new(plan.network.resolve.iter().cloned()),
            trust: trust.clone(),
            proxy: preflight_probes::signaling::ProxyConfig::from_process_env(),
            token: plan
                .network
                .token
                .as_ref()
                .map(|token| token.expose().to_string()),
            // Three pings 100 ms apart: a stalled channel shows within a third of a second.
            ping_interval: Duration::from_millis(100),
            ..preflight_probes::signaling::Settings::default()
        };
        // The WebRTC stack relays over UDP only: TURN over TCP and TLS is the turn probe's.
        let (relays, unusable_relays): (Vec<String>, Vec<String>) = plan
            .network
            .turn
            .iter()
            .cloned()
            .partition(|url| crate::config::turn_is_udp(url));
        let ice_servers = match (&plan.network.turn_user, &plan.network.turn_password) {
            (Some(user), Some(password)) if !relays.is_empty() => {
                vec![preflight_probes::webrtc::IceServer {
                    urls: relays.clone(),
                    username: user.clone(),
                    credential: password.expose().to_string(),
                }]
            }
            _ => Vec::new(),
        };
        let webrtc = preflight_probes::webrtc::probe::Settings {
            signaling: signaling.clone(),
            ice_servers,
            relay_only: plan.network.relay_only,
            ..preflight_probes::webrtc::probe::Settings::default()
        };
        let webrtc_context = diagnose::webrtc::Context {
            relay_only: plan.network.relay_only,
            relays,
            unusable_relays,
        };
        let turn = preflight_probes::turn::Settings {
            overrides: Overrides::new(plan.network.resolve.iter().cloned()),
            trust: trust.clone(),
            proxy: preflight_probes::signaling::ProxyConfig::from_process_env(),
            username: plan.network.turn_user.clone().unwrap_or_default(),
            password: plan
                .network
                .turn_password
                .as_ref()
                .map(|password| password.expose().to_string())
                .unwrap_or_default(),
            ..preflight_probes::turn::Settings::default()
        };
        let quality = preflight_probes::quality::Settings {
            credential: credential.clone(),
            ..preflight_probes::quality::Settings::default()
        };
        let throughput = preflight_probes::throughput::Settings {
            token: plan
                .network
                .token
                .as_ref()
                .map(|token| token.expose().to_string()),
            ..preflight_probes::throughput::Settings::default()
        };
        Shared {
            turn,
            quality,
            throughput,
            webrtc,
            webrtc_context,
            now: plan.now,
            faults: plan.faults.clone(),
            stun: stun_probe::Settings {
                overrides: Overrides::new(plan.network.resolve.iter().cloned()),
                credential: credential.clone(),
                trust: trust.clone(),
                ..stun_probe::Settings::default()
            },
            mtu: preflight_probes::mtu::Settings {
                credential,
                ..preflight_probes::mtu::Settings::default()
            },
            signaling,
        }
    }
}

/// Runs one probe's job (in its own task).
async fn execute(probe: PlannedProbe, shared: Arc<Shared>) -> Outcome {
    shared.faults.apply(probe.kind).await;
    match &probe.job {
        Job::Account(params) => {
            let observation = offline::observe_account(params, shared.now);
            let (metrics, findings) = diagnose::account::diagnose(&observation);
            Outcome { metrics: preflight_reports::metrics::to_object(&metrics), findings, ..Outcome::default() }
        }
        Job::Room(params) => {
            let observation = offline::observe_room(params, shared.now);
            let (metrics, findings) = diagnose::room::diagnose(&observation);
            Outcome { metrics: preflight_reports::metrics::to_object(&metrics), findings, ..Outcome::default() }
        }
        Job::Stun(target) => {
            let observation = PathObservation::Stun(stun_probe::probe(target, &shared.stun).await);
            path_outcome(observation)
        }
        Job::Ports(spec) => {
            let observation = PathObservation::Ports(preflight_probes::ports::probe(spec, &shared.stun).await);
            path_outcome(observation)
        }
        Job::Mtu { host, port } => mtu(host, *port, &shared).await,
        Job::Quality {
            host,
            port,
            rate,
            duration,
            no_udp_answer,
        } => quality(host, *port, (*rate, *duration), *no_udp_answer, &shared).await,
        Job::Throughput {
            host,
            port,
            kbps,
            duration,
            no_udp_answer,
        } => throughput(host, *port, (*kbps, *duration), *no_udp_answer, &shared).await,
        Job::Signaling { target, reconnect, reachability } => {
            let observation = preflight_probes::signaling::probe(target, &shared.signaling).await;
            let mut metrics = diagnose::signaling::metrics(&observation);
            let mut findings = diagnose::signaling::findings(&observation, *reachability);
            if *reconnect && observation.opened() {
                let attempts = preflight_probes::signaling::reconnect(
                    target,
                    &shared.signaling,
                    RECONNECT_ATTEMPTS,
                    RECONNECT_BACKOFF,
                )
                .await;
                findings.extend(diagnose::signaling::reconnect_findings(target, &attempts));
                metrics.insert("reconnect".into(), diagnose::signaling::reconnect_metrics(&attempts));
            }
            Outcome { metrics, findings, ..Outcome::default() }
        }
        Job::Turn(server) => path_outcome(PathObservation::Turn(Box::new(
            preflight_probes::turn::probe(server, &shared.turn).await,
        ))),
        Job::WebRtc { target, .. } => webrtc(target, &shared).await,
        Job::Camera {
            camera,
            format,
            audio_only,
        } => {
            let request = preflight_probes::camera::Request {
                camera: camera.clone(),
                format: *format,
            };
            let observation = preflight_probes::camera::probe(
                Arc::new(preflight_probes::camera::native::NativeCameras),
                request,
                preflight_probes::camera::Settings::default(),
            )
            .await;
            let context = diagnose::camera::Context {
                audio_only: *audio_only,
            };
            Outcome {
                metrics: diagnose::camera::metrics(&observation),
                findings: diagnose::camera::findings(&observation, context),
                ..Outcome::default()
            }
        }
        Job::Microphone { microphone } => {
            let request = preflight_probes::microphone::Request {
                microphone: microphone.clone(),
            };
            let observation = preflight_probes::microphone::probe(
                Arc::new(preflight_probes::microphone::native::NativeMicrophones::new()),
                request,
                preflight_probes::microphone::Settings::default(),
            )
            .await;
            Outcome {
                metrics: diagnose::microphone::metrics(&observation),
                findings: diagnose::microphone::findings(&observation),
                ..Outcome::default()
            }
        }
        Job::Environment { audio_only } => {
            let settings = preflight_probes::environment::Settings::from_process();
            match tokio::task::spawn_blocking(move || {
                preflight_probes::environment::probe(&settings)
            })
            .await
            {
                Ok(observation) => {
                    let context = diagnose::environment::Context {
                        audio_only: *audio_only,
                    };
                    Outcome {
                        metrics: diagnose::environment::metrics(&observation),
                        findings: diagnose::environment::findings(&observation, context),
                        ..Outcome::default()
                    }
                }
                Err(error) => failure(format!("The environment probe failed: {error}.")),
            }
        }
        Job::Unavailable => Outcome {
            findings: vec![diagnose::note(
                Severity::Info,
                "This build of trtc-preflight has no engine for this probe kind yet, so it was not run.",
                format!("Not run: this build has no {} probe yet.", probe.kind),
                "Nothing to fix on this machine; a later version runs this probe.".to_string(),
            )],
            skipped: true,
            ..Outcome::default()
        },
    }
}

/// The WebRTC probe. With `--relay-only` and no relay it can use (only TCP or TLS ones), it
/// says so and does not run.
async fn webrtc(target: &preflight_probes::signaling::Target, shared: &Shared) -> Outcome {
    let context = &shared.webrtc_context;
    if context.relay_only && shared.webrtc.ice_servers.is_empty() {
        return Outcome {
            findings: vec![diagnose::note(
                Severity::Info,
                "The WebRTC check cannot run relay-only here: the WebRTC stack it is built on relays over UDP only, and every --turn relay given is over TCP or TLS; the turn probe checks those.",
                format!("--relay-only with {}.", context.unusable_relays.join(", ")),
                "Add a --turn turn:HOST:PORT?transport=udp relay to check WebRTC through it, or read the turn findings.".to_string(),
            )],
            skipped: true,
            ..Outcome::default()
        };
    }
    let observation = preflight_probes::webrtc::probe::probe(target, &shared.webrtc).await;
    Outcome {
        metrics: diagnose::webrtc::metrics(&observation, context),
        findings: diagnose::webrtc::findings(&observation, context),
        ..Outcome::default()
    }
}

/// The MTU probe: per address family of the host, through UDP `port`.
async fn mtu(host: &str, port: u16, shared: &Shared) -> Outcome {
    let resolved = match preflight_probes::resolve::resolve(host, &shared.stun.overrides).await {
        Ok(resolved) => resolved,
        Err(error) => {
            return Outcome {
                findings: vec![diagnose::note(
                    Severity::Info,
                    "The path MTU could not be measured: the host's name did not resolve (the ports probe judges reachability).",
                    format!("{error}."),
                    format!("Make {host} resolve, then re-run."),
                )],
                ..Outcome::default()
            }
        }
    };
    let mut findings = Vec::new();
    let mut families = Vec::new();
    for address in [resolved.v4.first(), resolved.v6.first()]
        .into_iter()
        .flatten()
    {
        let observation =
            preflight_probes::mtu::probe(std::net::SocketAddr::new(*address, port), &shared.mtu)
                .await;
        findings.extend(diagnose::mtu::findings(&observation));
        families.push(serde_json::Value::Object(diagnose::mtu::metrics(
            &observation,
        )));
    }
    let mut metrics = Map::new();
    metrics.insert("port".into(), serde_json::json!(port));
    metrics.insert("families".into(), serde_json::Value::Array(families));
    Outcome {
        metrics,
        findings,
        ..Outcome::default()
    }
}

/// The first address of `host` (IPv4 first) with `port`, or the outcome that says why there is
/// none.
async fn first_address(
    host: &str,
    port: u16,
    what: &str,
    shared: &Shared,
) -> Result<std::net::SocketAddr, Outcome> {
    let description = format!(
        "The {what} could not be measured: the host's name did not resolve (the ports probe judges reachability)."
    );
    let unresolved = |evidence: String| Outcome {
        findings: vec![diagnose::note(
            Severity::Info,
            &description,
            evidence,
            format!("Make {host} resolve, then re-run."),
        )],
        skipped: true,
        ..Outcome::default()
    };
    match preflight_probes::resolve::resolve(host, &shared.stun.overrides).await {
        Ok(resolved) => match resolved.v4.first().or(resolved.v6.first()) {
            Some(address) => Ok(std::net::SocketAddr::new(*address, port)),
            None => Err(unresolved(format!("{host} has no address."))),
        },
        Err(error) => Err(unresolved(format!("{error}."))),
    }
}

/// The outcome of a heavy probe whose host answered on no UDP port in the matrix: nothing to
/// measure, and the ports probe has already said why.
fn no_udp_answer(host: &str, what: &str) -> Outcome {
    Outcome {
        findings: vec![diagnose::note(
            Severity::Info,
            &format!("The {what} could not be measured: no UDP port of the host answered in the port matrix, and the ports probe reports that."),
            format!("The matrix of {host} has no UDP port that answered STUN."),
            "Fix what the ports findings name; the measurement runs through the first UDP port that answers.".to_string(),
        )],
        skipped: true,
        ..Outcome::default()
    }
}

/// The quality probe: a paced burst to `port` of the host's first address.
async fn quality(
    host: &str,
    port: u16,
    (rate, duration): (u32, Duration),
    no_udp: bool,
    shared: &Shared,
) -> Outcome {
    const WHAT: &str = "network quality";
    if no_udp {
        return no_udp_answer(host, WHAT);
    }
    let target = match first_address(host, port, WHAT, shared).await {
        Ok(target) => target,
        Err(outcome) => return outcome,
    };
    let settings = preflight_probes::quality::Settings {
        rate,
        duration,
        ..shared.quality.clone()
    };
    let observation = preflight_probes::quality::probe(target, &settings).await;
    let context = diagnose::quality::Context {
        token: settings.credential.is_some(),
        untokened_limit: preflight_probes::responder::RateLimit::default().per_second,
    };
    Outcome {
        metrics: diagnose::quality::metrics(&observation),
        findings: diagnose::quality::findings(&observation, &context),
        skipped: diagnose::quality::skipped(&observation),
        ..Outcome::default()
    }
}

/// The throughput probe: up and down at a call's rate against `serve` (with its token).
async fn throughput(
    host: &str,
    port: u16,
    (kbps, duration): (u32, Duration),
    no_udp: bool,
    shared: &Shared,
) -> Outcome {
    const WHAT: &str = "throughput";
    if no_udp {
        return no_udp_answer(host, WHAT);
    }
    let target = match first_address(host, port, WHAT, shared).await {
        Ok(target) => target,
        Err(outcome) => return outcome,
    };
    let settings = preflight_probes::throughput::Settings {
        rate_kbps: kbps,
        duration,
        ..shared.throughput.clone()
    };
    let observation = preflight_probes::throughput::probe(target, &settings).await;
    Outcome {
        metrics: diagnose::throughput::metrics(&observation),
        findings: diagnose::throughput::findings(&observation),
        skipped: diagnose::throughput::skipped(&observation),
        ..Outcome::default()
    }
}

/// Whether `host`'s port matrix ran in this run and no UDP port answered.
fn matrix_without_udp(observations: &[Option<PathObservation>], host: &str) -> bool {
    observations
        .iter()
        .flatten()
        .any(|observation| match observation {
            PathObservation::Ports(ports) if ports.spec.host == host => !ports
                .cells
                .iter()
                .any(|cell| cell.transport == stun_probe::Transport::Udp && cell.result.answered()),
            _ => false,
        })
}

/// The first UDP port of `host` that answered in a port matrix of this run.
fn answered_udp_port(observations: &[Option<PathObservation>], host: &str) -> Option<u16> {
    observations
        .iter()
        .flatten()
        .find_map(|observation| match observation {
            PathObservation::Ports(ports) if ports.spec.host == host => ports
                .cells
                .iter()
                .find(|cell| cell.transport == stun_probe::Transport::Udp && cell.result.answered())
                .map(|cell| cell.port),
            _ => None,
        })
}

/// A path probe's outcome, judged alone for now; `judge_paths` judges it again beside the
/// others at the end.
fn path_outcome(observation: PathObservation) -> Outcome {
    let context = path_context([&observation], false);
    let metrics = match &observation {
        PathObservation::Stun(observation) => diagnose::stun::metrics(observation),
        PathObservation::Ports(observation) => diagnose::ports::metrics(observation),
        PathObservation::Turn(observation) => diagnose::turn::metrics(observation),
    };
    Outcome {
        metrics,
        findings: observation.findings(&context),
        path: Some(observation),
        ..Outcome::default()
    }
}

/// Judges every path probe again beside the others: whether a failed path is a warning (another
/// path carries media) or `16387` (none does) is known only once every path was tried.
fn judge_paths(
    plan: &Plan,
    slots: &mut [Option<ProbeResult>],
    observations: &[Option<PathObservation>],
    interrupted: bool,
) {
    let paths: Vec<usize> = (0..plan.probes.len())
        .filter(|&i| {
            matches!(
                plan.probes[i].job,
                Job::Stun(_) | Job::Ports(_) | Job::Turn(_)
            )
        })
        .collect();
    let complete = !interrupted && paths.iter().all(|&i| observations[i].is_some());
    let context = path_context(observations.iter().flatten(), complete);
    for &index in &paths {
        if let (Some(result), Some(observation)) = (slots[index].as_mut(), &observations[index]) {
            result.findings = observation.findings(&context);
            if plan.network.insecure && observation.uses_tls() {
                result.findings.push(diagnose::note(
                    Severity::Info,
                    "TLS certificates were not verified on this probe (--insecure): a TLS path here proves the payload passes, not who answered.",
                    "--insecure was given.".to_string(),
                    "Drop --insecure and pass --pin sha256:... (printed by `serve`) or --ca FILE to verify the server too.".to_string(),
                ));
            }
            result.status = ProbeResult::status_from_findings(false, &result.findings);
        }
    }
    let stun: Vec<(usize, &StunObservation)> = paths
        .iter()
        .filter_map(|&index| match &observations[index] {
            Some(PathObservation::Stun(observation)) => Some((index, observation)),
            _ => None,
        })
        .collect();
    let all: Vec<&StunObservation> = stun.iter().map(|(_, observation)| *observation).collect();
    if let (Some(note), Some((first, _))) = (diagnose::stun::mapping_note(&all), stun.first()) {
        if let Some(result) = slots[*first].as_mut() {
            result.findings.push(note);
        }
    }
}

/// Runs the plan. `interrupt` resolves when the user asks to stop (Ctrl-C); `progress` receives
/// a partial report (`"complete": false`) at the start and after each probe finishes.
pub async fn run(
    plan: &Plan,
    version: &str,
    interrupt: impl Future<Output = ()>,
    progress: impl FnMut(&Report),
) -> RunResult {
    run_streaming(plan, version, interrupt, progress, |_| {}).await
}

/// [`run`], and `finished` receives each probe's result as it finishes (the agent streams
/// them). The final report may still change a result: paths are judged together at the end.
pub async fn run_streaming(
    plan: &Plan,
    version: &str,
    interrupt: impl Future<Output = ()>,
    mut progress: impl FnMut(&Report),
    mut finished_probe: impl FnMut(&ProbeResult),
) -> RunResult {
    let started = Instant::now();
    let started_at = UnixTime::system_now().rfc3339();
    let mut slots: Vec<Option<ProbeResult>> = vec![None; plan.probes.len()];
    let mut observations: Vec<Option<PathObservation>> = vec![None; plan.probes.len()];
    let shared = Arc::new(Shared::of(plan));
    let run_deadline = tokio::time::Instant::now() + plan.timeout;
    tokio::pin!(interrupt);

    let assemble = |slots: &[Option<ProbeResult>], complete: bool, pending_reason: &str| {
        let mut probes: Vec<ProbeResult> = slots
            .iter()
            .zip(&plan.probes)
            .map(|(slot, probe)| {
                slot.clone()
                    .unwrap_or_else(|| pending(probe, pending_reason))
            })
            .collect();
        probes.extend(plan.not_run.iter().map(not_run));
        apply_requirements(&mut probes, plan);
        Report::assemble(
            version,
            started_at.clone(),
            elapsed_ms(started),
            complete,
            probes,
        )
    };

    let quick: Vec<usize> = (0..plan.probes.len())
        .filter(|&i| plan.probes[i].phase == Phase::Quick)
        .collect();
    let mut groups = vec![quick];
    groups.extend(
        (0..plan.probes.len())
            .filter(|&i| plan.probes[i].phase == Phase::Heavy)
            .map(|i| vec![i]),
    );
    let mut interrupted = false;
    // A report exists on disk from the start: a run killed outright still leaves one.
    progress(&assemble(&slots, false, ""));
    'groups: for group in groups {
        let mut tasks = JoinSet::new();
        let mut started_at_by_index = std::collections::HashMap::new();
        for &index in &group {
            let mut probe = plan.probes[index].clone();
            match &mut probe.job {
                Job::Mtu { host, port } => {
                    if let Some(answered) = answered_udp_port(&observations, host) {
                        *port = answered;
                    }
                }
                Job::Quality {
                    host,
                    port,
                    no_udp_answer,
                    ..
                }
                | Job::Throughput {
                    host,
                    port,
                    no_udp_answer,
                    ..
                } => {
                    if let Some(answered) = answered_udp_port(&observations, host) {
                        *port = answered;
                    }
                    *no_udp_answer = matrix_without_udp(&observations, host);
                }
                _ => {}
            }
            let deadline = probe.deadline;
            let shared = shared.clone();
            started_at_by_index.insert(index, Instant::now());
            tasks.spawn(async move {
                let inner = tokio::spawn(execute(probe, shared));
                let abort = inner.abort_handle();
                let result = tokio::time::timeout(deadline, inner).await;
                if result.is_err() {
                    abort.abort();
                }
                (index, result)
            });
        }
        while !tasks.is_empty() {
            tokio::select! {
                biased;
                () = &mut interrupt => {
                    tasks.abort_all();
                    interrupted = true;
                    break 'groups;
                }
                () = tokio::time::sleep_until(run_deadline) => {
                    tasks.abort_all();
                    for (index, probe) in plan.probes.iter().enumerate() {
                        if slots[index].is_none() {
                            let duration = started_at_by_index.get(&index).map_or(0, |at| elapsed_ms(*at));
                            slots[index] = Some(finished(probe, duration, Outcome {
                                findings: vec![diagnose::unknown(format!(
                                    "The run's deadline (--timeout {} s) passed before the {} probe for {:?} finished.",
                                    plan.timeout.as_secs_f64(), probe.kind, probe.target
                                ))],
                                ..Outcome::default()
                            }));
                        }
                    }
                    break 'groups;
                }
                joined = tasks.join_next() => {
                    let Some(Ok((index, result))) = joined else { continue };
                    let probe = &plan.probes[index];
                    let outcome = match result {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(error)) if error.is_panic() => failure(format!(
                            "The {} probe for {:?} crashed: {}.",
                            probe.kind, probe.target, panic_text(error.into_panic())
                        )),
                        Ok(Err(error)) => failure(format!(
                            "The {} probe for {:?} was cancelled: {error}.", probe.kind, probe.target
                        )),
                        Err(_) => failure(format!(
                            "The {} probe for {:?} did not finish within its deadline of {} s.",
                            probe.kind, probe.target, probe.deadline.as_secs_f64()
                        )),
                    };
                    let mut outcome = outcome;
                    observations[index] = outcome.path.take();
                    let result = finished(probe, elapsed_ms(started_at_by_index[&index]), outcome);
                    tracing::info!(id = %result.id, status = result.status.as_str(), duration_ms = result.duration_ms, "probe finished");
                    finished_probe(&result);
                    slots[index] = Some(result);
                    progress(&assemble(&slots, false, ""));
                }
            }
        }
    }
    judge_paths(plan, &mut slots, &observations, interrupted);
    let report = if interrupted {
        assemble(
            &slots,
            false,
            "Interrupted (Ctrl-C) before this probe finished.",
        )
    } else {
        assemble(&slots, true, "")
    };
    RunResult {
        report,
        interrupted,
    }
}

/// The outcome of a probe that crashed or ran out of time.
fn failure(evidence: String) -> Outcome {
    Outcome {
        findings: vec![diagnose::unknown(evidence)],
        ..Outcome::default()
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn finished(probe: &PlannedProbe, duration_ms: u64, outcome: Outcome) -> ProbeResult {
    ProbeResult {
        id: probe.id.clone(),
        kind: probe.kind,
        target: probe.target.clone(),
        status: ProbeResult::status_from_findings(outcome.skipped, &outcome.findings),
        duration_ms,
        metrics: outcome.metrics,
        findings: outcome.findings,
    }
}

/// A probe that has not finished (only in partial reports).
fn pending(probe: &PlannedProbe, reason: &str) -> ProbeResult {
    let reason = if reason.is_empty() {
        "Still running when this report was written."
    } else {
        reason
    };
    ProbeResult {
        id: probe.id.clone(),
        kind: probe.kind,
        target: probe.target.clone(),
        status: Status::Skip,
        duration_ms: 0,
        metrics: Map::new(),
        findings: vec![diagnose::note(
            Severity::Info,
            "The probe did not finish, so nothing is known about what it checks.",
            reason.to_string(),
            "Run the check again and let it finish.".to_string(),
        )],
    }
}

fn not_run(entry: &NotRun) -> ProbeResult {
    ProbeResult {
        id: entry.kind.as_str().to_string(),
        kind: entry.kind,
        target: String::new(),
        status: Status::Skip,
        duration_ms: 0,
        metrics: Map::new(),
        findings: vec![diagnose::note(
            Severity::Info,
            "This probe kind did not run.",
            format!("{} {}", entry.reason, entry.how),
            entry.how.clone(),
        )],
    }
}

/// A required kind with no probe that ran fails the run: its skipped entries get an error.
fn apply_requirements(probes: &mut [ProbeResult], plan: &Plan) {
    for kind in &plan.require {
        let ran = probes
            .iter()
            .any(|probe| probe.kind == *kind && probe.status != Status::Skip);
        if ran {
            continue;
        }
        for probe in probes.iter_mut().filter(|probe| probe.kind == *kind) {
            probe.findings.push(required_not_run(*kind));
            probe.status = Status::Fail;
        }
    }
}

fn required_not_run(kind: Kind) -> Finding {
    diagnose::note(
        Severity::Error,
        "A probe kind named in --require did not run, so the run cannot vouch for it.",
        format!("--require {kind} was given, and no {kind} probe ran."),
        format!("Configure the {kind} probe (see the skip reason above), or drop {kind} from --require."),
    )
}

/// The exit status for a finished report: 1 when anything reaches `--fail-on`, else 0.
pub fn exit_status(report: &Report, fail_on: Severity) -> i32 {
    let failed = report
        .probes
        .iter()
        .any(|probe| probe.status == Status::Fail);
    match report.worst_severity() {
        _ if failed => 1,
        Some(worst) if worst >= fail_on && worst != Severity::Info => 1,
        _ => 0,
    }
}
