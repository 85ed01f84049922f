//! Configuration: flags over a TOML profile over defaults, validated into a [`Plan`].
//!
//! Every error names what to fix: the flag, or the profile file and line, and the accepted forms.
//! Such errors end the run with exit status 2 before anything is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use preflight_reports::{Format, Kind, Severity};
use serde::Deserialize;
use toml::Spanned;

use crate::cli::{CheckArgs, ReportSpec};
use crate::faults::{self, Faults};
use crate::plan::{
    AccountParams, Devices, Job, Network, NotRun, Output, Phase, Plan, PlannedProbe, RoomParams,
    StunTarget,
};
use crate::secret::{Secret, Source};
use crate::time::UnixTime;

/// The environment variable holding the userSig.
pub const ENV_USER_SIG: &str = "TRTC_USER_SIG";
/// The environment variable holding the privateMapKey.
pub const ENV_PRIVATE_MAP_KEY: &str = "TRTC_PRIVATE_MAP_KEY";
/// The environment variable holding the application's secret key.
pub const ENV_SECRET_KEY: &str = "TRTC_SECRET_KEY";
/// The environment variable holding the TURN password.
pub const ENV_TURN_PASSWORD: &str = "TRTC_PREFLIGHT_TURN_PASSWORD";
/// The environment variable holding the `serve` token.
pub const ENV_TOKEN: &str = "TRTC_PREFLIGHT_TOKEN";
/// The environment variable that sets the clock (UNIX seconds or RFC 3339), for tests.
pub const ENV_NOW: &str = "TRTC_PREFLIGHT_NOW";

/// The default deadline of the whole run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline of each offline probe.
const OFFLINE_DEADLINE: Duration = Duration::from_secs(5);
/// The deadline of each network probe.
const NETWORK_DEADLINE: Duration = Duration::from_secs(10);
/// The deadline of the camera and microphone probes: listing, opening (the probes give up on
/// their own after 4 s and 3 s), the first frame or audio, and the capture window.
const DEVICE_DEADLINE: Duration = Duration::from_secs(12);
/// TRTC Web's direct media ports over UDP.
pub const TRTC_UDP_PORTS: [u16; 6] = [8000, 8080, 8800, 843, 443, 16285];
/// TRTC Web's TCP ports: 443 for relayed media and signaling, 8687 for the signaling of SDKs
/// before 4.12.
pub const TRTC_TCP_PORTS: [u16; 2] = [443, 8687];

/// A configuration error: exit status 2.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The environment, read once (tests pass their own).
#[derive(Clone, Debug, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env(std::env::vars().collect())
    }

    /// An environment with exactly these variables.
    pub fn from_pairs<const N: usize>(pairs: [(&str, &str); N]) -> Env {
        Env(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A TOML profile: the same options as the flags, snake_case, secrets only as `*_file` paths.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    timeout: Option<Spanned<Scalar>>,
    fail_on: Option<Spanned<String>>,
    only: Option<Spanned<Vec<String>>>,
    skip: Option<Spanned<Vec<String>>>,
    require: Option<Spanned<Vec<String>>>,
    resolve: Option<Vec<Spanned<String>>>,
    stun: Option<Vec<Spanned<String>>>,
    turn: Option<Vec<Spanned<String>>>,
    turn_user: Option<String>,
    signal: Option<Spanned<String>>,
    peer: Option<Spanned<String>>,
    relay_only: Option<bool>,
    signal_reconnect: Option<bool>,
    signal_mode: Option<Spanned<String>>,
    ports: Option<String>,
    udp_ports: Option<Spanned<PortList>>,
    tcp_ports: Option<Spanned<PortList>>,
    ca: Option<Spanned<String>>,
    pin: Option<Spanned<String>>,
    insecure: Option<bool>,
    sdk_app_id: Option<Spanned<Scalar>>,
    user_id: Option<String>,
    room_id: Option<Spanned<Scalar>>,
    string_room_id: Option<bool>,
    require_private_map_key: Option<bool>,
    user_sig_file: Option<Spanned<String>>,
    private_map_key_file: Option<Spanned<String>>,
    secret_key_file: Option<Spanned<String>>,
    camera: Option<String>,
    camera_format: Option<Spanned<String>>,
    microphone: Option<String>,
    audio_only: Option<bool>,
    output: Option<Vec<ProfileOutput>>,
    quiet: Option<bool>,
    quality_rate: Option<Spanned<Scalar>>,
    quality_duration: Option<Spanned<Scalar>>,
    throughput_kbps: Option<Spanned<Scalar>>,
    throughput_duration: Option<Spanned<Scalar>>,
}

/// A number or a string (SDKAppID and roomId may be written either way).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Integer(i64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Integer(number) => number.to_string(),
            Scalar::Text(text) => text.clone(),
        }
    }
}

/// A port list as a string (`"8000,8080,9000-9010"`) or an array of numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PortList {
    Numbers(Vec<i64>),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileOutput {
    format: Spanned<String>,
    path: Option<String>,
}

/// The built-in profiles, by name.
pub const BUILTIN_PROFILES: &[(&str, &str)] =
    &[("trtc-web", include_str!("profiles/trtc-web.toml"))];

fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN_PROFILES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, text)| *text)
}

/// A loaded profile and what is needed to point at its lines.
struct LoadedProfile {
    profile: Profile,
    path: String,
    dir: PathBuf,
    text: String,
}

