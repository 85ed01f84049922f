//! The probe's drive loop against synthetic cameras: every outcome, with no hardware.

use std::sync::mpsc;
use std::sync::Mutex;

use super::*;

const VGA_15: VideoFormat = VideoFormat {
    width: 640,
    height: 480,
    fps: 15,
    pixel: PixelFormat::Yuyv,
};

fn camera(id: &str, name: &str, formats: Vec<VideoFormat>) -> CameraInfo {
    CameraInfo {
        id: id.into(),
        name: name.into(),
        path: Some(PathBuf::from(format!("/dev/video{id}"))),
        default: id == "0",
        formats,
        formats_error: None,
    }
}

/// What the synthetic camera does once opened.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Frames of this luma, each different from the one before.
    Live(u8),
    /// The same frame over and over.
    Frozen,
    /// `n` frames, then an error.
    FailAfter(u32),
    /// Blocks in `next_frame` until the test ends.
    Silent,
}

struct Synthetic {
    cameras: Result<Vec<CameraInfo>, DeviceError>,
    open: Mutex<Option<DeviceError>>,
    /// `open` blocks until this closes.
    open_blocks: Mutex<Option<mpsc::Receiver<()>>>,
    behaviour: Behaviour,
    /// `next_frame` blocks on this when `Silent`.
    silence: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Synthetic {
    fn new(cameras: Vec<CameraInfo>, behaviour: Behaviour) -> Synthetic {
        Synthetic {
            cameras: Ok(cameras),
            open: Mutex::new(None),
            open_blocks: Mutex::new(None),
            behaviour,
            silence: Mutex::new(None),
        }
    }
}

struct SyntheticStream {
    granted: VideoFormat,
    behaviour: Behaviour,
    sent: u32,
    buffer: Vec<u8>,
    silence: Option<mpsc::Receiver<()>>,
}

impl CameraBackend for Synthetic {
    fn api(&self) -> String {
        "Synthetic".into()
    }

    fn cameras(&self) -> Result<Vec<CameraInfo>, DeviceError> {
        self.cameras.clone()
    }

    fn open(
        &self,
        _camera: &CameraInfo,
        format: &VideoFormat,
    ) -> Result<Box<dyn CameraStream>, DeviceError> {
        if let Some(block) = self.open_blocks.lock().unwrap().take() {
            let _ = block.recv();
        }
        if let Some(error) = self.open.lock().unwrap().take() {
            return Err(error);
        }
        Ok(Box::new(SyntheticStream {
            granted: *format,
            behaviour: self.behaviour,
            sent: 0,
            buffer: vec![0; (format.width * format.height * 2) as usize],
            silence: self.silence.lock().unwrap().take(),
        }))
    }
}

impl CameraStream for SyntheticStream {
    fn granted(&self) -> VideoFormat {
        self.granted
    }

    fn next_frame(&mut self) -> Result<Frame<'_>, DeviceError> {
        self.sent += 1;
        match self.behaviour {
            Behaviour::Silent => {
                if let Some(silence) = &self.silence {
                    let _ = silence.recv();
                }
                return Err(DeviceError::new(Stage::Capture, Cause::Failed, "closed"));
            }
            Behaviour::FailAfter(n) if self.sent > n => {
                return Err(DeviceError::from_text(
                    Stage::Capture,
                    "VIDIOC_DQBUF: No such device (os error 19)",
                    Cause::Failed,
                ))
            }
            Behaviour::Frozen => {}
            Behaviour::Live(_) | Behaviour::FailAfter(_) => {
                let luma = match self.behaviour {
                    Behaviour::Live(luma) => luma,
                    _ => 100,
                };
                let seed = self.sent;
                for (i, byte) in self.buffer.iter_mut().enumerate().step_by(2) {
                    let mixed =
                        ((i as u32) ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2_654_435_761);
                    *byte = luma.saturating_add((mixed >> 29) as u8 % 4);
                }
            }
        }
        Ok(Frame {
            pixel: self.granted.pixel,
            width: self.granted.width,
            height: self.granted.height,
            data: Cow::Borrowed(&self.buffer),
        })
    }
}

fn settings(proc_root: PathBuf) -> Settings {
    Settings {
        open_timeout: Duration::from_millis(300),
        first_frame_timeout: Duration::from_millis(300),
        window: Duration::from_millis(150),
        proc_root,
    }
}

fn run(backend: Synthetic, camera: Option<&str>, format: Wanted) -> Observation {
    let request = Request {
        camera: camera.map(String::from),
        format,
    };
    probe_blocking(
        Arc::new(backend),
        &request,
        &settings(PathBuf::from("/nonexistent")),
    )
}

