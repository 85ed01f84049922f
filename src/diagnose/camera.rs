//! Camera rules: what the native camera probe saw, in the SDK's terms.
//!
//! | observation | finding |
//! |---|---|
//! | no camera listed | 4099 DEVICE_NOT_FOUND, `NotFoundError` (information with `--audio-only`) |
//! | the cameras could not be listed | by the failure's class (see [`super::capture`]): no camera API is 4098, access refused `NotAllowedError`, ... |
//! | `--camera` names none of them (or several) | 4100 INITIALIZE_FAILED, `OverconstrainedError`; the evidence lists the cameras |
//! | the camera offers no format of the asked size at the asked rate | 4100, `OverconstrainedError`; the evidence lists what it offers |
//! | opening refused (`EACCES`, privacy settings) | 4100, `NotAllowedError` |
//! | opening found it busy (`EBUSY`) | 4100, `NotReadableError`, naming the processes that hold it |
//! | the camera vanished or the driver failed (`ENODEV`, `EIO`), or opening did not finish | 4100, `AbortError` |
//! | it started and delivered no frame | 4100, `AbortError` |
//! | frames at under [`SLOW_SHARE`] of the asked rate | warning with the rate |
//! | at least [`BLACK_SHARE`] of the measured frames black | warning with the brightness |
//! | the picture stayed the same for [`FROZEN`] or longer | warning with the time |
//! | capture stopped early with an error | warning with the error |
//! | a live picture | information with the figures |
//!
//! With `--audio-only` every finding is information: calls do not use the camera.

use std::time::Duration;

use preflight_probes::camera::{Observation, Outcome, Stats, VideoFormat};
use preflight_probes::devices::Cause;
use preflight_reports::{Finding, Severity};
use serde_json::{json, Map, Value};

use super::capture::{
    audio_only, clip, device_finding, error_json, error_text, holders_json, holders_text, ms,
};
use super::note;

/// Frames at under this share of the asked rate are far below it.
pub const SLOW_SHARE: f64 = 0.6;
/// When at least this share of the measured frames is black, the camera delivers black.
pub const BLACK_SHARE: f64 = 0.9;
/// A picture unchanged for this long is frozen.
pub const FROZEN: Duration = Duration::from_millis(500);

/// What `--audio-only` changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// `--audio-only`.
    pub audio_only: bool,
}

/// The `metrics` of a camera probe.
pub fn metrics(observation: &Observation) -> Map<String, Value> {
    let camera = observation.camera();
    let mut metrics = Map::new();
    metrics.insert("api".into(), json!(observation.api));
    metrics.insert(
        "asked".into(),
        json!(observation.request.format.to_string()),
    );
    metrics.insert(
        "cameras".into(),
        Value::Array(
            observation
                .cameras
                .iter()
                .map(|camera| {
                    json!({
                        "id": camera.id,
                        "name": clip(&camera.name),
                        "path": camera.path.as_ref().map(|path| path.display().to_string()),
                        "default": camera.default,
                        "formats": camera.formats.len(),
                    })
                })
                .collect(),
        ),
    );
    metrics.insert(
        "camera".into(),
        camera.map_or(
            Value::Null,
            |camera| json!({"id": camera.id, "name": clip(&camera.name)}),
        ),
    );
    let (granted, stats, error, holders) = match &observation.outcome {
        Outcome::Captured {
            granted,
            stats,
            error,
        } => (Some(granted), Some(stats), error.as_ref(), &[][..]),
        Outcome::NoFrames { granted, error } => (Some(granted), None, error.as_ref(), &[][..]),
        Outcome::OpenFailed { error, holders, .. } => (None, None, Some(error), holders.as_slice()),
        Outcome::ListFailed(error) => (None, None, Some(error), &[][..]),
        _ => (None, None, None, &[][..]),
    };
    metrics.insert("granted".into(), granted.map_or(Value::Null, format_json));
    let stats = stats.cloned().unwrap_or_default();
    metrics.insert("frames".into(), json!(stats.frames));
    metrics.insert("fps".into(), json!(stats.fps.map(round1)));
    metrics.insert("luma_frames".into(), json!(stats.luma_frames));
    metrics.insert("black_frames".into(), json!(stats.black_frames));
    metrics.insert("mean_luma".into(), json!(stats.mean_luma.map(round1)));
    metrics.insert("frozen_frames".into(), json!(stats.frozen_frames));
    metrics.insert("longest_frozen_ms".into(), json!(ms(stats.longest_frozen)));
    metrics.insert("unreadable_frames".into(), json!(stats.unreadable_frames));
    metrics.insert("error".into(), error.map_or(Value::Null, error_json));
    metrics.insert("holders".into(), holders_json(holders));
    let timings = &observation.timings;
    metrics.insert("list_ms".into(), json!(ms(timings.list)));
    metrics.insert("open_ms".into(), json!(timings.opened.map(ms)));
    metrics.insert("first_frame_ms".into(), json!(timings.first_frame.map(ms)));
    metrics.insert("verdict_ms".into(), json!(ms(timings.total)));
    metrics
}

