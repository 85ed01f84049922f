//! A real microphone: each test starts its own user-mode PulseAudio (a private runtime folder and
//! socket, a null sink whose monitor is the default source, `--exit-idle-time` so that it ends
//! by itself should the test die), plays a generated stereo WAV into the sink with `paplay` (a
//! mono file would arrive 6 dB lower after the sink's upmix), and runs `check --only
//! microphone`, which captures the monitor through cpal. The level reported must be within 1 dB
//! of the tone's; silence must be silence; an overdriven tone must clip.
//!
//! Without `pulseaudio` and `paplay` the tests say so and pass, unless
//! `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI), which makes that a failure.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const RATE: u32 = 48_000;

/// A part this environment lacks: fails with `TRTC_PREFLIGHT_REQUIRE_PEERS=1`, else says why
/// the test proves nothing here.
fn missing(what: &str) {
    if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
    }
    eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A user-mode PulseAudio of this test's own, stopped (by its pid) when dropped.
struct Pulse {
    dir: tempfile::TempDir,
    server: Child,
}

impl Pulse {
    fn start() -> Option<Pulse> {
        if !installed("pulseaudio") || !installed("paplay") || !installed("parec") {
            missing("pulseaudio, paplay and parec are not installed (apt-get install pulseaudio pulseaudio-utils)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("native");
        let mut command = Command::new("pulseaudio");
        command
            .args([
                "--daemonize=no",
                "-n",
                "--use-pid-file=no",
                "--exit-idle-time=20",
                "--disallow-module-loading",
                "--log-target=stderr",
                "--log-level=info",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .args([
                "-L",
                "module-null-sink sink_name=trtc_null rate=48000 channels=2 format=s16le sink_properties=device.description=TRTC-Null",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env_of(dir.path()) {
            command.env(key, value);
        }
        let mut server = command.spawn().expect("pulseaudio starts");
        // Ready when it says so; its log goes on being drained so that it never blocks.
        let mut log = BufReader::new(server.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if log.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("pulseaudio ended before it was ready:\n{seen}");
            }
            seen.push_str(&line);
            if line.contains("Daemon startup complete") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut sink = std::io::sink();
            let _ = std::io::copy(&mut log, &mut sink);
        });
        Some(Pulse { dir, server })
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        env_of(self.dir.path())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command
    }

    /// Plays a WAV into the null sink until the returned child is killed, at 20 ms of latency,
    /// and returns once the sink's monitor delivers audio: an idle null sink renders in blocks
    /// of up to 2 s, so the first audio of a monitor can come that late (PulseAudio's late
    /// start); a playing one renders every 20 ms, as a sound card does.
    fn play(&self, wav: &Path) -> Player {
        let child = self
            .command("paplay")
            .arg("--latency-msec=20")
            .arg(wav)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paplay starts");
        let player = Player(child);
        self.wait_for_audio();
        player
    }

    /// Reads 100 ms from the monitor (blocks until the sink renders).
    fn wait_for_audio(&self) {
        let mut recorder = self
            .command("parec")
            .args(["--latency-msec=20", "--raw", "-d", "trtc_null.monitor"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec starts");
        let mut audio = vec![0u8; (RATE / 10 * 4) as usize];
        let read = std::io::Read::read_exact(recorder.stdout.as_mut().unwrap(), &mut audio);
        let _ = recorder.kill();
        let _ = recorder.wait();
        read.expect("the monitor delivers audio");
    }

    /// `trtc-preflight ARGS` against this server.
    fn preflight(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = self
            .command(env!("CARGO_BIN_EXE_trtc-preflight"))
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The microphone probe of `check --only microphone --format json`.
    fn microphone(&self, extra: &[&str]) -> Value {
        let mut args = vec!["check", "--only", "microphone", "--format", "json"];
        args.extend_from_slice(extra);
        let (_, stdout, stderr) = self.preflight(&args);
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{error}: {stdout}\n{stderr}"));
        common::assert_no_problems("the report's schema", &common::schema_errors(&report));
        let metrics = &report["probes"][0]["metrics"];
        common::assert_no_problems(
            "microphone_metrics",
            &common::metrics_errors("microphone_metrics", metrics),
        );
        report["probes"][0].clone()
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A `paplay` of ours, stopped (by its pid) when dropped.
struct Player(Child);

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_of(dir: &Path) -> Vec<(&'static str, String)> {
    let path = |name: &str| dir.join(name).display().to_string();
    vec![
        ("HOME", path("home")),
        ("XDG_RUNTIME_DIR", path("runtime")),
        ("PULSE_RUNTIME_PATH", path("runtime/pulse")),
        ("PULSE_STATE_PATH", path("state")),
        ("PULSE_SERVER", format!("unix:{}", path("native"))),
    ]
}

/// Writes `seconds` of a stereo 16-bit 1 kHz sine at 48 kHz with peak `amplitude` (clipped at
/// full scale) and returns the RMS level of what was written, in dBFS.
fn write_tone(path: &Path, amplitude: f64, seconds: u32) -> f64 {
    let frames = RATE * seconds;
    let mut data = Vec::with_capacity(frames as usize * 4);
    let mut squares = 0.0;
    for n in 0..frames {
        let value = amplitude
            * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / f64::from(RATE)).sin();
        let sample = (value * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        squares += 2.0 * (f64::from(sample) / 32768.0).powi(2);
        for _ in 0..2 {
            data.extend_from_slice(&sample.to_le_bytes());
        }
    }
    let mut file = std::fs::File::create(path).unwrap();
    let bytes = data.len() as u32;
    file.write_all(b"RIFF").unwrap();
    file.write_all(&(36 + bytes).to_le_bytes()).unwrap();
    file.write_all(b"WAVEfmt ").unwrap();
    file.write_all(&16u32.to_le_bytes()).unwrap();
    file.write_all(&1u16.to_le_bytes()).unwrap(); // PCM
    file.write_all(&2u16.to_le_bytes()).unwrap(); // stereo
    file.write_all(&RATE.to_le_bytes()).unwrap();
    file.write_all(&(RATE * 4).to_le_bytes()).unwrap();
    file.write_all(&4u16.to_le_bytes()).unwrap();
    file.write_all(&16u16.to_le_bytes()).unwrap();
    file.write_all(b"data").unwrap();
    file.write_all(&bytes.to_le_bytes()).unwrap();
    file.write_all(&data).unwrap();
    10.0 * (squares / f64::from(frames * 2)).log10()
}

fn descriptions(probe: &Value) -> Vec<String> {
    probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            format!(
                "{}: {}",
                finding["severity"].as_str().unwrap(),
                finding["description"].as_str().unwrap()
            )
        })
        .collect()
}

fn wav(pulse: &Pulse, name: &str) -> PathBuf {
    pulse.dir.path().join(name)
}

#[test]
fn a_known_tone_is_measured_within_1_db() {
    let Some(pulse) = Pulse::start() else { return };
    let file = wav(&pulse, "tone.wav");
    let expected = write_tone(&file, 0.1, 20);
    let _player = pulse.play(&file);
    let probe = pulse.microphone(&[]);
    let metrics = &probe["metrics"];
    let rms = metrics["rms_dbfs"]
        .as_f64()
        .unwrap_or_else(|| panic!("{probe:#}"));
    eprintln!(
        "tone {expected:.2} dBFS RMS, measured {rms} dBFS (peak {}); first audio after {} ms, verdict in {} ms",
        metrics["peak_dbfs"], metrics["first_audio_ms"], metrics["verdict_ms"]
    );
    assert!(
        (rms - expected).abs() <= 1.0,
        "{rms} vs {expected}: {probe:#}"
    );
    assert!(
        (metrics["peak_dbfs"].as_f64().unwrap() + 20.0).abs() <= 1.0,
        "{probe:#}"
    );
    assert_eq!(metrics["host"], "PulseAudio");
    assert_eq!(metrics["microphone"]["id"], "trtc_null.monitor");
    assert_eq!(metrics["complete"], true);
    assert_eq!(metrics["clipped_runs"], 0);
    // The monitor is what the default source is: the probe says it is not a microphone.
    assert_eq!(
        descriptions(&probe),
        ["warning: The microphone tested is a monitor of an output: it hears what the speakers play, not the user."]
    );
    assert!(metrics["verdict_ms"].as_u64().unwrap() < 5000, "{probe:#}");
}

#[test]
fn silence_is_reported_as_silence() {
    let Some(pulse) = Pulse::start() else { return };
    let file = wav(&pulse, "silence.wav");
    write_tone(&file, 0.0, 20);
    let _player = pulse.play(&file);
    let probe = pulse.microphone(&[]);
    let metrics = &probe["metrics"];
    assert_eq!(metrics["rms_dbfs"], -120.0, "{probe:#}");
    let findings = descriptions(&probe);
    assert!(
        findings.contains(&"warning: The microphone opens but delivers silence: the others in a call would hear nothing from this user.".to_string()),
        "{findings:#?}"
    );
    let silent = probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["description"].as_str().unwrap().contains("silence"))
        .unwrap();
    assert!(silent["evidence"]
        .as_str()
        .unwrap()
        .contains("its level was -120.0 dBFS RMS"));
    assert_eq!(probe["status"], "warn");
}

/// Nothing plays: the idle null sink renders in blocks of up to 2 s, so the monitor's first
/// audio comes late, as it can through PulseAudio; the probe waits for it and measures a full
/// window.
#[test]
fn a_late_first_audio_is_waited_for() {
    let Some(pulse) = Pulse::start() else { return };
    let probe = pulse.microphone(&[]);
    let metrics = &probe["metrics"];
    eprintln!(
        "idle null sink: stream running after {} ms, first audio after {} ms, verdict in {} ms",
        metrics["open_ms"], metrics["first_audio_ms"], metrics["verdict_ms"]
    );
    assert_eq!(metrics["complete"], true, "{probe:#}");
    assert_eq!(metrics["window_ms"], 500, "{probe:#}");
    assert_eq!(metrics["rms_dbfs"], -120.0, "{probe:#}");
}

#[test]
fn a_clipped_tone_is_reported_as_clipping() {
    let Some(pulse) = Pulse::start() else { return };
    let file = wav(&pulse, "clipped.wav");
    write_tone(&file, 4.0, 20);
    let _player = pulse.play(&file);
    let probe = pulse.microphone(&["--microphone", "trtc_null.monitor"]);
    let metrics = &probe["metrics"];
    assert!(
        metrics["clipped_share"].as_f64().unwrap() > 0.5,
        "{probe:#}"
    );
    let clipping = probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| {
            finding["description"]
                .as_str()
                .unwrap()
                .starts_with("The microphone clips")
        })
        .unwrap_or_else(|| panic!("{probe:#}"));
    assert_eq!(clipping["severity"], "warning");
    assert!(clipping["evidence"]
        .as_str()
        .unwrap()
        .contains("runs at full scale"));
}

#[test]
fn an_unknown_microphone_is_overconstrained_and_lists_what_exists() {
    let Some(pulse) = Pulse::start() else { return };
    let probe = pulse.microphone(&["--microphone", "no-such-microphone"]);
    let finding = &probe["findings"][0];
    assert_eq!(finding["code"], 4100);
    assert_eq!(finding["message"], "OverconstrainedError");
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("trtc_null.monitor (\"Monitor of TRTC-Null\")"),
        "{finding:#}"
    );
}

#[test]
fn devices_lists_the_monitor_as_the_default_input() {
    let Some(pulse) = Pulse::start() else { return };
    let (status, stdout, stderr) = pulse.preflight(&["devices", "--format", "json"]);
    assert_eq!(status, Some(0), "{stderr}");
    let devices: Value = serde_json::from_str(&stdout).unwrap();
    let microphones = &devices["microphones"];
    assert_eq!(microphones["host"], "PulseAudio");
    let list = microphones["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{devices:#}");
    assert_eq!(list[0]["id"], "trtc_null.monitor");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["monitor"], true);
    assert_eq!(list[0]["native"]["sample_rate"], 48_000);
    assert_eq!(list[0]["native"]["channels"], 2);
    let (_, text, _) = pulse.preflight(&["devices"]);
    assert!(
        text.contains("* trtc_null.monitor  \"Monitor of TRTC-Null\"  (default, monitor of an output, not a microphone)"),
        "{text}"
    );
    assert!(text.contains("native: 48000 Hz, 2 channels, i16"), "{text}");
}
