//! The `microphone` probe: list the microphones, open one, capture briefly and measure the level
//! (RMS and peak dBFS), clipping and DC offset, or say exactly where and with which OS error it
//! failed.
//!
//! The OS is reached through the narrow [`MicrophoneBackend`] trait: [`native::NativeMicrophones`]
//! (cpal: PulseAudio, else ALSA, on Linux; CoreAudio; WASAPI) ships; tests drive the same probe
//! with synthetic samples, and with a real PulseAudio.
//!
//! # The drive loop
//!
//! ```text
//! probe thread                                  capture thread
//!   list microphones, pick one
//!   spawn --------------------------------------> open(microphone) (starts the stream)
//!   wait ≤ open_timeout for Opened/OpenFailed   <- Opened(config) | OpenFailed(error)
//!                                                 loop { next(chunk) ...
//!   wait ≤ first_audio_timeout for audio        <-   skip `settle` of audio, then analyse
//!   (a sound server starts late), then until         `window` of it: Audio(levels so far)
//!   `window` of audio or 3 × window of time      <-   | Failed(error) }
//!   set stop, drop the channel -----------------> ends and closes the stream
//! ```
//!
//! The window is counted in samples, not wall time, so a server that delivers in bursts is
//! measured over the same stretch of sound as one that delivers smoothly.

pub mod analysis;
pub mod native;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::devices::{self, Cause, DeviceError, Holder, Selection, Stage};
pub use analysis::{LevelAnalysis, Levels};

/// A stream format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioConfig {
    /// Samples a second per channel.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Sample format (`f32`, `i16`, ...).
    pub sample_format: String,
}

/// A range of formats a microphone accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRange {
    /// Lowest channel count.
    pub min_channels: u16,
    /// Highest channel count.
    pub max_channels: u16,
    /// Lowest sample rate.
    pub min_rate: u32,
    /// Highest sample rate.
    pub max_rate: u32,
    /// Sample formats.
    pub sample_formats: Vec<String>,
}

/// A microphone the OS lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MicrophoneInfo {
    /// The audio host's id (PulseAudio: the source name; ALSA: the PCM name).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is the system default.
    pub default: bool,
    /// Whether it is a monitor of an output (PulseAudio's `*.monitor` sources).
    pub monitor: bool,
    /// Its native format (what it is opened in).
    pub native: Option<AudioConfig>,
    /// What it accepts (a sound server converts: its ranges are wide).
    pub supported: Option<ConfigRange>,
    /// Why its formats could not be read.
    pub error: Option<DeviceError>,
}

/// The OS's microphones, narrowed to what the probe needs.
pub trait MicrophoneBackend: Send + Sync {
    /// The audio host that will be used (`PulseAudio`, `ALSA`, `CoreAudio`, `WASAPI`).
    fn host(&self) -> String;
    /// What was tried before that host, and why it was not used (for evidence).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Every microphone.
    fn microphones(&self) -> Result<Vec<MicrophoneInfo>, DeviceError>;
    /// Opens `microphone` in its native format and starts it (called on the capture thread,
    /// which keeps it).
    fn open(&self, microphone: &MicrophoneInfo) -> Result<Box<dyn AudioStream>, DeviceError>;
}

/// A running microphone.
pub trait AudioStream {
    /// The format it runs in.
    fn config(&self) -> AudioConfig;
    /// The next interleaved samples (full scale ±1.0), or `None` when nothing came within
    /// `timeout`.
    fn next(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, DeviceError>;
}

/// What to test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `--microphone ID|NAME`; the default microphone when `None`.
    pub microphone: Option<String>,
}

