//! The browser checks' findings: what the agent's page saw in the user's own browser, as report
//! probes of kind `browser`.
//!
//! The page (src/agent/page.html) posts one JSON object; each section becomes one probe:
//!
//! | probe | section | observation | finding |
//! |---|---|---|---|
//! | `browser/support` | `browser`, `apis` | an API the SDK needs is missing | 4098 NOT_SUPPORTED naming it |
//! | | | older than TRTC Web SDK 4.x supports ([`MINIMUM_VERSIONS`]) | 4098, the fix names the minimum |
//! | | | a browser the SDK does not list | warning |
//! | `browser/microphone`, `browser/camera` | `devices` | `NotFoundError` | 4099 DEVICE_NOT_FOUND, `NotFoundError` |
//! | | | `NotAllowedError`, `NotReadableError`, `OverconstrainedError`, `AbortError` | 4100 INITIALIZE_FAILED with that message, a fix for that browser |
//! | | | any other error name (`SecurityError`, `TypeError`, ...) | 4100, no message, the name in the evidence |
//! | | | the camera opened and gave no frame | 4100, `AbortError` |
//! | | | microphone RMS below -60 dBFS / every camera frame's mean luma below 16 | warning with the level / the luma |
//! | `browser/h264` | `h264` | no H.264 encoder or decoder | 16457 NOT_SUPPORTED_H264, a fix for that browser |
//! | `browser/autoplay` | `autoplay` | audio refused before a gesture | 16451 PLAY_NOT_ALLOWED as a warning |
//! | `browser/webrtc/MODE` | `webrtc[]` | connected | information: the stage times and the pair |
//! | | | the signaling WebSocket failed | 16385, `failed to connect to remote server via websocket` |
//! | | | the peer refused or did not answer the offer | 16388 (`join room timeout` when it did not answer) |
//! | | | `createOffer` failed | 16389 |
//! | | | ICE or DTLS failed | 16387, `ICE/DTLS Transport connection failed` |
//! | | | ICE connected, DTLS did not finish in the attempt's 10 s | 16387, `DTLS Transport connection timeout (10s)` |
//! | | | no usable candidate (a relay-only attempt with no relay candidate) | 16387, `RtcError: no valid ice candidate found` |
//!
//! A section that is missing or malformed skips its probe with an information finding that says
//! what was missing. The page is trusted no more than any JSON: nothing here panics on any input,
//! and every string from it is shortened before it goes into a finding.

use preflight_reports::{Finding, Kind, ProbeResult, Severity};
use serde_json::{json, Map, Value};

use super::{note, sdk_error};
use crate::catalog::sdk;

/// The oldest version of each browser that TRTC Web SDK 4.x supports (its published browser
/// support table; `Chromium` is judged as Chrome). Major versions.
pub const MINIMUM_VERSIONS: &[(&str, u32)] = &[
    ("Chrome", 56),
    ("Chromium", 56),
    ("Edge", 80),
    ("Firefox", 56),
    ("Safari", 11),
    ("Opera", 43),
];

/// The browser APIs the SDK needs, as the page names them, with what each is for.
const REQUIRED_APIS: &[(&str, &str)] = &[
    ("RTCPeerConnection", "WebRTC itself: every call's media"),
    ("getUserMedia", "camera and microphone capture"),
    ("enumerateDevices", "listing cameras and microphones"),
    ("WebSocket", "the SDK's signaling channel"),
    ("AudioContext", "WebAudio: volume levels and audio mixing"),
];

/// getUserMedia's DOMException names that the SDK's table lists as messages of 4100.
const INITIALIZE_MESSAGES: &[&str] = &[
    "NotAllowedError",
    "NotReadableError",
    "OverconstrainedError",
    "AbortError",
];

/// Below this RMS level a microphone is called silent.
const SILENT_DBFS: f64 = -60.0;

/// A frame whose mean luma (Rec.601, 0-255) is below this is black.
const BLACK_LUMA: f64 = 16.0;

const WEBSOCKET_FAILED: &str = "failed to connect to remote server via websocket";
const ICE_FAILED: &str = "ICE/DTLS Transport connection failed";
const NO_CANDIDATE: &str = "RtcError: no valid ice candidate found";
const JOIN_TIMEOUT: &str = "join room timeout";
const DTLS_TIMEOUT: &str = "DTLS Transport connection timeout (10s)";

/// The longest text taken from the page into a finding or the metrics.
const MAX_TEXT: usize = 200;

/// The browser's results as report probes: support, microphone, camera, H.264, autoplay, then
/// one per WebRTC attempt.
pub fn probes(results: &Value) -> Vec<ProbeResult> {
    let browser = Browser::of(results);
    let mut probes = vec![
        support(results, &browser),
        device(results, &browser, Device::Microphone),
        device(results, &browser, Device::Camera),
        h264(results, &browser),
        autoplay(results, &browser),
    ];
    probes.extend(webrtc(results));
    probes
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON

/// Text from the page, cut to [`MAX_TEXT`] characters.
fn clip(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MAX_TEXT).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn flag(value: &Value, key: &str) -> Option<bool> {
    value.get(key).and_then(Value::as_bool)
}

fn number(value: &Value, key: &str) -> Option<f64> {
    value.get(key).and_then(Value::as_f64)
}

/// A whole, non-negative figure (pixels, frames, milliseconds) as an integer in the metrics,
/// whatever the page's JSON wrote (`640` or `640.0`).
fn whole(value: &Value, key: &str) -> Option<u64> {
    number(value, key)
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= 1e12)
        .map(|n| n.round() as u64)
}

fn count(value: &Value, key: &str) -> Option<u64> {
    value.get(key).and_then(Value::as_u64)
}

/// A section that is a JSON object, or why not.
fn section<'a>(results: &'a Value, key: &str) -> Result<&'a Value, String> {
    match results.get(key) {
        Some(value @ Value::Object(_)) => Ok(value),
        Some(Value::Null) | None => Err(format!("the browser results have no `{key}` section")),
        Some(_) => Err(format!(
            "the browser results' `{key}` section is not a JSON object"
        )),
    }
}

/// A duration the page measured, in whole milliseconds.
fn duration(value: &Value) -> u64 {
    number(value, "duration_ms").map_or(0, |ms| ms.clamp(0.0, 3_600_000.0) as u64)
}

fn probe(
    id: impl Into<String>,
    target: impl Into<String>,
    duration_ms: u64,
    metrics: Map<String, Value>,
    findings: Vec<Finding>,
    skipped: bool,
) -> ProbeResult {
    ProbeResult {
        id: id.into(),
        kind: Kind::Browser,
        target: target.into(),
        status: ProbeResult::status_from_findings(skipped, &findings),
        duration_ms,
        metrics,
        findings,
    }
}

/// The probe of a section the page did not send (or sent in a shape not understood).
fn skipped(id: &str, target: &str, what: &str, missing: &str) -> ProbeResult {
    probe(
        id,
        target,
        0,
        Map::new(),
        vec![note(
            Severity::Info,
            &format!("The {what} check did not run in the browser, so nothing is known about it."),
            format!("Skipped: {missing}."),
            "Run the check again from the agent's page in the browser used for calls, and keep the page open until the verdict shows.".to_string(),
        )],
        true,
    )
}

/// An error the SDK raises as a warning here: it has a code, but the call can go on.
fn sdk_warning(code: u32, evidence: String, fix: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..sdk_error(code, None, None, evidence, fix)
    }
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

// ---------------------------------------------------------------------------------------------
// The browser

/// Which browser the page ran in, as far as it said.
#[derive(Clone, Debug, Default)]
struct Browser {
    name: Option<String>,
    version: Option<String>,
}

impl Browser {
    fn of(results: &Value) -> Browser {
        let section = results.get("browser").unwrap_or(&Value::Null);
        Browser {
            name: text(section, "name")
                .filter(|name| !name.is_empty())
                .map(clip),
            version: text(section, "version")
                .filter(|version| !version.is_empty())
                .map(clip),
        }
    }

    /// "Chrome 156.0.8078.73", for targets and evidence.
    fn label(&self) -> String {
        match (&self.name, &self.version) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            (Some(name), None) => name.clone(),
            _ => "the browser".to_string(),
        }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("other")
    }

    fn major(&self) -> Option<u32> {
        self.version
            .as_deref()?
            .split('.')
            .next()?
            .trim()
            .parse()
            .ok()
    }

    fn minimum(&self) -> Option<u32> {
        MINIMUM_VERSIONS
            .iter()
            .find(|(name, _)| *name == self.name())
            .map(|(_, minimum)| *minimum)
    }

    /// Chrome, Chromium, Edge and Opera: the same settings pages under their own scheme.
    fn settings_scheme(&self) -> Option<&'static str> {
        match self.name() {
            "Chrome" | "Chromium" => Some("chrome"),
            "Edge" => Some("edge"),
            "Opera" => Some("opera"),
            _ => None,
        }
    }
}

