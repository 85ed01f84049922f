//! Environment rules: the OS, its capture subsystems, this user's access to each capture device,
//! and the browsers' managed policies, in the SDK's terms.
//!
//! | observation | finding |
//! |---|---|
//! | no audio capture subsystem | 4098 NOT_SUPPORTED naming what is missing |
//! | no video capture subsystem | 4098 (information with `--audio-only`) |
//! | a capture device node this user cannot open (`EACCES`, `EPERM`) | 4100 INITIALIZE_FAILED, `NotAllowedError`, naming the node, its mode and group (information for video with `--audio-only`) |
//! | a node busy | information naming the processes that hold it |
//! | a node whose device is gone (`ENODEV`, `ENXIO`) | warning |
//! | Chromium family `WebRtcIPHandling` = `disable_non_proxied_udp`; Firefox `media.peerconnection.ice.proxy_only` | warning: no direct UDP, media only through a proxy or TURN over TCP/TLS |
//! | `WebRtcUdpPortRange` | warning naming the range (the firewall must allow it) |
//! | `AudioCaptureAllowed` / `VideoCaptureAllowed` false; Firefox `Permissions.Microphone`/`Camera.BlockNewRequests` | warning, 4100 `NotAllowedError` except for the sites listed as allowed |
//! | `AutoplayAllowed` false; Firefox `Permissions.Autoplay.Default` blocking audio | warning, 16451 PLAY_NOT_ALLOWED except for the sites allowed |
//! | Firefox `media.peerconnection.enabled` or `media.navigator.enabled` false | warning, 4098 NOT_SUPPORTED in Firefox |
//! | `WebRtcIPHandling` with another value | information |
//! | a policy file that cannot be read | information |
//! | none of these | information: the OS and the subsystems found |
//!
//! Policies are warnings, not errors: each holds for one browser, and the user may call from
//! another; every one names the policy and the file or registry key it was read from.

use preflight_probes::devices::Cause;
use preflight_probes::environment::{NodeKind, Observation, Policy, Subsystem};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::capture::{
    audio_only, device_finding, error_json, error_text, holders_json, holders_text,
};
use super::{note, sdk_error};
use crate::catalog::sdk;

/// What `--audio-only` changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// `--audio-only`.
    pub audio_only: bool,
}

/// The `metrics` of an environment probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let subsystem = |subsystem: &Subsystem| json!({"present": subsystem.present, "found": subsystem.found, "missing": subsystem.missing});
    let mut metrics = Map::new();
    metrics.insert(
        "os".into(),
        json!({
            "family": observation.os.family,
            "name": observation.os.name,
            "kernel": observation.os.kernel,
            "arch": observation.os.arch,
        }),
    );
    metrics.insert("audio".into(), subsystem(&observation.audio));
    metrics.insert("video".into(), subsystem(&observation.video));
    metrics.insert(
        "nodes".into(),
        Value::Array(
            observation
                .nodes
                .iter()
                .map(|node| {
                    json!({
                        "path": node.path.display().to_string(),
                        "kind": match node.kind { NodeKind::Video => "video", NodeKind::AudioCapture => "audio_capture" },
                        "opened": node.error.is_none(),
                        "error": node.error.as_ref().map_or(Value::Null, error_json),
                        "mode": node.mode.map(|mode| format!("{mode:04o}")),
                        "group": node.group,
                        "holders": holders_json(&node.holders),
                    })
                })
                .collect(),
        ),
    );
    metrics.insert(
        "policies".into(),
        Value::Array(
            observation
                .policies
                .iter()
                .map(|policy| {
                    json!({
                        "browser": policy.browser,
                        "source": policy.source,
                        "name": policy.name,
                        "value": policy.value,
                    })
                })
                .collect(),
        ),
    );
    metrics.insert(
        "unreadable_policies".into(),
        Value::Array(
            observation
                .unreadable
                .iter()
                .map(|entry| json!({"source": entry.source, "error": entry.error}))
                .collect(),
        ),
    );
    metrics
}

fn sdk_warning(code: u32, message: Option<&'static str>, evidence: String, fix: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..sdk_error(code, message, None, evidence, fix)
    }
}

