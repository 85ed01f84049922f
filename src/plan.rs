//! The plan: everything a run will do, decided before anything is sent. `config` builds it from
//! flags, a profile and defaults; the runner executes it; `--dry-run` prints it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use preflight_reports::{Format, Kind, Severity};

use crate::faults::Faults;
use crate::secret::Secret;
use crate::time::UnixTime;

/// When a probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Concurrently with the other quick probes.
    Quick,
    /// After the quick ones, one at a time, so measurements do not disturb each other.
    Heavy,
}

/// The account parameters (`--sdk-app-id`, `--user-id`, the userSig and secret key).
#[derive(Clone, Debug)]
pub struct AccountParams {
    /// As given, not yet validated (a malformed one is a finding, not a usage error).
    pub sdk_app_id: String,
    /// As given.
    pub user_id: String,
    /// The userSig; `None` when none was given at all.
    pub user_sig: Option<Secret>,
    /// Where a userSig would have come from, for the evidence when none was given.
    pub user_sig_sources: String,
    /// The application's secret key, to verify signatures.
    pub secret_key: Option<Secret>,
}

/// The room parameters (`--room-id` and the privateMapKey).
#[derive(Clone, Debug)]
pub struct RoomParams {
    /// As given.
    pub room_id: String,
    /// `--string-room-id`: the application sets `useStringRoomId`.
    pub string_room_id: bool,
    /// `--require-private-map-key`: advanced permission control is on.
    pub require_private_map_key: bool,
    /// The privateMapKey, when given.
    pub private_map_key: Option<Secret>,
    /// Where a privateMapKey would have come from, for evidence.
    pub private_map_key_sources: String,
    /// The SDKAppID and userId the key must be for, when given.
    pub sdk_app_id: Option<String>,
    /// See `sdk_app_id`.
    pub user_id: Option<String>,
    /// The application's secret key, to verify the key's signature.
    pub secret_key: Option<Secret>,
}

/// What one probe does.
#[derive(Clone, Debug)]
pub enum Job {
    /// Offline account checks.
    Account(AccountParams),
    /// Offline room checks.
    Room(RoomParams),
    /// A STUN server over UDP or TCP.
    Stun(preflight_probes::stun::probe::Target),
    /// The port matrix of a host.
    Ports(preflight_probes::ports::Spec),
    /// A WebSocket signaling endpoint.
    Signaling {
        /// The endpoint.
        target: preflight_probes::signaling::Target,
        /// `--signal-reconnect`: also drop and reconnect.
        reconnect: bool,
        /// `--signal-mode reachability`: any HTTP answer after a trusted TLS handshake counts.
        reachability: bool,
    },
    /// The path MTU to a host, through a UDP port that answered in its matrix.
    Mtu {
        /// The host (`--ports`).
        host: String,
        /// The UDP port: the first configured one, replaced when the run starts the probe by
        /// the first that answered in the matrix.
        port: u16,
    },
    /// A paced burst of STUN bindings to a host's UDP port: round trips, jitter, loss.
    Quality {
        /// The host (`--ports`).
        host: String,
        /// The UDP port: the first configured one, replaced when the run starts the probe by
        /// the first that answered in the matrix.
        port: u16,
        /// `--quality-rate`: requests a second.
        rate: u32,
        /// `--quality-duration`.
        duration: Duration,
        /// Set by the run: the host's matrix ran and no UDP port answered (nothing to measure).
        no_udp_answer: bool,
    },
    /// Uplink and downlink at a call's bitrate against `serve` (token holders only).
    Throughput {
        /// The host (`--ports`).
        host: String,
        /// The UDP port, chosen as for [`Job::Quality`].
        port: u16,
        /// `--throughput-kbps`: the rate each way.
        kbps: u32,
        /// `--throughput-duration`: the time each way.
        duration: Duration,
        /// Set by the run, as for [`Job::Quality`].
        no_udp_answer: bool,
    },
    /// A TURN relay (`--turn`).
    Turn(preflight_probes::turn::Server),
    /// A WebRTC connection to a test peer (`--peer`).
    WebRtc {
        /// The peer's signaling URL.
        target: preflight_probes::signaling::Target,
        /// `--relay-only`: through the UDP TURN relays of `--turn` only.
        relay_only: bool,
    },
    /// The camera (`--camera`, `--camera-format`).
    Camera {
        /// `--camera ID|NAME`; the default camera when `None`.
        camera: Option<String>,
        /// The format asked for.
        format: preflight_probes::camera::Wanted,
        /// `--audio-only`: every camera finding is information.
        audio_only: bool,
    },
    /// The microphone (`--microphone`).
    Microphone {
        /// `--microphone ID|NAME`; the default microphone when `None`.
        microphone: Option<String>,
    },
    /// The OS, its capture subsystems and device access, and browser policies.
    Environment {
        /// `--audio-only`: a missing video subsystem is information.
        audio_only: bool,
    },
    /// A configured probe whose engine this build does not have yet.
    Unavailable,
}

