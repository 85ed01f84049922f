//! Microphone rules: what the native microphone probe saw, in the SDK's terms.
//!
//! | observation | finding |
//! |---|---|
//! | no microphone listed | 4099 DEVICE_NOT_FOUND, `NotFoundError`; the evidence says which audio host was asked and what else was tried |
//! | the microphones could not be listed | by the failure's class (see [`super::capture`]): no audio host is 4098 |
//! | `--microphone` names none of them (or several) | 4100 INITIALIZE_FAILED, `OverconstrainedError`; the evidence lists them |
//! | opening refused / busy / vanished / unsupported | 4100 with `NotAllowedError` / `NotReadableError` (naming the holders of an ALSA device) / `AbortError` / `OverconstrainedError` |
//! | opening did not finish, or the stream delivered no audio | 4100, `AbortError` |
//! | RMS below [`SILENT_DBFS`] over the window | warning with the level |
//! | at least [`CLIPPED_SHARE`] of the samples in full-scale runs | warning with the level and the share |
//! | a DC offset of at least [`DC_OFFSET`] of full scale | information with the offset |
//! | the microphone tested is a monitor of an output | warning: it hears the speakers, not the user |
//! | the stream stopped before the window was full | warning with the error |
//! | sound at a normal level | information with the levels |

use preflight_probes::devices::Cause;
use preflight_probes::microphone::{Levels, Observation, Outcome};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::capture::{
    clip, device_finding, error_json, error_text, holders_json, holders_text, ms,
};
use super::note;

/// Below this RMS level a microphone is silent (the browser check uses the same).
pub const SILENT_DBFS: f64 = -60.0;
/// From this share of samples in clipped runs, a microphone clips.
pub const CLIPPED_SHARE: f64 = 0.001;
/// From this DC offset (a fraction of full scale, -26 dBFS) the offset is worth a note.
pub const DC_OFFSET: f64 = 0.05;