fn minimums_text() -> String {
    MINIMUM_VERSIONS
        .iter()
        .filter(|(name, _)| *name != "Chromium")
        .map(|(name, minimum)| format!("{name} {minimum}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn support(results: &Value, browser: &Browser) -> ProbeResult {
    let id = "browser/support";
    let target = browser.label();
    let apis = section(results, "apis");
    let browser_section = section(results, "browser");
    if let (Err(no_browser), Err(no_apis)) = (&browser_section, &apis) {
        return skipped(
            id,
            &target,
            "browser support",
            &format!("{no_browser}, and {no_apis}"),
        );
    }
    let mut findings = Vec::new();
    let mut skip = false;
    let mut metrics = Map::new();
    metrics.insert(
        "user_agent".into(),
        json!(text(results, "user_agent").map(clip)),
    );
    metrics.insert("name".into(), json!(browser.name));
    metrics.insert("version".into(), json!(browser.version));
    metrics.insert("major".into(), json!(browser.major()));
    metrics.insert("minimum".into(), json!(browser.minimum()));
    // Checks that threw in the page (their sections are then missing).
    let page_errors: Vec<String> = results
        .get("page_errors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .take(8)
                .map(clip)
                .collect()
        })
        .unwrap_or_default();
    metrics.insert("page_errors".into(), json!(page_errors));
    metrics.insert(
        "mobile".into(),
        json!(browser_section
            .as_ref()
            .ok()
            .and_then(|b| flag(b, "mobile"))),
    );

    // The APIs.
    match apis {
        Ok(apis) => {
            let mut seen = Map::new();
            let mut unknown = Vec::new();
            for (api, what) in REQUIRED_APIS {
                match flag(apis, api) {
                    Some(true) => {
                        seen.insert((*api).into(), json!(true));
                    }
                    Some(false) => {
                        seen.insert((*api).into(), json!(false));
                        findings.push(missing_api(browser, api, what));
                    }
                    None => {
                        seen.insert((*api).into(), Value::Null);
                        unknown.push(*api);
                    }
                }
            }
            if !unknown.is_empty() {
                skip = unknown.len() == REQUIRED_APIS.len();
                findings.push(note(
                    Severity::Info,
                    "The page did not say whether some APIs the SDK needs exist, so they were not judged.",
                    format!("Not reported: {}.", unknown.join(", ")),
                    "Run the check again from the agent's page.".to_string(),
                ));
            }
            metrics.insert("apis".into(), Value::Object(seen));
        }
        Err(missing) => {
            findings.push(note(
                Severity::Info,
                "The page did not report which APIs this browser has, so they were not judged.",
                format!("Skipped: {missing}."),
                "Run the check again from the agent's page.".to_string(),
            ));
            metrics.insert("apis".into(), Value::Null);
        }
    }

    // The version.
    match (browser_section.is_ok(), browser.minimum(), browser.major()) {
        (false, _, _) => findings.push(note(
            Severity::Info,
            "The page did not say which browser it ran in, so its version was not compared with the SDK's supported ones.",
            format!("Skipped: {}.", browser_section.err().unwrap_or_default()),
            "Run the check again from the agent's page.".to_string(),
        )),
        (true, Some(minimum), Some(major)) if major < minimum => findings.push(sdk_error(
            sdk::NOT_SUPPORTED,
            None,
            None,
            format!(
                "This is {}; TRTC Web SDK 4.x supports {} from version {minimum} on.",
                browser.label(),
                browser.name()
            ),
            format!(
                "Update {} to version {minimum} or later (better: the current release), or use another supported browser ({}, or later).",
                browser.name(),
                minimums_text()
            ),
        )),
        (true, Some(_), Some(_)) => {}
        (true, Some(_), None) => findings.push(note(
            Severity::Warning,
            "The browser's version could not be read, so it was not compared with the SDK's supported versions.",
            format!(
                "The page reported {} with the version {:?}.",
                browser.name(),
                browser.version.clone().unwrap_or_default()
            ),
            format!(
                "Check the version in the browser's About page: TRTC Web SDK 4.x needs {} or later.",
                minimums_text()
            ),
        )),
        (true, None, _) => findings.push(note(
            Severity::Warning,
            "This browser is not one that TRTC Web SDK 4.x lists as supported: calls may work, but nobody tested them.",
            format!(
                "The page ran in {} (user agent: {}).",
                browser.label(),
                text(results, "user_agent").map_or("not reported".to_string(), clip)
            ),
            format!(
                "Use a supported browser for calls: {} or later.",
                minimums_text()
            ),
        )),
    }

    if !findings
        .iter()
        .any(|finding| finding.severity != Severity::Info)
        && !skip
    {
        findings.push(note(
            Severity::Info,
            "This browser is one TRTC Web SDK 4.x supports, and it has every API the SDK needs.",
            format!(
                "{} (TRTC Web SDK 4.x needs {} {} or later); {} available.",
                browser.label(),
                browser.name(),
                browser.minimum().map_or("?".into(), |m| m.to_string()),
                REQUIRED_APIS
                    .iter()
                    .map(|(api, _)| *api)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "Nothing to fix.".to_string(),
        ));
    }
    probe(id, target, 0, metrics, findings, skip)
}

fn missing_api(browser: &Browser, api: &str, what: &str) -> Finding {
    let fix = match api {
        "getUserMedia" | "enumerateDevices" => format!(
            "{} has no navigator.mediaDevices.{api}: browsers remove it from pages that are not HTTPS or localhost, and some policies and privacy extensions disable it. Serve the application over HTTPS, try a clean browser profile without extensions, and update to a current {} or later.",
            browser.label(),
            minimums_text()
        ),
        "RTCPeerConnection" => format!(
            "{} has no RTCPeerConnection: WebRTC is switched off (an enterprise policy, a privacy extension, or about:config media.peerconnection.enabled in Firefox) or the browser is too old. Turn WebRTC back on or use a current {} or later.",
            browser.label(),
            minimums_text()
        ),
        _ => format!(
            "Update {} to a current release, or use {} or later.",
            browser.label(),
            minimums_text()
        ),
    };
    sdk_error(
        sdk::NOT_SUPPORTED,
        None,
        None,
        format!(
            "{} has no {api}, which the SDK needs for {what}.",
            browser.label()
        ),
        fix,
    )
}

// ---------------------------------------------------------------------------------------------
// Devices

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Device {
    Microphone,
    Camera,
}

impl Device {
    fn key(self) -> &'static str {
        match self {
            Device::Microphone => "microphone",
            Device::Camera => "camera",
        }
    }

    /// The `enumerateDevices` kind.
    fn kind(self) -> &'static str {
        match self {
            Device::Microphone => "audioinput",
            Device::Camera => "videoinput",
        }
    }

    fn constraints(self) -> &'static str {
        match self {
            Device::Microphone => "getUserMedia({audio: true})",
            Device::Camera => "getUserMedia({video: true})",
        }
    }

    /// The OS's privacy pages for this device.
    fn os_privacy(self) -> &'static str {
        match self {
            Device::Microphone => "on macOS, System Settings > Privacy & Security > Microphone; on Windows, Settings > Privacy & security > Microphone (\"Let desktop apps access your microphone\")",
            Device::Camera => "on macOS, System Settings > Privacy & Security > Camera; on Windows, Settings > Privacy & security > Camera (\"Let desktop apps access your camera\")",
        }
    }
}

/// The modern name of a getUserMedia error (old Chrome and Firefox used their own).
fn modern_name(name: &str) -> &str {
    match name {
        "PermissionDeniedError" | "SecurityError: permission denied" => "NotAllowedError",
        "DevicesNotFoundError" => "NotFoundError",
        "TrackStartError" => "NotReadableError",
        "ConstraintNotSatisfiedError" => "OverconstrainedError",
        other => other,
    }
}

fn device(results: &Value, browser: &Browser, device: Device) -> ProbeResult {
    let id = format!("browser/{}", device.key());
    let target = browser.label();
    let devices = match section(results, "devices") {
        Ok(devices) => devices,
        Err(missing) => return skipped(&id, &target, device.key(), &missing),
    };
    let observed = match devices.get(device.key()) {
        Some(value @ Value::Object(_)) => value,
        _ => {
            return skipped(
                &id,
                &target,
                device.key(),
                &format!(
                    "the browser results' `devices` section has no `{}` object",
                    device.key()
                ),
            )
        }
    };
    let enumerated = devices
        .get("enumerated")
        .and_then(|counts| count(counts, device.kind()));
    let audio_only = flag(results, "audio_only") == Some(true);

    let mut metrics = Map::new();
    metrics.insert("ok".into(), json!(flag(observed, "ok")));
    metrics.insert("label".into(), json!(text(observed, "label").map(clip)));
    metrics.insert("enumerated".into(), json!(enumerated));
    let error = observed.get("error").filter(|error| !error.is_null());
    metrics.insert(
        "error_name".into(),
        json!(error.and_then(|e| text(e, "name")).map(clip)),
    );
    metrics.insert(
        "error_message".into(),
        json!(error.and_then(|e| text(e, "message")).map(clip)),
    );
    match device {
        Device::Microphone => {
            for key in ["rms_dbfs", "peak_dbfs"] {
                metrics.insert(key.into(), json!(number(observed, key)));
            }
            metrics.insert("window_ms".into(), json!(whole(observed, "window_ms")));
        }
        Device::Camera => {
            for key in ["width", "height", "frames"] {
                metrics.insert(key.into(), json!(whole(observed, key)));
            }
            for key in ["mean_luma", "max_luma"] {
                metrics.insert(key.into(), json!(number(observed, key)));
            }
            metrics.insert("black".into(), json!(flag(observed, "black")));
        }
    }

    let findings = match flag(observed, "ok") {
        Some(true) => opened(observed, browser, device),
        Some(false) => vec![refused(
            error,
            browser,
            device,
            enumerated,
            audio_only && device == Device::Camera,
        )],
        None => {
            return skipped(
                &id,
                &target,
                device.key(),
                &format!(
                    "the browser results' `devices.{}` has no `ok` true or false",
                    device.key()
                ),
            )
        }
    };
    probe(id, target, duration(observed), metrics, findings, false)
}

