//! The microphone backend that ships: cpal. On Linux, PulseAudio (also PipeWire's PulseAudio
//! service) when a server answers, else ALSA; CoreAudio on macOS; WASAPI on Windows.
//!
//! Through a sound server every source is listed (monitors of outputs too, marked as such).
//! Through ALSA alone, only PCM names that name a card count as microphones (`hw:`, `plughw:`,
//! `sysdefault:`, `dsnoop:` with `CARD=`), plus `default` when there is one: ALSA's other names
//! are plugins (`null` records silence from nothing), not microphones. cpal's errors carry a
//! kind and the backend's words; the kind gives the class, an OS error in the words (ALSA says
//! `EBUSY`) a more precise one.

use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::SampleFormat;

use super::{AudioConfig, AudioStream, ConfigRange, MicrophoneBackend, MicrophoneInfo};
use crate::devices::{Cause, DeviceError, Stage};

/// How long opening a stream through a sound server may take.
const STREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// cpal's hosts. The host is chosen once (a sound server that does not answer costs its
/// timeout only once) and reopened by its id for each call.
#[derive(Debug, Default)]
pub struct NativeMicrophones {
    choice: std::sync::OnceLock<(Result<cpal::HostId, DeviceError>, Vec<String>)>,
}

impl NativeMicrophones {
    /// A backend that has not chosen its host yet.
    pub fn new() -> NativeMicrophones {
        NativeMicrophones::default()
    }

    fn choice(&self) -> &(Result<cpal::HostId, DeviceError>, Vec<String>) {
        self.choice.get_or_init(|| {
            let (host, notes) = pick_host();
            (host.map(|host| host.id()), notes)
        })
    }

    fn host_handle(&self) -> Result<cpal::Host, DeviceError> {
        let id = self.choice().0.clone()?;
        cpal::host_from_id(id).map_err(|error| device_error(&error, Stage::List))
    }
}

/// A cpal error as a device error.
fn device_error(error: &cpal::Error, stage: Stage) -> DeviceError {
    use cpal::ErrorKind;
    let cause = match error.kind() {
        ErrorKind::DeviceBusy => Cause::Busy,
        ErrorKind::DeviceNotAvailable => Cause::NotFound,
        ErrorKind::HostUnavailable => Cause::NoSubsystem,
        ErrorKind::PermissionDenied => Cause::Denied,
        ErrorKind::UnsupportedConfig | ErrorKind::InvalidInput => Cause::Unsupported,
        ErrorKind::UnsupportedOperation => Cause::Unsupported,
        ErrorKind::StreamInvalidated | ErrorKind::Xrun | ErrorKind::DeviceChanged => Cause::Failed,
        _ => Cause::Other,
    };
    let text = match error.message() {
        Some(message) => format!("{message} ({:?})", error.kind()),
        None => format!("{} ({:?})", error.kind(), error.kind()),
    };
    let mut classified = DeviceError::from_text(stage, text, cause);
    // An errno inside the words refines the class, except that a host that is simply not
    // there stays "no subsystem".
    if cause == Cause::NoSubsystem {
        classified.cause = cause;
    }
    classified
}

/// The host to use, and what was tried before it.
fn pick_host() -> (Result<cpal::Host, DeviceError>, Vec<String>) {
    let mut notes = Vec::new();
    let available = cpal::available_hosts();
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
    {
        let pulse = cpal::HostId::PulseAudio;
        if available.contains(&pulse) {
            match cpal::host_from_id(pulse) {
                Ok(host) => return (Ok(host), notes),
                Err(error) => notes.push(format!(
                    "PulseAudio: a server socket exists but the server did not answer: {}",
                    device_error(&error, Stage::List).message
                )),
            }
        } else {
            notes.push(
                "PulseAudio: no server socket (PULSE_SERVER, $XDG_RUNTIME_DIR/pulse/native)"
                    .to_string(),
            );
        }
        let alsa = cpal::HostId::Alsa;
        return match cpal::host_from_id(alsa) {
            Ok(host) => (Ok(host), notes),
            Err(error) => (Err(device_error(&error, Stage::List)), notes),
        };
    }
    #[allow(unreachable_code)]
    match available.first() {
        Some(id) => match cpal::host_from_id(*id) {
            Ok(host) => (Ok(host), notes),
            Err(error) => (Err(device_error(&error, Stage::List)), notes),
        },
        None => (
            Err(DeviceError::new(
                Stage::List,
                Cause::NoSubsystem,
                "no audio host is available",
            )),
            notes,
        ),
    }
}

/// Whether an ALSA PCM name is a microphone rather than a plugin.
fn alsa_microphone(id: &str) -> bool {
    let Some((prefix, rest)) = id.split_once(':') else {
        return false;
    };
    ["hw", "plughw", "sysdefault", "dsnoop"].contains(&prefix) && rest.contains("CARD=")
}

