//! `trtc-preflight devices`: every camera (its formats: sizes and frame rates) and every
//! microphone (its sample rates and channels) the OS offers, and which is the default, as text
//! or JSON. It lists; the `camera` and `microphone` probes of `check` judge.

use preflight_probes::camera::{CameraInfo, VideoFormat};
use preflight_probes::devices::{DeviceError, Inventory};
use preflight_probes::microphone::MicrophoneInfo;
use serde_json::{json, Value};

use crate::diagnose::capture::{error_json, error_text};

/// The inventory as the JSON document `devices --format json` prints.
pub fn to_json(inventory: &Inventory) -> Value {
    let cameras = |cameras: &[CameraInfo]| -> Value {
        cameras
            .iter()
            .map(|camera| {
                json!({
                    "id": camera.id,
                    "name": camera.name,
                    "path": camera.path.as_ref().map(|path| path.display().to_string()),
                    "default": camera.default,
                    "formats": camera.formats.iter().map(|format| json!({
                        "width": format.width,
                        "height": format.height,
                        "fps": format.fps,
                        "pixel_format": format.pixel.as_str(),
                    })).collect::<Vec<_>>(),
                    "error": camera.formats_error.as_ref().map_or(Value::Null, error_json),
                })
            })
            .collect()
    };
    let microphones = |microphones: &[MicrophoneInfo]| -> Value {
        microphones
            .iter()
            .map(|microphone| {
                json!({
                    "id": microphone.id,
                    "name": microphone.name,
                    "default": microphone.default,
                    "monitor": microphone.monitor,
                    "native": microphone.native.as_ref().map(|config| json!({
                        "sample_rate": config.sample_rate,
                        "channels": config.channels,
                        "sample_format": config.sample_format,
                    })),
                    "supported": microphone.supported.as_ref().map(|range| json!({
                        "channels": [range.min_channels, range.max_channels],
                        "sample_rates": [range.min_rate, range.max_rate],
                        "sample_formats": range.sample_formats,
                    })),
                    "error": microphone.error.as_ref().map_or(Value::Null, error_json),
                })
            })
            .collect()
    };
    let (camera_list, camera_error) = split(&inventory.cameras);
    let (microphone_list, microphone_error) = split(&inventory.microphones);
    json!({
        "cameras": {
            "api": inventory.camera_api,
            "error": camera_error.map_or(Value::Null, error_json),
            "devices": cameras(camera_list),
        },
        "microphones": {
            "host": inventory.audio_host,
            "notes": inventory.audio_notes,
            "error": microphone_error.map_or(Value::Null, error_json),
            "devices": microphones(microphone_list),
        },
    })
}

fn split<T>(listed: &Result<Vec<T>, DeviceError>) -> (&[T], Option<&DeviceError>) {
    match listed {
        Ok(items) => (items.as_slice(), None),
        Err(error) => (&[], Some(error)),
    }
}

