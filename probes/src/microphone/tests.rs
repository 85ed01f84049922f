//! The probe's drive loop against synthetic microphones: every outcome, with no sound server.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

fn microphone(id: &str, name: &str, default: bool) -> MicrophoneInfo {
    MicrophoneInfo {
        id: id.into(),
        name: name.into(),
        default,
        monitor: false,
        native: Some(config()),
        supported: None,
        error: None,
    }
}

fn config() -> AudioConfig {
    AudioConfig {
        sample_rate: 48_000,
        channels: 2,
        sample_format: "f32".into(),
    }
}

/// What `next` returns, in order; then `Ok(None)` for ever.
type Script = Vec<Result<Option<Vec<f32>>, DeviceError>>;

struct Synthetic {
    microphones: Result<Vec<MicrophoneInfo>, DeviceError>,
    open: Mutex<Option<DeviceError>>,
    script: Mutex<Script>,
}

impl Synthetic {
    fn new(microphones: Vec<MicrophoneInfo>, script: Script) -> Synthetic {
        Synthetic {
            microphones: Ok(microphones),
            open: Mutex::new(None),
            script: Mutex::new(script),
        }
    }
}

struct Stream(VecDeque<Result<Option<Vec<f32>>, DeviceError>>);

impl MicrophoneBackend for Synthetic {
    fn host(&self) -> String {
        "Synthetic".into()
    }

    fn microphones(&self) -> Result<Vec<MicrophoneInfo>, DeviceError> {
        self.microphones.clone()
    }

    fn open(&self, _microphone: &MicrophoneInfo) -> Result<Box<dyn AudioStream>, DeviceError> {
        if let Some(error) = self.open.lock().unwrap().take() {
            return Err(error);
        }
        Ok(Box::new(Stream(
            std::mem::take(&mut *self.script.lock().unwrap()).into(),
        )))
    }
}

impl AudioStream for Stream {
    fn config(&self) -> AudioConfig {
        config()
    }