fn format_name(format: SampleFormat) -> String {
    format.to_string()
}

fn info(device: &cpal::Device, is_alsa: bool, default_id: Option<&str>) -> Option<MicrophoneInfo> {
    let id = device.id().ok()?.id().to_string();
    if is_alsa && !alsa_microphone(&id) && id != "default" {
        return None;
    }
    let name = device
        .description()
        .map_or_else(|_| id.clone(), |description| description.name().to_string());
    let name = name.lines().next().unwrap_or_default().to_string();
    let (native, error) = match device.default_input_config() {
        Ok(config) => (
            Some(AudioConfig {
                sample_rate: config.sample_rate(),
                channels: config.channels(),
                sample_format: format_name(config.sample_format()),
            }),
            None,
        ),
        Err(error) => (None, Some(device_error(&error, Stage::Configure))),
    };
    let supported = device.supported_input_configs().ok().and_then(|ranges| {
        let ranges: Vec<_> = ranges.collect();
        let mut formats: Vec<String> = ranges
            .iter()
            .map(|range| format_name(range.sample_format()))
            .collect();
        formats.sort();
        formats.dedup();
        Some(ConfigRange {
            min_channels: ranges.iter().map(|range| range.channels()).min()?,
            max_channels: ranges.iter().map(|range| range.channels()).max()?,
            min_rate: ranges.iter().map(|range| range.min_sample_rate()).min()?,
            max_rate: ranges.iter().map(|range| range.max_sample_rate()).max()?,
            sample_formats: formats,
        })
    });
    Some(MicrophoneInfo {
        default: default_id == Some(id.as_str()),
        monitor: !is_alsa && id.ends_with(".monitor"),
        id,
        name,
        native,
        supported,
        error,
    })
}

fn list(host: &cpal::Host) -> Result<Vec<MicrophoneInfo>, DeviceError> {
    let is_alsa = host.id().name().eq_ignore_ascii_case("alsa");
    let devices = host
        .input_devices()
        .map_err(|error| device_error(&error, Stage::List))?;
    let default_id = host
        .default_input_device()
        .and_then(|device| device.id().ok())
        .map(|id| id.id().to_string());
    let mut microphones: Vec<MicrophoneInfo> = devices
        .filter_map(|device| info(&device, is_alsa, default_id.as_deref()))
        .collect();
    if is_alsa {
        // ALSA's `default` counts only beside a card (alone, it is whatever plugin the
        // configuration names, with nothing behind it).
        if !microphones
            .iter()
            .any(|microphone| microphone.id != "default")
        {
            microphones.clear();
        }
        if !microphones.iter().any(|microphone| microphone.default) {
            if let Some(first) = microphones.first_mut() {
                first.default = true;
            }
        }
    }
    Ok(microphones)
}

impl MicrophoneBackend for NativeMicrophones {
    fn host(&self) -> String {
        match &self.choice().0 {
            Ok(id) => id.name().to_string(),
            Err(_) => "none".to_string(),
        }
    }

    fn notes(&self) -> Vec<String> {
        self.choice().1.clone()
    }

    fn microphones(&self) -> Result<Vec<MicrophoneInfo>, DeviceError> {
        list(&self.host_handle()?)
    }

    fn open(&self, microphone: &MicrophoneInfo) -> Result<Box<dyn AudioStream>, DeviceError> {
        let host = self.host_handle()?;
        let device = host
            .input_devices()
            .map_err(|error| device_error(&error, Stage::Open))?
            .find(|device| device.id().is_ok_and(|id| id.id() == microphone.id))
            .ok_or_else(|| {
                DeviceError::new(
                    Stage::Open,
                    Cause::NotFound,
                    format!("{} is no longer listed", microphone.id),
                )
            })?;
        let default = device
            .default_input_config()
            .map_err(|error| device_error(&error, Stage::Configure))?;
        // Floats where the device takes them at its native rate and channels, else 16-bit,
        // else its own format.
        let supports = |format: SampleFormat| {
            device.supported_input_configs().is_ok_and(|mut ranges| {
                ranges.any(|range| {
                    range.sample_format() == format
                        && range.channels() == default.channels()
                        && range.min_sample_rate() <= default.sample_rate()
                        && default.sample_rate() <= range.max_sample_rate()
                })
            })
        };
        let format = [SampleFormat::F32, SampleFormat::I16]
            .into_iter()
            .find(|format| *format == default.sample_format() || supports(*format))
            .unwrap_or(default.sample_format());
        // A sound server left to itself delivers a record stream in fragments of up to 2 s
        // (PulseAudio's default): ask for 20 ms, as browsers ask for 10. ALSA keeps its own
        // period (a fixed one can be refused by the hardware).
        let buffer_size = if host.id().name().eq_ignore_ascii_case("alsa") {
            cpal::BufferSize::Default
        } else {
            cpal::BufferSize::Fixed((default.sample_rate() / 50).max(1))
        };
        let config = cpal::StreamConfig {
            channels: default.channels(),
            sample_rate: default.sample_rate(),
            buffer_size,
        };
        let (sender, receiver) = mpsc::channel::<Result<Vec<f32>, DeviceError>>();
        let errors = sender.clone();
        let stream = device
            .build_input_stream_raw(
                config,
                format,
                move |data: &cpal::Data, _: &cpal::InputCallbackInfo| {
                    let _ = sender.send(Ok(to_f32(data)));
                },
                move |error| {
                    let _ = errors.send(Err(device_error(&error, Stage::Capture)));
                },
                Some(STREAM_TIMEOUT),
            )
            .map_err(|error| device_error(&error, Stage::Open))?;
        stream
            .play()
            .map_err(|error| device_error(&error, Stage::Start))?;
        Ok(Box::new(NativeStream {
            _stream: stream,
            receiver,
            config: AudioConfig {
                sample_rate: config.sample_rate,
                channels: config.channels,
                sample_format: format_name(format),
            },
        }))
    }
}