/// Formats by size, largest first: `1280x720: 30 fps MJPG, 10 fps YUYV`.
fn formats_text(formats: &[VideoFormat]) -> Vec<String> {
    let mut sizes: Vec<(u32, u32)> = formats.iter().map(|f| (f.width, f.height)).collect();
    sizes.sort_by(|a, b| (b.0 * b.1).cmp(&(a.0 * a.1)).then(b.cmp(a)));
    sizes.dedup();
    sizes
        .iter()
        .map(|&(width, height)| {
            let mut rates: Vec<&VideoFormat> = formats
                .iter()
                .filter(|f| (f.width, f.height) == (width, height))
                .collect();
            rates.sort_by(|a, b| b.fps.cmp(&a.fps).then(a.pixel.cmp(&b.pixel)));
            format!(
                "{width}x{height}: {}",
                rates
                    .iter()
                    .map(|f| format!("{} fps {}", f.fps, f.pixel.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

/// The inventory for a person.
pub fn to_text(inventory: &Inventory) -> String {
    let mut out = String::new();
    let (cameras, camera_error) = split(&inventory.cameras);
    out.push_str(&format!("Cameras ({}):\n", inventory.camera_api));
    match camera_error {
        Some(error) => out.push_str(&format!("  could not be listed: {}\n", error_text(error))),
        None if cameras.is_empty() => out.push_str("  none found\n"),
        None => {}
    }
    for camera in cameras {
        out.push_str(&format!(
            "  {} {}  \"{}\"{}{}\n",
            if camera.default { "*" } else { " " },
            camera.id,
            camera.name,
            camera
                .path
                .as_ref()
                .map_or_else(String::new, |path| format!("  {}", path.display())),
            if camera.default { "  (default)" } else { "" }
        ));
        if let Some(error) = &camera.formats_error {
            out.push_str(&format!("      formats unknown: {}\n", error_text(error)));
        }
        for line in formats_text(&camera.formats) {
            out.push_str(&format!("      {line}\n"));
        }
    }
    let (microphones, microphone_error) = split(&inventory.microphones);
    out.push_str(&format!("\nMicrophones ({}):\n", inventory.audio_host));
    for note in &inventory.audio_notes {
        out.push_str(&format!("  ({note})\n"));
    }
    match microphone_error {
        Some(error) => out.push_str(&format!("  could not be listed: {}\n", error_text(error))),
        None if microphones.is_empty() => out.push_str("  none found\n"),
        None => {}
    }
    for microphone in microphones {
        let mut tags = Vec::new();
        if microphone.default {
            tags.push("default");
        }
        if microphone.monitor {
            tags.push("monitor of an output, not a microphone");
        }
        out.push_str(&format!(
            "  {} {}  \"{}\"{}\n",
            if microphone.default { "*" } else { " " },
            microphone.id,
            microphone.name,
            if tags.is_empty() {
                String::new()
            } else {
                format!("  ({})", tags.join(", "))
            }
        ));
        if let Some(config) = &microphone.native {
            out.push_str(&format!(
                "      native: {} Hz, {} channel{}, {}\n",
                config.sample_rate,
                config.channels,
                if config.channels == 1 { "" } else { "s" },
                config.sample_format
            ));
        }
        if let Some(range) = &microphone.supported {
            let channels = if range.min_channels == range.max_channels {
                range.min_channels.to_string()
            } else {
                format!("{}-{}", range.min_channels, range.max_channels)
            };
            let rates = if range.min_rate == range.max_rate {
                format!("{} Hz", range.min_rate)
            } else {
                format!("{}-{} Hz", range.min_rate, range.max_rate)
            };
            out.push_str(&format!(
                "      accepts: {channels} channels, {rates}, {}\n",
                range.sample_formats.join("/")
            ));
        }
        if let Some(error) = &microphone.error {
            out.push_str(&format!("      format unknown: {}\n", error_text(error)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_probes::camera::PixelFormat;
    use preflight_probes::devices::{Cause, Stage};
    use preflight_probes::microphone::{AudioConfig, ConfigRange};
    use std::path::PathBuf;

    fn inventory() -> Inventory {
        let format = |width, height, fps, pixel| VideoFormat {
            width,
            height,
            fps,
            pixel,
        };
        Inventory {
            camera_api: "Video4Linux".into(),
            cameras: Ok(vec![CameraInfo {
                id: "0".into(),
                name: "Integrated Camera".into(),
                path: Some(PathBuf::from("/dev/video0")),
                default: true,
                formats: vec![
                    format(640, 480, 30, PixelFormat::Yuyv),
                    format(1280, 720, 10, PixelFormat::Yuyv),
                    format(1280, 720, 30, PixelFormat::Mjpeg),
                    format(640, 480, 15, PixelFormat::Yuyv),
                ],
                formats_error: None,
            }]),
            audio_host: "PulseAudio".into(),
            audio_notes: vec![],
            microphones: Ok(vec![MicrophoneInfo {
                id: "null.monitor".into(),
                name: "Monitor of Null Output".into(),
                default: true,
                monitor: true,
                native: Some(AudioConfig {
                    sample_rate: 48_000,
                    channels: 2,
                    sample_format: "i16".into(),
                }),
                supported: Some(ConfigRange {
                    min_channels: 1,
                    max_channels: 31,
                    min_rate: 1,
                    max_rate: 384_000,
                    sample_formats: vec!["f32".into(), "i16".into()],
                }),
                error: None,
            }]),
        }
    }

    #[test]
    fn text_lists_formats_by_size_and_marks_defaults() {
        assert_eq!(
            to_text(&inventory()),
            "Cameras (Video4Linux):
  * 0  \"Integrated Camera\"  /dev/video0  (default)
      1280x720: 30 fps MJPG, 10 fps YUYV
      640x480: 30 fps YUYV, 15 fps YUYV

Microphones (PulseAudio):
  * null.monitor  \"Monitor of Null Output\"  (default, monitor of an output, not a microphone)
      native: 48000 Hz, 2 channels, i16
      accepts: 1-31 channels, 1-384000 Hz, f32/i16
"
        );
    }

    #[test]
    fn nothing_found_and_listing_errors() {
        let empty = Inventory {
            camera_api: "Video4Linux".into(),
            cameras: Ok(vec![]),
            audio_host: "ALSA".into(),
            audio_notes: vec!["PulseAudio: no server socket".into()],
            microphones: Err(DeviceError::new(Stage::List, Cause::NoSubsystem, "no host")),
        };
        assert_eq!(
            to_text(&empty),
            "Cameras (Video4Linux):\n  none found\n\nMicrophones (ALSA):\n  (PulseAudio: no server socket)\n  could not be listed: list failed: no host\n"
        );
        let json = to_json(&empty);
        assert_eq!(json["cameras"]["devices"], json!([]));
        assert_eq!(json["microphones"]["error"]["cause"], "no_subsystem");
    }

    #[test]
    fn json_has_every_format_and_config() {
        let json = to_json(&inventory());
        assert_eq!(
            json["cameras"]["devices"][0]["formats"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(json["cameras"]["devices"][0]["path"], "/dev/video0");
        assert_eq!(
            json["microphones"]["devices"][0]["native"]["sample_rate"],
            48_000
        );
        assert_eq!(
            json["microphones"]["devices"][0]["supported"]["channels"],
            json!([1, 31])
        );
        assert_eq!(json["microphones"]["devices"][0]["monitor"], true);
    }
}
