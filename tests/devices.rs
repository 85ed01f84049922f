//! The device probes and `devices` with the real backends, on this machine as it is: it has no
//! camera, and (without a PulseAudio of a test's own) no sound server and no sound card, so the
//! real backends must report exactly that, in the SDK's terms. And a browser policy written where
//! Debian's Chromium reads managed policies, reported by the environment probe.
//!
//! Where this machine does have a camera or a sound card, the absence tests say so and prove
//! nothing (a machine with devices is the synthetic tests' and the PulseAudio tests' business).

mod common;

use std::process::Command;

use serde_json::Value;

fn preflight(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn report(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = preflight(&all);
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}\n{stderr}"));
    common::assert_no_problems("the report's schema", &common::schema_errors(&report));
    for probe in report["probes"].as_array().unwrap() {
        let def = format!("{}_metrics", probe["kind"].as_str().unwrap());
        common::assert_no_problems(&def, &common::metrics_errors(&def, &probe["metrics"]));
    }
    (status, report)
}

fn has_camera() -> bool {
    let found = std::fs::read_dir("/dev").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with("video"))
    });
    if found {
        eprintln!(
            "SKIPPED: this machine has a /dev/video* node; the no-camera case cannot be shown here"
        );
    }
    found
}

fn has_sound_card() -> bool {
    let found = std::fs::read_to_string("/proc/asound/cards")
        .is_ok_and(|cards| !cards.contains("no soundcards") && !cards.trim().is_empty());
    if found {
        eprintln!(
            "SKIPPED: this machine has a sound card; the no-microphone case cannot be shown here"
        );
    }
    found
}

#[test]
fn no_camera_is_4099_not_found() {
    if has_camera() {
        return;
    }
    let (status, report) = report(&["--only", "camera"]);
    assert_eq!(status, Some(1));
    let probe = &report["probes"][0];
    assert_eq!(probe["id"], "camera/default");
    assert_eq!(probe["status"], "fail");
    let finding = &probe["findings"][0];
    assert_eq!(finding["code"], 4099);
    assert_eq!(finding["name"], "DEVICE_NOT_FOUND");
    assert_eq!(finding["message"], "NotFoundError");
    assert_eq!(
        finding["evidence"],
        "Video4Linux lists no camera on this machine."
    );
    assert_eq!(probe["metrics"]["api"], "Video4Linux");
    assert_eq!(report["codes"], serde_json::json!([4099]));
}

#[test]
fn with_audio_only_no_camera_is_information() {
    if has_camera() {
        return;
    }
    let (status, report) = report(&["--only", "camera", "--audio-only"]);
    assert_eq!(status, Some(0));
    let probe = &report["probes"][0];
    assert_eq!(probe["status"], "pass");
    assert_eq!(probe["findings"][0]["severity"], "info");
    assert_eq!(probe["findings"][0]["code"], 4099);
}

#[test]
fn an_unknown_camera_id_is_overconstrained() {
    if has_camera() {
        return;
    }
    let (status, report) = report(&["--only", "camera", "--camera", "3"]);
    assert_eq!(status, Some(1));
    let probe = &report["probes"][0];
    assert_eq!(probe["id"], "camera/3");
    let finding = &probe["findings"][0];
    assert_eq!(finding["code"], 4100);
    assert_eq!(finding["message"], "OverconstrainedError");
    assert_eq!(
        finding["evidence"],
        "--camera \"3\" matches no camera: Video4Linux lists none on this machine."
    );
}

#[test]
fn a_malformed_camera_format_is_a_usage_error() {
    let (status, _, stderr) = preflight(&["check", "--only", "camera", "--camera-format", "720p"]);
    assert_eq!(status, Some(2));
    assert!(
        stderr.contains("--camera-format 720p: \"720p\" is not WIDTHxHEIGHT@FPS"),
        "{stderr}"
    );
}

/// No sound server (the environment is cleared: no PULSE_SERVER, no XDG_RUNTIME_DIR) and no
/// sound card: the real backend falls back to ALSA, which lists no microphone.
#[test]
fn no_sound_server_and_no_card_is_4099_not_found() {
    if has_sound_card() {
        return;
    }
    let (status, report) = report(&["--only", "microphone"]);
    assert_eq!(status, Some(1));
    let probe = &report["probes"][0];
    let finding = &probe["findings"][0];
    assert_eq!(finding["code"], 4099, "{probe:#}");
    assert_eq!(finding["message"], "NotFoundError");
    assert_eq!(
        finding["evidence"],
        "ALSA (PulseAudio: no server socket (PULSE_SERVER, $XDG_RUNTIME_DIR/pulse/native)) lists no microphone."
    );
    assert_eq!(probe["metrics"]["host"], "ALSA");
    assert!(probe["metrics"]["verdict_ms"].as_u64().unwrap() < 1500);
}

#[test]
fn devices_says_what_it_found_in_text_and_json() {
    if has_camera() || has_sound_card() {
        return;
    }
    let (status, text, _) = preflight(&["devices"]);
    assert_eq!(status, Some(0));
    assert_eq!(
        text,
        "Cameras (Video4Linux):
  none found

Microphones (ALSA):
  (PulseAudio: no server socket (PULSE_SERVER, $XDG_RUNTIME_DIR/pulse/native))
  none found
"
    );
    let (status, json, _) = preflight(&["devices", "--format", "json"]);
    assert_eq!(status, Some(0));
    let devices: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(devices["cameras"]["devices"], serde_json::json!([]));
    assert_eq!(devices["microphones"]["host"], "ALSA");
    let (status, _, stderr) = preflight(&["devices", "--format", "xml"]);
    assert_eq!(status, Some(2));
    assert!(stderr.contains("devices writes text or json"), "{stderr}");
}