/// One probe of the plan.
#[derive(Clone, Debug)]
pub struct PlannedProbe {
    /// Stable id, from the configured target.
    pub id: String,
    /// What it looks at.
    pub kind: Kind,
    /// The configured target as written.
    pub target: String,
    /// When it runs.
    pub phase: Phase,
    /// Its own deadline.
    pub deadline: Duration,
    /// What it does.
    pub job: Job,
}

/// A kind that will not run, and why (it becomes a `skip` entry in the report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotRun {
    /// The kind.
    pub kind: Kind,
    /// Why, in a sentence.
    pub reason: String,
    /// How to make it run.
    pub how: String,
}

/// Where one rendering of the report goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The format.
    pub format: Format,
    /// The file, or standard output when `None`.
    pub path: Option<PathBuf>,
}

/// A STUN target: `HOST:PORT`, `tcp:HOST:PORT` or `tls:HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StunTarget {
    /// `udp`, `tcp` or `tls`.
    pub transport: &'static str,
    /// Host name or address as written.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Network targets (the probes for them arrive with their own engines).
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// `--resolve HOST=ADDR`.
    pub resolve: Vec<(String, std::net::IpAddr)>,
    /// `--stun`.
    pub stun: Vec<StunTarget>,
    /// `--turn`, validated URLs.
    pub turn: Vec<String>,
    /// `--turn-user`.
    pub turn_user: Option<String>,
    /// The TURN password (`TRTC_PREFLIGHT_TURN_PASSWORD`).
    pub turn_password: Option<Secret>,
    /// `--signal`.
    pub signal: Option<String>,
    /// `--peer`.
    pub peer: Option<String>,
    /// `--relay-only`.
    pub relay_only: bool,
    /// `--ports HOST`.
    pub ports_host: Option<String>,
    /// `--udp-ports`.
    pub udp_ports: Vec<u16>,
    /// `--tcp-ports`.
    pub tcp_ports: Vec<u16>,
    /// The `serve` token (`TRTC_PREFLIGHT_TOKEN`).
    pub token: Option<Secret>,
    /// `--ca`.
    pub ca: Option<PathBuf>,
    /// The certificates of `--ca`, loaded and checked when the plan is built.
    pub ca_certificates: Vec<preflight_probes::tls::CertificateDer<'static>>,
    /// `--pin sha256:...`.
    pub pin: Option<String>,
    /// `--insecure`.
    pub insecure: bool,
}

/// Device selection.
#[derive(Clone, Debug, Default)]
pub struct Devices {
    /// `--camera`.
    pub camera: Option<String>,
    /// `--microphone`.
    pub microphone: Option<String>,
    /// `--audio-only`.
    pub audio_only: bool,
}

/// Everything a run will do.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The clock every check compares with.
    pub now: UnixTime,
    /// The probes that run, in report order.
    pub probes: Vec<PlannedProbe>,
    /// The kinds that will not run, in report order.
    pub not_run: Vec<NotRun>,
    /// `--require`.
    pub require: BTreeSet<Kind>,
    /// `--fail-on`.
    pub fail_on: Severity,
    /// `--timeout`: the whole run's deadline.
    pub timeout: Duration,
    /// Where the report goes.
    pub outputs: Vec<Output>,
    /// `--quiet`.
    pub quiet: bool,
    /// Network targets.
    pub network: Network,
    /// Device selection.
    pub devices: Devices,
    /// The profile the plan came from, if any.
    pub profile: Option<String>,
    /// Faults injected for tests (`TRTC_PREFLIGHT_FAULTS`).
    pub faults: Faults,
}