/// A device that opened: its level or its frames.
fn opened(observed: &Value, browser: &Browser, device: Device) -> Vec<Finding> {
    let label = text(observed, "label")
        .filter(|label| !label.is_empty())
        .map_or("(no label)".to_string(), |label| {
            format!("\"{}\"", clip(label))
        });
    match device {
        Device::Microphone => {
            let window = number(observed, "window_ms").unwrap_or(0.0);
            match (number(observed, "rms_dbfs"), number(observed, "peak_dbfs")) {
                (Some(rms), peak) if rms < SILENT_DBFS => vec![note(
                    Severity::Warning,
                    "The microphone opens but delivers silence: the others in a call would hear nothing from this user.",
                    format!(
                        "The microphone {label} in {} opened; its level over {window:.0} ms was {rms:.1} dBFS RMS{} (silent is below {SILENT_DBFS:.0} dBFS).",
                        browser.label(),
                        peak.map_or(String::new(), |peak| format!(", peak {peak:.1} dBFS"))
                    ),
                    format!(
                        "Unmute the microphone (a hardware switch or key, the headset's mute), raise its input volume in the OS sound settings, and check that {label} is the microphone you speak into (the browser's site settings choose it); then speak during the check."
                    ),
                )],
                (Some(rms), peak) => vec![note(
                    Severity::Info,
                    "The microphone opens and picks up sound.",
                    format!(
                        "The microphone {label} in {} opened; its level over {window:.0} ms was {rms:.1} dBFS RMS{}.",
                        browser.label(),
                        peak.map_or(String::new(), |peak| format!(", peak {peak:.1} dBFS"))
                    ),
                    "Nothing to fix.".to_string(),
                )],
                (None, _) => vec![note(
                    Severity::Info,
                    "The microphone opens; its level could not be measured (WebAudio did not run), so silence was not checked.",
                    format!(
                        "The microphone {label} in {} opened; the page's AudioContext was {}.",
                        browser.label(),
                        text(observed, "audio_context").map_or("not reported".to_string(), clip)
                    ),
                    "Nothing to fix for calls; to check the level, run the check again and keep the page in front.".to_string(),
                )],
            }
        }
        Device::Camera => {
            let frames = number(observed, "frames").unwrap_or(0.0);
            let size = match (number(observed, "width"), number(observed, "height")) {
                (Some(width), Some(height)) => format!(" at {width:.0}×{height:.0}"),
                _ => String::new(),
            };
            let luma = number(observed, "mean_luma");
            if frames < 1.0 {
                let why = observed
                    .get("frame_error")
                    .and_then(|error| text(error, "message"))
                    .map_or(String::new(), |message| format!(" ({})", clip(message)));
                return vec![sdk_error(
                    sdk::INITIALIZE_FAILED,
                    Some("AbortError"),
                    None,
                    format!(
                        "The camera {label} in {} opened{size} but delivered no frame{why}.",
                        browser.label()
                    ),
                    "Close other programs that use the camera, reconnect it (or try another USB port), update its driver and restart the browser; a camera cover or a privacy switch gives black frames rather than none.".to_string(),
                )];
            }
            match (flag(observed, "black"), luma) {
                (Some(true), luma) => vec![note(
                    Severity::Warning,
                    "The camera delivers black frames: the others in a call would see a black picture from this user.",
                    format!(
                        "The camera {label} in {} opened{size}; all {frames:.0} sampled frames were black (mean luma {}, black is below {BLACK_LUMA:.0} of 255).",
                        browser.label(),
                        luma.map_or("?".to_string(), |luma| format!("{luma:.1}"))
                    ),
                    "Open the camera's cover or privacy shutter, check a keyboard camera switch (a function key on many laptops), and light the room; if it stays black, another program may hold the sensor: close it and reload.".to_string(),
                )],
                _ => vec![note(
                    Severity::Info,
                    "The camera opens and delivers a picture.",
                    format!(
                        "The camera {label} in {} opened{size}; {frames:.0} frames sampled, mean luma {}.",
                        browser.label(),
                        luma.map_or("?".to_string(), |luma| format!("{luma:.1}"))
                    ),
                    "Nothing to fix.".to_string(),
                )],
            }
        }
    }
}

/// A device that did not open: the DOMException as the SDK reports it.
fn refused(
    error: Option<&Value>,
    browser: &Browser,
    device: Device,
    enumerated: Option<u64>,
    audio_only: bool,
) -> Finding {
    let name = error
        .and_then(|error| text(error, "name"))
        .map_or("(no name)".to_string(), clip);
    let message = error
        .and_then(|error| text(error, "message"))
        .map(clip)
        .unwrap_or_default();
    let modern = modern_name(&name).to_string();
    let listed = match enumerated {
        Some(n) => format!(
            "; the browser lists {n} {}{}",
            device.key(),
            if n == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    let renamed = if modern != name {
        format!(" (the old name of {modern})")
    } else {
        String::new()
    };
    let evidence = format!(
        "{} in {} failed with {name}{renamed}: \"{message}\"{listed}.",
        device.constraints(),
        browser.label()
    );
    let what = device.key();
    if modern == "NotFoundError" {
        if audio_only {
            return note(
                Severity::Info,
                "There is no camera, and this plan is for audio-only calls, which need none.",
                evidence,
                "Nothing to fix for audio-only calls (create the local stream with `video: false`)."
                    .to_string(),
            );
        }
        return sdk_error(
            sdk::DEVICE_NOT_FOUND,
            Some("NotFoundError"),
            None,
            evidence,
            format!(
                "Connect a {what} and check that the OS lists it ({}) and that it is not disabled in Device Manager or the firmware; in a VM or remote desktop, pass the device through. Then reload this page.{}",
                match device {
                    Device::Microphone => "the sound settings' input devices",
                    Device::Camera => "the camera app shows a picture",
                },
                match device {
                    Device::Microphone => "",
                    Device::Camera => " Audio-only applications can create the stream with `video: false` so that a missing camera is no error.",
                }
            ),
        );
    }
    let fix = match modern.as_str() {
        "NotAllowedError" => not_allowed_fix(browser, device),
        "NotReadableError" => format!(
            "Another program holds the {what}: close Zoom, Teams, Skype, OBS and other browser tabs or windows that use it, then reload this page; on Windows, Settings > Privacy & security > {} lists the apps that used it recently. If nothing holds it, reconnect the device or restart the computer.",
            if device == Device::Camera { "Camera" } else { "Microphone" }
        ),
        "OverconstrainedError" => format!(
            "No {what} matches what was asked for: in the application pass a deviceId from TRTC.getCameras() / TRTC.getMicrophones() (stale IDs after a device change are the usual cause) and a profile the device supports; here, any {what} was asked for, so update its driver or select another one in the OS."
        ),
        "AbortError" => format!(
            "The OS or the driver aborted the {what} while opening it: reconnect it, close other programs using it, update its driver, restart {}; try another {what} if it repeats.",
            browser.name()
        ),
        "SecurityError" => format!(
            "{} forbids {what} access on this page: a Permissions-Policy, an enterprise policy or a non-secure context. Check the browser's policies ({}) and serve the application over HTTPS.",
            browser.label(),
            browser
                .settings_scheme()
                .map_or("the administrator's settings".to_string(), |scheme| format!("{scheme}://policy"))
        ),
        _ => format!(
            "{} is not one of getUserMedia's usual failures: update {}, restart it and try again with a clean profile (no extensions); if it repeats, report this evidence.",
            clip(&name),
            browser.name()
        ),
    };
    let known = INITIALIZE_MESSAGES
        .iter()
        .find(|known| **known == modern)
        .copied();
    sdk_error(sdk::INITIALIZE_FAILED, known, None, evidence, fix)
}

fn not_allowed_fix(browser: &Browser, device: Device) -> String {
    let what = device.key();
    let site = match (browser.settings_scheme(), browser.name()) {
        (Some(scheme), _) => format!(
            "click the {what} icon (or the site-information icon) in the address bar and choose Allow, or open {scheme}://settings/content/{what} and remove this site from \"Not allowed\""
        ),
        (None, "Firefox") => format!(
            "click the permissions icon in the address bar and clear the blocked {what}, or open about:preferences#privacy > Permissions > {} > Settings and allow this site",
            if device == Device::Camera { "Camera" } else { "Microphone" }
        ),
        (None, "Safari") => format!(
            "open Safari > Settings for This Website (or Settings > Websites > {}) and set it to Allow",
            if device == Device::Camera { "Camera" } else { "Microphone" }
        ),
        _ => format!("allow the {what} for this site in the browser's site settings"),
    };
    format!(
        "Allow the {what} for this site: {site}. Allow {} in the OS as well ({}). Then reload the page; an enterprise policy can also block it.",
        browser.name(),
        device.os_privacy()
    )
}

// ---------------------------------------------------------------------------------------------
// H.264

fn profiles(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .take(32)
                .map(clip)
                .collect()
        })
        .unwrap_or_default()
}