/// How long each step may take.
#[derive(Clone, Debug)]
pub struct Settings {
    /// From asking to open to the stream running.
    pub open_timeout: Duration,
    /// From running to the first audio (a sound server starts late).
    pub first_audio_timeout: Duration,
    /// Audio skipped after the first (a stream's start can carry a click or a ramp).
    pub settle: Duration,
    /// Audio analysed after that.
    pub window: Duration,
    /// `/proc`, where a busy ALSA device's holders and card names are looked for.
    pub proc_root: PathBuf,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            open_timeout: Duration::from_secs(3),
            first_audio_timeout: Duration::from_millis(1500),
            settle: Duration::from_millis(50),
            window: Duration::from_millis(500),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Why the microphone could not be used, or what it picked up.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The microphones could not be listed at all.
    ListFailed(DeviceError),
    /// The OS lists no microphone.
    NoMicrophone,
    /// `--microphone` matched none (or several: their indices).
    NoSuchMicrophone {
        /// The microphones whose names contain the text, when more than one does.
        ambiguous: Vec<usize>,
    },
    /// Opening or starting failed.
    OpenFailed {
        /// The failure.
        error: DeviceError,
        /// For a busy ALSA device: the processes that have its node open.
        holders: Vec<Holder>,
    },
    /// Opening did not finish within `open_timeout`.
    OpenTimedOut,
    /// The stream started and no audio came within `first_audio_timeout`.
    NoAudio {
        /// The format it runs in.
        config: AudioConfig,
        /// The error that ended it, if one did.
        error: Option<DeviceError>,
    },
    /// Audio arrived.
    Captured {
        /// The format it ran in.
        config: AudioConfig,
        /// What it measured.
        levels: Levels,
        /// Whether the whole window was analysed (else the stream stopped delivering).
        complete: bool,
        /// The error that ended it early, if one did.
        error: Option<DeviceError>,
    },
}

/// How long each step took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Listing.
    pub list: Duration,
    /// From the start of the probe to the stream running (through PulseAudio this includes the
    /// server's late start: the stream runs once its first audio has come).
    pub opened: Option<Duration>,
    /// From the start of the probe to the first audio.
    pub first_audio: Option<Duration>,
    /// The whole probe: the time to a verdict.
    pub total: Duration,
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The audio host used.
    pub host: String,
    /// What was tried before it.
    pub notes: Vec<String>,
    /// What was asked.
    pub request: Request,
    /// The microphones listed.
    pub microphones: Vec<MicrophoneInfo>,
    /// The index of the one tested.
    pub chosen: Option<usize>,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    pub timings: Timings,
}

impl Observation {
    /// The microphone tested.
    pub fn microphone(&self) -> Option<&MicrophoneInfo> {
        self.chosen.and_then(|index| self.microphones.get(index))
    }
}

enum Event {
    Opened(AudioConfig, Instant),
    OpenFailed(DeviceError),
    FirstAudio(Instant),
    Audio(Levels, bool),
    Failed(DeviceError),
}

/// Runs the probe on a thread of its own and waits for it without blocking the runtime.
pub async fn probe(
    backend: Arc<dyn MicrophoneBackend>,
    request: Request,
    settings: Settings,
) -> Observation {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let fallback = request.clone();
    let spawned = std::thread::Builder::new()
        .name("microphone-probe".into())
        .spawn(move || {
            let _ = sender.send(probe_blocking(backend, &request, &settings));
        });
    let failed = |message: String| Observation {
        host: String::new(),
        notes: Vec::new(),
        request: fallback.clone(),
        microphones: Vec::new(),
        chosen: None,
        outcome: Outcome::ListFailed(DeviceError::new(Stage::List, Cause::Other, message)),
        timings: Timings::default(),
    };
    match spawned {
        Ok(_) => receiver.await.unwrap_or_else(|_| {
            failed("the microphone probe's thread ended without an answer".into())
        }),
        Err(error) => failed(format!(
            "could not start the microphone probe's thread: {error}"
        )),
    }
}