impl LoadedProfile {
    fn load(name: &str) -> Result<LoadedProfile, ConfigError> {
        let path = Path::new(name);
        // A file of that name wins; else a built-in profile.
        let text = match (std::fs::read_to_string(path), builtin(name)) {
            (Ok(text), _) => text,
            (Err(_), Some(text)) => text.to_string(),
            (Err(error), None) => {
                return Err(ConfigError(format!(
                    "--profile {name}: cannot read the profile ({error}); give the path of a TOML file like examples/account.toml, or a built-in profile: {}",
                    BUILTIN_PROFILES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
                )))
            }
        };
        let profile: Profile = toml::from_str(&text).map_err(|error| {
            let line = error.span().map(|span| line_of(&text, span.start));
            let message = error.message().trim_end().replace('\n', " ");
            let hint = if message.starts_with("unknown field") {
                " (keys are the check flags without the leading dashes, with `_` for `-`, and *_file for secrets)"
            } else {
                ""
            };
            // Name the key of the offending line when the message does not.
            let key = error
                .span()
                .and_then(|span| text[..span.start.min(text.len())].rsplit('\n').next())
                .and_then(|line| line.split_once('='))
                .map(|(key, _)| key.trim())
                .filter(|key| !key.is_empty() && !message.contains(&format!("`{key}`")))
                .map_or(String::new(), |key| format!(", `{key}`"));
            ConfigError(match line {
                Some(line) => format!("profile {name}, line {line}{key}: {message}{hint}"),
                None => format!("profile {name}: {message}{hint}"),
            })
        })?;
        Ok(LoadedProfile {
            profile,
            path: name.to_string(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            text,
        })
    }

    /// "profile FILE, line N, key": where a value came from.
    fn at<T>(&self, value: &Spanned<T>, key: &str) -> String {
        format!(
            "profile {}, line {}, `{key}`",
            self.path,
            line_of(&self.text, value.span().start)
        )
    }

    fn file(&self, relative: &str) -> PathBuf {
        let path = Path::new(relative);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Builds the plan from the `check` arguments, the profile they name and the environment.
pub fn build_plan(args: &CheckArgs, env: &Env) -> Result<Plan, ConfigError> {
    let loaded = args
        .profile
        .as_deref()
        .map(LoadedProfile::load)
        .transpose()?;
    let empty = Profile::default();
    let profile = loaded.as_ref().map_or(&empty, |loaded| &loaded.profile);
    let at =
        |value: &dyn Fn(&LoadedProfile) -> String| loaded.as_ref().map(value).unwrap_or_default();

    let now = match env.get(ENV_NOW) {
        Some(text) => UnixTime::parse(text).ok_or_else(|| {
            ConfigError(format!(
                "{ENV_NOW}={text:?} is neither UNIX seconds nor an RFC 3339 time"
            ))
        })?,
        None => UnixTime::system_now(),
    };
    let faults = match env.get(faults::ENV) {
        Some(text) => {
            Faults::parse(text).map_err(|error| ConfigError(format!("{}: {error}", faults::ENV)))?
        }
        None => Faults::default(),
    };

    // Selection.
    let kinds = |flag: &str, values: &[String]| -> Result<BTreeSet<Kind>, ConfigError> {
        values.iter().map(|value| parse_kind(flag, value)).collect()
    };
    let kinds_from =
        |flag: &str, key: &str, cli: &[String], file: &Option<Spanned<Vec<String>>>| {
            if !cli.is_empty() {
                return kinds(flag, cli);
            }
            match (file, &loaded) {
                (Some(values), Some(loaded)) => kinds(&loaded.at(values, key), values.get_ref()),
                _ => Ok(BTreeSet::new()),
            }
        };
    let only = kinds_from("--only", "only", &args.only, &profile.only)?;
    let skip = kinds_from("--skip", "skip", &args.skip, &profile.skip)?;
    let require = kinds_from("--require", "require", &args.require, &profile.require)?;
    let selected = |kind: Kind| (only.is_empty() || only.contains(&kind)) && !skip.contains(&kind);

    let fail_on = match (&args.fail_on, &profile.fail_on) {
        (Some(value), _) => parse_fail_on("--fail-on", value)?,
        (None, Some(value)) => parse_fail_on(&at(&|l| l.at(value, "fail_on")), value.get_ref())?,
        (None, None) => Severity::Error,
    };
    let timeout = match (&args.timeout, &profile.timeout) {
        (Some(value), _) => {
            parse_duration(value).map_err(|e| ConfigError(format!("--timeout {value}: {e}")))?
        }
        (None, Some(value)) => parse_duration(&value.get_ref().text())
            .map_err(|e| ConfigError(format!("{}: {e}", at(&|l| l.at(value, "timeout")))))?,
        (None, None) => DEFAULT_TIMEOUT,
    };

    let outputs = outputs(&args.report_specs, profile, loaded.as_ref())?;
    let quiet = args.quiet || profile.quiet.unwrap_or(false);

    // Secrets: a file flag, then the environment, then a file named in the profile.
    let secret = |flag: &str,
                  file_flag: &Option<PathBuf>,
                  var: &'static str,
                  key: &str,
                  file_key: &Option<Spanned<String>>| {
        read_secret(flag, file_flag, env, var, loaded.as_ref(), key, file_key)
    };
    let user_sig = secret(
        "--user-sig-file",
        &args.user_sig_file,
        ENV_USER_SIG,
        "user_sig_file",
        &profile.user_sig_file,
    )?;
    let private_map_key = secret(
        "--private-map-key-file",
        &args.private_map_key_file,
        ENV_PRIVATE_MAP_KEY,
        "private_map_key_file",
        &profile.private_map_key_file,
    )?;
    let secret_key = secret(
        "--secret-key-file",
        &args.secret_key_file,
        ENV_SECRET_KEY,
        "secret_key_file",
        &profile.secret_key_file,
    )?;

    let mut probes = Vec::new();
    let mut not_run = Vec::new();
    let mut plan_kind = |kind: Kind, planned: Vec<PlannedProbe>, how: &str| {
        if !selected(kind) {
            if require.contains(&kind) {
                not_run.push(NotRun {
                    kind,
                    reason: "Not selected (--only/--skip) but required by --require:".into(),
                    how: "remove it from --skip or add it to --only.".into(),
                });
            }
        } else if planned.is_empty() {
            not_run.push(NotRun {
                kind,
                reason: "Not configured:".into(),
                how: how.into(),
            });
        } else {
            probes.extend(planned);
        }
    };

    // Local probes: the devices and the environment, quick and always configured.
    let camera = args.camera.clone().or_else(|| profile.camera.clone());
    let microphone = args
        .microphone
        .clone()
        .or_else(|| profile.microphone.clone());
    let audio_only = args.audio_only || profile.audio_only.unwrap_or(false);
    let camera_format = match (&args.camera_format, &profile.camera_format) {
        (Some(text), _) => preflight_probes::camera::Wanted::parse(text)
            .map_err(|error| ConfigError(format!("--camera-format {text}: {error}")))?,
        (None, Some(text)) => {
            preflight_probes::camera::Wanted::parse(text.get_ref()).map_err(|error| {
                ConfigError(format!("{}: {error}", at(&|l| l.at(text, "camera_format"))))
            })?
        }
        (None, None) => preflight_probes::camera::DEFAULT_FORMAT,
    };
    let local = |kind: Kind, selector: &Option<String>, job: Job| PlannedProbe {
        id: format!(
            "{}/{}",
            kind.as_str(),
            selector.as_deref().unwrap_or("default")
        ),
        kind,
        target: selector.clone().unwrap_or_else(|| "default".to_string()),
        phase: Phase::Quick,
        deadline: DEVICE_DEADLINE,
        job,
    };
    plan_kind(
        Kind::Camera,
        vec![local(
            Kind::Camera,
            &camera,
            Job::Camera {
                camera: camera.clone(),
                format: camera_format,
                audio_only,
            },
        )],
        "",
    );
    plan_kind(
        Kind::Microphone,
        vec![local(
            Kind::Microphone,
            &microphone,
            Job::Microphone {
                microphone: microphone.clone(),
            },
        )],
        "",
    );
    plan_kind(
        Kind::Environment,
        vec![PlannedProbe {
            id: "environment".into(),
            kind: Kind::Environment,
            target: std::env::consts::OS.to_string(),
            phase: Phase::Quick,
            deadline: OFFLINE_DEADLINE,
            job: Job::Environment { audio_only },
        }],
        "",
    );

    // Account.
    let sdk_app_id = args.sdk_app_id.clone().or_else(|| {
        profile
            .sdk_app_id
            .as_ref()
            .map(|value| value.get_ref().text())
    });
    let user_id = args.user_id.clone().or_else(|| profile.user_id.clone());
    let account = match (&sdk_app_id, &user_id) {
        (None, None) => vec![],
        (Some(sdk_app_id), Some(user_id)) => vec![PlannedProbe {
            id: format!("account/{sdk_app_id}/{user_id}"),
            kind: Kind::Account,
            target: format!("{user_id}@{sdk_app_id}"),
            phase: Phase::Quick,
            deadline: OFFLINE_DEADLINE,
            job: Job::Account(AccountParams {
                sdk_app_id: sdk_app_id.clone(),
                user_id: user_id.clone(),
                user_sig: user_sig.clone(),
                user_sig_sources: sources_text(ENV_USER_SIG, "--user-sig-file"),
                secret_key: secret_key.clone(),
            }),
        }],
        (Some(_), None) => {
            return Err(ConfigError(
                "--sdk-app-id needs --user-id too: the userSig is checked against both".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError(
                "--user-id needs --sdk-app-id too: the userSig is checked against both".into(),
            ))
        }
    };
    plan_kind(
        Kind::Account,
        account,
        "pass --sdk-app-id and --user-id, with the userSig in TRTC_USER_SIG or --user-sig-file.",
    );

    // Room.
    let room_id = args
        .room_id
        .clone()
        .or_else(|| profile.room_id.as_ref().map(|value| value.get_ref().text()));
    let require_private_map_key =
        args.require_private_map_key || profile.require_private_map_key.unwrap_or(false);
    let string_room_id = args.string_room_id || profile.string_room_id.unwrap_or(false);
    if room_id.is_none() && (require_private_map_key || string_room_id) {
        let flag = if require_private_map_key {
            "--require-private-map-key"
        } else {
            "--string-room-id"
        };
        return Err(ConfigError(format!(
            "{flag} needs --room-id: it describes how that room is entered"
        )));
    }
    let room = room_id
        .map(|room_id| PlannedProbe {
            id: format!("room/{room_id}"),
            kind: Kind::Room,
            target: room_id.clone(),
            phase: Phase::Quick,
            deadline: OFFLINE_DEADLINE,
            job: Job::Room(RoomParams {
                room_id,
                string_room_id,
                require_private_map_key,
                private_map_key,
                private_map_key_sources: sources_text(
                    ENV_PRIVATE_MAP_KEY,
                    "--private-map-key-file",
                ),
                sdk_app_id: sdk_app_id.clone(),
                user_id: user_id.clone(),
                secret_key: secret_key.clone(),
            }),
        })
        .into_iter()
        .collect();
    plan_kind(
        Kind::Room,
        room,
        "pass --room-id (and --require-private-map-key when advanced permission control is on).",
    );

    // Network targets: validated now so mistakes surface before anything runs.
    let network = network(args, profile, loaded.as_ref(), env)?;
    let stun = network
        .stun
        .iter()
        .map(|target| {
            let target_text = format!("{}:{}/{}", target.host, target.port, target.transport);
            let id = format!("stun/{}/{}:{}", target.transport, target.host, target.port);
            let transport = match target.transport {
                "udp" => Some(preflight_probes::stun::probe::Transport::Udp),
                "tcp" => Some(preflight_probes::stun::probe::Transport::Tcp),
                "tls" => Some(preflight_probes::stun::probe::Transport::Tls),
                _ => None,
            };
            let mut probe = unavailable(Kind::Stun, id, target_text, NETWORK_DEADLINE);
            if let Some(transport) = transport {
                probe.job = Job::Stun(preflight_probes::stun::probe::Target {
                    host: target.host.clone(),
                    port: target.port,
                    transport,
                });
            }
            probe
        })
        .collect();
    plan_kind(
        Kind::Stun,
        stun,
        "pass --stun HOST:PORT (tcp:HOST:PORT, tls:HOST:PORT) or a profile.",
    );
    let ports_host = network.ports_host.clone();
    let ports = ports_host
        .iter()
        .map(|host| PlannedProbe {
            id: format!("ports/{host}"),
            kind: Kind::Ports,
            target: host.clone(),
            phase: Phase::Quick,
            // Silent ports wait at most a few seconds each, and run concurrently.
            deadline: NETWORK_DEADLINE + Duration::from_secs(20),
            job: Job::Ports(preflight_probes::ports::Spec {
                host: host.clone(),
                udp: network.udp_ports.clone(),
                tcp: network.tcp_ports.clone(),
            }),
        })
        .collect();
    plan_kind(
        Kind::Ports,
        ports,
        "pass --ports HOST of a `serve` beyond the firewall (it answers STUN on TRTC's ports).",
    );
    let mtu = ports_host
        .iter()
        .map(|host| PlannedProbe {
            id: format!("mtu/{host}"),
            kind: Kind::Mtu,
            target: host.clone(),
            // After the matrix: it measures through a UDP port that answered there.
            phase: Phase::Heavy,
            deadline: NETWORK_DEADLINE,
            job: Job::Mtu {
                host: host.clone(),
                port: network.udp_ports.first().copied().unwrap_or(3478),
            },
        })
        .collect();
    plan_kind(Kind::Mtu, mtu, "pass --ports HOST.");
    let turn = network
        .turn
        .iter()
        .map(|url| PlannedProbe {
            id: format!("turn/{url}"),
            kind: Kind::Turn,
            target: url.clone(),
            phase: Phase::Quick,
            // Connect 3 s, TLS 5 s, each request about 4 s over UDP (3 s over TCP), twice for
            // the data check's second allocation, and the data itself.
            deadline: NETWORK_DEADLINE + Duration::from_secs(20),
            job: match preflight_probes::turn::Server::parse(url) {
                Ok(server) => Job::Turn(server),
                Err(_) => Job::Unavailable,
            },
        })
        .collect();
    plan_kind(
        Kind::Turn,
        turn,
        "pass --turn URL with --turn-user and TRTC_PREFLIGHT_TURN_PASSWORD.",
    );
    // Quality and throughput: through the first UDP port that answers in the matrix.
    let udp_port = network.udp_ports.first().copied().unwrap_or(3478);
    let loaded_ref = loaded.as_ref();
    let quality_rate = numeric_setting(
        ("--quality-rate", "quality_rate"),
        (&args.quality_rate, &profile.quality_rate),
        loaded_ref,
        (1, preflight_probes::quality::MAX_RATE),
        "requests a second",
    )?
    .unwrap_or(preflight_probes::quality::DEFAULT_RATE);
    let quality_duration = duration_setting(
        ("--quality-duration", "quality_duration"),
        (&args.quality_duration, &profile.quality_duration),
        loaded_ref,
        (
            Duration::from_millis(100),
            preflight_probes::quality::MAX_DURATION,
        ),
    )?
    .unwrap_or(preflight_probes::quality::DEFAULT_DURATION);
    let throughput_kbps = numeric_setting(
        ("--throughput-kbps", "throughput_kbps"),
        (&args.throughput_kbps, &profile.throughput_kbps),
        loaded_ref,
        (64, preflight_probes::throughput::MAX_RATE_KBPS),
        "kbit/s",
    )?
    .unwrap_or(preflight_probes::throughput::DEFAULT_RATE_KBPS);
    let throughput_duration = duration_setting(
        ("--throughput-duration", "throughput_duration"),
        (&args.throughput_duration, &profile.throughput_duration),
        loaded_ref,
        (
            Duration::from_millis(500),
            preflight_probes::throughput::MAX_DURATION,
        ),
    )?
    .unwrap_or(preflight_probes::throughput::DEFAULT_DURATION);
    let quality = ports_host
        .iter()
        .map(|host| PlannedProbe {
            id: format!("quality/{host}"),
            kind: Kind::Quality,
            target: host.clone(),
            // Alone after the quick probes (its timings are the point), after the matrix.
            phase: Phase::Heavy,
            // The burst, the wait for stragglers (1 s at most), the count query (1 s at most).
            deadline: quality_duration + Duration::from_secs(5),
            job: Job::Quality {
                host: host.clone(),
                port: udp_port,
                rate: quality_rate,
                duration: quality_duration,
                no_udp_answer: false,
            },
        })
        .collect();
    plan_kind(
        Kind::Quality,
        quality,
        "pass --ports HOST (a `serve` beyond the firewall, with its token in TRTC_PREFLIGHT_TOKEN).",
    );
    let throughput = ports_host
        .iter()
        .map(|host| PlannedProbe {
            id: format!("throughput/{host}"),
            kind: Kind::Throughput,
            target: host.clone(),
            phase: Phase::Heavy,
            // Each way: a handshake (1 s at most), the data, a tail (0.7 s), the report (1 s).
            deadline: throughput_duration * 2 + Duration::from_secs(8),
            job: Job::Throughput {
                host: host.clone(),
                port: udp_port,
                kbps: throughput_kbps,
                duration: throughput_duration,
                no_udp_answer: false,
            },
        })
        .collect();
    plan_kind(
        Kind::Throughput,
        throughput,
        "pass --ports HOST of a `serve` beyond the firewall, with its token in TRTC_PREFLIGHT_TOKEN.",
    );
    let signal_reconnect = args.signal_reconnect || profile.signal_reconnect.unwrap_or(false);
    let signal_reachability = match (&args.signal_mode, &profile.signal_mode) {
        (Some(mode), _) => parse_signal_mode("--signal-mode", mode)?,
        (None, Some(mode)) => {
            parse_signal_mode(&at(&|l| l.at(mode, "signal_mode")), mode.get_ref())?
        }
        (None, None) => false,
    };
    let signal = network
        .signal
        .iter()
        .map(|url| PlannedProbe {
            id: format!("signaling/{url}"),
            kind: Kind::Signaling,
            target: url.clone(),
            phase: Phase::Quick,
            // Each step has its own timeout (3 s connect, 5 s proxy, TLS and upgrade, pings).
            deadline: NETWORK_DEADLINE + Duration::from_secs(15),
            job: match preflight_probes::signaling::Target::parse(url) {
                Ok(target) => Job::Signaling {
                    target,
                    reconnect: signal_reconnect,
                    reachability: signal_reachability,
                },
                Err(_) => Job::Unavailable,
            },
        })
        .collect();
    plan_kind(Kind::Signaling, signal, "pass --signal wss://HOST/PATH.");
    let peer = network
        .peer
        .iter()
        .map(|url| PlannedProbe {
            id: format!("webrtc/{url}"),
            kind: Kind::Webrtc,
            target: url.clone(),
            // Alone after the quick probes: it sends media, and its timings are the point.
            phase: Phase::Heavy,
            // Each stage has its own timeout (signaling, answer, ICE and DTLS 5 s each, data
            // and media 3 s each); this only catches a probe that hangs past all of them.
            deadline: Duration::from_secs(40),
            job: match preflight_probes::signaling::Target::parse(url) {
                Ok(target) => Job::WebRtc {
                    target,
                    relay_only: network.relay_only,
                },
                Err(_) => Job::Unavailable,
            },
        })
        .collect();
    plan_kind(
        Kind::Webrtc,
        peer,
        "pass --peer URL of a `trtc-preflight serve`.",
    );
    plan_kind(
        Kind::Browser,
        vec![],
        "browser checks run in the user's own browser, through `trtc-preflight agent`.",
    );

    let devices = Devices {
        camera,
        microphone,
        audio_only,
    };

    Ok(Plan {
        now,
        probes,
        not_run,
        require,
        fail_on,
        timeout,
        outputs,
        quiet,
        network,
        devices,
        profile: loaded.map(|loaded| loaded.path),
        faults,
    })
}

/// A whole number from a flag, else the profile, within `range`; `None` when neither gives one.
fn numeric_setting(
    (flag, key): (&str, &str),
    (cli, file): (&Option<String>, &Option<Spanned<Scalar>>),
    loaded: Option<&LoadedProfile>,
    (min, max): (u32, u32),
    unit: &str,
) -> Result<Option<u32>, ConfigError> {
    let (origin, text) = match (cli, file, loaded) {
        (Some(text), _, _) => (format!("{flag} {text}"), text.clone()),
        (None, Some(value), Some(loaded)) => (loaded.at(value, key), value.get_ref().text()),
        _ => return Ok(None),
    };
    match text.trim().parse::<u32>() {
        Ok(number) if (min..=max).contains(&number) => Ok(Some(number)),
        _ => Err(ConfigError(format!(
            "{origin}: expected a whole number of {unit} from {min} to {max}"
        ))),
    }
}

/// A duration from a flag, else the profile, within `range`; `None` when neither gives one.
fn duration_setting(
    (flag, key): (&str, &str),
    (cli, file): (&Option<String>, &Option<Spanned<Scalar>>),
    loaded: Option<&LoadedProfile>,
    (min, max): (Duration, Duration),
) -> Result<Option<Duration>, ConfigError> {
    let (origin, text) = match (cli, file, loaded) {
        (Some(text), _, _) => (format!("{flag} {text}"), text.clone()),
        (None, Some(value), Some(loaded)) => (loaded.at(value, key), value.get_ref().text()),
        _ => return Ok(None),
    };
    match parse_duration(&text) {
        Ok(duration) if duration >= min && duration <= max => Ok(Some(duration)),
        Ok(_) => Err(ConfigError(format!(
            "{origin}: expected a duration from {} to {}",
            duration_text(min),
            duration_text(max)
        ))),
        Err(error) => Err(ConfigError(format!("{origin}: {error}"))),
    }
}

fn duration_text(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// A planned probe of a kind whose engine this build does not have yet.
fn unavailable(kind: Kind, id: String, target: String, deadline: Duration) -> PlannedProbe {
    PlannedProbe {
        id,
        kind,
        target,
        phase: Phase::Quick,
        deadline,
        job: Job::Unavailable,
    }
}

fn sources_text(var: &str, flag: &str) -> String {
    format!("{var} is unset and no {flag} was given")
}

#[allow(clippy::too_many_arguments)]
fn read_secret(
    flag: &str,
    file_flag: &Option<PathBuf>,
    env: &Env,
    var: &'static str,
    loaded: Option<&LoadedProfile>,
    key: &str,
    file_key: &Option<Spanned<String>>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(path) = file_flag {
        return Secret::from_file(path, path.display().to_string())
            .map(Some)
            .map_err(|error| {
                ConfigError(format!(
                    "{flag} {}: cannot read it ({error})",
                    path.display()
                ))
            });
    }
    if let Some(text) = env.get(var) {
        return Ok(Some(Secret::new(text, Source::Env(var))));
    }
    if let (Some(loaded), Some(relative)) = (loaded, file_key) {
        let path = loaded.file(relative.get_ref());
        return Secret::from_file(&path, path.display().to_string())
            .map(Some)
            .map_err(|error| {
                ConfigError(format!(
                    "{}: cannot read {} ({error})",
                    loaded.at(relative, key),
                    path.display()
                ))
            });
    }
    Ok(None)
}

/// `websocket` (the upgrade must succeed) or `reachability` (any HTTP answer after a trusted TLS
/// handshake counts: for TRTC's own servers, which want the SDK's parameters).
fn parse_signal_mode(origin: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "websocket" => Ok(false),
        "reachability" => Ok(true),
        other => Err(ConfigError(format!(
            "{origin}: {other:?} is not `websocket` or `reachability`"
        ))),
    }
}

fn parse_kind(flag: &str, value: &str) -> Result<Kind, ConfigError> {
    Kind::parse(value).ok_or_else(|| {
        let names: Vec<_> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        ConfigError(format!(
            "{flag}: {value:?} is not a probe kind; the kinds are {}",
            names.join(", ")
        ))
    })
}

fn parse_fail_on(flag: &str, value: &str) -> Result<Severity, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(Severity::Error),
        "warning" | "warn" => Ok(Severity::Warning),
        _ => Err(ConfigError(format!(
            "{flag}: {value:?} is not `error` or `warning`"
        ))),
    }
}

/// Parses `30s`, `1500ms`, `2m`, `1h` or a plain number of seconds (`2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 1500ms, 2m or 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s, m or h"
            ))
        }
    };
    if !(seconds > 0.0 && seconds.is_finite() && seconds <= 86_400.0) {
        return Err(format!("{text:?} must be more than 0 and at most 24 h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn outputs(
    specs: &[ReportSpec],
    profile: &Profile,
    loaded: Option<&LoadedProfile>,
) -> Result<Vec<Output>, ConfigError> {
    let mut outputs = Vec::new();
    if !specs.is_empty() {
        for spec in specs {
            let format = match (&spec.format, &spec.output) {
                (Some(name), _) => Format::parse(name).ok_or_else(|| {
                    ConfigError(format!(
                        "--format {name}: unknown format; use {}",
                        format_names()
                    ))
                })?,
                (None, Some(path)) => format_from_extension(path).ok_or_else(|| {
                    ConfigError(format!(
                        "--output {}: put --format before it, or use a .json, .xml, .txt, .html, .md or .prom name",
                        path.display()
                    ))
                })?,
                (None, None) => continue,
            };
            outputs.push(Output {
                format,
                path: spec.output.clone(),
            });
        }
    } else if let (Some(list), Some(loaded)) = (&profile.output, loaded) {
        for entry in list {
            let format = Format::parse(entry.format.get_ref()).ok_or_else(|| {
                ConfigError(format!(
                    "{}: unknown format {:?}; use {}",
                    loaded.at(&entry.format, "output.format"),
                    entry.format.get_ref(),
                    format_names()
                ))
            })?;
            // Reports are outputs: their paths are relative to the current folder, like --output.
            outputs.push(Output {
                format,
                path: entry.path.as_deref().map(PathBuf::from),
            });
        }
    }
    if outputs.is_empty() {
        outputs.push(Output {
            format: Format::Text,
            path: None,
        });
    }
    let to_stdout: Vec<_> = outputs
        .iter()
        .filter(|output| output.path.is_none())
        .collect();
    if to_stdout.len() > 1 {
        return Err(ConfigError(
            "more than one --format goes to standard output; give all but one an --output FILE"
                .into(),
        ));
    }
    let mut seen = BTreeMap::new();
    for output in &outputs {
        if let Some(path) = &output.path {
            if seen.insert(path.clone(), output.format).is_some() {
                return Err(ConfigError(format!(
                    "--output {} is given twice",
                    path.display()
                )));
            }
        }
    }
    Ok(outputs)
}

fn format_from_extension(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "json" => Some(Format::Json),
        "xml" => Some(Format::Junit),
        "txt" | "text" => Some(Format::Text),
        "html" | "htm" => Some(Format::Html),
        "md" | "markdown" => Some(Format::Markdown),
        "prom" => Some(Format::Prometheus),
        _ => None,
    }
}

fn network(
    args: &CheckArgs,
    profile: &Profile,
    loaded: Option<&LoadedProfile>,
    env: &Env,
) -> Result<Network, ConfigError> {
    let where_ =
        |value: &Spanned<String>, key: &str| loaded.map(|l| l.at(value, key)).unwrap_or_default();
    // A list from the flags when any is given, else from the profile; each item keeps where it came from.
    let list = |flag: &str,
                cli: &[String],
                file: &Option<Vec<Spanned<String>>>,
                key: &str|
     -> Vec<(String, String)> {
        if !cli.is_empty() {
            cli.iter()
                .map(|value| (format!("{flag} {value}"), value.clone()))
                .collect()
        } else {
            file.iter()
                .flatten()
                .map(|value| (where_(value, key), value.get_ref().clone()))
                .collect()
        }
    };
    let single = |flag: &str,
                  cli: &Option<String>,
                  file: &Option<Spanned<String>>,
                  key: &str|
     -> Option<(String, String)> {
        match (cli, file) {
            (Some(value), _) => Some((format!("{flag} {value}"), value.clone())),
            (None, Some(value)) => Some((where_(value, key), value.get_ref().clone())),
            (None, None) => None,
        }
    };
    let fail = |origin: &str, message: String| ConfigError(format!("{origin}: {message}"));

    let mut network = Network::default();
    for (origin, value) in list("--resolve", &args.resolve, &profile.resolve, "resolve") {
        let (host, address) = value.split_once('=').ok_or_else(|| {
            fail(
                &origin,
                "expected HOST=ADDR, e.g. stun.example.com=127.0.0.1".into(),
            )
        })?;
        let address: IpAddr = address.trim_matches(['[', ']']).parse().map_err(|_| {
            fail(
                &origin,
                format!("{address:?} is not an IPv4 or IPv6 address"),
            )
        })?;
        network.resolve.push((host.to_ascii_lowercase(), address));
    }
    for (origin, value) in list("--stun", &args.stun, &profile.stun, "stun") {
        network
            .stun
            .push(parse_stun(&value).map_err(|message| fail(&origin, message))?);
    }
    for (origin, value) in list("--turn", &args.turn, &profile.turn, "turn") {
        validate_turn(&value).map_err(|message| fail(&origin, message))?;
        network.turn.push(value);
    }
    network.turn_user = args.turn_user.clone().or_else(|| profile.turn_user.clone());
    network.turn_password = env
        .get(ENV_TURN_PASSWORD)
        .map(|text| Secret::new(text, Source::Env(ENV_TURN_PASSWORD)));
    if !network.turn.is_empty() && (network.turn_user.is_none() || network.turn_password.is_none())
    {
        return Err(ConfigError(format!(
            "--turn needs --turn-user and the password in {ENV_TURN_PASSWORD}: a relay allocates only for a known user"
        )));
    }
    for (field, flag, cli, file, key) in [
        (
            &mut network.signal,
            "--signal",
            &args.signal,
            &profile.signal,
            "signal",
        ),
        (
            &mut network.peer,
            "--peer",
            &args.peer,
            &profile.peer,
            "peer",
        ),
    ] {
        if let Some((origin, value)) = single(flag, cli, file, key) {
            validate_ws(&value).map_err(|message| fail(&origin, message))?;
            *field = Some(value);
        }
    }
    network.relay_only = args.relay_only || profile.relay_only.unwrap_or(false);
    if network.relay_only && network.peer.is_none() {
        return Err(ConfigError(
            "--relay-only applies to the WebRTC check: it needs --peer URL".to_string(),
        ));
    }
    if network.relay_only && network.turn.is_empty() {
        return Err(ConfigError(
            "--relay-only needs a relay: pass --turn turn:HOST:PORT?transport=udp with --turn-user"
                .to_string(),
        ));
    }
    network.ports_host = args.ports.clone().or_else(|| profile.ports.clone());
    for (ports, flag, cli, file, default) in [
        (
            &mut network.udp_ports,
            "--udp-ports",
            &args.udp_ports,
            &profile.udp_ports,
            &TRTC_UDP_PORTS[..],
        ),
        (
            &mut network.tcp_ports,
            "--tcp-ports",
            &args.tcp_ports,
            &profile.tcp_ports,
            &TRTC_TCP_PORTS[..],
        ),
    ] {
        *ports = match (cli, file) {
            (Some(text), _) => parse_port_list(text, false)
                .map_err(|message| fail(&format!("{flag} {text}"), message))?,
            (None, Some(list)) => {
                let origin = loaded
                    .map(|l| l.at(list, &flag[2..].replace('-', "_")))
                    .unwrap_or_default();
                match list.get_ref() {
                    PortList::Text(text) => parse_port_list(text, false),
                    PortList::Numbers(numbers) => numbers
                        .iter()
                        .map(|&n| {
                            u16::try_from(n)
                                .ok()
                                .filter(|&p| p > 0)
                                .ok_or(format!("{n} is not a port (1-65535)"))
                        })
                        .collect(),
                }
                .map_err(|message| fail(&origin, message))?
            }
            (None, None) => default.to_vec(),
        };
    }
    network.token = env
        .get(ENV_TOKEN)
        .map(|text| Secret::new(text, Source::Env(ENV_TOKEN)));
    if let Some((origin, value)) = single(
        "--ca",
        &args.ca.as_ref().map(|p| p.display().to_string()),
        &profile.ca,
        "ca",
    ) {
        let path = match (&args.ca, loaded) {
            (Some(path), _) => path.clone(),
            (None, Some(loaded)) => loaded.file(&value),
            (None, None) => PathBuf::from(&value),
        };
        let certificates = preflight_probes::tls::load_certificates(&path)
            .map_err(|error| fail(&origin, error.to_string()))?;
        network.ca = Some(path);
        network.ca_certificates = certificates;
    }
    if let Some((origin, value)) = single("--pin", &args.pin, &profile.pin, "pin") {
        let pin = preflight_probes::tls::parse_pin(&value).map_err(|error| {
            fail(
                &origin,
                format!(
                    "{error}; expected sha256: followed by 64 hex digits (as `serve` prints it)"
                ),
            )
        })?;
        network.pin = Some(preflight_probes::tls::format_pin(&pin));
    }
    network.insecure = args.insecure || profile.insecure.unwrap_or(false);
    Ok(network)
}

/// `HOST:PORT`, `[V6]:PORT`, with an optional `udp:`, `tcp:` or `tls:` prefix.
fn parse_stun(text: &str) -> Result<StunTarget, String> {
    let (transport, rest) = match text.split_once(':') {
        Some(("udp", rest)) => ("udp", rest),
        Some(("tcp", rest)) => ("tcp", rest),
        Some(("tls", rest)) => ("tls", rest),
        Some(("stun", rest)) => ("udp", rest),
        Some(("stuns", rest)) => ("tls", rest),
        _ => ("udp", text),
    };
    let (host, port) = split_host_port(rest)?;
    Ok(StunTarget {
        transport,
        host,
        port,
    })
}

fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or("expected [IPv6]:PORT")?;
        (host, port)
    } else {
        text.rsplit_once(':')
            .ok_or("expected HOST:PORT, e.g. stun.example.com:3478")?
    };
    if host.is_empty() || host.contains(['/', ' ', '?']) {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&port| port > 0)
        .ok_or_else(|| format!("{port:?} is not a port (1-65535)"))?;
    Ok((host.to_string(), port))
}