/// The environment probe on this machine: the OS, and each capture subsystem as it is.
#[test]
fn the_environment_names_the_os_and_the_missing_subsystems() {
    let (_, report) = report(&["--only", "environment"]);
    let probe = &report["probes"][0];
    assert_eq!(probe["id"], "environment");
    let metrics = &probe["metrics"];
    assert_eq!(metrics["os"]["family"], std::env::consts::OS);
    let video = std::path::Path::new("/sys/class/video4linux").is_dir();
    assert_eq!(metrics["video"]["present"], video);
    if !video {
        let finding = probe["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|finding| {
                finding["evidence"]
                    .as_str()
                    .unwrap()
                    .contains("has no video capture subsystem")
            })
            .unwrap_or_else(|| panic!("{probe:#}"));
        assert_eq!(finding["code"], 4098);
        assert_eq!(finding["name"], "NOT_SUPPORTED");
    }
}

/// A policy file of this test's own where Debian's Chromium reads managed policies, removed
/// when the test ends, with the folders the test had to make for it.
struct PolicyFile {
    path: std::path::PathBuf,
    made: Vec<std::path::PathBuf>,
}

impl PolicyFile {
    fn write(dir: &std::path::Path, text: &str) -> std::io::Result<PolicyFile> {
        let mut made: Vec<std::path::PathBuf> = dir
            .ancestors()
            .take_while(|folder| !folder.exists())
            .map(std::path::Path::to_path_buf)
            .collect();
        made.reverse();
        let path = dir.join(format!("trtc-preflight-test-{}.json", std::process::id()));
        // Made before anything can fail, so that whatever was made is removed.
        let file = PolicyFile { path, made };
        std::fs::create_dir_all(dir)?;
        std::fs::write(&file.path, text)?;
        Ok(file)
    }
}

impl Drop for PolicyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        for folder in self.made.iter().rev() {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

#[test]
fn a_managed_chromium_policy_is_reported_with_its_file() {
    let dir = std::path::Path::new("/etc/chromium/policies/managed");
    let written = PolicyFile::write(
        dir,
        r#"{"WebRtcIPHandling": "disable_non_proxied_udp", "AudioCaptureAllowed": false,
            "AudioCaptureAllowedUrls": ["https://meet.example.com"]}"#,
    );
    let Ok(file) = written else {
        let message = format!("{} is not writable here (not root)", dir.display());
        if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{message}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires this test");
        }
        eprintln!("SKIPPED: {message}");
        return;
    };
    let (_, report) = report(&["--only", "environment"]);
    drop(file);
    let probe = &report["probes"][0];
    let ours: Vec<&Value> = probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| {
            finding["evidence"]
                .as_str()
                .unwrap()
                .contains("trtc-preflight-test-")
        })
        .collect();
    assert_eq!(ours.len(), 2, "{probe:#}");
    assert_eq!(ours[0]["severity"], "warning");
    assert_eq!(ours[0]["code"], Value::Null);
    assert!(ours[0]["evidence"]
        .as_str()
        .unwrap()
        .starts_with("Chromium is managed with WebRtcIPHandling = \"disable_non_proxied_udp\" (/etc/chromium/policies/managed/trtc-preflight-test-"));
    assert_eq!(ours[1]["severity"], "warning");
    assert_eq!(ours[1]["code"], 4100);
    assert_eq!(ours[1]["message"], "NotAllowedError");
    assert!(ours[1]["evidence"].as_str().unwrap().ends_with(
        "Only these sites are excepted (AudioCaptureAllowedUrls): https://meet.example.com."
    ));
    let policies = probe["metrics"]["policies"].as_array().unwrap();
    assert!(policies
        .iter()
        .any(|policy| policy["name"] == "AudioCaptureAllowedUrls"));
}

#[test]
fn the_camera_format_comes_from_a_profile_too() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("devices.toml");
    std::fs::write(
        &profile,
        "camera = \"0\"\ncamera_format = \"1280x720@30\"\n",
    )
    .unwrap();
    let path = profile.display().to_string();
    let (status, plan, _) = preflight(&["check", "--profile", &path, "--dry-run"]);
    assert_eq!(status, Some(0));
    assert!(
        plan.contains("camera \"0\" at 1280x720@30 for 0.75 s"),
        "{plan}"
    );
    // The flag wins over the profile.
    let (_, plan, _) = preflight(&[
        "check",
        "--profile",
        &path,
        "--camera-format",
        "640x360@24",
        "--dry-run",
    ]);
    assert!(plan.contains("at 640x360@24"), "{plan}");
    std::fs::write(&profile, "\ncamera_format = \"hd\"\n").unwrap();
    let (status, _, stderr) = preflight(&["check", "--profile", &path, "--dry-run"]);
    assert_eq!(status, Some(2));
    assert!(
        stderr.contains("line 2, `camera_format`: \"hd\" is not WIDTHxHEIGHT@FPS"),
        "{stderr}"
    );
}