/// The findings of an environment probe.
pub fn findings(observation: &Observation, context: Context) -> Vec<Finding> {
    let mut findings = Vec::new();
    let os = os_text(observation);
    if !observation.audio.present {
        findings.push(device_finding(
            Cause::NoSubsystem,
            Severity::Error,
            format!(
                "{os} has no audio capture subsystem: missing {}.",
                observation.audio.missing.join("; ")
            ),
            "Install and start the audio stack: on Linux the sound card's ALSA driver and a sound server (PulseAudio or PipeWire) for this user's session; in a VM or container, pass a sound device or the host's sound server through.".to_string(),
        ));
    }
    if !observation.video.present {
        let finding = device_finding(
            Cause::NoSubsystem,
            Severity::Error,
            format!(
                "{os} has no video capture subsystem: missing {}.",
                observation.video.missing.join("; ")
            ),
            "Install the video capture stack: on Linux load the V4L2 drivers (videodev, and uvcvideo for USB cameras); on a Windows N edition install the Media Feature Pack; in a VM, pass the camera through.".to_string(),
        );
        findings.push(if context.audio_only {
            audio_only(finding)
        } else {
            finding
        });
    }
    for node in &observation.nodes {
        let Some(error) = &node.error else {
            continue;
        };
        let what = match node.kind {
            NodeKind::Video => "camera",
            NodeKind::AudioCapture => "microphone",
        };
        let facts = format!(
            "{} (mode {}, group {})",
            node.path.display(),
            node.mode
                .map_or("?".to_string(), |mode| format!("{mode:04o}")),
            node.group.as_deref().unwrap_or("?")
        );
        let finding = match error.cause {
            Cause::Denied => device_finding(
                Cause::Denied,
                Severity::Error,
                format!("This user cannot open the {what} node {facts}: {}.", error_text(error)),
                format!(
                    "Add the user to the group `{}` (then log in again), or log in on the local seat so that logind grants access; browsers run as this user and get the same refusal.",
                    node.group.as_deref().unwrap_or("that owns the node")
                ),
            ),
            Cause::Busy => note(
                Severity::Info,
                "A capture device is in use by another program right now; a call from this machine would find it busy.",
                format!(
                    "The {what} node {facts} is busy: {}.{}",
                    error_text(error),
                    if node.holders.is_empty() {
                        String::new()
                    } else {
                        format!(" Held by {}.", holders_text(&node.holders))
                    }
                ),
                "Close the program that holds it before a call.".to_string(),
            ),
            Cause::NotFound | Cause::Failed => note(
                Severity::Warning,
                "A capture device node is there but its device is not: it was unplugged or its driver failed.",
                format!("The {what} node {facts} did not open: {}.", error_text(error)),
                "Reconnect the device or reload its driver.".to_string(),
            ),
            _ => note(
                Severity::Info,
                "A capture device node could not be opened for a reason this check does not class.",
                format!("The {what} node {facts} did not open: {}.", error_text(error)),
                "If calls cannot use this device, reconnect it and check its driver.".to_string(),
            ),
        };
        findings.push(if context.audio_only && node.kind == NodeKind::Video {
            audio_only(finding)
        } else {
            finding
        });
    }
    for policy in &observation.policies {
        if let Some(finding) = policy_finding(policy, &observation.policies, context) {
            findings.push(finding);
        }
    }
    for entry in &observation.unreadable {
        findings.push(note(
            Severity::Info,
            "A browser policy file could not be read, so the policies in it were not checked (the browser ignores such a file too).",
            format!("{}: {}.", entry.source, entry.error),
            "Fix the file's JSON (or its permissions) so that the policies in it apply as intended.".to_string(),
        ));
    }
    if findings.is_empty() {
        findings.push(note(
            Severity::Info,
            "The OS has audio and video capture subsystems, this user can open every capture device, and no browser policy that bears on calls is set.",
            format!(
                "{os}; audio: {}; video: {}; {} capture device node{} opened.",
                observation.audio.found.join(", "),
                observation.video.found.join(", "),
                observation.nodes.len(),
                if observation.nodes.len() == 1 { "" } else { "s" }
            ),
            "Nothing to fix.".to_string(),
        ));
    }
    findings
}