#[test]
fn a_live_camera_is_captured_in_the_asked_format() {
    let formats = vec![
        VideoFormat { fps: 30, ..VGA_15 },
        VGA_15,
        VideoFormat {
            pixel: PixelFormat::Mjpeg,
            ..VGA_15
        },
    ];
    let observation = run(
        Synthetic::new(
            vec![camera("0", "Integrated Camera", formats)],
            Behaviour::Live(120),
        ),
        None,
        DEFAULT_FORMAT,
    );
    let Outcome::Captured {
        granted,
        stats,
        error,
    } = &observation.outcome
    else {
        panic!("{observation:?}")
    };
    assert_eq!(*granted, VGA_15);
    assert_eq!(observation.asked, Some(VGA_15));
    assert!(stats.frames >= 2, "{stats:?}");
    assert_eq!((stats.black_frames, stats.frozen_frames), (0, 0));
    assert_eq!(*error, None);
    assert!(observation.timings.first_frame.is_some());
    assert!(observation.timings.total >= Duration::from_millis(150));
}

#[test]
fn black_and_frozen_pictures_are_counted() {
    let black = run(
        Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Live(10)),
        None,
        DEFAULT_FORMAT,
    );
    let Outcome::Captured { stats, .. } = &black.outcome else {
        panic!("{black:?}")
    };
    assert_eq!(stats.black_frames, stats.frames);
    let frozen = run(
        Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Frozen),
        None,
        DEFAULT_FORMAT,
    );
    let Outcome::Captured { stats, .. } = &frozen.outcome else {
        panic!("{frozen:?}")
    };
    assert_eq!(stats.frozen_frames, stats.frames - 1);
    assert!(
        stats.longest_frozen > Duration::from_millis(100),
        "{stats:?}"
    );
}

#[test]
fn no_camera_a_listing_error_and_an_unknown_id() {
    let none = run(
        Synthetic::new(vec![], Behaviour::Live(100)),
        None,
        DEFAULT_FORMAT,
    );
    assert_eq!(none.outcome, Outcome::NoCamera);

    let mut failing = Synthetic::new(vec![], Behaviour::Live(100));
    let error = DeviceError::new(Stage::List, Cause::NoSubsystem, "no camera API");
    failing.cameras = Err(error.clone());
    assert_eq!(
        run(failing, None, DEFAULT_FORMAT).outcome,
        Outcome::ListFailed(error)
    );

    let two = || {
        vec![
            camera("0", "Logitech C920", vec![VGA_15]),
            camera("2", "Logitech Brio", vec![VGA_15]),
        ]
    };
    let unknown = run(
        Synthetic::new(two(), Behaviour::Live(100)),
        Some("7"),
        DEFAULT_FORMAT,
    );
    assert_eq!(unknown.outcome, Outcome::NoSuchCamera { ambiguous: vec![] });
    let ambiguous = run(
        Synthetic::new(two(), Behaviour::Live(100)),
        Some("logitech"),
        DEFAULT_FORMAT,
    );
    assert_eq!(
        ambiguous.outcome,
        Outcome::NoSuchCamera {
            ambiguous: vec![0, 1]
        }
    );
    let by_name = run(
        Synthetic::new(two(), Behaviour::Live(100)),
        Some("brio"),
        DEFAULT_FORMAT,
    );
    assert_eq!(by_name.chosen, Some(1));
    assert!(matches!(by_name.outcome, Outcome::Captured { .. }));
}

#[test]
fn a_format_the_camera_does_not_offer() {
    let observation = run(
        Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Live(100)),
        None,
        Wanted::parse("1280x720@30").unwrap(),
    );
    assert_eq!(observation.outcome, Outcome::FormatNotOffered);
    assert_eq!(observation.asked, None);
}

#[cfg(unix)]
#[test]
fn a_busy_camera_names_the_processes_that_hold_it() {
    let proc_root = tempfile::tempdir().unwrap();
    let fd = proc_root.path().join("4242/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::fs::write(proc_root.path().join("4242/comm"), "zoom\n").unwrap();
    std::os::unix::fs::symlink("/dev/video0", fd.join("27")).unwrap();
    let backend = Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Live(100));
    *backend.open.lock().unwrap() = Some(DeviceError::new(
        Stage::Configure,
        Cause::Busy,
        "Could not set device property: Device or resource busy (os error 16)",
    ));
    let request = Request {
        camera: None,
        format: DEFAULT_FORMAT,
    };
    let observation = probe_blocking(
        Arc::new(backend),
        &request,
        &settings(proc_root.path().to_path_buf()),
    );
    let Outcome::OpenFailed { error, holders, .. } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert_eq!(error.cause, Cause::Busy);
    assert_eq!(error.device.as_deref(), Some("/dev/video0"));
    assert_eq!(
        holders,
        &[Holder {
            pid: 4242,
            name: "zoom".into()
        }]
    );
}

