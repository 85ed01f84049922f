//! The `camera` probe: list the cameras, open one in the format a call asks for, capture
//! briefly, and say what came out (frames, rate, brightness, frozen pictures) or exactly where
//! and with which OS error it failed.
//!
//! The OS is reached through the narrow [`CameraBackend`] trait: [`native::NativeCameras`]
//! (nokhwa: V4L2, AVFoundation, Media Foundation) ships; tests drive the same probe with
//! synthetic frames.
//!
//! # The drive loop
//!
//! Opening a camera and reading frames block, and a driver can block for good, so the probe
//! runs on threads of its own and never on the async runtime:
//!
//! ```text
//! probe thread                                capture thread
//!   list cameras, pick one and a format
//!   spawn ------------------------------------> open(camera, format)
//!   wait ≤ open_timeout for Opened/OpenFailed <- Opened(granted) | OpenFailed(error)
//!                                               loop { next_frame(); analyse it (now);
//!   wait ≤ first_frame_timeout, then until    <-   Frame(stats so far) | Failed(error) }
//!   `window` after the first frame
//!   set stop, drop the channel  --------------> ends at its next frame and closes the camera
//! ```
//!
//! A capture thread stuck inside the driver is left behind (it cannot be cancelled); the probe
//! has its answer already: `NoFrames` or the frames counted so far.

pub mod analysis;
pub mod native;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::devices::{self, Cause, DeviceError, Holder, Selection, Stage};
pub use analysis::{FrameAnalysis, Stats};

/// How a camera lays out the pixels of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PixelFormat {
    /// Packed 4:2:2, Y0 U Y1 V.
    Yuyv,
    /// Planar Y, then interleaved UV at half resolution.
    Nv12,
    /// One byte of luma per pixel.
    Gray,
    /// Three bytes a pixel, red first.
    Rgb,
    /// Three bytes a pixel, blue first.
    Bgr,
    /// Each frame a JPEG image.
    Mjpeg,
}

impl PixelFormat {
    /// The FourCC-style name (`YUYV`, `MJPG`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Gray => "GRAY",
            PixelFormat::Rgb => "RGB3",
            PixelFormat::Bgr => "BGR3",
            PixelFormat::Mjpeg => "MJPG",
        }
    }
}

/// One format a camera offers, or was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VideoFormat {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Frames a second.
    pub fps: u32,
    /// Pixel layout.
    pub pixel: PixelFormat,
}

impl fmt::Display for VideoFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{}@{} {}",
            self.width,
            self.height,
            self.fps,
            self.pixel.as_str()
        )
    }
}

/// The format a call asks for (`--camera-format WIDTHxHEIGHT@FPS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Frames a second (at least).
    pub fps: u32,
}

/// TRTC Web's default video profile (`480p`: 640×480 at 15 frames a second).
pub const DEFAULT_FORMAT: Wanted = Wanted {
    width: 640,
    height: 480,
    fps: 15,
};

impl Wanted {
    /// Parses `WIDTHxHEIGHT@FPS` (`1280x720@30`).
    pub fn parse(text: &str) -> Result<Wanted, String> {
        let error = || format!("{text:?} is not WIDTHxHEIGHT@FPS (for example 1280x720@30)");
        let (size, fps) = text.trim().split_once('@').ok_or_else(error)?;
        let (width, height) = size.split_once(['x', 'X', '×']).ok_or_else(error)?;
        let number = |part: &str, max: u32| {
            part.trim()
                .parse::<u32>()
                .ok()
                .filter(|value| (1..=max).contains(value))
                .ok_or_else(error)
        };
        Ok(Wanted {
            width: number(width, 8192)?,
            height: number(height, 8192)?,
            fps: number(fps, 240)?,
        })
    }

    /// The best offered format for this request: the same size at the lowest frame rate that
    /// is at least the one asked for, uncompressed before MJPEG at the same rate.
    pub fn choose(&self, offered: &[VideoFormat]) -> Option<VideoFormat> {
        offered
            .iter()
            .filter(|format| {
                format.width == self.width && format.height == self.height && format.fps >= self.fps
            })
            .min_by_key(|format| (format.fps, format.pixel == PixelFormat::Mjpeg, format.pixel))
            .copied()
    }
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}", self.width, self.height, self.fps)
    }
}