/// The probe itself, blocking (at most about `open_timeout + first_audio_timeout + 3 × window`
/// after listing).
pub fn probe_blocking(
    backend: Arc<dyn MicrophoneBackend>,
    request: &Request,
    settings: &Settings,
) -> Observation {
    let started = Instant::now();
    let mut observation = Observation {
        host: backend.host(),
        notes: backend.notes(),
        request: request.clone(),
        microphones: Vec::new(),
        chosen: None,
        outcome: Outcome::NoMicrophone,
        timings: Timings::default(),
    };
    let finish = |mut observation: Observation, outcome: Outcome| {
        observation.outcome = outcome;
        observation.timings.total = started.elapsed();
        observation
    };
    let listed = backend.microphones();
    observation.timings.list = started.elapsed();
    observation.microphones = match listed {
        Ok(microphones) => microphones,
        Err(error) => return finish(observation, Outcome::ListFailed(error)),
    };
    // A device asked for by name that is not there is the request's fault (as an exact
    // deviceId is in a browser), even when there is none at all.
    if observation.microphones.is_empty() && request.microphone.is_none() {
        return finish(observation, Outcome::NoMicrophone);
    }
    let chosen = match &request.microphone {
        Some(wanted) => match devices::select(
            wanted,
            observation
                .microphones
                .iter()
                .map(|microphone| (microphone.id.as_str(), microphone.name.as_str(), None)),
        ) {
            Selection::Found(index) => index,
            Selection::NoMatch => {
                return finish(observation, Outcome::NoSuchMicrophone { ambiguous: vec![] })
            }
            Selection::Ambiguous(indices) => {
                return finish(
                    observation,
                    Outcome::NoSuchMicrophone { ambiguous: indices },
                )
            }
        },
        None => observation
            .microphones
            .iter()
            .position(|microphone| microphone.default)
            .unwrap_or(0),
    };
    observation.chosen = Some(chosen);
    let microphone = observation.microphones[chosen].clone();

    let (sender, receiver) = mpsc::sync_channel::<Event>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let capture_stop = stop.clone();
    let capture_microphone = microphone.clone();
    let capture_settings = settings.clone();
    let spawned = std::thread::Builder::new()
        .name("microphone-capture".into())
        .spawn(move || {
            capture(
                &*backend,
                &capture_microphone,
                &capture_settings,
                &sender,
                &capture_stop,
            )
        });
    if let Err(error) = spawned {
        let error = DeviceError::new(
            Stage::Open,
            Cause::Other,
            format!("could not start the capture thread: {error}"),
        );
        return finish(observation, open_failed(error, &microphone, settings));
    }
    let ended = |observation: Observation, outcome: Outcome| {
        stop.store(true, Ordering::Relaxed);
        finish(observation, outcome)
    };
    let (config, opened_at) = match receiver.recv_timeout(settings.open_timeout) {
        Ok(Event::Opened(config, at)) => (config, at),
        Ok(Event::OpenFailed(error) | Event::Failed(error)) => {
            let outcome = open_failed(error, &microphone, settings);
            return ended(observation, outcome);
        }
        Ok(_) | Err(RecvTimeoutError::Timeout) => return ended(observation, Outcome::OpenTimedOut),
        Err(RecvTimeoutError::Disconnected) => {
            let error = DeviceError::new(
                Stage::Open,
                Cause::Other,
                "the capture thread ended while opening the microphone",
            );
            return ended(observation, open_failed(error, &microphone, settings));
        }
    };
    observation.timings.opened = Some(opened_at.saturating_duration_since(started));
    let mut levels: Option<Levels> = None;
    let mut complete = false;
    let mut error = None;
    let mut deadline = opened_at + settings.first_audio_timeout;
    while let Some(wait) = deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
    {
        match receiver.recv_timeout(wait) {
            Ok(Event::FirstAudio(at)) => {
                observation.timings.first_audio = Some(at.saturating_duration_since(started));
                // The window's worth of audio, with room for a server that delivers late.
                deadline = at + settings.settle + settings.window * 3;
            }
            Ok(Event::Audio(latest, done)) => {
                levels = Some(latest);
                if done {
                    complete = true;
                    break;
                }
            }
            Ok(Event::Failed(failure) | Event::OpenFailed(failure)) => {
                error = Some(failure);
                break;
            }
            Ok(Event::Opened(..)) => {}
            Err(_) => break,
        }
    }
    drop(receiver);
    let outcome = match levels {
        Some(levels) if levels.frames > 0 => Outcome::Captured {
            config,
            levels,
            complete,
            error,
        },
        _ => Outcome::NoAudio { config, error },
    };
    ended(observation, outcome)
}