/// The `metrics` of a microphone probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let mut metrics = Map::new();
    metrics.insert("host".into(), json!(observation.host));
    metrics.insert("notes".into(), json!(observation.notes));
    metrics.insert(
        "microphones".into(),
        Value::Array(
            observation
                .microphones
                .iter()
                .map(|microphone| {
                    json!({
                        "id": clip(&microphone.id),
                        "name": clip(&microphone.name),
                        "default": microphone.default,
                        "monitor": microphone.monitor,
                    })
                })
                .collect(),
        ),
    );
    metrics.insert(
        "microphone".into(),
        observation.microphone().map_or(Value::Null, |microphone| {
            json!({
                "id": clip(&microphone.id),
                "name": clip(&microphone.name),
                "monitor": microphone.monitor,
            })
        }),
    );
    let (config, levels, complete, error, holders) = match &observation.outcome {
        Outcome::Captured {
            config,
            levels,
            complete,
            error,
        } => (
            Some(config),
            Some(levels),
            *complete,
            error.as_ref(),
            &[][..],
        ),
        Outcome::NoAudio { config, error } => (Some(config), None, false, error.as_ref(), &[][..]),
        Outcome::OpenFailed { error, holders } => {
            (None, None, false, Some(error), holders.as_slice())
        }
        Outcome::ListFailed(error) => (None, None, false, Some(error), &[][..]),
        _ => (None, None, false, None, &[][..]),
    };
    metrics.insert(
        "config".into(),
        config.map_or(Value::Null, |config| {
            json!({
                "sample_rate": config.sample_rate,
                "channels": config.channels,
                "sample_format": config.sample_format,
            })
        }),
    );
    let window_ms = match (levels, config) {
        (Some(levels), Some(config)) if config.sample_rate > 0 => {
            Some(levels.frames * 1000 / u64::from(config.sample_rate))
        }
        _ => None,
    };
    metrics.insert("window_ms".into(), json!(window_ms));
    metrics.insert("rms_dbfs".into(), json!(levels.map(|l| round1(l.rms_dbfs))));
    metrics.insert(
        "peak_dbfs".into(),
        json!(levels.map(|l| round1(l.peak_dbfs))),
    );
    metrics.insert(
        "clipped_samples".into(),
        json!(levels.map(|l| l.clipped_samples)),
    );
    metrics.insert("clipped_runs".into(), json!(levels.map(|l| l.clipped_runs)));
    metrics.insert(
        "clipped_share".into(),
        json!(levels.map(|l| (l.clipped_share() * 1e5).round() / 1e5)),
    );
    metrics.insert(
        "dc_offset".into(),
        json!(levels.map(|l| (l.dc_offset * 1e4).round() / 1e4)),
    );
    metrics.insert("complete".into(), json!(complete));
    metrics.insert("error".into(), error.map_or(Value::Null, error_json));
    metrics.insert("holders".into(), holders_json(holders));
    let timings = &observation.timings;
    metrics.insert("list_ms".into(), json!(ms(timings.list)));
    metrics.insert("open_ms".into(), json!(timings.opened.map(ms)));
    metrics.insert("first_audio_ms".into(), json!(timings.first_audio.map(ms)));
    metrics.insert("verdict_ms".into(), json!(ms(timings.total)));
    metrics
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn listed(observation: &Observation, only: Option<&[usize]>) -> String {
    observation
        .microphones
        .iter()
        .enumerate()
        .filter(|(index, _)| only.is_none_or(|only| only.contains(index)))
        .map(|(_, microphone)| format!("{} (\"{}\")", clip(&microphone.id), clip(&microphone.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn host_text(observation: &Observation) -> String {
    let mut text = observation.host.clone();
    if !observation.notes.is_empty() {
        text.push_str(&format!(" ({})", observation.notes.join("; ")));
    }
    text
}

/// The findings of a microphone probe.
pub fn findings(observation: &Observation) -> Vec<Finding> {
    let error = |cause: Cause, evidence: String, fix: String| {
        vec![device_finding(cause, Severity::Error, evidence, fix)]
    };
    let label = observation
        .microphone()
        .map(|microphone| format!("\"{}\" ({})", clip(&microphone.name), clip(&microphone.id)))
        .unwrap_or_default();
    match &observation.outcome {
        Outcome::ListFailed(failure) => error(
            failure.cause,
            format!(
                "The microphones could not be listed through {}: {}.",
                host_text(observation),
                error_text(failure)
            ),
            match failure.cause {
                Cause::NoSubsystem => "Start the sound server (PulseAudio or PipeWire) or install the sound card's driver; with no audio subsystem nothing can capture sound.".to_string(),
                Cause::Denied => "Allow microphone access for this program and the browser in the OS privacy settings, or give this user access to the sound server.".to_string(),
                _ => "Run the check again with -v; the evidence names the call that failed.".to_string(),
            },
        ),
        Outcome::NoMicrophone => error(
            Cause::NotFound,
            format!("{} lists no microphone.", host_text(observation)),
            "Connect a microphone or headset (or enable the built-in one), check that the OS sound settings list an input, and on Linux that the sound server runs for this user; in a VM or remote desktop, pass audio input through.".to_string(),
        ),
        Outcome::NoSuchMicrophone { ambiguous } => {
            let wanted = observation.request.microphone.clone().unwrap_or_default();
            let evidence = if observation.microphones.is_empty() {
                format!(
                    "--microphone {wanted:?} matches no microphone: {} lists none.",
                    host_text(observation)
                )
            } else if ambiguous.is_empty() {
                format!(
                    "--microphone {wanted:?} matches no microphone of {}; the microphones are: {}.",
                    observation.host,
                    listed(observation, None)
                )
            } else {
                format!(
                    "--microphone {wanted:?} matches several microphones: {}.",
                    listed(observation, Some(ambiguous))
                )
            };
            error(
                Cause::Unsupported,
                evidence,
                "Pass --microphone with an id or the full name from `trtc-preflight devices`; in the application, take the microphoneId from TRTC.getMicrophones() rather than a stored one.".to_string(),
            )
        }
        Outcome::OpenFailed { error: failure, holders } => {
            let mut evidence = format!("The microphone {label} did not open: {}.", error_text(failure));
            if failure.cause == Cause::Busy && !holders.is_empty() {
                evidence.push_str(&format!(" It is held by {}.", holders_text(holders)));
            }
            let fix = match failure.cause {
                Cause::Denied => "Give this user access to the microphone: on Linux add the user to the group that owns /dev/snd (usually `audio`) or run a sound server for the user's session; on macOS and Windows allow the microphone for this program and the browser in the privacy settings.".to_string(),
                Cause::Busy if !holders.is_empty() => format!("Close {} (or stop it using the microphone), then run the check again.", holders_text(holders)),
                Cause::Busy => "Close the other programs that hold the microphone exclusively, or route capture through the sound server, then run the check again.".to_string(),
                Cause::Unsupported => "The microphone refused its own default format: reconnect it, or pick another with --microphone.".to_string(),
                Cause::NoSubsystem => "Start the sound server for this user (PulseAudio or PipeWire), then run the check again.".to_string(),
                _ => "Reconnect the microphone, check its driver, and run the check again.".to_string(),
            };
            error(failure.cause, evidence, fix)
        }
        Outcome::OpenTimedOut => error(
            Cause::Failed,
            format!("The microphone {label} did not finish opening in time through {}.", observation.host),
            "Restart the sound server (systemctl --user restart pulseaudio or pipewire-pulse) or reconnect the microphone, then run the check again.".to_string(),
        ),
        Outcome::NoAudio { config, error: failure } => error(
            Cause::Failed,
            format!(
                "The microphone {label} started ({} Hz, {} channels) and delivered no audio within {} ms{}.",
                config.sample_rate,
                config.channels,
                observation.timings.total.saturating_sub(observation.timings.opened.unwrap_or_default()).as_millis(),
                failure.as_ref().map_or_else(String::new, |failure| format!(" ({})", error_text(failure)))
            ),
            "Restart the sound server or reconnect the microphone; if it is a USB headset, try another port.".to_string(),
        ),
        Outcome::Captured {
            levels,
            complete,
            error: failure,
            config,
        } => {
            let window = if config.sample_rate > 0 {
                levels.frames * 1000 / u64::from(config.sample_rate)
            } else {
                0
            };
            captured(observation, &label, levels, window, *complete, failure.as_ref())
        }
    }
}

fn captured(
    observation: &Observation,
    label: &str,
    levels: &Levels,
    window_ms: u64,
    complete: bool,
    failure: Option<&preflight_probes::devices::DeviceError>,
) -> Vec<Finding> {
    let figures = format!(
        "over {window_ms} ms its level was {:.1} dBFS RMS, peak {:.1} dBFS",
        levels.rms_dbfs, levels.peak_dbfs
    );
    let mut findings = Vec::new();
    if observation
        .microphone()
        .is_some_and(|microphone| microphone.monitor)
    {
        findings.push(note(
            Severity::Warning,
            "The microphone tested is a monitor of an output: it hears what the speakers play, not the user.",
            format!("The input {label} of {} is a monitor source; {figures}.", observation.host),
            "Connect a microphone and make it the default input in the sound settings (or pass --microphone); a monitor as the only input means no microphone is there.".to_string(),
        ));
    }
    if levels.rms_dbfs < SILENT_DBFS {
        findings.push(note(
            Severity::Warning,
            "The microphone opens but delivers silence: the others in a call would hear nothing from this user.",
            format!("The microphone {label} opened; {figures} (silent is below {SILENT_DBFS:.0} dBFS)."),
            format!("Unmute the microphone (a hardware switch or key, the headset's mute), raise its input volume in the OS sound settings, and check that {label} is the microphone you speak into; then speak during the check."),
        ));
    }
    if levels.clipped_share() >= CLIPPED_SHARE {
        findings.push(note(
            Severity::Warning,
            "The microphone clips: its signal sits at full scale, so the others in a call would hear it distorted.",
            format!(
                "The microphone {label} opened; {figures}; {:.1} % of the samples were in {} runs at full scale.",
                100.0 * levels.clipped_share(),
                levels.clipped_runs
            ),
            "Lower the microphone's input volume (or its hardware gain) in the OS sound settings and turn off any input boost, then speak at a normal distance.".to_string(),
        ));
    }
    if levels.dc_offset.abs() >= DC_OFFSET {
        findings.push(note(
            Severity::Info,
            "The microphone's signal has a DC offset; WebRTC filters it out, but it can mean a faulty microphone or preamp.",
            format!(
                "The microphone {label}: mean sample value {:+.3} of full scale; {figures}.",
                levels.dc_offset
            ),
            "Nothing needs fixing for calls; if the sound is also distorted, try another microphone.".to_string(),
        ));
    }
    if !complete {
        findings.push(note(
            Severity::Warning,
            "The microphone stopped delivering audio during the check: a call would lose the sound.",
            format!(
                "The microphone {label} delivered {window_ms} ms of audio, then {}.",
                failure.map_or_else(|| "nothing more".to_string(), error_text)
            ),
            "Reconnect the microphone and restart the sound server, then run the check again.".to_string(),
        ));
    }
    if findings
        .iter()
        .all(|finding| finding.severity == Severity::Info)
    {
        findings.insert(
            0,
            note(
                Severity::Info,
                "The microphone opens and picks up sound.",
                format!("The microphone {label} opened; {figures}."),
                "Nothing to fix.".to_string(),
            ),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::devices::{DeviceError, Holder, Stage};
    use preflight_probes::microphone::{AudioConfig, MicrophoneInfo, Request, Timings};

    fn config() -> AudioConfig {
        AudioConfig {
            sample_rate: 48_000,
            channels: 2,
            sample_format: "f32".into(),
        }
    }

    fn observation(outcome: Outcome) -> Observation {
        Observation {
            host: "PulseAudio".into(),
            notes: vec![],
            request: Request { microphone: None },
            microphones: vec![MicrophoneInfo {
                id: "alsa_input.usb".into(),
                name: "USB Microphone".into(),
                default: true,
                monitor: false,
                native: Some(config()),
                supported: None,
                error: None,
            }],
            chosen: Some(0),
            outcome,
            timings: Timings::default(),
        }
    }

    fn levels(rms: f64, peak: f64) -> Levels {
        Levels {
            frames: 24_000,
            channels: 2,
            rms_dbfs: rms,
            peak_dbfs: peak,
            clipped_samples: 0,
            clipped_runs: 0,
            dc_offset: 0.0,
        }
    }

    fn captured(levels: Levels) -> Outcome {
        Outcome::Captured {
            config: config(),
            levels,
            complete: true,
            error: None,
        }
    }

    /// (outcome, severity, code, message, a phrase of the evidence).
    type Case = (
        Outcome,
        Severity,
        Option<u32>,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn every_rule() {
        let cases: Vec<Case> = vec![
            (
                Outcome::NoMicrophone,
                Severity::Error,
                Some(4099),
                Some("NotFoundError"),
                "PulseAudio lists no microphone",
            ),
            (
                Outcome::ListFailed(DeviceError::new(
                    Stage::List,
                    Cause::NoSubsystem,
                    "no audio host",
                )),
                Severity::Error,
                Some(4098),
                None,
                "no audio host",
            ),
            (
                Outcome::NoSuchMicrophone { ambiguous: vec![] },
                Severity::Error,
                Some(4100),
                Some("OverconstrainedError"),
                "alsa_input.usb (\"USB Microphone\")",
            ),
            (
                Outcome::OpenFailed {
                    error: DeviceError::new(Stage::Open, Cause::Denied, "AccessDenied"),
                    holders: vec![],
                },
                Severity::Error,
                Some(4100),
                Some("NotAllowedError"),
                "open failed: AccessDenied",
            ),
            (
                Outcome::OpenFailed {
                    error: DeviceError::new(Stage::Open, Cause::Busy, "EBUSY")
                        .on("/dev/snd/pcmC0D0c"),
                    holders: vec![Holder {
                        pid: 311,
                        name: "arecord".into(),
                    }],
                },
                Severity::Error,
                Some(4100),
                Some("NotReadableError"),
                "held by arecord (pid 311)",
            ),
            (
                Outcome::OpenTimedOut,
                Severity::Error,
                Some(4100),
                Some("AbortError"),
                "did not finish opening",
            ),
            (
                Outcome::NoAudio {
                    config: config(),
                    error: None,
                },
                Severity::Error,
                Some(4100),
                Some("AbortError"),
                "started (48000 Hz, 2 channels) and delivered no audio",
            ),
            (
                captured(levels(-23.0, -20.0)),
                Severity::Info,
                None,
                None,
                "over 500 ms its level was -23.0 dBFS RMS, peak -20.0 dBFS",
            ),
            (
                captured(levels(-120.0, -120.0)),
                Severity::Warning,
                None,
                None,
                "-120.0 dBFS RMS, peak -120.0 dBFS (silent is below -60 dBFS)",
            ),
            (
                captured(Levels {
                    clipped_samples: 30_000,
                    clipped_runs: 880,
                    ..levels(-1.0, 0.0)
                }),
                Severity::Warning,
                None,
                None,
                "62.5 % of the samples were in 880 runs at full scale",
            ),
            (
                Outcome::Captured {
                    config: config(),
                    levels: levels(-30.0, -25.0),
                    complete: false,
                    error: Some(DeviceError::new(
                        Stage::Capture,
                        Cause::Failed,
                        "PulseAudio disconnected",
                    )),
                },
                Severity::Warning,
                None,
                None,
                "then capture failed: PulseAudio disconnected",
            ),
        ];
        for (outcome, severity, code, message, phrase) in cases {
            let findings = findings(&observation(outcome.clone()));
            let finding = findings
                .iter()
                .max_by_key(|finding| finding.severity)
                .unwrap();
            assert_eq!(finding.severity, severity, "{outcome:?}: {findings:#?}");
            assert_eq!(finding.code, code, "{outcome:?}");
            assert_eq!(finding.message.as_deref(), message, "{outcome:?}");
            assert!(
                finding.evidence.contains(phrase),
                "{phrase:?} not in {:?}",
                finding.evidence
            );
        }
    }

    #[test]
    fn a_monitor_source_is_a_warning_and_dc_offset_information() {
        let mut monitored = observation(captured(Levels {
            dc_offset: -0.2,
            ..levels(-20.0, -10.0)
        }));
        monitored.microphones[0].monitor = true;
        let findings = findings(&monitored);
        let severities: Vec<Severity> = findings.iter().map(|finding| finding.severity).collect();
        assert_eq!(
            severities,
            [Severity::Warning, Severity::Info],
            "{findings:#?}"
        );
        assert!(findings[0].description.contains("monitor of an output"));
        assert!(findings[1].evidence.contains("-0.200 of full scale"));
    }

    #[test]
    fn no_microphone_says_what_was_tried() {
        let mut observation = observation(Outcome::NoMicrophone);
        observation.host = "ALSA".into();
        observation.notes = vec!["PulseAudio: no server socket".into()];
        observation.microphones.clear();
        observation.chosen = None;
        let finding = &findings(&observation)[0];
        assert_eq!(
            finding.evidence,
            "ALSA (PulseAudio: no server socket) lists no microphone."
        );
    }

    #[test]
    fn metrics_carry_levels_config_and_timings() {
        let metrics = metrics(&observation(captured(levels(-23.04, -20.0))));
        assert_eq!(metrics["rms_dbfs"], -23.0);
        assert_eq!(metrics["window_ms"], 500);
        assert_eq!(metrics["config"]["sample_rate"], 48_000);
        assert_eq!(metrics["complete"], true);
        assert_eq!(metrics["microphone"]["id"], "alsa_input.usb");
        let empty = super::metrics(&observation(Outcome::NoMicrophone));
        assert_eq!(empty["rms_dbfs"], Value::Null);
        for metrics in [&metrics, &empty] {
            assert_eq!(
                super::super::capture::schema_errors("microphone_metrics", metrics),
                Vec::<String>::new()
            );
        }
    }
}