/// A camera the OS lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraInfo {
    /// The backend's id (V4L2: the index N of `/dev/videoN`; AVFoundation: the unique id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its device node, where there is one (`/dev/video0`).
    pub path: Option<PathBuf>,
    /// Whether it is the one used when none is named.
    pub default: bool,
    /// The formats it offers.
    pub formats: Vec<VideoFormat>,
    /// Why its formats could not be read (the device could not be opened to ask).
    pub formats_error: Option<DeviceError>,
}

impl CameraInfo {
    /// Where it lives, for evidence: the node, else the id.
    pub fn place(&self) -> String {
        self.path.as_ref().map_or_else(
            || format!("id {}", self.id),
            |path| path.display().to_string(),
        )
    }
}

/// One frame as the camera delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Pixel layout.
    pub pixel: PixelFormat,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// The bytes (borrowed from the driver's buffer where it can be).
    pub data: Cow<'a, [u8]>,
}

/// The OS's cameras, narrowed to what the probe needs.
pub trait CameraBackend: Send + Sync {
    /// The camera API (`Video4Linux`, `AVFoundation`, `MediaFoundation`).
    fn api(&self) -> String;
    /// Every camera, with the formats each offers.
    fn cameras(&self) -> Result<Vec<CameraInfo>, DeviceError>;
    /// Opens `camera` in `format` and starts it (called on the capture thread, which keeps it).
    fn open(
        &self,
        camera: &CameraInfo,
        format: &VideoFormat,
    ) -> Result<Box<dyn CameraStream>, DeviceError>;
}

/// A running camera.
pub trait CameraStream {
    /// The format the driver granted.
    fn granted(&self) -> VideoFormat;
    /// The next frame; blocks until it arrives.
    fn next_frame(&mut self) -> Result<Frame<'_>, DeviceError>;
}

/// What to test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `--camera ID|NAME`; the default camera when `None`.
    pub camera: Option<String>,
    /// The format to ask for.
    pub format: Wanted,
}

/// How long each step may take, and where the process table is.
#[derive(Clone, Debug)]
pub struct Settings {
    /// From asking to open to the camera running.
    pub open_timeout: Duration,
    /// From running to the first frame.
    pub first_frame_timeout: Duration,
    /// How long frames are counted after the first.
    pub window: Duration,
    /// `/proc`, where a busy camera's holders are looked for.
    pub proc_root: PathBuf,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            open_timeout: Duration::from_secs(4),
            first_frame_timeout: Duration::from_secs(2),
            window: Duration::from_millis(750),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// Why the camera could not be used, or what it delivered.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The cameras could not be listed at all.
    ListFailed(DeviceError),
    /// The OS lists no camera.
    NoCamera,
    /// `--camera` matched none of the listed cameras (or several: their indices).
    NoSuchCamera {
        /// The cameras whose names contain the text, when more than one does.
        ambiguous: Vec<usize>,
    },
    /// The camera offers no format of the size and rate asked for.
    FormatNotOffered,
    /// Opening or starting failed.
    OpenFailed {
        /// The failure.
        error: DeviceError,
        /// For a busy camera with a device node: the processes that have it open.
        holders: Vec<Holder>,
        /// Processes whose open files this user could not inspect.
        uninspected: usize,
    },
    /// Opening did not finish within `open_timeout`.
    OpenTimedOut,
    /// The camera started and delivered no frame within `first_frame_timeout`.
    NoFrames {
        /// The format granted.
        granted: VideoFormat,
        /// The error that ended the capture, if it ended with one.
        error: Option<DeviceError>,
    },
    /// Frames arrived.
    Captured {
        /// The format granted.
        granted: VideoFormat,
        /// What they showed.
        stats: Stats,
        /// The error that ended the capture early, if one did.
        error: Option<DeviceError>,
    },
}