#[test]
fn a_camera_whose_formats_could_not_be_read_fails_with_that_error() {
    let mut listed = camera("0", "Cam", vec![]);
    listed.formats_error = Some(DeviceError::new(
        Stage::Open,
        Cause::Denied,
        "Permission denied",
    ));
    let observation = run(
        Synthetic::new(vec![listed], Behaviour::Live(100)),
        None,
        DEFAULT_FORMAT,
    );
    let Outcome::OpenFailed { error, .. } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert_eq!(error.cause, Cause::Denied);
}

#[test]
fn an_open_that_hangs_times_out() {
    let backend = Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Live(100));
    let (hold, block) = mpsc::channel();
    *backend.open_blocks.lock().unwrap() = Some(block);
    let observation = run(backend, None, DEFAULT_FORMAT);
    drop(hold);
    assert_eq!(observation.outcome, Outcome::OpenTimedOut);
}

#[test]
fn a_camera_that_starts_and_delivers_nothing() {
    let backend = Synthetic::new(vec![camera("0", "Cam", vec![VGA_15])], Behaviour::Silent);
    let (hold, silence) = mpsc::channel();
    *backend.silence.lock().unwrap() = Some(silence);
    let observation = run(backend, None, DEFAULT_FORMAT);
    drop(hold);
    assert_eq!(
        observation.outcome,
        Outcome::NoFrames {
            granted: VGA_15,
            error: None
        }
    );
    assert!(observation.timings.opened.is_some());
    assert!(observation.timings.first_frame.is_none());
}

#[test]
fn a_capture_that_fails_midway_keeps_its_frames_and_the_error() {
    let observation = run(
        Synthetic::new(
            vec![camera("0", "Cam", vec![VGA_15])],
            Behaviour::FailAfter(3),
        ),
        None,
        DEFAULT_FORMAT,
    );
    let Outcome::Captured { stats, error, .. } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert_eq!(stats.frames, 3);
    let error = error.as_ref().unwrap();
    assert_eq!(error.stage, Stage::Capture);
    if cfg!(target_os = "linux") {
        assert_eq!(error.os.map(|os| os.name), Some("ENODEV"));
    }
}

#[test]
fn formats_are_chosen_at_the_asked_size_and_at_least_the_asked_rate() {
    let offered = [
        VideoFormat {
            width: 1280,
            height: 720,
            fps: 10,
            pixel: PixelFormat::Yuyv,
        },
        VideoFormat {
            width: 1280,
            height: 720,
            fps: 30,
            pixel: PixelFormat::Mjpeg,
        },
        VideoFormat {
            width: 1280,
            height: 720,
            fps: 60,
            pixel: PixelFormat::Yuyv,
        },
        VGA_15,
        VideoFormat {
            pixel: PixelFormat::Mjpeg,
            ..VGA_15
        },
    ];
    let choose = |text: &str| Wanted::parse(text).unwrap().choose(&offered);
    assert_eq!(
        choose("1280x720@30").map(|f| (f.fps, f.pixel)),
        Some((30, PixelFormat::Mjpeg))
    );
    assert_eq!(choose("1280x720@15").map(|f| f.fps), Some(30));
    assert_eq!(choose("640x480@15"), Some(VGA_15));
    assert_eq!(choose("640x480@30"), None);
    assert_eq!(choose("1920x1080@30"), None);
}

#[test]
fn camera_formats_parse_and_refuse_nonsense() {
    assert_eq!(
        Wanted::parse("1280x720@30"),
        Ok(Wanted {
            width: 1280,
            height: 720,
            fps: 30
        })
    );
    assert_eq!(Wanted::parse(" 640X480@15 ").unwrap(), DEFAULT_FORMAT);
    for bad in [
        "1280x720",
        "720p",
        "0x480@15",
        "640x480@0",
        "640x480@fast",
        "x@",
    ] {
        assert!(Wanted::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(DEFAULT_FORMAT.to_string(), "640x480@15");
    assert_eq!(VGA_15.to_string(), "640x480@15 YUYV");
}