/// Every format's name, as messages list them: `text, json, junit, ... or prometheus`.
fn format_names() -> String {
    let names: Vec<&str> = Format::ALL.iter().map(|format| format.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(", "),
    }
}

/// Whether a (validated) TURN URL relays over UDP: `turn:` without `transport=tcp`.
pub fn turn_is_udp(url: &str) -> bool {
    url.starts_with("turn:") && !url.contains("transport=tcp")
}

fn validate_turn(text: &str) -> Result<(), String> {
    let rest = text
        .strip_prefix("turns:")
        .or_else(|| text.strip_prefix("turn:"))
        .ok_or("expected turn:HOST:PORT?transport=udp|tcp or turns:HOST:PORT")?;
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let address = if address
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        || address.starts_with('[')
    {
        address.to_string()
    } else {
        format!(
            "{address}:{}",
            if text.starts_with("turns:") {
                5349
            } else {
                3478
            }
        )
    };
    split_host_port(&address)?;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("transport", "udp" | "tcp")) => {}
            Some(("transport", other)) => {
                return Err(format!("transport={other} is not udp or tcp"))
            }
            _ => {
                return Err(format!(
                    "{pair:?} is not a known parameter (only transport=udp|tcp)"
                ))
            }
        }
    }
    Ok(())
}