impl Plan {
    /// The plan for a person (`--dry-run`): what would run, against what, with which deadlines;
    /// what would not run and why. Secrets appear only as where they come from.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Plan (dry run: nothing is sent)");
        if let Some(profile) = &self.profile {
            let _ = writeln!(out, "  profile:  {profile}");
        }
        let _ = writeln!(out, "  clock:    {}", self.now.rfc3339());
        let _ = writeln!(
            out,
            "  timeout:  {} s for the run; fail on {} and above",
            self.timeout.as_secs_f64(),
            self.fail_on.as_str()
        );
        if !self.require.is_empty() {
            let names: Vec<_> = self.require.iter().map(|kind| kind.as_str()).collect();
            let _ = writeln!(out, "  require:  {}", names.join(", "));
        }
        let _ = writeln!(out, "\nProbes that would run ({}):", self.probes.len());
        for probe in &self.probes {
            let phase = match probe.phase {
                Phase::Quick => "quick",
                Phase::Heavy => "heavy",
            };
            let _ = writeln!(
                out,
                "  {:<11} {:<40} {phase}, deadline {} s",
                probe.kind.as_str(),
                probe.id,
                probe.deadline.as_secs_f64()
            );
            for detail in job_details(&probe.job) {
                let _ = writeln!(out, "  {:<11} {detail}", "");
            }
        }
        if !self.network.resolve.is_empty() {
            let _ = writeln!(out, "\nName overrides (--resolve):");
            for (host, address) in &self.network.resolve {
                let _ = writeln!(out, "  {host} -> {address}");
            }
        }
        if !self.not_run.is_empty() {
            let _ = writeln!(out, "\nNot run ({}):", self.not_run.len());
            for entry in &self.not_run {
                let _ = writeln!(
                    out,
                    "  {:<11} {} {}",
                    entry.kind.as_str(),
                    entry.reason,
                    entry.how
                );
            }
        }
        let _ = writeln!(out, "\nReport:");
        for output in &self.outputs {
            let place = output
                .path
                .as_ref()
                .map_or("standard output".to_string(), |path| {
                    path.display().to_string()
                });
            let _ = writeln!(out, "  {} to {place}", output.format.as_str());
        }
        out
    }
}

fn job_details(job: &Job) -> Vec<String> {
    match job {
        Job::Account(params) => vec![
            format!(
                "userSig from {}",
                secret_origin(&params.user_sig, &params.user_sig_sources)
            ),
            format!(
                "signature check: {}",
                params.secret_key.as_ref().map_or(
                    "off (no secret key)".to_string(),
                    |key| format!("with the key from {}", key.source)
                )
            ),
        ],
        Job::Room(params) => vec![format!(
            "privateMapKey from {}{}",
            secret_origin(&params.private_map_key, &params.private_map_key_sources),
            if params.require_private_map_key {
                " (required)"
            } else {
                ""
            }
        )],
        Job::Stun(_) => vec![],
        Job::Signaling {
            reconnect,
            reachability,
            ..
        } => {
            let mut details = Vec::new();
            if *reachability {
                details.push(
                    "judged by reachability: DNS, TCP, trusted TLS, then any HTTP answer"
                        .to_string(),
                );
            }
            if *reconnect {
                details.push(
                    "then a drop and up to 3 reconnections with backoff (--signal-reconnect)"
                        .to_string(),
                );
            }
            details
        }
        Job::Mtu { port, .. } => vec![format!(
            "through the first UDP port that answers in the matrix (else UDP {port})"
        )],
        Job::Quality {
            port,
            rate,
            duration,
            ..
        } => vec![format!(
            "{rate} STUN requests a second for {} s through the first UDP port that answers in the matrix (else UDP {port})",
            duration.as_secs_f64()
        )],
        Job::Throughput {
            port,
            kbps,
            duration,
            ..
        } => vec![format!(
            "{kbps} kbit/s up, then down, {} s each way, with serve's token, through the first UDP port that answers in the matrix (else UDP {port})",
            duration.as_secs_f64()
        )],
        Job::Ports(spec) => vec![format!(
            "UDP {}; TCP {}",
            spec.udp
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
            spec.tcp
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )],
        Job::Turn(server) => vec![format!(
            "allocate over {} as the user of --turn-user, then relay data between two allocations",
            server.transport.as_str().to_uppercase()
        )],
        Job::WebRtc { relay_only, .. } => vec![if *relay_only {
            "through the --turn relays over UDP only (--relay-only)".to_string()
        } else {
            "offer, ICE, DTLS, a data-channel echo and audio and video echoed back".to_string()
        }],
        Job::Camera {
            camera,
            format,
            audio_only,
        } => vec![format!(
            "{} at {format} for 0.75 s: frames, rate, black and frozen pictures{}",
            camera
                .as_ref()
                .map_or("the default camera".to_string(), |camera| format!("camera {camera:?}")),
            if *audio_only {
                " (--audio-only: findings are information)"
            } else {
                ""
            }
        )],
        Job::Microphone { microphone } => vec![format!(
            "{} for 0.5 s: level (RMS, peak dBFS), silence, clipping, DC offset",
            microphone.as_ref().map_or("the default microphone".to_string(), |microphone| {
                format!("microphone {microphone:?}")
            })
        )],
        Job::Environment { .. } => vec![
            "the OS, its audio and video capture subsystems, an open of each capture device, browsers' managed policies".into(),
        ],
        Job::Unavailable => vec![
            "this build has no engine for this kind yet: it will be reported as skipped".into(),
        ],
    }
}

fn secret_origin(secret: &Option<Secret>, sources: &str) -> String {
    match secret {
        Some(secret) => secret.source.to_string(),
        None => format!("nowhere: none given ({sources})"),
    }
}