    fn next(&mut self, timeout: Duration) -> Result<Option<Vec<f32>>, DeviceError> {
        match self.0.pop_front() {
            Some(next) => next,
            None => {
                // Past its script the microphone is silent: a real read waits out its timeout.
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

/// `ms` of a stereo 1 kHz sine at 48 kHz with peak `amplitude`, in 10 ms chunks.
fn tone(amplitude: f32, ms: usize) -> Script {
    (0..ms / 10)
        .map(|chunk| {
            let samples = (0..480)
                .flat_map(|n| {
                    let t = (chunk * 480 + n) as f32 / 48_000.0;
                    let value = (amplitude * (2.0 * std::f32::consts::PI * 1000.0 * t).sin())
                        .clamp(-1.0, 1.0);
                    [value, value]
                })
                .collect();
            Ok(Some(samples))
        })
        .collect()
}

fn settings() -> Settings {
    Settings {
        open_timeout: Duration::from_millis(500),
        first_audio_timeout: Duration::from_millis(300),
        settle: Duration::from_millis(50),
        window: Duration::from_millis(500),
        proc_root: PathBuf::from("/nonexistent"),
    }
}

fn run(backend: Synthetic, wanted: Option<&str>) -> Observation {
    let request = Request {
        microphone: wanted.map(String::from),
    };
    probe_blocking(Arc::new(backend), &request, &settings())
}

#[test]
fn a_tone_is_measured_after_the_settle_over_the_window() {
    // Late start: nothing for three reads, then 1 s of a -20 dBFS (peak) tone.
    let mut script: Script = vec![Ok(None), Ok(None), Ok(None)];
    script.extend(tone(0.1, 1000));
    let observation = run(
        Synthetic::new(vec![microphone("mic", "USB Microphone", true)], script),
        None,
    );
    let Outcome::Captured {
        levels,
        complete,
        error,
        ..
    } = &observation.outcome
    else {
        panic!("{observation:?}")
    };
    assert!(*complete);
    assert_eq!(*error, None);
    assert_eq!(levels.frames, 24_000);
    assert!((levels.rms_dbfs + 23.01).abs() < 0.05, "{levels:?}");
    assert!(observation.timings.first_audio.is_some());
}

#[test]
fn silence_and_clipping_are_measured() {
    let silent: Script = (0..60).map(|_| Ok(Some(vec![0.0; 960]))).collect();
    let observation = run(
        Synthetic::new(vec![microphone("m", "Mic", true)], silent),
        None,
    );
    let Outcome::Captured { levels, .. } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert_eq!(levels.rms_dbfs, analysis::FLOOR_DBFS);

    let observation = run(
        Synthetic::new(vec![microphone("m", "Mic", true)], tone(4.0, 1000)),
        None,
    );
    let Outcome::Captured { levels, .. } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert!(levels.clipped_share() > 0.5, "{levels:?}");
}

#[test]
fn a_stream_that_delivers_nothing_and_one_that_stops() {
    let observation = run(
        Synthetic::new(vec![microphone("m", "Mic", true)], vec![]),
        None,
    );
    assert_eq!(
        observation.outcome,
        Outcome::NoAudio {
            config: config(),
            error: None
        }
    );
    assert_eq!(observation.timings.first_audio, None);

    let mut script = tone(0.1, 200);
    script.push(Err(DeviceError::new(
        Stage::Capture,
        Cause::Failed,
        "stream invalidated",
    )));
    let observation = run(
        Synthetic::new(vec![microphone("m", "Mic", true)], script),
        None,
    );
    let Outcome::Captured {
        levels,
        complete,
        error,
        ..
    } = &observation.outcome
    else {
        panic!("{observation:?}")
    };
    assert!(!complete);
    assert_eq!(levels.frames, 48 * 150);
    assert_eq!(error.as_ref().map(|e| e.stage), Some(Stage::Capture));
}

#[test]
fn none_listed_a_listing_error_and_an_unknown_name() {
    assert_eq!(
        run(Synthetic::new(vec![], vec![]), None).outcome,
        Outcome::NoMicrophone
    );
    let mut failing = Synthetic::new(vec![], vec![]);
    let error = DeviceError::new(Stage::List, Cause::NoSubsystem, "no host");
    failing.microphones = Err(error.clone());
    assert_eq!(run(failing, None).outcome, Outcome::ListFailed(error));
    let two = || {
        vec![
            microphone("alsa_input.usb", "USB Microphone", false),
            microphone("alsa_input.pci", "Built-in Microphone", true),
        ]
    };
    assert_eq!(
        run(Synthetic::new(two(), vec![]), Some("headset")).outcome,
        Outcome::NoSuchMicrophone { ambiguous: vec![] }
    );
    assert_eq!(
        run(Synthetic::new(two(), vec![]), Some("microphone")).outcome,
        Outcome::NoSuchMicrophone {
            ambiguous: vec![0, 1]
        }
    );
    // The default when none is named; by id when one is.
    assert_eq!(
        run(Synthetic::new(two(), tone(0.1, 600)), None).chosen,
        Some(1)
    );
    assert_eq!(
        run(
            Synthetic::new(two(), tone(0.1, 600)),
            Some("alsa_input.usb")
        )
        .chosen,
        Some(0)
    );
}

#[cfg(unix)]
#[test]
fn a_busy_alsa_device_names_its_holders() {
    let proc_root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc_root.path().join("asound")).unwrap();
    std::os::unix::fs::symlink("card1", proc_root.path().join("asound/PCH")).unwrap();
    let fd = proc_root.path().join("311/fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::fs::write(proc_root.path().join("311/comm"), "arecord\n").unwrap();
    std::os::unix::fs::symlink("/dev/snd/pcmC1D0c", fd.join("4")).unwrap();
    let backend = Synthetic::new(vec![microphone("hw:CARD=PCH,DEV=0", "PCH", true)], vec![]);
    *backend.open.lock().unwrap() = Some(DeviceError::new(
        Stage::Open,
        Cause::Busy,
        "ALSA function 'snd_pcm_open' failed with error 'EBUSY: Device or resource busy'",
    ));
    let settings = Settings {
        proc_root: proc_root.path().to_path_buf(),
        ..settings()
    };
    let observation = probe_blocking(Arc::new(backend), &Request { microphone: None }, &settings);
    let Outcome::OpenFailed { error, holders } = &observation.outcome else {
        panic!("{observation:?}")
    };
    assert_eq!(error.device.as_deref(), Some("/dev/snd/pcmC1D0c"));
    assert_eq!(
        holders,
        &[Holder {
            pid: 311,
            name: "arecord".into()
        }]
    );
}

#[test]
fn alsa_names_that_name_a_card_have_a_capture_node() {
    let root = Path::new("/nonexistent");
    assert_eq!(
        alsa_capture_node("hw:CARD=0,DEV=2", root),
        Some(PathBuf::from("/dev/snd/pcmC0D2c"))
    );
    assert_eq!(
        alsa_capture_node("plughw:1,0", root),
        Some(PathBuf::from("/dev/snd/pcmC1D0c"))
    );
    assert_eq!(
        alsa_capture_node("sysdefault:CARD=3", root),
        Some(PathBuf::from("/dev/snd/pcmC3D0c"))
    );
    assert_eq!(alsa_capture_node("default", root), None);
    assert_eq!(alsa_capture_node("pulse", root), None);
    assert_eq!(alsa_capture_node("hw:CARD=PCH,DEV=0", root), None);
    assert_eq!(alsa_capture_node("alsa_input.pci-0000.monitor", root), None);
}