fn h264(results: &Value, browser: &Browser) -> ProbeResult {
    let id = "browser/h264";
    let target = browser.label();
    let observed = match section(results, "h264") {
        Ok(observed) => observed,
        Err(missing) => return skipped(id, &target, "H.264", &missing),
    };
    let source = text(observed, "source").unwrap_or("capabilities");
    if source == "none" {
        return skipped(
            id,
            &target,
            "H.264",
            "the browser has no WebRTC to ask for its codecs (see browser/support)",
        );
    }
    let (Some(send), Some(receive)) = (flag(observed, "send"), flag(observed, "receive")) else {
        return skipped(
            id,
            &target,
            "H.264",
            "the browser results' `h264` section has no `send` and `receive` true or false",
        );
    };
    let send_profiles = profiles(observed, "send_profiles");
    let receive_profiles = profiles(observed, "receive_profiles");
    let mut metrics = Map::new();
    metrics.insert("send".into(), json!(send));
    metrics.insert("receive".into(), json!(receive));
    metrics.insert("send_profiles".into(), json!(send_profiles));
    metrics.insert("receive_profiles".into(), json!(receive_profiles));
    metrics.insert("source".into(), json!(clip(source)));
    let asked = if source == "offer" {
        "an offer's SDP (this browser has no getCapabilities)"
    } else {
        "RTCRtpSender.getCapabilities('video') and RTCRtpReceiver.getCapabilities('video')"
    };
    let side = |works: bool, list: &[String]| {
        if !works {
            "none".to_string()
        } else if list.is_empty() {
            "yes".to_string()
        } else {
            format!("profiles {}", list.join(", "))
        }
    };
    let evidence = format!(
        "{} lists H.264 for encoding: {}; for decoding: {} (asked through {asked}).",
        browser.label(),
        side(send, &send_profiles),
        side(receive, &receive_profiles)
    );
    let findings = if send && receive {
        vec![note(
            Severity::Info,
            "This browser encodes and decodes H.264, the video codec TRTC uses for web calls.",
            evidence,
            "Nothing to fix.".to_string(),
        )]
    } else {
        let missing = match (send, receive) {
            (false, false) => "neither encode nor decode",
            (false, true) => "decode but not encode (the others would not see this user's video)",
            _ => "encode but not decode (this user would not see the others' video)",
        };
        vec![sdk_error(
            sdk::NOT_SUPPORTED_H264,
            None,
            None,
            format!("{evidence} It can {missing} H.264."),
            h264_fix(browser, results),
        )]
    };
    probe(id, target, 0, metrics, findings, false)
}