/// The capture thread: open, skip the settle, analyse the window.
fn capture(
    backend: &dyn MicrophoneBackend,
    microphone: &MicrophoneInfo,
    settings: &Settings,
    events: &mpsc::SyncSender<Event>,
    stop: &AtomicBool,
) {
    let mut stream = match backend.open(microphone) {
        Ok(stream) => stream,
        Err(error) => {
            let _ = events.send(Event::OpenFailed(error));
            return;
        }
    };
    let config = stream.config();
    if events
        .send(Event::Opened(config.clone(), Instant::now()))
        .is_err()
    {
        return;
    }
    let frames_of = |duration: Duration| {
        (duration.as_secs_f64() * f64::from(config.sample_rate)).round() as u64
    };
    let channels = usize::from(config.channels.max(1));
    let mut to_skip = frames_of(settings.settle) * channels as u64;
    let window = frames_of(settings.window).max(1);
    let mut analysis = LevelAnalysis::new(config.channels);
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let chunk = match stream.next(Duration::from_millis(100)) {
            Ok(Some(chunk)) => chunk,
            Ok(None) => continue,
            Err(error) => {
                let _ = events.send(Event::Failed(error));
                return;
            }
        };
        if chunk.is_empty() {
            continue;
        }
        if first {
            first = false;
            if events.send(Event::FirstAudio(Instant::now())).is_err() {
                return;
            }
        }
        let skipped = usize::try_from(to_skip)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        to_skip -= skipped as u64;
        let rest = &chunk[skipped..];
        if rest.is_empty() {
            continue;
        }
        let wanted = (window - analysis.frames()) as usize * channels;
        analysis.add(&rest[..wanted.min(rest.len())]);
        let done = analysis.frames() >= window;
        if events.send(Event::Audio(analysis.levels(), done)).is_err() || done {
            return;
        }
    }
}

/// An open failure, with the holders of a busy ALSA device's node.
fn open_failed(error: DeviceError, microphone: &MicrophoneInfo, settings: &Settings) -> Outcome {
    let node = alsa_capture_node(&microphone.id, &settings.proc_root);
    let error = match (&error.device, &node) {
        (None, Some(node)) => error.on(node.display().to_string()),
        _ => error,
    };
    let holders = match (&node, error.cause) {
        (Some(node), Cause::Busy) => devices::holders(&settings.proc_root, node).0,
        _ => Vec::new(),
    };
    Outcome::OpenFailed { error, holders }
}

/// The capture node of an ALSA PCM name that names a card (`hw:CARD=PCH,DEV=0`, `plughw:1,0`,
/// `sysdefault:CARD=0`): `/dev/snd/pcmC{card}D{device}c`. A card given by name is looked up
/// in `proc_root/asound/NAME` (a link to `cardN`).
pub fn alsa_capture_node(id: &str, proc_root: &Path) -> Option<PathBuf> {
    let (prefix, rest) = id.split_once(':')?;
    if !["hw", "plughw", "sysdefault", "dsnoop"].contains(&prefix) {
        return None;
    }
    let mut card = None;
    let mut device = None;
    for (position, part) in rest.split(',').enumerate() {
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => (key.trim(), value.trim()),
            None if position == 0 => ("CARD", part.trim()),
            None => ("DEV", part.trim()),
        };
        match key {
            "CARD" => card = Some(value.to_string()),
            "DEV" => device = value.parse::<u32>().ok(),
            _ => {}
        }
    }
    let card = card?;
    let card = match card.parse::<u32>() {
        Ok(number) => number,
        Err(_) => std::fs::read_link(proc_root.join("asound").join(&card))
            .ok()?
            .to_str()?
            .strip_prefix("card")?
            .parse()
            .ok()?,
    };
    Some(PathBuf::from(format!(
        "/dev/snd/pcmC{card}D{}c",
        device.unwrap_or(0)
    )))
}

#[cfg(test)]
mod tests;