fn os_text(observation: &Observation) -> String {
    let os = &observation.os;
    let mut text = os.name.clone().unwrap_or_else(|| os.family.clone());
    if let Some(kernel) = &os.kernel {
        text.push_str(&format!(" (kernel {kernel})"));
    }
    text
}

fn is_false(value: &Value) -> bool {
    matches!(value, Value::Bool(false))
        || value.as_i64() == Some(0)
        || value.as_str() == Some("false")
}

fn is_true(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
        || value.as_i64() == Some(1)
        || value.as_str() == Some("true")
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The sites a list policy of the same browser and source allows, for the evidence.
fn allowed(policies: &[Policy], policy: &Policy, list: &str) -> String {
    let sites = policies
        .iter()
        .find(|other| {
            other.name == list && other.browser == policy.browser && other.source == policy.source
        })
        .and_then(|other| other.value.as_array().cloned())
        .unwrap_or_default();
    if sites.is_empty() {
        format!(" No site is excepted ({list} is not set).")
    } else {
        format!(
            " Only these sites are excepted ({list}): {}.",
            sites.iter().map(value_text).collect::<Vec<_>>().join(", ")
        )
    }
}

fn policy_finding(policy: &Policy, policies: &[Policy], context: Context) -> Option<Finding> {
    let at = format!(
        "{} is managed with {} = {} ({})",
        policy.browser, policy.name, policy.value, policy.source
    );
    let remove = format!(
        "Ask the administrator to remove {} from {} (or set it as the fix says), or call from another browser.",
        policy.name, policy.source
    );
    let finding = match policy.name.as_str() {
        "WebRtcIPHandling" if policy.value.as_str() == Some("disable_non_proxied_udp") => note(
            Severity::Warning,
            "A browser policy forbids WebRTC from using UDP except through a proxy: TRTC's media cannot use direct UDP, only TURN over TCP/TLS 443 (more latency), or nothing if that is blocked too.",
            format!("{at}."),
            format!("Set WebRtcIPHandling to `default` (or `default_public_interface_only`, which keeps UDP) in {}, or make sure TCP/TLS 443 to TRTC's relays is open (the turn and ports findings say whether it is).", policy.source),
        ),
        "WebRtcIPHandling" => note(
            Severity::Info,
            "A browser policy limits which network interfaces WebRTC uses; TRTC's servers are public, so calls are not affected.",
            format!("{at}."),
            "Nothing to fix for TRTC.".to_string(),
        ),
        "WebRtcUdpPortRange" => note(
            Severity::Warning,
            "A browser policy limits the local UDP ports WebRTC may use: a firewall that filters by source port, or a range too small for several calls, blocks media.",
            format!("{at}."),
            format!("Allow outbound UDP from local ports {} to TRTC's media ports in the firewall, or remove the policy from {}.", value_text(&policy.value), policy.source),
        ),
        "AudioCaptureAllowed" if is_false(&policy.value) => sdk_warning(
            sdk::INITIALIZE_FAILED,
            Some("NotAllowedError"),
            format!("{at}.{}", allowed(policies, policy, "AudioCaptureAllowedUrls")),
            format!("Add the call's site to AudioCaptureAllowedUrls in {}, or remove AudioCaptureAllowed.", policy.source),
        ),
        "VideoCaptureAllowed" if is_false(&policy.value) => {
            let finding = sdk_warning(
                sdk::INITIALIZE_FAILED,
                Some("NotAllowedError"),
                format!("{at}.{}", allowed(policies, policy, "VideoCaptureAllowedUrls")),
                format!("Add the call's site to VideoCaptureAllowedUrls in {}, or remove VideoCaptureAllowed.", policy.source),
            );
            if context.audio_only {
                audio_only(finding)
            } else {
                finding
            }
        }
        "AutoplayAllowed" if is_false(&policy.value) => sdk_warning(
            sdk::PLAY_NOT_ALLOWED,
            None,
            format!("{at}.{}", allowed(policies, policy, "AutoplayAllowlist")),
            format!("Add the call's site to AutoplayAllowlist in {}, or have the application resume playback on the user's first click (the SDK's autoplay-failed event).", policy.source),
        ),
        "Permissions.Microphone.BlockNewRequests" if is_true(&policy.value) => sdk_warning(
            sdk::INITIALIZE_FAILED,
            Some("NotAllowedError"),
            format!("{at}.{}", allowed(policies, policy, "Permissions.Microphone.Allow")),
            format!("Add the call's site to Permissions.Microphone.Allow in {}, or remove BlockNewRequests.", policy.source),
        ),
        "Permissions.Camera.BlockNewRequests" if is_true(&policy.value) => {
            let finding = sdk_warning(
                sdk::INITIALIZE_FAILED,
                Some("NotAllowedError"),
                format!("{at}.{}", allowed(policies, policy, "Permissions.Camera.Allow")),
                format!("Add the call's site to Permissions.Camera.Allow in {}, or remove BlockNewRequests.", policy.source),
            );
            if context.audio_only {
                audio_only(finding)
            } else {
                finding
            }
        }
        "Permissions.Autoplay.Default"
            if matches!(policy.value.as_str(), Some("block-audio" | "block-audio-video")) =>
        {
            sdk_warning(
                sdk::PLAY_NOT_ALLOWED,
                None,
                format!("{at}."),
                format!("Add the call's site to Permissions.Autoplay.Allow in {}, or have the application resume playback on the user's first click.", policy.source),
            )
        }
        "Preferences.media.peerconnection.enabled" | "Preferences.media.navigator.enabled"
            if is_false(&policy.value) =>
        {
            sdk_warning(
                sdk::NOT_SUPPORTED,
                None,
                format!(
                    "{at}: Firefox has no {}.",
                    if policy.name.contains("peerconnection") {
                        "RTCPeerConnection"
                    } else {
                        "navigator.mediaDevices.getUserMedia"
                    }
                ),
                remove,
            )
        }
        "Preferences.media.peerconnection.ice.proxy_only" if is_true(&policy.value) => note(
            Severity::Warning,
            "A Firefox policy makes WebRTC use only a proxy: TRTC's media cannot use direct UDP, only TURN over TCP/TLS 443, or nothing if that is blocked too.",
            format!("{at}."),
            remove,
        ),
        _ => return None,
    };
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::devices::{DeviceError, Holder, Stage};
    use preflight_probes::environment::{NodeAccess, OsInfo, Unreadable};
    use std::path::PathBuf;

    fn present(what: &str) -> Subsystem {
        Subsystem {
            present: true,
            found: vec![what.into()],
            missing: vec![],
        }
    }

    fn missing(what: &str) -> Subsystem {
        Subsystem {
            present: false,
            found: vec![],
            missing: vec![what.into()],
        }
    }

    fn observation() -> Observation {
        Observation {
            os: OsInfo {
                family: "linux".into(),
                name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                kernel: Some("6.1.0".into()),
                arch: "x86_64".into(),
            },
            audio: present("PulseAudio socket /run/user/1000/pulse/native"),
            video: present("V4L2 in the kernel (/sys/class/video4linux), 1 node"),
            nodes: vec![],
            policies: vec![],
            unreadable: vec![],
        }
    }

    fn policy(name: &str, value: Value) -> Policy {
        Policy {
            browser: "Chromium".into(),
            source: "/etc/chromium/policies/managed/corp.json".into(),
            name: name.into(),
            value,
        }
    }

    fn only(observation: &Observation, context: Context) -> Finding {
        let findings = findings(observation, context);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    #[test]
    fn a_healthy_machine_is_information() {
        let finding = only(&observation(), Context::default());
        assert_eq!(finding.severity, Severity::Info);
        assert!(finding.evidence.starts_with(
            "Debian GNU/Linux 12 (bookworm) (kernel 6.1.0); audio: PulseAudio socket"
        ));
    }

    #[test]
    fn missing_subsystems_are_4098_and_video_is_information_when_audio_only() {
        let mut bare = observation();
        bare.audio = missing("ALSA in the kernel (no /proc/asound)");
        bare.video = missing("V4L2 in the kernel");
        let findings = findings(&bare, Context::default());
        assert_eq!(findings.len(), 2);
        assert!(findings
            .iter()
            .all(|f| f.code == Some(4098) && f.severity == Severity::Error));
        assert!(findings[0]
            .evidence
            .contains("no audio capture subsystem: missing ALSA"));
        let findings = super::findings(&bare, Context { audio_only: true });
        assert_eq!(findings[0].severity, Severity::Error);
        assert_eq!(findings[1].severity, Severity::Info);
    }

    #[test]
    fn nodes_denied_busy_and_gone() {
        let node = |path: &str, kind, error: DeviceError, holders: Vec<Holder>| NodeAccess {
            path: PathBuf::from(path),
            kind,
            error: Some(error.on(path)),
            mode: Some(0o660),
            group: Some("video".into()),
            holders,
        };
        let mut machine = observation();
        machine.nodes = vec![
            node(
                "/dev/video0",
                NodeKind::Video,
                DeviceError::from_text(
                    Stage::Open,
                    "Permission denied (os error 13)",
                    Cause::Other,
                ),
                vec![],
            ),
            node(
                "/dev/snd/pcmC0D0c",
                NodeKind::AudioCapture,
                DeviceError::new(Stage::Open, Cause::Busy, "Device or resource busy"),
                vec![Holder {
                    pid: 900,
                    name: "pulseaudio".into(),
                }],
            ),
            node(
                "/dev/video2",
                NodeKind::Video,
                DeviceError::new(Stage::Open, Cause::Failed, "No such device"),
                vec![],
            ),
        ];
        let findings = findings(&machine, Context::default());
        assert_eq!(findings.len(), 3);
        assert_eq!(
            (
                findings[0].code,
                findings[0].message.as_deref(),
                findings[0].severity
            ),
            (Some(4100), Some("NotAllowedError"), Severity::Error)
        );
        assert!(findings[0]
            .evidence
            .contains("/dev/video0 (mode 0660, group video)"));
        assert!(findings[0]
            .fix
            .starts_with("Add the user to the group `video`"));
        assert_eq!(findings[1].severity, Severity::Info);
        assert!(findings[1]
            .evidence
            .contains("Held by pulseaudio (pid 900)"));
        assert_eq!(findings[2].severity, Severity::Warning);
        let quiet = super::findings(&machine, Context { audio_only: true });
        assert_eq!(quiet[0].severity, Severity::Info);
    }

    /// (policy, value, severity, code, message, a phrase of the evidence).
    type Case = (
        &'static str,
        Value,
        Severity,
        Option<u32>,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn every_policy_rule() {
        let cases: Vec<Case> = vec![
            (
                "WebRtcIPHandling",
                json!("disable_non_proxied_udp"),
                Severity::Warning,
                None,
                None,
                "WebRtcIPHandling = \"disable_non_proxied_udp\"",
            ),
            (
                "WebRtcIPHandling",
                json!("default_public_interface_only"),
                Severity::Info,
                None,
                None,
                "default_public_interface_only",
            ),
            (
                "WebRtcUdpPortRange",
                json!("10000-10010"),
                Severity::Warning,
                None,
                None,
                "10000-10010",
            ),
            (
                "AudioCaptureAllowed",
                json!(false),
                Severity::Warning,
                Some(4100),
                Some("NotAllowedError"),
                "No site is excepted",
            ),
            (
                "VideoCaptureAllowed",
                json!(0),
                Severity::Warning,
                Some(4100),
                Some("NotAllowedError"),
                "VideoCaptureAllowed = 0",
            ),
            (
                "AutoplayAllowed",
                json!(false),
                Severity::Warning,
                Some(16451),
                None,
                "AutoplayAllowed = false",
            ),
            (
                "Permissions.Camera.BlockNewRequests",
                json!(true),
                Severity::Warning,
                Some(4100),
                Some("NotAllowedError"),
                "BlockNewRequests = true",
            ),
            (
                "Permissions.Microphone.BlockNewRequests",
                json!(1),
                Severity::Warning,
                Some(4100),
                Some("NotAllowedError"),
                "BlockNewRequests = 1",
            ),
            (
                "Permissions.Autoplay.Default",
                json!("block-audio-video"),
                Severity::Warning,
                Some(16451),
                None,
                "block-audio-video",
            ),
            (
                "Preferences.media.peerconnection.enabled",
                json!(false),
                Severity::Warning,
                Some(4098),
                None,
                "Firefox has no RTCPeerConnection",
            ),
            (
                "Preferences.media.navigator.enabled",
                json!(false),
                Severity::Warning,
                Some(4098),
                None,
                "getUserMedia",
            ),
            (
                "Preferences.media.peerconnection.ice.proxy_only",
                json!(true),
                Severity::Warning,
                None,
                None,
                "proxy_only = true",
            ),
        ];
        for (name, value, severity, code, message, phrase) in cases {
            let mut machine = observation();
            machine.policies = vec![policy(name, value)];
            let finding = only(&machine, Context::default());
            assert_eq!(finding.severity, severity, "{name}: {finding:#?}");
            assert_eq!(finding.code, code, "{name}");
            assert_eq!(finding.message.as_deref(), message, "{name}");
            assert!(
                finding.evidence.contains(phrase),
                "{phrase:?} not in {:?}",
                finding.evidence
            );
            assert!(
                finding
                    .evidence
                    .contains("/etc/chromium/policies/managed/corp.json"),
                "{name}"
            );
        }
    }

    #[test]
    fn harmless_values_say_nothing_and_allowed_sites_are_listed() {
        let mut machine = observation();
        machine.policies = vec![
            policy("AudioCaptureAllowed", json!(true)),
            policy("AutoplayAllowed", json!(true)),
            policy("Preferences.media.peerconnection.enabled", json!(true)),
        ];
        assert_eq!(only(&machine, Context::default()).severity, Severity::Info);
        machine.policies = vec![
            policy("AudioCaptureAllowed", json!(false)),
            policy(
                "AudioCaptureAllowedUrls",
                json!(["https://meet.example", "[*.]corp.example"]),
            ),
        ];
        let finding = only(&machine, Context::default());
        assert!(finding.evidence.ends_with(
            "Only these sites are excepted (AudioCaptureAllowedUrls): https://meet.example, [*.]corp.example."
        ));
    }

    #[test]
    fn unreadable_policy_files_are_information() {
        let mut machine = observation();
        machine.unreadable = vec![Unreadable {
            source: "/etc/opt/chrome/policies/managed/a.json".into(),
            error: "expected value at line 1 column 2".into(),
        }];
        let finding = only(&machine, Context::default());
        assert_eq!(finding.severity, Severity::Info);
        assert!(finding
            .evidence
            .starts_with("/etc/opt/chrome/policies/managed/a.json: expected"));
    }

    #[test]
    fn metrics_carry_the_os_subsystems_nodes_and_policies() {
        let mut machine = observation();
        machine.policies = vec![policy("WebRtcUdpPortRange", json!("10000-10010"))];
        let metrics = metrics(&machine);
        assert_eq!(metrics["os"]["family"], "linux");
        assert_eq!(metrics["audio"]["present"], true);
        assert_eq!(metrics["policies"][0]["name"], "WebRtcUdpPortRange");
        assert_eq!(metrics["nodes"], json!([]));
        machine.nodes = vec![NodeAccess {
            path: PathBuf::from("/dev/video0"),
            kind: NodeKind::Video,
            error: Some(DeviceError::new(
                Stage::Open,
                Cause::Denied,
                "Permission denied",
            )),
            mode: Some(0o660),
            group: Some("video".into()),
            holders: vec![],
        }];
        let metrics = super::metrics(&machine);
        assert_eq!(metrics["nodes"][0]["mode"], "0660");
        assert_eq!(
            super::super::capture::schema_errors("environment_metrics", &metrics),
            Vec::<String>::new()
        );
    }
}