fn format_json(format: &VideoFormat) -> Value {
    json!({
        "width": format.width,
        "height": format.height,
        "fps": format.fps,
        "pixel_format": format.pixel.as_str(),
    })
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The cameras listed, for evidence.
fn listed(observation: &Observation, only: Option<&[usize]>) -> String {
    let cameras: Vec<String> = observation
        .cameras
        .iter()
        .enumerate()
        .filter(|(index, _)| only.is_none_or(|only| only.contains(index)))
        .map(|(_, camera)| {
            format!(
                "{} \"{}\" ({})",
                camera.id,
                clip(&camera.name),
                camera.place()
            )
        })
        .collect();
    cameras.join(", ")
}

/// The formats a camera offers, for evidence: every size with its best rates.
fn offered(formats: &[VideoFormat]) -> String {
    if formats.is_empty() {
        return "no format".to_string();
    }
    let mut sizes: Vec<(u32, u32)> = formats.iter().map(|f| (f.width, f.height)).collect();
    sizes.sort_by(|a, b| (b.0 * b.1).cmp(&(a.0 * a.1)).then(b.cmp(a)));
    sizes.dedup();
    sizes
        .iter()
        .map(|&(width, height)| {
            let mut rates: Vec<String> = formats
                .iter()
                .filter(|f| (f.width, f.height) == (width, height))
                .map(|f| format!("{} {}", f.fps, f.pixel.as_str()))
                .collect();
            rates.dedup();
            format!("{width}x{height} at {}", rates.join("/"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The findings of a camera probe.
pub fn findings(observation: &Observation, context: Context) -> Vec<Finding> {
    let findings = raw_findings(observation);
    if context.audio_only {
        findings.into_iter().map(audio_only).collect()
    } else {
        findings
    }
}

fn raw_findings(observation: &Observation) -> Vec<Finding> {
    let error = |cause: Cause, evidence: String, fix: String| {
        vec![device_finding(cause, Severity::Error, evidence, fix)]
    };
    let asked = observation.request.format;
    let label = observation
        .camera()
        .map(|camera| format!("\"{}\" ({})", clip(&camera.name), camera.place()))
        .unwrap_or_default();
    match &observation.outcome {
        Outcome::ListFailed(failure) => error(
            failure.cause,
            format!(
                "The cameras could not be listed through {}: {}.",
                observation.api,
                error_text(failure)
            ),
            list_fix(failure.cause),
        ),
        Outcome::NoCamera => error(
            Cause::NotFound,
            format!("{} lists no camera on this machine.", observation.api),
            "Connect a camera (or enable the built-in one in the firmware settings or with its keyboard switch) and check that the OS lists it; in a VM or remote desktop, pass the camera through. For audio-only calls, run with --audio-only and create the local stream with video: false.".to_string(),
        ),
        Outcome::NoSuchCamera { ambiguous } => {
            let wanted = observation.request.camera.clone().unwrap_or_default();
            let evidence = if observation.cameras.is_empty() {
                format!(
                    "--camera {wanted:?} matches no camera: {} lists none on this machine.",
                    observation.api
                )
            } else if ambiguous.is_empty() {
                format!(
                    "--camera {wanted:?} matches no camera; the cameras are: {}.",
                    listed(observation, None)
                )
            } else {
                format!(
                    "--camera {wanted:?} matches several cameras: {}.",
                    listed(observation, Some(ambiguous))
                )
            };
            error(
                Cause::Unsupported,
                evidence,
                "Pass --camera with an id or the full name from `trtc-preflight devices`; in the application, take the cameraId from TRTC.getCameras() rather than a stored one.".to_string(),
            )
        }
        Outcome::FormatNotOffered => {
            let formats = observation
                .camera()
                .map_or_else(String::new, |camera| offered(&camera.formats));
            error(
                Cause::Unsupported,
                format!(
                    "The camera {label} offers no {}x{} format at {} frames a second or more; it offers {formats}.",
                    asked.width, asked.height, asked.fps
                ),
                format!(
                    "Ask for a size and rate the camera offers (--camera-format, and the application's video profile), or use a camera that offers {asked}."
                ),
            )
        }
        Outcome::OpenFailed {
            error: failure,
            holders,
            uninspected,
        } => {
            let mut evidence = format!("The camera {label} did not open: {}.", error_text(failure));
            if failure.cause == Cause::Busy {
                evidence.push_str(&if holders.is_empty() {
                    format!(
                        " No process whose open files this user can see holds it{}.",
                        if *uninspected > 0 {
                            format!(" ({uninspected} processes could not be inspected)")
                        } else {
                            String::new()
                        }
                    )
                } else {
                    format!(" It is held by {}.", holders_text(holders))
                });
            }
            error(failure.cause, evidence, open_fix(failure.cause, holders))
        }
        Outcome::OpenTimedOut => error(
            Cause::Failed,
            format!("The camera {label} did not finish opening in time (asked for {}).", observation.asked.map_or_else(|| asked.to_string(), |f| f.to_string())),
            "Reconnect the camera (another USB port, no unpowered hub), close programs that use it, and restart the computer if it persists; the driver is not answering.".to_string(),
        ),
        Outcome::NoFrames { granted, error: failure } => error(
            Cause::Failed,
            format!(
                "The camera {label} started at {granted} and delivered no frame{}.",
                failure
                    .as_ref()
                    .map_or_else(String::new, |failure| format!(" ({})", error_text(failure)))
            ),
            "Reconnect the camera (another USB port, no unpowered hub: a USB 2 bus can run out of bandwidth), update its driver, and try a smaller --camera-format; a privacy shutter gives black frames rather than none.".to_string(),
        ),
        Outcome::Captured {
            granted,
            stats,
            error: failure,
        } => captured(observation, &label, granted, stats, failure.as_ref()),
    }
}

fn captured(
    observation: &Observation,
    label: &str,
    granted: &VideoFormat,
    stats: &Stats,
    failure: Option<&preflight_probes::devices::DeviceError>,
) -> Vec<Finding> {
    let asked = observation.request.format;
    let fps = stats.fps.unwrap_or(0.0);
    let figures = format!(
        "{} frames in {:.2} s ({}) at {granted}{}",
        stats.frames,
        stats.span.as_secs_f64(),
        stats.fps.map_or_else(
            || "no rate: one frame".to_string(),
            |fps| format!("{fps:.1} fps")
        ),
        stats
            .mean_luma
            .map_or_else(String::new, |luma| format!(", mean luma {luma:.0} of 255"))
    );
    let mut findings = Vec::new();
    if stats.frames >= 2 && fps < SLOW_SHARE * f64::from(asked.fps) {
        findings.push(note(
            Severity::Warning,
            "The camera delivers far fewer frames than the call asks for: the others in a call would see a jerky picture.",
            format!(
                "The camera {label} gave {figures}: {fps:.1} frames a second where {} were asked ({:.0} %).",
                asked.fps,
                100.0 * fps / f64::from(asked.fps)
            ),
            "Light the room better (in low light cameras lengthen the exposure and halve their rate), turn off low-light compensation in the camera's settings, close other programs that use the camera or the USB bus, or ask for a lower rate or size.".to_string(),
        ));
    }
    if stats.luma_frames > 0
        && f64::from(stats.black_frames) >= BLACK_SHARE * f64::from(stats.luma_frames)
    {
        findings.push(note(
            Severity::Warning,
            "The camera delivers black frames: the others in a call would see a black picture from this user.",
            format!(
                "The camera {label} gave {figures}; {} of the {} frames measured were black (mean luma below {:.0} of 255).",
                stats.black_frames,
                stats.luma_frames,
                preflight_probes::camera::analysis::BLACK_LUMA
            ),
            "Open the camera's cover or privacy shutter, check a keyboard camera switch (a function key on many laptops), and light the room.".to_string(),
        ));
    }
    if stats.longest_frozen >= FROZEN {
        findings.push(note(
            Severity::Warning,
            "The camera's picture freezes: it repeats the same frame, so the others in a call would see a still image.",
            format!(
                "The camera {label} gave {figures}; the picture stayed exactly the same for {} ms ({} repeated frames).",
                ms(stats.longest_frozen),
                stats.frozen_frames
            ),
            "Reconnect the camera, update its driver or firmware, and close programs that also read it (virtual-camera software can stall it).".to_string(),
        ));
    }
    if let Some(failure) = failure {
        findings.push(note(
            Severity::Warning,
            "The camera stopped delivering during the check: a call would lose the picture.",
            format!(
                "The camera {label} gave {figures}, then failed: {}.",
                error_text(failure)
            ),
            "Reconnect the camera (another USB port, no unpowered hub) and update its driver."
                .to_string(),
        ));
    }
    if findings.is_empty() {
        findings.push(note(
            Severity::Info,
            "The camera opens and delivers a live picture at the asked format.",
            format!("The camera {label} gave {figures}."),
            "Nothing to fix.".to_string(),
        ));
    }
    findings
}

fn list_fix(cause: Cause) -> String {
    match cause {
        Cause::Denied => "Allow camera access for this program and for the browser in the OS privacy settings (macOS: System Settings, Privacy & Security, Camera; Windows: Settings, Privacy, Camera), then run the check again.".to_string(),
        Cause::NoSubsystem => "This OS has no camera API the check can use: on Linux load the V4L2 drivers (the videodev module and the camera's driver, uvcvideo for USB cameras).".to_string(),
        _ => "Reconnect the camera and run the check again with -v; the evidence names the call that failed.".to_string(),
    }
}

fn open_fix(cause: Cause, holders: &[preflight_probes::devices::Holder]) -> String {
    match cause {
        Cause::Denied => "Give this user access to the camera: on Linux add the user to the group that owns the node (usually `video`) or log in on a local seat (logind grants the seat user access), then log in again; on macOS and Windows allow the camera for this program and the browser in the privacy settings.".to_string(),
        Cause::Busy if !holders.is_empty() => format!(
            "Close {} (or stop it using the camera), then run the check again; a camera is used by one program at a time.",
            holders_text(holders)
        ),
        Cause::Busy => "Close the other programs that use the camera (conferencing apps, OBS, another browser tab), then run the check again; a camera is used by one program at a time.".to_string(),
        Cause::NotFound | Cause::Failed => "Reconnect the camera (it vanished while being opened), check its cable and driver, and run the check again.".to_string(),
        Cause::Unsupported => "Ask for a format the camera offers (`trtc-preflight devices` lists them) with --camera-format.".to_string(),
        Cause::NoSubsystem => list_fix(cause),
        Cause::Other => "Reconnect the camera, update its driver, and run the check again with -v.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::camera::{
        CameraInfo, PixelFormat, Request, Timings, Wanted, DEFAULT_FORMAT,
    };
    use preflight_probes::devices::{DeviceError, Holder, Stage};
    use std::path::PathBuf;

    const VGA: VideoFormat = VideoFormat {
        width: 640,
        height: 480,
        fps: 15,
        pixel: PixelFormat::Yuyv,
    };

    fn observation(outcome: Outcome) -> Observation {
        Observation {
            api: "Video4Linux".into(),
            request: Request {
                camera: None,
                format: DEFAULT_FORMAT,
            },
            cameras: vec![CameraInfo {
                id: "0".into(),
                name: "Integrated Camera".into(),
                path: Some(PathBuf::from("/dev/video0")),
                default: true,
                formats: vec![
                    VGA,
                    VideoFormat {
                        width: 1280,
                        height: 720,
                        fps: 30,
                        pixel: PixelFormat::Mjpeg,
                    },
                ],
                formats_error: None,
            }],
            chosen: Some(0),
            asked: Some(VGA),
            outcome,
            timings: Timings::default(),
        }
    }

    fn stats(frames: u32, fps: f64) -> Stats {
        Stats {
            frames,
            span: Duration::from_secs(1),
            fps: Some(fps),
            luma_frames: frames,
            black_frames: 0,
            mean_luma: Some(110.0),
            frozen_frames: 0,
            longest_frozen: Duration::ZERO,
            unreadable_frames: 0,
        }
    }

    fn one(outcome: Outcome) -> Finding {
        let findings = findings(&observation(outcome), Context::default());
        assert_eq!(findings.len(), 1, "{findings:#?}");
        findings.into_iter().next().unwrap()
    }

    fn busy() -> DeviceError {
        DeviceError::from_text(
            Stage::Configure,
            "Could not set device property: Device or resource busy (os error 16)",
            Cause::Other,
        )
        .on("/dev/video0")
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
                Outcome::NoCamera,
                Severity::Error,
                Some(4099),
                Some("NotFoundError"),
                "lists no camera",
            ),
            (
                Outcome::ListFailed(DeviceError::new(
                    Stage::List,
                    Cause::NoSubsystem,
                    "no camera API for plan9",
                )),
                Severity::Error,
                Some(4098),
                None,
                "no camera API for plan9",
            ),
            (
                Outcome::ListFailed(DeviceError::new(
                    Stage::List,
                    Cause::Denied,
                    "not authorised",
                )),
                Severity::Error,
                Some(4100),
                Some("NotAllowedError"),
                "not authorised",
            ),
            (
                Outcome::NoSuchCamera { ambiguous: vec![] },
                Severity::Error,
                Some(4100),
                Some("OverconstrainedError"),
                "0 \"Integrated Camera\" (/dev/video0)",
            ),
            (
                Outcome::FormatNotOffered,
                Severity::Error,
                Some(4100),
                Some("OverconstrainedError"),
                "it offers 1280x720 at 30 MJPG; 640x480 at 15 YUYV",
            ),
            (
                Outcome::OpenFailed {
                    error: DeviceError::from_text(
                        Stage::Open,
                        "V4L2 Error: Permission denied (os error 13)",
                        Cause::Other,
                    )
                    .on("/dev/video0"),
                    holders: vec![],
                    uninspected: 0,
                },
                Severity::Error,
                Some(4100),
                Some("NotAllowedError"),
                "open failed on /dev/video0",
            ),
            (
                Outcome::OpenFailed {
                    error: busy(),
                    holders: vec![Holder {
                        pid: 4242,
                        name: "zoom".into(),
                    }],
                    uninspected: 0,
                },
                Severity::Error,
                Some(4100),
                Some("NotReadableError"),
                "held by zoom (pid 4242)",
            ),
            (
                Outcome::OpenFailed {
                    error: DeviceError::from_text(
                        Stage::Open,
                        "V4L2 Error: No such device (os error 19)",
                        Cause::Other,
                    ),
                    holders: vec![],
                    uninspected: 0,
                },
                Severity::Error,
                Some(4100),
                Some("AbortError"),
                "did not open",
            ),
            (
                Outcome::OpenTimedOut,
                Severity::Error,
                Some(4100),
                Some("AbortError"),
                "did not finish opening",
            ),
            (
                Outcome::NoFrames {
                    granted: VGA,
                    error: None,
                },
                Severity::Error,
                Some(4100),
                Some("AbortError"),
                "delivered no frame",
            ),
            (
                Outcome::Captured {
                    granted: VGA,
                    stats: stats(16, 15.0),
                    error: None,
                },
                Severity::Info,
                None,
                None,
                "16 frames in 1.00 s (15.0 fps) at 640x480@15 YUYV, mean luma 110",
            ),
            (
                Outcome::Captured {
                    granted: VGA,
                    stats: stats(6, 5.0),
                    error: None,
                },
                Severity::Warning,
                None,
                None,
                "5.0 frames a second where 15 were asked (33 %)",
            ),
            (
                Outcome::Captured {
                    granted: VGA,
                    stats: Stats {
                        black_frames: 15,
                        mean_luma: Some(12.0),
                        ..stats(16, 15.0)
                    },
                    error: None,
                },
                Severity::Warning,
                None,
                None,
                "15 of the 16 frames measured were black",
            ),
            (
                Outcome::Captured {
                    granted: VGA,
                    stats: Stats {
                        frozen_frames: 10,
                        longest_frozen: Duration::from_millis(660),
                        ..stats(16, 15.0)
                    },
                    error: None,
                },
                Severity::Warning,
                None,
                None,
                "the same for 660 ms (10 repeated frames)",
            ),
            (
                Outcome::Captured {
                    granted: VGA,
                    stats: stats(16, 15.0),
                    error: Some(DeviceError::new(
                        Stage::Capture,
                        Cause::Failed,
                        "VIDIOC_DQBUF: No such device",
                    )),
                },
                Severity::Warning,
                None,
                None,
                "then failed: capture failed: VIDIOC_DQBUF",
            ),
        ];
        for (outcome, severity, code, message, phrase) in cases {
            let finding = one(outcome.clone());
            assert_eq!(finding.severity, severity, "{outcome:?}: {finding:#?}");
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
    fn busy_names_the_holder_in_the_fix_and_the_os_error_in_the_evidence() {
        let finding = one(Outcome::OpenFailed {
            error: busy(),
            holders: vec![Holder {
                pid: 4242,
                name: "zoom".into(),
            }],
            uninspected: 0,
        });
        assert!(
            finding.fix.starts_with("Close zoom (pid 4242)"),
            "{}",
            finding.fix
        );
        if cfg!(target_os = "linux") {
            assert!(
                finding.evidence.contains("with EBUSY (16)"),
                "{}",
                finding.evidence
            );
        }
    }

    #[test]
    fn audio_only_makes_every_camera_finding_information() {
        let observation = observation(Outcome::NoCamera);
        let findings = findings(&observation, Context { audio_only: true });
        assert_eq!(findings[0].severity, Severity::Info);
        assert_eq!(findings[0].code, Some(4099));
        assert_eq!(findings[0].message.as_deref(), Some("NotFoundError"));
    }

    #[test]
    fn an_unknown_id_lists_the_cameras_and_ambiguity_lists_the_matches() {
        let mut unknown = observation(Outcome::NoSuchCamera { ambiguous: vec![] });
        unknown.request.camera = Some("7".into());
        let finding = &findings(&unknown, Context::default())[0];
        assert!(finding
            .evidence
            .starts_with("--camera \"7\" matches no camera"));
        let mut ambiguous = observation(Outcome::NoSuchCamera { ambiguous: vec![0] });
        ambiguous.request.camera = Some("cam".into());
        let finding = &findings(&ambiguous, Context::default())[0];
        assert!(finding.evidence.contains("matches several cameras"));
    }

    #[test]
    fn metrics_carry_the_granted_format_figures_and_timings() {
        let mut observation = observation(Outcome::Captured {
            granted: VGA,
            stats: stats(16, 15.04),
            error: None,
        });
        observation.request.format = Wanted::parse("640x480@15").unwrap();
        observation.timings.total = Duration::from_millis(1234);
        let metrics = metrics(&observation);
        assert_eq!(metrics["granted"]["pixel_format"], "YUYV");
        assert_eq!(metrics["fps"], 15.0);
        assert_eq!(metrics["frames"], 16);
        assert_eq!(metrics["verdict_ms"], 1234);
        assert_eq!(metrics["asked"], "640x480@15");
        assert_eq!(metrics["camera"]["name"], "Integrated Camera");
        assert_eq!(metrics["error"], Value::Null);
        assert_eq!(
            super::super::capture::schema_errors("camera_metrics", &metrics),
            Vec::<String>::new()
        );
        let failed = super::metrics(&observation_with(Outcome::OpenFailed {
            error: busy(),
            holders: vec![Holder {
                pid: 4242,
                name: "zoom".into(),
            }],
            uninspected: 0,
        }));
        assert_eq!(
            failed["error"]["os_error"],
            if cfg!(target_os = "linux") {
                json!("EBUSY")
            } else {
                Value::Null
            }
        );
        assert_eq!(failed["holders"][0]["name"], "zoom");
        assert_eq!(
            super::super::capture::schema_errors("camera_metrics", &failed),
            Vec::<String>::new()
        );
    }

    fn observation_with(outcome: Outcome) -> Observation {
        observation(outcome)
    }
}