fn h264_fix(browser: &Browser, results: &Value) -> String {
    let mobile = results
        .get("browser")
        .and_then(|b| flag(b, "mobile"))
        .unwrap_or(false);
    match browser.name() {
        "Firefox" => "Firefox gets H.264 from Cisco's OpenH264 plugin: open about:addons > Plugins, set \"OpenH264 Video Codec provided by Cisco Systems, Inc.\" to Always Activate (and in about:config keep media.gmp-gmpopenh264.enabled true), let Firefox download it, restart Firefox and check again; Linux distributions may ship it as a package (openh264 / mozilla-openh264).".to_string(),
        "Chromium" => "This Chromium build has no H.264 (no proprietary codecs): use Google Chrome or Microsoft Edge for calls, or install a Chromium package built with proprietary codecs (for Debian and Ubuntu, the codecs package of their chromium).".to_string(),
        "Chrome" | "Edge" | "Opera" if mobile => format!(
            "{} on this device has no H.264 codec it can use (Android encodes H.264 only where the device's hardware has an encoder): try another device, or update the browser and the system.",
            browser.name()
        ),
        "Chrome" | "Edge" | "Opera" => format!(
            "{} normally has H.264: update it to the current release, and check {}://policy and extensions for a setting that removes codecs; a build without proprietary codecs needs replacing with the official {}.",
            browser.name(),
            browser.settings_scheme().unwrap_or("chrome"),
            browser.name()
        ),
        "Safari" => "Safari has H.264 built in: update macOS or iOS to a current release, and turn off any Develop > Experimental Features that change WebRTC codecs.".to_string(),
        _ => "Use a browser with H.264 for calls: Chrome, Edge or Safari, or Firefox with its OpenH264 plugin enabled.".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Autoplay

fn autoplay(results: &Value, browser: &Browser) -> ProbeResult {
    let id = "browser/autoplay";
    let target = browser.label();
    let observed = match section(results, "autoplay") {
        Ok(observed) => observed,
        Err(missing) => return skipped(id, &target, "autoplay", &missing),
    };
    let error = text(observed, "error").map(clip);
    let tested_at = text(observed, "tested_at").map_or("load".to_string(), clip);
    let mut metrics = Map::new();
    metrics.insert("tested_at".into(), json!(tested_at));
    metrics.insert("allowed".into(), json!(flag(observed, "allowed")));
    metrics.insert("error".into(), json!(error));
    let findings = match (flag(observed, "allowed"), error.as_deref()) {
        (Some(true), _) => vec![note(
            Severity::Info,
            "This browser plays audio before any click on the page: remote audio starts on its own.",
            format!(
                "At page {tested_at}, before any user gesture, audio.play() in {} started.",
                browser.label()
            ),
            "Nothing to fix; keep a resume button anyway, since other browsers and settings refuse.".to_string(),
        )],
        (Some(false), Some("NotAllowedError") | None) => vec![sdk_warning(
            sdk::PLAY_NOT_ALLOWED,
            format!(
                "At page {tested_at}, before any user gesture, audio.play() in {} was refused with {}.",
                browser.label(),
                error.as_deref().unwrap_or("no error name")
            ),
            "Expected in many browsers, and harmless if the application handles it: start remote playback from a click, or on the SDK's `autoplay-failed` event (PLAY_NOT_ALLOWED from `stream.play()`) show a button whose click calls `stream.resume()`. Users can also allow sound for the site in the browser's site settings.".to_string(),
        )],
        (Some(false), Some(other)) => {
            return probe(
                id,
                target,
                0,
                metrics,
                vec![note(
                    Severity::Info,
                    "The page's test sound could not be played, so autoplay was not judged.",
                    format!(
                        "audio.play() in {} failed with {other}, which is not the autoplay refusal (NotAllowedError).",
                        browser.label()
                    ),
                    "Run the check again; if it repeats, check the browser's sound output device.".to_string(),
                )],
                true,
            )
        }
        (None, _) => {
            return skipped(
                id,
                &target,
                "autoplay",
                &format!(
                    "the page's `autoplay` section has no `allowed` true or false (error: {})",
                    error.as_deref().unwrap_or("none")
                ),
            )
        }
    };
    probe(id, target, 0, metrics, findings, false)
}

// ---------------------------------------------------------------------------------------------
// WebRTC

const CANDIDATE_TYPES: &[&str] = &["host", "srflx", "prflx", "relay"];

fn webrtc(results: &Value) -> Vec<ProbeResult> {
    let attempts = match results.get("webrtc") {
        Some(Value::Array(attempts)) => attempts,
        Some(Value::Null) | None => {
            return vec![skipped(
                "browser/webrtc",
                "",
                "WebRTC",
                "the browser results have no `webrtc` list",
            )]
        }
        Some(_) => {
            return vec![skipped(
                "browser/webrtc",
                "",
                "WebRTC",
                "the browser results' `webrtc` is not a list",
            )]
        }
    };
    let mut ids: Vec<String> = Vec::new();
    let mut probes = Vec::new();
    for (index, attempt) in attempts.iter().take(16).enumerate() {
        let mode = text(attempt, "mode")
            .filter(|mode| {
                !mode.is_empty()
                    && mode
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .map(clip);
        let base = format!(
            "browser/webrtc/{}",
            mode.clone()
                .unwrap_or_else(|| format!("attempt-{}", index + 1))
        );
        let mut id = base.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{base}/{n}");
            n += 1;
        }
        ids.push(id.clone());
        probes.push(match (attempt, mode) {
            (Value::Object(_), Some(mode)) => webrtc_attempt(id, &mode, attempt),
            _ => skipped(
                &id,
                "",
                "WebRTC",
                &format!(
                    "attempt {} of the `webrtc` list is not an object with a `mode`",
                    index + 1
                ),
            ),
        });
    }
    probes
}

/// The stage times, in order of the attempt's progress.
fn stages(attempt: &Value) -> (Map<String, Value>, String) {
    let mut map = Map::new();
    let mut words = Vec::new();
    if let Some(Value::Object(stages)) = attempt.get("stages_ms") {
        let mut known: Vec<(String, f64, &Value)> = stages
            .iter()
            .take(16)
            .filter_map(|(stage, value)| value.as_f64().map(|ms| (clip(stage), ms, value)))
            .collect();
        known.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (stage, at, value) in known {
            words.push(format!("{stage} at {}", ms(at)));
            map.insert(stage, value.clone());
        }
    }
    let text = if words.is_empty() {
        "no stage reached".to_string()
    } else {
        words.join(", ")
    };
    (map, text)
}

fn candidates(attempt: &Value) -> (Map<String, Value>, String, u64, u64) {
    let found = attempt.get("candidates").unwrap_or(&Value::Null);
    let mut map = Map::new();
    let mut total = 0;
    for kind in CANDIDATE_TYPES {
        let n = count(found, kind).unwrap_or(0);
        total += n;
        map.insert((*kind).into(), json!(n));
    }
    let relay = count(found, "relay").unwrap_or(0);
    let mut text = CANDIDATE_TYPES
        .iter()
        .map(|kind| format!("{kind} {}", count(found, kind).unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    let listed: Vec<String> = attempt
        .get("local_candidates")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .take(8)
                .map(clip)
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        text.push_str(&format!(" ({})", listed.join("; ")));
    }
    (map, text, total, relay)
}

fn webrtc_attempt(id: String, mode: &str, attempt: &Value) -> ProbeResult {
    let url = text(attempt, "url").map_or(String::new(), clip);
    let turn = text(attempt, "turn").map(clip);
    let relay_only = mode.starts_with("relay");
    let target = turn.clone().unwrap_or_else(|| url.clone());
    let connected = flag(attempt, "connected");
    let failed_stage = text(attempt, "failed_stage").map(clip);
    let error = text(attempt, "error").map(clip);
    let (stage_map, stage_text) = stages(attempt);
    let (candidate_map, candidate_text, total, relay) = candidates(attempt);
    let pair = attempt.get("selected_pair").filter(|pair| pair.is_object());
    let pair_text = pair.and_then(|pair| {
        let local = text(pair, "local")?;
        let remote = text(pair, "remote")?;
        let rtt = number(pair, "rtt_ms").map_or(String::new(), |rtt| format!(" (RTT {})", ms(rtt)));
        Some(format!("{} ↔ {}{rtt}", clip(local), clip(remote)))
    });
    let sent = count(attempt, "echoes_sent").unwrap_or(0);
    let echoed = count(attempt, "echoes_ok").unwrap_or(0);
    let misbehave = text(attempt, "misbehave").map(clip);

    let mut metrics = Map::new();
    metrics.insert("mode".into(), json!(mode));
    metrics.insert("url".into(), json!(url));
    metrics.insert("turn".into(), json!(turn));
    metrics.insert("relay_only".into(), json!(relay_only));
    metrics.insert("connected".into(), json!(connected));
    metrics.insert("failed_stage".into(), json!(failed_stage));
    metrics.insert("error".into(), json!(error));
    metrics.insert("stages_ms".into(), Value::Object(stage_map));
    metrics.insert("candidates".into(), Value::Object(candidate_map));
    metrics.insert(
        "remote_candidates".into(),
        json!(count(attempt, "remote_candidates")),
    );
    metrics.insert(
        "selected_pair".into(),
        pair.map_or(Value::Null, |pair| {
            json!({
                "local": text(pair, "local").map(clip),
                "remote": text(pair, "remote").map(clip),
                "rtt_ms": number(pair, "rtt_ms"),
            })
        }),
    );
    metrics.insert("echoes_sent".into(), json!(sent));
    metrics.insert("echoes_ok".into(), json!(echoed));
    metrics.insert(
        "ice_state".into(),
        json!(text(attempt, "ice_state").map(clip)),
    );
    metrics.insert(
        "connection_state".into(),
        json!(text(attempt, "connection_state").map(clip)),
    );
    metrics.insert("server".into(), json!(text(attempt, "server").map(clip)));

    let through = turn.as_deref().map_or(String::new(), |turn| {
        format!(" through the relay {turn} only")
    });
    let seen = format!(
        "The browser's peer connection to the test peer at {url}{through}: candidates gathered: {candidate_text}; {stage_text}"
    );
    let mut findings = match connected {
        Some(true) => {
            connected_findings(&seen, pair_text.as_deref(), sent, echoed, error.as_deref())
        }
        Some(false) => vec![failed_finding(
            &seen,
            Failed {
                stage: failed_stage.as_deref(),
                error: error.as_deref(),
                connection_state: text(attempt, "connection_state"),
                url: &url,
                turn: turn.as_deref(),
                total,
                relay,
            },
        )],
        None => {
            return skipped(
                &id,
                &target,
                "WebRTC",
                &format!("the `{mode}` attempt has no `connected` true or false"),
            )
        }
    };
    if let Some(how) = misbehave {
        for finding in &mut findings {
            finding.evidence.push_str(&format!(
                " The test peer misbehaves on purpose (serve --misbehave {how}): this result is staged, not a fault of this network."
            ));
        }
    }
    probe(id, target, duration(attempt), metrics, findings, false)
}

fn connected_findings(
    seen: &str,
    pair: Option<&str>,
    sent: u64,
    echoed: u64,
    error: Option<&str>,
) -> Vec<Finding> {
    let over = pair.map_or(String::new(), |pair| format!("; connected over {pair}"));
    if sent == 0 {
        return vec![note(
            Severity::Warning,
            "The browser's peer connection came up, but its data channel (SCTP over DTLS) did not open: the SDK's custom messages would not get through.",
            format!(
                "{seen}{over}; the data channel did not open{}.",
                error.map_or(String::new(), |error| format!(" ({error})"))
            ),
            "Allow UDP between this browser and the peer without content filtering, then run the check again.".to_string(),
        )];
    }
    if echoed < sent {
        return vec![note(
            Severity::Warning,
            "Some data-channel messages did not come back over the browser's peer connection.",
            format!("{seen}{over}; {echoed} of {sent} data-channel messages came back."),
            "Check the MTU finding and allow IP fragments (or lower the MTU on a VPN link) between this machine and the peer.".to_string(),
        )];
    }
    vec![note(
        Severity::Info,
        "This browser's own WebRTC connects to the test peer: ICE, DTLS and the data channel.",
        format!("{seen}{over}; {echoed} of {sent} data-channel messages echoed."),
        "Nothing to fix.".to_string(),
    )]
}

/// What a failed attempt reported.
struct Failed<'a> {
    stage: Option<&'a str>,
    error: Option<&'a str>,
    connection_state: Option<&'a str>,
    url: &'a str,
    turn: Option<&'a str>,
    /// Local candidates gathered, of any type.
    total: u64,
    /// Relay candidates gathered.
    relay: u64,
}

fn failed_finding(seen: &str, failed: Failed) -> Finding {
    let Failed {
        stage,
        error,
        connection_state,
        url,
        turn,
        total,
        relay,
    } = failed;
    let why = error.map_or(String::new(), |error| format!("; it stopped with: {error}"));
    let evidence = format!(
        "{seen}; failed at the {} stage{why}.",
        stage.unwrap_or("unknown")
    );
    match stage {
        Some("signaling") => sdk_error(
            sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
            Some(WEBSOCKET_FAILED),
            None,
            evidence,
            format!(
                "The browser could not open the test peer's signaling WebSocket {url}: check that `trtc-preflight serve` runs there, and that no browser extension, proxy setting or policy blocks WebSockets to it; the native webrtc probe's signaling finding names the failing step."
            ),
        ),
        Some("offer") => sdk_error(
            sdk::CREATE_OFFER_FAILED,
            None,
            None,
            evidence,
            "The browser could not create a WebRTC offer: try a clean profile without privacy extensions, review enterprise policies that restrict WebRTC, and update the browser.".to_string(),
        ),
        Some("answer") => {
            let timed_out = error.is_some_and(|error| error.contains("timed out"));
            sdk_error(
                sdk::JOIN_ROOM_FAILED,
                timed_out.then_some(JOIN_TIMEOUT),
                None,
                evidence,
                "The test peer took the browser's offer and did not answer it: check `serve`'s log (its answerer must be on, not at its session limit, and not staging never-answer), then run the check again.".to_string(),
            )
        }
        Some("dtls") if connection_state != Some("failed") => sdk_error(
            sdk::ICE_TRANSPORT_ERROR,
            Some(DTLS_TIMEOUT),
            None,
            evidence,
            format!(
                "ICE reached the test peer{}, but the DTLS handshake that secures the media never finished: something on the way passes STUN but not DTLS (a firewall or VPN that filters UDP by content, or drops fragments of large datagrams). Allow UDP between the two both ways without inspection and check the MTU finding; TURN over TLS on TCP 443 is the way around it.",
                turn.map_or(String::new(), |turn| format!(" through {turn}"))
            ),
        ),
        _ => {
            let no_candidate = if turn.is_some() { relay == 0 } else { total == 0 };
            let fix = match (no_candidate, turn) {
                (true, Some(turn)) => format!(
                    "The browser got no relay candidate from {turn}: the relay refused the allocation (check the TURN user and TRTC_PREFLIGHT_TURN_PASSWORD given to the agent) or the browser cannot reach it over {}. The turn probe shows whether this machine reaches it; if it does and the browser does not, a browser policy or proxy setting forbids it (chrome://policy: WebRtcIPHandling, WebRtcUdpPortRange; a proxy that carries no UDP).",
                    transport_of(turn)
                ),
                (true, None) => "The browser gathered no ICE candidate at all: WebRTC is restricted in this browser (chrome://policy: WebRtcIPHandling set to disable_non_proxied_udp, a privacy extension, or Firefox's media.peerconnection.ice settings). Lift the restriction, or make TURN over TLS on TCP 443 available so that calls can relay.".to_string(),
                (false, Some(turn)) => format!(
                    "The browser got a relay candidate from {turn}, but no path through the relay to the test peer worked: check that the relay may reach the peer (its allowed-peer and denied-peer ranges) and that UDP from the relay to the peer is open."
                ),
                (false, None) => "The browser's own WebRTC could not reach the test peer although candidates were gathered: browser policies (chrome://policy: WebRtcIPHandling, WebRtcUdpPortRange) or extensions can forbid UDP that the OS allows, and firewalls may drop it. Allow outbound UDP (TRTC's media ports are UDP 8000, 8080, 8800, 843, 443 and 16285), or make TURN over TLS on TCP 443 reachable so that calls can relay.".to_string(),
            };
            sdk_error(
                sdk::ICE_TRANSPORT_ERROR,
                Some(if no_candidate { NO_CANDIDATE } else { ICE_FAILED }),
                None,
                evidence,
                fix,
            )
        }
    }
}

fn transport_of(turn: &str) -> &'static str {
    if turn.starts_with("turns:") {
        "TLS"
    } else if turn.contains("transport=tcp") {
        "TCP"
    } else {
        "UDP"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_reports::Status;

    /// What real headless Chromium 156 posted with fake devices (the candidates' addresses
    /// shortened).
    fn fake_devices() -> Value {
        json!({
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            "browser": {"name": "Chromium", "version": "156.0.8078.108", "mobile": false},
            "apis": {"RTCPeerConnection": true, "getUserMedia": true, "enumerateDevices": true, "WebSocket": true, "AudioContext": true},
            "devices": {
                "enumerated": {"audioinput": 3, "videoinput": 1, "audiooutput": 3},
                "microphone": {"ok": true, "error": null, "label": "Fake Default Audio Input", "rms_dbfs": -23.9, "peak_dbfs": 0.1, "window_ms": 1000, "audio_context": "running", "duration_ms": 1027},
                "camera": {"ok": true, "error": null, "label": "fake_device_0", "width": 640, "height": 480, "frames": 10, "mean_luma": 86.9, "black": false, "max_luma": 93.6, "duration_ms": 1130}
            },
            "h264": {"send": true, "receive": true, "send_profiles": ["42001f", "42e01f", "4d001f"], "receive_profiles": ["42001f", "42e01f", "4d001f", "f4001f"], "source": "capabilities"},
            "autoplay": {"tested_at": "load", "allowed": true, "error": null},
            "webrtc": [{
                "mode": "direct", "url": "ws://127.0.0.1:40307/", "connected": true, "error": null, "failed_stage": null,
                "stages_ms": {"signaling": 47, "answer": 61, "gathered": 114, "ice": 115, "connected": 140, "datachannel": 140, "echoes": 156},
                "candidates": {"host": 2, "srflx": 0, "relay": 0, "prflx": 0},
                "local_candidates": ["host udp 127.0.0.1:55755", "host udp [::1]:45843"],
                "remote_candidates": 1,
                "selected_pair": {"local": "host udp 127.0.0.1:55755", "remote": "host udp 127.0.0.1:52217", "rtt_ms": 1},
                "echoes_sent": 3, "echoes_ok": 3, "ice_state": "connected", "connection_state": "connected",
                "server": "trtc-preflight 0.1.0", "misbehave": null, "duration_ms": 159
            }],
            "elapsed_ms": 2327
        })
    }

    fn find<'a>(probes: &'a [ProbeResult], id: &str) -> &'a ProbeResult {
        probes
            .iter()
            .find(|probe| probe.id == id)
            .unwrap_or_else(|| panic!("no probe {id} in {probes:#?}"))
    }

    fn one(probes: &[ProbeResult], id: &str) -> Finding {
        let probe = find(probes, id);
        assert_eq!(probe.findings.len(), 1, "{probe:#?}");
        probe.findings[0].clone()
    }

    fn with(mut results: Value, pointer: &str, value: Value) -> Value {
        *results
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}")) = value;
        results
    }

    fn coded(finding: &Finding) -> (Severity, Option<u32>, Option<&str>) {
        (finding.severity, finding.code, finding.message.as_deref())
    }

    #[test]
    fn a_working_browser_passes_every_probe_with_its_figures() {
        let probes = probes(&fake_devices());
        let ids: Vec<&str> = probes.iter().map(|probe| probe.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "browser/support",
                "browser/microphone",
                "browser/camera",
                "browser/h264",
                "browser/autoplay",
                "browser/webrtc/direct"
            ]
        );
        for probe in &probes {
            assert_eq!(probe.kind, Kind::Browser);
            assert_eq!(probe.status, Status::Pass, "{probe:#?}");
            assert!(probe.findings.iter().all(|f| f.severity == Severity::Info));
        }
        let support = find(&probes, "browser/support");
        assert_eq!(support.target, "Chromium 156.0.8078.108");
        assert_eq!(support.metrics["major"], 156);
        assert_eq!(support.metrics["minimum"], 56);
        assert_eq!(support.metrics["apis"]["AudioContext"], true);
        let microphone = find(&probes, "browser/microphone");
        assert_eq!(microphone.metrics["rms_dbfs"], -23.9);
        assert_eq!(microphone.duration_ms, 1027);
        assert!(microphone.findings[0]
            .evidence
            .contains("was -23.9 dBFS RMS, peak 0.1 dBFS"));
        let camera = find(&probes, "browser/camera");
        assert_eq!(camera.metrics["mean_luma"], 86.9);
        assert_eq!(
            camera.findings[0].evidence,
            "The camera \"fake_device_0\" in Chromium 156.0.8078.108 opened at 640×480; 10 frames sampled, mean luma 86.9."
        );
        let h264 = find(&probes, "browser/h264");
        assert_eq!(h264.metrics["receive_profiles"][3], "f4001f");
        let webrtc = find(&probes, "browser/webrtc/direct");
        assert_eq!(webrtc.target, "ws://127.0.0.1:40307/");
        assert_eq!(webrtc.metrics["stages_ms"]["connected"], 140);
        assert_eq!(
            webrtc.findings[0].evidence,
            "The browser's peer connection to the test peer at ws://127.0.0.1:40307/: candidates gathered: host 2, srflx 0, prflx 0, relay 0 (host udp 127.0.0.1:55755; host udp [::1]:45843); signaling at 47 ms, answer at 61 ms, gathered at 114 ms, ice at 115 ms, connected at 140 ms, datachannel at 140 ms, echoes at 156 ms; connected over host udp 127.0.0.1:55755 ↔ host udp 127.0.0.1:52217 (RTT 1.0 ms); 3 of 3 data-channel messages echoed."
        );
    }

    #[test]
    fn a_missing_api_is_4098_naming_it() {
        let results = with(fake_devices(), "/apis/getUserMedia", json!(false));
        let results = with(results, "/apis/AudioContext", json!(false));
        let probes = probes(&results);
        let support = find(&probes, "browser/support");
        assert_eq!(support.status, Status::Fail);
        assert_eq!(support.findings.len(), 2);
        for (finding, api) in support
            .findings
            .iter()
            .zip(["getUserMedia", "AudioContext"])
        {
            assert_eq!(coded(finding), (Severity::Error, Some(4098), None));
            assert_eq!(finding.name.as_deref(), Some("NOT_SUPPORTED"));
            assert!(
                finding.evidence.contains(&format!("has no {api},")),
                "{}",
                finding.evidence
            );
        }
        assert!(support.findings[0].fix.contains("HTTPS"));
        assert_eq!(support.metrics["apis"]["getUserMedia"], false);
    }

    #[test]
    fn an_old_browser_is_4098_with_the_minimum_and_an_unknown_one_a_warning() {
        for (name, version, minimum) in [
            ("Chrome", "55.0.2883.87", 56),
            ("Edge", "18.17763", 80),
            ("Firefox", "52.9.0", 56),
            ("Safari", "10.1.2", 11),
            ("Opera", "42.0.2393.94", 43),
        ] {
            let results = with(
                fake_devices(),
                "/browser",
                json!({"name": name, "version": version, "mobile": false}),
            );
            let finding = one(&probes(&results), "browser/support");
            assert_eq!(
                coded(&finding),
                (Severity::Error, Some(4098), None),
                "{name}"
            );
            assert!(
                finding
                    .fix
                    .starts_with(&format!("Update {name} to version {minimum} or later")),
                "{}",
                finding.fix
            );
        }
        // At the minimum: supported.
        let results = with(
            fake_devices(),
            "/browser",
            json!({"name": "Safari", "version": "11.0", "mobile": false}),
        );
        assert_eq!(
            find(&probes(&results), "browser/support").status,
            Status::Pass
        );
        let results = with(
            fake_devices(),
            "/browser",
            json!({"name": "other", "version": "", "mobile": false}),
        );
        let finding = one(&probes(&results), "browser/support");
        assert_eq!(coded(&finding), (Severity::Warning, None, None));
        assert!(finding
            .fix
            .contains("Chrome 56, Edge 80, Firefox 56, Safari 11, Opera 43"));
        let results = with(
            fake_devices(),
            "/browser",
            json!({"name": "Firefox", "version": "nightly"}),
        );
        let finding = one(&probes(&results), "browser/support");
        assert_eq!(finding.severity, Severity::Warning);
        assert!(finding.description.contains("version could not be read"));
    }

    fn device_error(device: &str, name: &str, message: &str) -> Value {
        with(
            fake_devices(),
            &format!("/devices/{device}"),
            json!({"ok": false, "error": {"name": name, "message": message}, "label": null}),
        )
    }

    #[test]
    fn each_dom_exception_has_its_code_and_message() {
        let cases = [
            ("NotFoundError", 4099, Some("NotFoundError")),
            ("NotAllowedError", 4100, Some("NotAllowedError")),
            ("NotReadableError", 4100, Some("NotReadableError")),
            ("OverconstrainedError", 4100, Some("OverconstrainedError")),
            ("AbortError", 4100, Some("AbortError")),
            ("SecurityError", 4100, None),
            ("TypeError", 4100, None),
            ("TimeoutError", 4100, None),
            ("PermissionDeniedError", 4100, Some("NotAllowedError")),
            ("DevicesNotFoundError", 4099, Some("NotFoundError")),
        ];
        for device in ["microphone", "camera"] {
            for (name, code, message) in cases {
                let results = device_error(device, name, "why");
                let finding = one(&probes(&results), &format!("browser/{device}"));
                assert_eq!(
                    coded(&finding),
                    (Severity::Error, Some(code), message),
                    "{device} {name}"
                );
                assert!(
                    finding.evidence.contains(&format!("failed with {name}")),
                    "{}",
                    finding.evidence
                );
            }
        }
    }

    #[test]
    fn the_fixes_are_concrete_for_the_browser() {
        let results = device_error("camera", "NotAllowedError", "Permission denied");
        let finding = one(&probes(&results), "browser/camera");
        assert_eq!(
            finding.evidence,
            "getUserMedia({video: true}) in Chromium 156.0.8078.108 failed with NotAllowedError: \"Permission denied\"; the browser lists 1 camera."
        );
        assert!(
            finding.fix.contains("chrome://settings/content/camera"),
            "{}",
            finding.fix
        );
        assert!(finding.fix.contains("Privacy & Security > Camera"));
        let results = with(
            device_error(
                "microphone",
                "NotAllowedError",
                "The request is not allowed",
            ),
            "/browser/name",
            json!("Firefox"),
        );
        let finding = one(&probes(&results), "browser/microphone");
        assert!(
            finding.fix.contains("about:preferences#privacy"),
            "{}",
            finding.fix
        );
        let results = with(
            device_error("microphone", "NotAllowedError", "x"),
            "/browser/name",
            json!("Edge"),
        );
        assert!(one(&probes(&results), "browser/microphone")
            .fix
            .contains("edge://settings/content/microphone"));
        let results = device_error("camera", "NotReadableError", "Could not start video source");
        assert!(one(&probes(&results), "browser/camera")
            .fix
            .starts_with("Another program holds the camera"));
        let results = device_error("microphone", "NotFoundError", "Requested device not found");
        let finding = one(&probes(&results), "browser/microphone");
        assert!(finding
            .evidence
            .ends_with("the browser lists 3 microphones."));
        assert!(finding.fix.starts_with("Connect a microphone"));
    }

    #[test]
    fn an_audio_only_plan_needs_no_camera() {
        let mut results = device_error("camera", "NotFoundError", "Requested device not found");
        results["audio_only"] = json!(true);
        let probes = probes(&results);
        let camera = find(&probes, "browser/camera");
        assert_eq!(camera.status, Status::Pass);
        assert_eq!(camera.findings[0].code, None);
        // The microphone is still needed.
        let results = with(
            results,
            "/devices/microphone",
            json!({"ok": false, "error": {"name": "NotFoundError", "message": ""}}),
        );
        assert_eq!(
            one(&super::probes(&results), "browser/microphone").code,
            Some(4099)
        );
    }

    #[test]
    fn a_silent_microphone_and_a_black_camera_are_warnings_with_their_levels() {
        let results = with(fake_devices(), "/devices/microphone/rms_dbfs", json!(-120));
        let results = with(results, "/devices/microphone/peak_dbfs", json!(-120));
        let finding = one(&probes(&results), "browser/microphone");
        assert_eq!(coded(&finding), (Severity::Warning, None, None));
        assert!(finding
            .evidence
            .contains("was -120.0 dBFS RMS, peak -120.0 dBFS (silent is below -60 dBFS)"));
        let results = with(fake_devices(), "/devices/camera/black", json!(true));
        let results = with(results, "/devices/camera/mean_luma", json!(3.2));
        let finding = one(&probes(&results), "browser/camera");
        assert_eq!(coded(&finding), (Severity::Warning, None, None));
        assert!(finding
            .evidence
            .contains("mean luma 3.2, black is below 16 of 255"));
        // No level (WebAudio suspended): information only.
        let results = with(fake_devices(), "/devices/microphone/rms_dbfs", Value::Null);
        let finding = one(&probes(&results), "browser/microphone");
        assert_eq!(finding.severity, Severity::Info);
        // Opened but no frame: 4100 AbortError.
        let results = with(fake_devices(), "/devices/camera/frames", json!(0));
        let finding = one(&probes(&results), "browser/camera");
        assert_eq!(
            coded(&finding),
            (Severity::Error, Some(4100), Some("AbortError"))
        );
    }

    #[test]
    fn no_h264_is_16457_with_the_browsers_fix() {
        let cases = [
            ("Firefox", false, false, "about:addons"),
            (
                "Chromium",
                false,
                false,
                "use Google Chrome or Microsoft Edge",
            ),
            ("Chrome", true, false, "update it to the current release"),
            ("Safari", false, true, "update macOS or iOS"),
            ("other", false, false, "Firefox with its OpenH264 plugin"),
        ];
        for (name, send, receive, words) in cases {
            let results = with(fake_devices(), "/browser/name", json!(name));
            let results = with(results, "/h264/send", json!(send));
            let results = with(results, "/h264/receive", json!(receive));
            let finding = one(&probes(&results), "browser/h264");
            assert_eq!(
                coded(&finding),
                (Severity::Error, Some(16457), None),
                "{name}"
            );
            assert_eq!(finding.name.as_deref(), Some("NOT_SUPPORTED_H264"));
            assert!(finding.fix.contains(words), "{name}: {}", finding.fix);
        }
        let results = with(fake_devices(), "/h264/send", json!(false));
        let finding = one(&probes(&results), "browser/h264");
        assert!(finding
            .evidence
            .contains("for encoding: none; for decoding: profiles 42001f"));
        assert!(finding.evidence.ends_with(
            "It can decode but not encode (the others would not see this user's video) H.264."
        ));
        let results = with(
            fake_devices(),
            "/h264",
            json!({"send": false, "receive": false, "source": "none"}),
        );
        assert_eq!(find(&probes(&results), "browser/h264").status, Status::Skip);
    }

    #[test]
    fn autoplay_refused_is_a_16451_warning() {
        let results = with(
            fake_devices(),
            "/autoplay",
            json!({"tested_at": "load", "allowed": false, "error": "NotAllowedError"}),
        );
        let probes = probes(&results);
        let autoplay = find(&probes, "browser/autoplay");
        assert_eq!(autoplay.status, Status::Warn);
        let finding = &autoplay.findings[0];
        assert_eq!(coded(finding), (Severity::Warning, Some(16451), None));
        assert_eq!(finding.name.as_deref(), Some("PLAY_NOT_ALLOWED"));
        assert_eq!(finding.hex.as_deref(), Some("0x4043"));
        assert!(finding.fix.contains("stream.resume()"));
        assert!(finding.fix.contains("autoplay-failed"));
        // Some other failure of the test sound: not judged.
        let results = with(
            fake_devices(),
            "/autoplay",
            json!({"tested_at": "load", "allowed": null, "error": "timeout"}),
        );
        assert_eq!(
            find(&super::probes(&results), "browser/autoplay").status,
            Status::Skip
        );
        let results = with(
            fake_devices(),
            "/autoplay",
            json!({"tested_at": "load", "allowed": false, "error": "NotSupportedError"}),
        );
        let autoplay = super::probes(&results);
        assert_eq!(find(&autoplay, "browser/autoplay").status, Status::Skip);
    }

    fn attempt(changes: Value) -> Value {
        let mut attempt = fake_devices()["webrtc"][0].clone();
        if let (Value::Object(attempt), Value::Object(changes)) = (&mut attempt, changes) {
            attempt.extend(changes);
        }
        attempt
    }

    fn webrtc_of(attempts: Vec<Value>) -> Vec<ProbeResult> {
        let results = with(fake_devices(), "/webrtc", Value::Array(attempts));
        probes(&results)
            .into_iter()
            .filter(|probe| probe.id.starts_with("browser/webrtc"))
            .collect()
    }

    #[test]
    fn each_failed_webrtc_stage_has_its_code_and_message() {
        let failed = |stage: &str, error: &str| {
            attempt(json!({
                "connected": false, "failed_stage": stage, "error": error,
                "stages_ms": {"signaling": 40}, "selected_pair": null, "echoes_sent": 0, "echoes_ok": 0,
            }))
        };
        let cases = [
            (
                failed(
                    "signaling",
                    "the signaling WebSocket ws://127.0.0.1:1/ did not open",
                ),
                16385,
                Some(WEBSOCKET_FAILED),
            ),
            (failed("offer", "createOffer failed"), 16389, None),
            (failed("answer", "answer_failed: busy"), 16388, None),
            (
                failed(
                    "answer",
                    "timed out after 10000 ms waiting for the peer's answer",
                ),
                16388,
                Some(JOIN_TIMEOUT),
            ),
            (
                failed(
                    "ice",
                    "timed out after 10000 ms waiting for the peer connection to connect",
                ),
                16387,
                Some(ICE_FAILED),
            ),
            (
                failed(
                    "dtls",
                    "timed out after 10000 ms waiting for the peer connection to connect",
                ),
                16387,
                Some(DTLS_TIMEOUT),
            ),
            (
                attempt(
                    json!({"connected": false, "failed_stage": "dtls", "connection_state": "failed", "stages_ms": {"signaling": 40}, "error": "the peer connection went to \"failed\" (ICE \"connected\")"}),
                ),
                16387,
                Some(ICE_FAILED),
            ),
            (failed("weird", "?"), 16387, Some(ICE_FAILED)),
        ];
        for (attempt, code, message) in cases {
            let probes = webrtc_of(vec![attempt.clone()]);
            assert_eq!(probes[0].status, Status::Fail);
            let finding = &probes[0].findings[0];
            assert_eq!(
                coded(finding),
                (Severity::Error, Some(code), message),
                "{attempt}"
            );
            assert!(finding
                .evidence
                .contains("candidates gathered: host 2, srflx 0, prflx 0, relay 0"));
            assert!(finding.evidence.contains("signaling at 40 ms"));
        }
    }

    #[test]
    fn relay_attempts_have_their_ids_and_no_relay_candidate_is_no_valid_candidate() {
        let relay = |mode: &str, turn: &str, relays: u64| {
            attempt(json!({
                "mode": mode, "turn": turn, "connected": false, "failed_stage": "ice",
                "error": "ICE gathering ended without a single relay candidate",
                "candidates": {"host": 0, "srflx": 0, "relay": relays, "prflx": 0},
                "local_candidates": [], "selected_pair": null, "echoes_sent": 0, "echoes_ok": 0,
            }))
        };
        let probes = webrtc_of(vec![
            attempt(json!({})),
            relay("relay-udp", "turn:127.0.0.1:3478?transport=udp", 0),
            relay("relay-tcp", "turn:127.0.0.1:3478?transport=tcp", 1),
            relay("relay-tls", "turns:127.0.0.1:5349", 0),
            relay("relay-udp", "turn:10.0.0.1:3478", 0),
        ]);
        let ids: Vec<&str> = probes.iter().map(|probe| probe.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "browser/webrtc/direct",
                "browser/webrtc/relay-udp",
                "browser/webrtc/relay-tcp",
                "browser/webrtc/relay-tls",
                "browser/webrtc/relay-udp/2"
            ]
        );
        assert_eq!(probes[1].target, "turn:127.0.0.1:3478?transport=udp");
        assert_eq!(probes[1].metrics["relay_only"], true);
        assert_eq!(
            coded(&probes[1].findings[0]),
            (Severity::Error, Some(16387), Some(NO_CANDIDATE))
        );
        assert!(probes[1].findings[0].fix.contains("over UDP"));
        assert_eq!(
            coded(&probes[2].findings[0]),
            (Severity::Error, Some(16387), Some(ICE_FAILED))
        );
        assert!(probes[3].findings[0].fix.contains("over TLS"));
        // A direct attempt with no candidate at all: no valid candidate either.
        let probes = webrtc_of(vec![attempt(json!({
            "connected": false, "failed_stage": "ice", "candidates": {"host": 0},
        }))]);
        assert_eq!(probes[0].findings[0].message.as_deref(), Some(NO_CANDIDATE));
    }

    #[test]
    fn a_connected_attempt_that_loses_echoes_warns_and_a_staged_peer_says_so() {
        let probes = webrtc_of(vec![
            attempt(json!({"echoes_ok": 2})),
            attempt(
                json!({"mode": "relay-udp", "echoes_sent": 0, "echoes_ok": 0, "error": "timed out after 3000 ms waiting for the data channel to open"}),
            ),
            attempt(
                json!({"mode": "relay-tcp", "connected": false, "failed_stage": "dtls", "misbehave": "stall-dtls"}),
            ),
        ]);
        assert_eq!(probes[0].status, Status::Warn);
        assert!(probes[0].findings[0]
            .evidence
            .ends_with("2 of 3 data-channel messages came back."));
        assert_eq!(probes[1].status, Status::Warn);
        assert!(probes[1].findings[0]
            .evidence
            .contains("the data channel did not open (timed out after 3000 ms"));
        assert!(probes[2].findings[0].evidence.ends_with(
            "The test peer misbehaves on purpose (serve --misbehave stall-dtls): this result is staged, not a fault of this network."
        ));
    }

    #[test]
    fn missing_sections_skip_their_probe_and_say_what_was_missing() {
        let probes = probes(&json!({}));
        assert_eq!(probes.len(), 6);
        for probe in &probes {
            assert_eq!(probe.status, Status::Skip, "{probe:#?}");
            assert_eq!(probe.findings[0].severity, Severity::Info);
            assert!(
                probe.findings[0].evidence.starts_with("Skipped: "),
                "{probe:#?}"
            );
        }
        assert_eq!(
            probes[1].findings[0].evidence,
            "Skipped: the browser results have no `devices` section."
        );
        assert_eq!(probes[5].id, "browser/webrtc");
        // No peer in the plan: an empty list, no WebRTC probe.
        let results = with(fake_devices(), "/webrtc", json!([]));
        assert_eq!(super::probes(&results).len(), 5);
        // One device missing.
        let mut results = fake_devices();
        results["devices"].as_object_mut().unwrap().remove("camera");
        let probes = super::probes(&results);
        assert_eq!(find(&probes, "browser/camera").status, Status::Skip);
        assert_eq!(find(&probes, "browser/microphone").status, Status::Pass);
    }

    #[test]
    fn odd_json_never_panics_and_always_gives_valid_probes() {
        let odd = [
            json!(null),
            json!(42),
            json!("text"),
            json!([1, 2, 3]),
            json!({"browser": 1, "apis": [], "devices": "x", "h264": null, "autoplay": true, "webrtc": {}}),
            json!({"browser": {"name": 7, "version": {"a": 1}}, "apis": {"getUserMedia": "yes"}}),
            json!({"browser": {"name": "Chrome", "version": "99999999999999999999.1"}}),
            json!({"browser": {"name": "", "version": ""}, "apis": {}}),
            json!({"devices": {"microphone": {"ok": "true"}, "camera": {"ok": true, "frames": -5, "width": "wide", "black": "no"}, "enumerated": {"audioinput": -1}}}),
            json!({"devices": {"microphone": {"ok": false, "error": "NotAllowedError"}, "camera": {"ok": false}}}),
            json!({"devices": {"microphone": {"ok": true, "rms_dbfs": 1e308, "peak_dbfs": -1e308}, "camera": {"ok": true, "frames": 1e300, "mean_luma": -0.0}}}),
            json!({"h264": {"send": 1, "receive": true}, "autoplay": {"allowed": "no"}}),
            json!({"h264": {"send": true, "receive": true, "send_profiles": [1, null, {}], "receive_profiles": "42e01f"}}),
            json!({"webrtc": [null, 1, "x", [], {}, {"mode": 5}, {"mode": "../../etc"}, {"mode": "direct"}, {"mode": "direct", "connected": false, "stages_ms": [1], "candidates": "many"}, {"mode": "direct", "connected": true, "selected_pair": {"local": 1}, "echoes_sent": -1, "stages_ms": {"a": "b", "c": 1e300}}]}),
            json!({"webrtc": (0..40).map(|_| json!({"mode": "direct", "connected": true})).collect::<Vec<_>>()}),
            json!({"user_agent": "x".repeat(100_000), "browser": {"name": "y".repeat(10_000), "version": "1"}}),
        ];
        for results in odd {
            let probes = probes(&results);
            assert!(probes.len() >= 5);
            let mut ids: Vec<&str> = probes.iter().map(|probe| probe.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), probes.len(), "ids are distinct: {ids:?}");
            assert!(probes.len() <= 5 + 16);
            for probe in &probes {
                assert!(!probe.findings.is_empty(), "{probe:#?}");
                assert_eq!(
                    probe.status,
                    ProbeResult::status_from_findings(
                        probe.status == Status::Skip,
                        &probe.findings
                    )
                );
                assert!(probe.id.starts_with("browser/"));
                assert!(!probe.id.contains(".."), "{}", probe.id);
                for finding in &probe.findings {
                    assert!(
                        finding.evidence.chars().count() < 4_000,
                        "{}",
                        finding.evidence.len()
                    );
                    if let Some(message) = &finding.message {
                        crate::catalog::message(message);
                    }
                }
                serde_json::to_string(probe).expect("serialisable");
            }
        }
    }

    /// Every way a report holding `probes` breaks the report schema.
    fn schema_errors(probes: Vec<ProbeResult>) -> Vec<String> {
        let schema: Value = serde_json::from_str(preflight_reports::SCHEMA_JSON).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let report = preflight_reports::Report::assemble(
            "0.1.0",
            "2026-01-01T00:00:00Z".into(),
            1,
            true,
            probes,
        );
        let report = serde_json::to_value(&report).unwrap();
        validator
            .iter_errors(&report)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect()
    }

    #[test]
    fn the_probes_fit_the_report_schema() {
        let failing = with(
            device_error("camera", "NotAllowedError", "Permission denied"),
            "/autoplay/allowed",
            json!(false),
        );
        let failing = with(failing, "/h264/send", json!(false));
        for results in [
            fake_devices(),
            failing,
            json!({}),
            json!({"browser": {"name": "other"}, "webrtc": [1, {"mode": "direct", "connected": false}]}),
        ] {
            let errors = schema_errors(probes(&results));
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    #[test]
    fn the_catalog_lists_browser_for_every_code_and_message_emitted() {
        use crate::catalog::{self, Detect};
        let codes = [
            sdk::NOT_SUPPORTED,
            sdk::DEVICE_NOT_FOUND,
            sdk::INITIALIZE_FAILED,
            sdk::NOT_SUPPORTED_H264,
            sdk::PLAY_NOT_ALLOWED,
            sdk::SIGNAL_CAHNNEL_SETUP_FAILED,
            sdk::CREATE_OFFER_FAILED,
            sdk::JOIN_ROOM_FAILED,
            sdk::ICE_TRANSPORT_ERROR,
        ];
        for code in codes {
            match catalog::sdk_error(code).detect {
                Detect::By(kinds) => assert!(kinds.contains(&Kind::Browser), "{code}"),
                other => panic!("{code}: {other:?}"),
            }
        }
        let messages = [
            WEBSOCKET_FAILED,
            ICE_FAILED,
            NO_CANDIDATE,
            JOIN_TIMEOUT,
            DTLS_TIMEOUT,
            "NotFoundError",
            "NotAllowedError",
            "NotReadableError",
            "OverconstrainedError",
            "AbortError",
        ];
        for message in messages {
            match catalog::message(message).detect {
                Detect::By(kinds) => assert!(kinds.contains(&Kind::Browser), "{message}"),
                other => panic!("{message}: {other:?}"),
            }
        }
    }
}