/// Interleaved samples as floats at full scale ±1.0 (formats other than these give nothing).
fn to_f32(data: &cpal::Data) -> Vec<f32> {
    match data.sample_format() {
        SampleFormat::F32 => data.as_slice::<f32>().map(floats).unwrap_or_default(),
        SampleFormat::I16 => data.as_slice::<i16>().map(floats).unwrap_or_default(),
        SampleFormat::I32 => data.as_slice::<i32>().map(floats).unwrap_or_default(),
        SampleFormat::U8 => data.as_slice::<u8>().map(floats).unwrap_or_default(),
        SampleFormat::I8 => data.as_slice::<i8>().map(floats).unwrap_or_default(),
        SampleFormat::U16 => data.as_slice::<u16>().map(floats).unwrap_or_default(),
        SampleFormat::F64 => data.as_slice::<f64>().map(floats).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn floats<T: cpal::SizedSample>(samples: &[T]) -> Vec<f32>
where
    f32: cpal::FromSample<T>,
{
    samples
        .iter()
        .map(|sample| sample.to_sample::<f32>())
        .collect()
}

struct NativeStream {
    _stream: cpal::Stream,
    receiver: mpsc::Receiver<Result<Vec<f32>, DeviceError>>,
    config: AudioConfig,
}

impl AudioStream for NativeStream {
    fn config(&self) -> AudioConfig {
        self.config.clone()
    }

    fn next(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, DeviceError> {
        match self.receiver.recv_timeout(timeout) {
            Ok(Ok(samples)) => Ok(Some(samples)),
            Ok(Err(error)) => Err(error),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(DeviceError::new(
                Stage::Capture,
                Cause::Failed,
                "the audio stream stopped",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpal_error_kinds_and_the_words_inside_them() {
        let busy = cpal::Error::with_message(
            cpal::ErrorKind::BackendError,
            "ALSA function 'snd_pcm_open' failed with error 'EBUSY: Device or resource busy'",
        );
        let error = device_error(&busy, Stage::Open);
        if cfg!(target_os = "linux") {
            assert_eq!(error.cause, Cause::Busy);
        }
        let denied = cpal::Error::with_message(cpal::ErrorKind::PermissionDenied, "AccessDenied");
        assert_eq!(device_error(&denied, Stage::Open).cause, Cause::Denied);
        let gone = cpal::Error::with_message(
            cpal::ErrorKind::HostUnavailable,
            "PulseAudio is not available: connection timed out",
        );
        assert_eq!(device_error(&gone, Stage::List).cause, Cause::NoSubsystem);
        let plain = cpal::Error::new(cpal::ErrorKind::UnsupportedConfig);
        let error = device_error(&plain, Stage::Configure);
        assert_eq!(error.cause, Cause::Unsupported);
        assert!(error.message.contains("UnsupportedConfig"), "{error:?}");
    }

    #[test]
    fn alsa_plugins_are_not_microphones() {
        for id in [
            "hw:CARD=PCH,DEV=0",
            "plughw:CARD=USB,DEV=0",
            "sysdefault:CARD=PCH",
        ] {
            assert!(alsa_microphone(id), "{id}");
        }
        for id in [
            "null",
            "pulse",
            "default",
            "jack",
            "front:CARD=PCH,DEV=0",
            "upmix",
        ] {
            assert!(!alsa_microphone(id), "{id}");
        }
    }

    #[test]
    fn samples_of_each_format_become_floats_at_full_scale() {
        assert_eq!(floats(&[i16::MIN, 0, 16_384]), [-1.0, 0.0, 0.5]);
        assert_eq!(floats(&[0u8, 128, 192]), [-1.0, 0.0, 0.5]);
        assert_eq!(floats(&[0.25f32, -1.0]), [0.25, -1.0]);
    }
}