/// How long each step took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Listing the cameras and their formats.
    pub list: Duration,
    /// From the start of the probe to the camera running.
    pub opened: Option<Duration>,
    /// From the start of the probe to the first frame.
    pub first_frame: Option<Duration>,
    /// The whole probe: the time to a verdict.
    pub total: Duration,
}

/// What the probe saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The camera API used.
    pub api: String,
    /// What was asked.
    pub request: Request,
    /// The cameras listed (empty when listing failed).
    pub cameras: Vec<CameraInfo>,
    /// The index of the camera tested.
    pub chosen: Option<usize>,
    /// The format asked of it.
    pub asked: Option<VideoFormat>,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    pub timings: Timings,
}

impl Observation {
    /// The camera tested.
    pub fn camera(&self) -> Option<&CameraInfo> {
        self.chosen.and_then(|index| self.cameras.get(index))
    }
}

enum Event {
    Opened(VideoFormat),
    OpenFailed(DeviceError),
    Frame(Instant, Stats),
    Failed(DeviceError),
}

/// Runs the probe on a thread of its own and waits for it without blocking the runtime.
pub async fn probe(
    backend: Arc<dyn CameraBackend>,
    request: Request,
    settings: Settings,
) -> Observation {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let fallback = request.clone();
    let api = backend.api();
    let spawned = std::thread::Builder::new()
        .name("camera-probe".into())
        .spawn(move || {
            let _ = sender.send(probe_blocking(backend, &request, &settings));
        });
    let failed = |message: String| Observation {
        api: api.clone(),
        request: fallback.clone(),
        cameras: Vec::new(),
        chosen: None,
        asked: None,
        outcome: Outcome::ListFailed(DeviceError::new(Stage::List, Cause::Other, message)),
        timings: Timings::default(),
    };
    match spawned {
        Ok(_) => receiver
            .await
            .unwrap_or_else(|_| failed("the camera probe's thread ended without an answer".into())),
        Err(error) => failed(format!(
            "could not start the camera probe's thread: {error}"
        )),
    }
}

