//! What the camera, microphone and environment rules share: a device failure's class as the SDK
//! reports it (the DOMException getUserMedia would raise), and the evidence of the OS error.
//!
//! | class of the failure | SDK error |
//! |---|---|
//! | not found | 4099 DEVICE_NOT_FOUND, `NotFoundError` |
//! | denied | 4100 INITIALIZE_FAILED, `NotAllowedError` |
//! | busy | 4100 INITIALIZE_FAILED, `NotReadableError` |
//! | unsupported format or device | 4100 INITIALIZE_FAILED, `OverconstrainedError` |
//! | failed (vanished, driver error), or unclassified | 4100 INITIALIZE_FAILED, `AbortError` |
//! | no capture subsystem | 4098 NOT_SUPPORTED |

use preflight_probes::devices::{Cause, DeviceError, Holder};
use preflight_reports::{Finding, Severity};
use serde_json::{json, Value};

use super::sdk_error;
use crate::catalog::sdk;

/// The SDK error and DOMException for a failure of this class.
pub fn sdk_for(cause: Cause) -> (u32, Option<&'static str>) {
    match cause {
        Cause::NotFound => (sdk::DEVICE_NOT_FOUND, Some("NotFoundError")),
        Cause::Denied => (sdk::INITIALIZE_FAILED, Some("NotAllowedError")),
        Cause::Busy => (sdk::INITIALIZE_FAILED, Some("NotReadableError")),
        Cause::Unsupported => (sdk::INITIALIZE_FAILED, Some("OverconstrainedError")),
        Cause::Failed | Cause::Other => (sdk::INITIALIZE_FAILED, Some("AbortError")),
        Cause::NoSubsystem => (sdk::NOT_SUPPORTED, None),
    }
}

/// A finding of the SDK error for `cause`, at `severity`.
pub fn device_finding(cause: Cause, severity: Severity, evidence: String, fix: String) -> Finding {
    let (code, message) = sdk_for(cause);
    Finding {
        severity,
        ..sdk_error(code, message, None, evidence, fix)
    }
}

/// A failure for evidence: the stage, the device, the OS error and the backend's words.
pub fn error_text(error: &DeviceError) -> String {
    let mut text = format!("{} failed", error.stage.as_str());
    if let Some(device) = &error.device {
        text.push_str(&format!(" on {device}"));
    }
    if let Some(os) = &error.os {
        text.push_str(&format!(" with {os}"));
    }
    text.push_str(&format!(": {}", clip(&error.message)));
    text
}

/// A failure in the metrics.
pub fn error_json(error: &DeviceError) -> Value {
    json!({
        "stage": error.stage.as_str(),
        "cause": error.cause.as_str(),
        "os_error": error.os.map(|os| os.name),
        "os_code": error.os.map(|os| os.code),
        "device": error.device,
        "message": clip(&error.message),
    })
}

/// The holders of a device, for evidence.
pub fn holders_text(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(Holder::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The holders in the metrics.
pub fn holders_json(holders: &[Holder]) -> Value {
    Value::Array(
        holders
            .iter()
            .map(|holder| json!({"pid": holder.pid, "name": holder.name}))
            .collect(),
    )
}

/// Milliseconds, for the metrics.
pub fn ms(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A backend's text, shortened for a report.
pub fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(MAX).collect();
        clipped.push('…');
        clipped
    }
}

/// With `--audio-only`, a camera finding is information: calls do not use the camera.
pub fn audio_only(mut finding: Finding) -> Finding {
    if finding.severity > Severity::Info {
        finding.severity = Severity::Info;
        finding.description = format!(
            "{} With --audio-only, calls do not use the camera, so this is information only.",
            finding.description
        );
    }
    finding
}

/// Every way `metrics` breaks the report schema's definition `def` (for the tests).
#[cfg(test)]
pub fn schema_errors(def: &str, metrics: &serde_json::Map<String, Value>) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(preflight_reports::SCHEMA_JSON).expect("the schema is JSON");
    let wrapper = json!({"$defs": schema["$defs"], "$ref": format!("#/$defs/{def}")});
    let validator = jsonschema::validator_for(&wrapper).expect("the definition compiles");
    let metrics = Value::Object(metrics.clone());
    validator
        .iter_errors(&metrics)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::devices::Stage;

    #[test]
    fn each_class_maps_to_its_sdk_error_and_domexception() {
        let cases = [
            (Cause::NotFound, 4099, Some("NotFoundError")),
            (Cause::Denied, 4100, Some("NotAllowedError")),
            (Cause::Busy, 4100, Some("NotReadableError")),
            (Cause::Unsupported, 4100, Some("OverconstrainedError")),
            (Cause::Failed, 4100, Some("AbortError")),
            (Cause::Other, 4100, Some("AbortError")),
            (Cause::NoSubsystem, 4098, None),
        ];
        for (cause, code, message) in cases {
            let finding = device_finding(cause, Severity::Error, "e".into(), "f".into());
            assert_eq!(finding.code, Some(code), "{cause:?}");
            assert_eq!(finding.message.as_deref(), message, "{cause:?}");
        }
    }

    #[test]
    fn evidence_names_the_stage_device_and_os_error() {
        let error =
            DeviceError::new(Stage::Open, Cause::Busy, "Device or resource busy").on("/dev/video0");
        assert_eq!(
            error_text(&error),
            "open failed on /dev/video0: Device or resource busy"
        );
        let finding = audio_only(device_finding(
            Cause::NotFound,
            Severity::Error,
            "e".into(),
            "f".into(),
        ));
        assert_eq!(finding.severity, Severity::Info);
        assert_eq!(finding.code, Some(4099));
        assert!(finding.description.ends_with("information only."));
    }
}