fn validate_ws(text: &str) -> Result<(), String> {
    preflight_probes::signaling::Target::parse(text)?;
    let rest = text
        .strip_prefix("wss://")
        .or_else(|| text.strip_prefix("ws://"))
        .ok_or("expected a ws:// or wss:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("expected ws://HOST[:PORT]/PATH with a host and no user name".into());
    }
    Ok(())
}

/// `8000,8080,9000-9010`, duplicates dropped. Port 0 ("any free port") only with `allow_zero`.
pub fn parse_port_list(text: &str, allow_zero: bool) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let port = |text: &str| -> Result<u16, String> {
            text.trim()
                .parse::<u16>()
                .ok()
                .filter(|&port| port > 0 || allow_zero)
                .ok_or_else(|| format!("{text:?} is not a port (1-65535)"))
        };
        match item.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (port(first)?, port(last)?);
                if first > last || last - first > 1024 {
                    return Err(format!(
                        "{item:?} is not a range of at most 1025 ports, low-high"
                    ));
                }
                ports.extend(first..=last);
            }
            None => ports.push(port(item)?),
        }
    }
    if ports.is_empty() {
        return Err("no ports given".into());
    }
    let mut seen = BTreeSet::new();
    // Port 0 ("any free port") may be asked for several times.
    ports.retain(|port| *port == 0 || seen.insert(*port));
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["", "0", "-1s", "5 parsecs", "2d", "100h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_port_list("8000, 8080,9000-9002,8000", false),
            Ok(vec![8000, 8080, 9000, 9001, 9002])
        );
        assert!(parse_port_list("0", false).is_err());
        assert!(parse_port_list("9-1", false).is_err());
        assert!(parse_port_list("1-65535", false).is_err());
        assert!(parse_port_list("x", false).is_err());
    }

    #[test]
    fn stun_targets() {
        assert_eq!(
            parse_stun("tls:stun.example.com:443"),
            Ok(StunTarget {
                transport: "tls",
                host: "stun.example.com".into(),
                port: 443
            })
        );
        assert_eq!(
            parse_stun("[::1]:3478").map(|t| t.host),
            Ok("::1".to_string())
        );
        assert_eq!(parse_stun("127.0.0.1:3478").map(|t| t.transport), Ok("udp"));
        assert!(parse_stun("stun.example.com").is_err());
        assert!(parse_stun("host:0").is_err());
    }

    /// A job's rate (or kbit/s) and duration.
    type Setting = Option<(u32, Duration)>;

    fn quality_and_throughput_jobs(plan: &Plan) -> (Setting, Setting) {
        let mut found = (None, None);
        for probe in &plan.probes {
            match probe.job {
                Job::Quality { rate, duration, .. } => found.0 = Some((rate, duration)),
                Job::Throughput { kbps, duration, .. } => found.1 = Some((kbps, duration)),
                _ => {}
            }
        }
        found
    }

    #[test]
    fn quality_and_throughput_settings_come_from_flags_then_the_profile_then_defaults() {
        let env = Env::default();
        let args = CheckArgs {
            ports: Some("edge.example.com".into()),
            ..CheckArgs::default()
        };
        let plan = build_plan(&args, &env).unwrap();
        assert_eq!(
            quality_and_throughput_jobs(&plan),
            (
                Some((50, Duration::from_secs(2))),
                Some((1540, Duration::from_secs(3)))
            )
        );
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p.toml");
        std::fs::write(
            &profile,
            "quality_rate = 100\nquality_duration = \"5s\"\nthroughput_kbps = \"900\"\nthroughput_duration = 1\n",
        )
        .unwrap();
        let args = CheckArgs {
            profile: Some(profile.display().to_string()),
            quality_rate: Some("20".into()),
            ..args
        };
        let plan = build_plan(&args, &env).unwrap();
        assert_eq!(
            quality_and_throughput_jobs(&plan),
            (
                Some((20, Duration::from_secs(5))),
                Some((900, Duration::from_secs(1)))
            )
        );
    }

    #[test]
    fn bad_quality_and_throughput_settings_name_the_flag_or_the_profile_line() {
        let env = Env::default();
        let with = |change: &dyn Fn(&mut CheckArgs)| {
            let mut args = CheckArgs {
                ports: Some("h".into()),
                ..CheckArgs::default()
            };
            change(&mut args);
            build_plan(&args, &env).unwrap_err().0
        };
        assert_eq!(
            with(&|a| a.quality_rate = Some("0".into())),
            "--quality-rate 0: expected a whole number of requests a second from 1 to 1000"
        );
        assert_eq!(
            with(&|a| a.quality_rate = Some("fast".into())),
            "--quality-rate fast: expected a whole number of requests a second from 1 to 1000"
        );
        assert_eq!(
            with(&|a| a.quality_duration = Some("20s".into())),
            "--quality-duration 20s: expected a duration from 100ms to 10s"
        );
        assert!(with(&|a| a.quality_duration = Some("soon".into()))
            .starts_with("--quality-duration soon: "));
        assert_eq!(
            with(&|a| a.throughput_kbps = Some("20000".into())),
            "--throughput-kbps 20000: expected a whole number of kbit/s from 64 to 10000"
        );
        assert_eq!(
            with(&|a| a.throughput_duration = Some("100ms".into())),
            "--throughput-duration 100ms: expected a duration from 500ms to 10s"
        );
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("p.toml");
        std::fs::write(&profile, "# quality\n\nquality_rate = 5000\n").unwrap();
        let error = with(&|a| a.profile = Some(profile.display().to_string()));
        assert!(
            error.contains("line 3, `quality_rate`: expected a whole number"),
            "{error}"
        );
    }

    #[test]
    fn turn_and_websocket_urls() {
        assert!(validate_turn("turn:127.0.0.1:3478?transport=tcp").is_ok());
        assert!(validate_turn("turns:relay.example.com").is_ok());
        assert!(validate_turn("turn:host?transport=sctp").is_err());
        assert!(validate_turn("http://x").is_err());
        assert!(validate_ws("wss://signal.example.com/ws").is_ok());
        assert!(validate_ws("ws://127.0.0.1:9000").is_ok());
        assert!(validate_ws("https://x").is_err());
        assert!(validate_ws("wss://user@host/").is_err());
    }
}