/// The probe itself, blocking (at most about `open_timeout + first_frame_timeout + window`
/// after listing).
pub fn probe_blocking(
    backend: Arc<dyn CameraBackend>,
    request: &Request,
    settings: &Settings,
) -> Observation {
    let started = Instant::now();
    let mut observation = Observation {
        api: backend.api(),
        request: request.clone(),
        cameras: Vec::new(),
        chosen: None,
        asked: None,
        outcome: Outcome::NoCamera,
        timings: Timings::default(),
    };
    let finish = |mut observation: Observation, outcome: Outcome| {
        observation.outcome = outcome;
        observation.timings.total = started.elapsed();
        observation
    };
    let listed = backend.cameras();
    observation.timings.list = started.elapsed();
    observation.cameras = match listed {
        Ok(cameras) => cameras,
        Err(error) => return finish(observation, Outcome::ListFailed(error)),
    };
    // A device asked for by name that is not there is the request's fault (as an exact
    // deviceId is in a browser), even when there is none at all.
    if observation.cameras.is_empty() && request.camera.is_none() {
        return finish(observation, Outcome::NoCamera);
    }
    let chosen = match &request.camera {
        Some(wanted) => match devices::select(
            wanted,
            observation.cameras.iter().map(|camera| {
                (
                    camera.id.as_str(),
                    camera.name.as_str(),
                    camera.path.as_deref(),
                )
            }),
        ) {
            Selection::Found(index) => index,
            Selection::NoMatch => {
                return finish(observation, Outcome::NoSuchCamera { ambiguous: vec![] })
            }
            Selection::Ambiguous(indices) => {
                return finish(observation, Outcome::NoSuchCamera { ambiguous: indices })
            }
        },
        None => observation
            .cameras
            .iter()
            .position(|camera| camera.default)
            .unwrap_or(0),
    };
    observation.chosen = Some(chosen);
    let camera = observation.cameras[chosen].clone();
    if let Some(error) = &camera.formats_error {
        let outcome = open_failed(error.clone(), &camera, settings);
        return finish(observation, outcome);
    }
    let Some(format) = request.format.choose(&camera.formats) else {
        return finish(observation, Outcome::FormatNotOffered);
    };
    observation.asked = Some(format);

    let (sender, receiver) = mpsc::sync_channel::<Event>(8);
    let stop = Arc::new(AtomicBool::new(false));
    let capture_stop = stop.clone();
    let capture_camera = camera.clone();
    let spawned = std::thread::Builder::new()
        .name("camera-capture".into())
        .spawn(move || capture(&*backend, &capture_camera, &format, &sender, &capture_stop));
    if let Err(error) = spawned {
        let error = DeviceError::new(
            Stage::Open,
            Cause::Other,
            format!("could not start the capture thread: {error}"),
        );
        return finish(observation, open_failed(error, &camera, settings));
    }
    let ended = |observation: Observation, outcome: Outcome| {
        stop.store(true, Ordering::Relaxed);
        finish(observation, outcome)
    };
    let granted = match receiver.recv_timeout(settings.open_timeout) {
        Ok(Event::Opened(granted)) => granted,
        Ok(Event::OpenFailed(error)) | Ok(Event::Failed(error)) => {
            let outcome = open_failed(error, &camera, settings);
            return ended(observation, outcome);
        }
        // The capture thread sends Opened before any frame; were it not so, the asked format
        // stands for the granted one.
        Ok(Event::Frame(..)) => format,
        Err(RecvTimeoutError::Timeout) => return ended(observation, Outcome::OpenTimedOut),
        Err(RecvTimeoutError::Disconnected) => {
            let error = DeviceError::new(
                Stage::Open,
                Cause::Other,
                "the capture thread ended while opening the camera",
            );
            return ended(observation, open_failed(error, &camera, settings));
        }
    };
    observation.timings.opened = Some(started.elapsed());
    let mut stats = Stats::default();
    let mut error = None;
    let mut window_end: Option<Instant> = None;
    loop {
        let wait = match window_end {
            None => settings.first_frame_timeout,
            Some(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => break,
            },
        };
        match receiver.recv_timeout(wait) {
            Ok(Event::Frame(at, latest)) => {
                if window_end.is_none() {
                    observation.timings.first_frame = Some(at.saturating_duration_since(started));
                    window_end = Some(at + settings.window);
                }
                stats = latest;
            }
            Ok(Event::Failed(failure) | Event::OpenFailed(failure)) => {
                error = Some(failure);
                break;
            }
            Ok(Event::Opened(_)) => {}
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(receiver);
    let outcome = if stats.frames == 0 {
        Outcome::NoFrames { granted, error }
    } else {
        Outcome::Captured {
            granted,
            stats,
            error,
        }
    };
    ended(observation, outcome)
}

/// The capture thread: open, then analyse each frame as it arrives until told to stop.
fn capture(
    backend: &dyn CameraBackend,
    camera: &CameraInfo,
    format: &VideoFormat,
    events: &mpsc::SyncSender<Event>,
    stop: &AtomicBool,
) {
    let mut stream = match backend.open(camera, format) {
        Ok(stream) => stream,
        Err(error) => {
            let _ = events.send(Event::OpenFailed(error));
            return;
        }
    };
    if events.send(Event::Opened(stream.granted())).is_err() {
        return;
    }
    let mut analysis = FrameAnalysis::new();
    while !stop.load(Ordering::Relaxed) {
        match stream.next_frame() {
            Ok(frame) => {
                let now = Instant::now();
                analysis.add(now, &frame);
                if events.send(Event::Frame(now, analysis.stats())).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = events.send(Event::Failed(error));
                return;
            }
        }
    }
}

/// An open failure, with the holders of a busy camera's node.
fn open_failed(error: DeviceError, camera: &CameraInfo, settings: &Settings) -> Outcome {
    let error = match (&error.device, &camera.path) {
        (None, Some(path)) => error.on(path.display().to_string()),
        _ => error,
    };
    let (holders, uninspected) = match (&camera.path, error.cause) {
        (Some(path), Cause::Busy) => devices::holders(&settings.proc_root, path),
        _ => (Vec::new(), 0),
    };
    Outcome::OpenFailed {
        error,
        holders,
        uninspected,
    }
}

#[cfg(test)]
mod tests;
