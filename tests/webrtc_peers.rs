//! WebRTC with peers nobody here wrote: the `webrtc` probe against aiortc (a Python WebRTC stack
//! behind `tests/peers/aiortc_peer.py`), and headless Chromium (`tests/peers/browser_harness.py`)
//! as a client of `serve`'s answerer.
//!
//! Loopback only: the aiortc shim gathers and accepts 127.0.0.1 only; Chromium and `serve` run
//! inside a network namespace of the test's own that has nothing but `lo` (so Chromium has no
//! other interface to gather on or talk from, and its background traffic has nowhere to go).
//!
//! Needs: the aiortc venv of `tests/peers/setup.sh` (python3 with venv, and PyPI the first
//! time) or `TRTC_PEERS_VENV_PYTHON`; `/usr/bin/chromium` and `python3`; root and iproute2
//! for the namespace. A test whose peer is missing says so and passes, unless
//! `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI) makes that a failure.

mod lab;

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lab::{Netns, Serve};

/// `tests/peers/`.
fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// A peer this environment lacks: fails with `TRTC_PREFLIGHT_REQUIRE_PEERS=1`, else says why
/// the test is skipped (the caller then returns).
fn missing(what: &str) {
    if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
    }
    eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
}

/// The python of the aiortc venv: `TRTC_PEERS_VENV_PYTHON` when it names a file, else the last
/// line `tests/peers/setup.sh` prints (it makes the venv the first time, from PyPI). Once per
/// test binary.
fn venv_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(python) = std::env::var_os("TRTC_PEERS_VENV_PYTHON") {
                let python = PathBuf::from(python);
                if python.is_file() {
                    return Ok(python);
                }
                eprintln!(
                    "TRTC_PEERS_VENV_PYTHON={} is no file: running setup.sh",
                    python.display()
                );
            }
            let output = Command::new("bash")
                .arg(peers().join("setup.sh"))
                .stdin(Stdio::null())
                .output()
                .map_err(|error| format!("bash tests/peers/setup.sh could not start: {error}"))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let python = stdout.lines().last().unwrap_or_default().trim();
            if !output.status.success() || !Path::new(python).is_file() {
                return Err(format!(
                    "tests/peers/setup.sh made no aiortc venv ({}): {}",
                    output.status,
                    tail(&String::from_utf8_lossy(&output.stderr), 1500).trim()
                ));
            }
            Ok(PathBuf::from(python))
        })
        .clone()
}

fn tail(text: &str, chars: usize) -> &str {
    let start = text
        .char_indices()
        .rev()
        .nth(chars)
        .map_or(0, |(index, _)| index);
    &text[start..]
}

/// A process the test started: its stderr collected as it comes; on drop (a panic included)
/// SIGTERM, so that it cleans up after itself (the browser harness kills Chromium's process
/// group and removes its profile), then SIGKILL if it is still there after 3 s.
struct Guard {
    name: &'static str,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Guard {
    /// Spawns `command` with stdout piped, stderr collected.
    fn spawn(name: &'static str, command: &mut Command) -> Guard {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{name} could not start: {error}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..read]);
                sink.lock().unwrap().push_str(&text);
            }
        });
        Guard {
            name,
            child,
            stderr,
        }
    }

    /// What it wrote on stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its stdout, line by line, on a thread (read until the pipe closes).
    fn stdout_lines(&mut self) -> mpsc::Receiver<String> {
        let stdout = self.child.stdout.take().expect("stdout not taken yet");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end even when nobody listens: the process must never block on a
            // full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        rx
    }

    /// Waits for it to exit, at most `limit`; `None` if it did not.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        if self.wait(Duration::from_secs(3)).is_none() {
            eprintln!("{} ignored SIGTERM: killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `tests/peers/aiortc_peer.py 0 <args>`, listening on 127.0.0.1; killed on drop.
struct Aiortc {
    guard: Guard,
    port: u16,
}

impl Aiortc {
    fn start(python: &Path, args: &[&str]) -> Aiortc {
        let mut guard = Guard::spawn(
            "aiortc_peer.py",
            Command::new(python)
                .arg(peers().join("aiortc_peer.py"))
                .arg("0")
                .args(args),
        );
        let lines = guard.stdout_lines();
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|error| {
                panic!(
                    "aiortc_peer.py printed no `ws` line ({error}):\n{}",
                    guard.stderr()
                )
            });
        let port = line
            .strip_prefix("ws 127.0.0.1:")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("not a `ws 127.0.0.1:PORT` line: {line:?}"));
        Aiortc { guard, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

/// `check --peer URL --only webrtc --format json`: the output, the report (validated against
/// the schema) and the wall time.
fn check_peer(url: &str) -> (Output, serde_json::Value, Duration) {
    lab::check_json(
        None,
        &["--peer", url, "--only", "webrtc", "--format", "json"],
        &[],
    )
}

/// The report's probe of kind `webrtc`.
fn webrtc(report: &serde_json::Value) -> &serde_json::Value {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|probe| probe["kind"] == "webrtc")
        .unwrap_or_else(|| panic!("no webrtc probe in {report:#}"))
}

fn is_loopback(address: &str) -> bool {
    address
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

/// What every successful call to aiortc shows.
fn assert_a_call_with_aiortc(output: &Output, report: &serde_json::Value, peer: &Aiortc) {
    let context = || format!("{report:#}\naiortc_peer.py:\n{}", peer.guard.stderr());
    assert_eq!(output.status.code(), Some(0), "{}", context());
    let probe = webrtc(report);
    assert_eq!(probe["status"], "pass", "{}", context());
    let metrics = &probe["metrics"];
    assert_eq!(metrics["connected"], true, "{}", context());
    assert_eq!(metrics["failed_stage"], serde_json::Value::Null);
    assert_eq!(
        metrics["signaling_address"],
        format!("127.0.0.1:{}", peer.port)
    );
    assert!(
        metrics["server"]
            .as_str()
            .is_some_and(|server| server.starts_with("aiortc-peer")),
        "{}",
        context()
    );
    let channel = &metrics["data_channel"];
    assert_eq!(channel["opened"], true, "{}", context());
    let sent = channel["sent"].as_u64().unwrap();
    assert!(sent > 0, "{}", context());
    assert_eq!(channel["echoed"].as_u64(), Some(sent), "{}", context());
    for kind in ["audio", "video"] {
        let media = metrics["media"]
            .as_array()
            .unwrap()
            .iter()
            .find(|media| media["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {}", context()));
        assert!(media["sent"].as_u64().unwrap() > 0, "{kind}: {}", context());
        assert!(
            media["received"].as_u64().unwrap() > 0,
            "{kind} never came back from aiortc: {}",
            context()
        );
    }
    // Nothing but loopback, on either side.
    for side in ["local_candidates", "remote_candidates"] {
        let candidates = metrics[side].as_array().unwrap();
        assert!(!candidates.is_empty(), "no {side}: {}", context());
        for candidate in candidates {
            assert!(
                is_loopback(candidate["address"].as_str().unwrap()),
                "{side}: {candidate} is not loopback"
            );
        }
    }
    let pair = &metrics["selected_pair"];
    assert_eq!(pair["local"]["address"], "127.0.0.1", "{}", context());
    assert_eq!(pair["remote"]["address"], "127.0.0.1", "{}", context());
    assert_eq!(
        pair["remote"]["port"].as_u64(),
        metrics["remote_candidates"][0]["port"].as_u64()
    );
}

fn timings(report: &serde_json::Value) -> String {
    webrtc(report)["metrics"]["timings_ms"].to_string()
}

#[test]
fn the_probe_connects_to_aiortc() {
    let python = match venv_python() {
        Ok(python) => python,
        Err(why) => return missing(&why),
    };
    let peer = Aiortc::start(&python, &[]);
    let (output, report, elapsed) = check_peer(&peer.url());
    assert_a_call_with_aiortc(&output, &report, &peer);
    eprintln!(
        "aiortc (candidates in the answer): {elapsed:?}, {}",
        timings(&report)
    );
}

#[test]
fn the_probe_connects_to_aiortc_trickling_its_candidates() {
    let python = match venv_python() {
        Ok(python) => python,
        Err(why) => return missing(&why),
    };
    // Each candidate with its m-line's mid, then with `"sdpMid": ""` (only the index says
    // where it goes), as some servers send them.
    for args in [&["--trickle"][..], &["--trickle", "--trickle-mid", ""]] {
        let peer = Aiortc::start(&python, args);
        let (output, report, elapsed) = check_peer(&peer.url());
        assert_a_call_with_aiortc(&output, &report, &peer);
        eprintln!(
            "aiortc (trickled candidates, {args:?}): {elapsed:?}, {}",
            timings(&report)
        );
    }
}

#[test]
fn aiortc_that_never_answers_is_16388_join_room_timeout_in_time() {
    let python = match venv_python() {
        Ok(python) => python,
        Err(why) => return missing(&why),
    };
    let peer = Aiortc::start(&python, &["--never-answer"]);
    let (output, report, elapsed) = check_peer(&peer.url());
    let context = || format!("{report:#}\naiortc_peer.py:\n{}", peer.guard.stderr());
    assert_eq!(output.status.code(), Some(1), "{}", context());
    let probe = webrtc(&report);
    assert_eq!(probe["status"], "fail", "{}", context());
    assert_eq!(probe["metrics"]["connected"], false, "{}", context());
    assert_eq!(probe["metrics"]["failed_stage"], "answer", "{}", context());
    let finding = probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["code"] == 16388)
        .unwrap_or_else(|| panic!("no finding 16388: {}", context()));
    assert_eq!(finding["message"], "join room timeout", "{finding:#}");
    assert_eq!(finding["severity"], "error", "{finding:#}");
    assert!(
        peer.guard
            .stderr()
            .contains("--never-answer: not answering"),
        "the offer never reached aiortc: {}",
        context()
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    eprintln!("aiortc never answering: {elapsed:?}");
}

/// The harness's `selected_pair` side, `"127.0.0.1:40000 udp host"`: its address.
fn pair_address(side: &serde_json::Value) -> String {
    let text = side.as_str().unwrap_or_default();
    let endpoint = text.split_whitespace().next().unwrap_or_default();
    endpoint
        .rsplit_once(':')
        .map_or(endpoint, |(address, _)| address)
        .to_string()
}

#[test]
fn chromium_connects_to_serve() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.is_file() {
        return missing("no /usr/bin/chromium (Debian package chromium)");
    }
    if !Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
    {
        return missing("no python3 to run tests/peers/browser_harness.py");
    }
    // Chromium gathers on every interface it sees and, with the checks it sends from them to
    // 127.0.0.1, may select a pair from its LAN address: here it sees `lo` alone.
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &["--listen", "127.0.0.1", "--signal-ws", "0"],
    );
    let url = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    let started = Instant::now();
    let mut harness = Guard::spawn(
        "browser_harness.py",
        Command::new("ip")
            .args(["netns", "exec", &namespace.name, "python3"])
            .arg(peers().join("browser_harness.py"))
            .args(["--signal", &url, "--timeout", "30"]),
    );
    let lines = harness.stdout_lines();
    let status = harness
        .wait(Duration::from_secs(45))
        .unwrap_or_else(|| panic!("the harness ran past 45 s:\n{}", harness.stderr()));
    let elapsed = started.elapsed();
    // The result is the last line; the pipe closes soon after the harness exits.
    let mut last = String::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        last = line;
    }
    let result: serde_json::Value = serde_json::from_str(&last).unwrap_or_else(|error| {
        panic!(
            "the harness printed no JSON ({error}, {status}): {last:?}\n{}",
            harness.stderr()
        )
    });
    let context = || format!("{result:#}\nharness:\n{}", tail(&harness.stderr(), 6000));
    assert!(status.success(), "{status}: {}", context());
    assert_eq!(result["passed"], true, "{}", context());
    assert_eq!(result["connection_state"], "connected", "{}", context());
    assert_eq!(result["welcome"]["answerer"], true, "{}", context());
    let sent = result["echoes_sent"].as_u64().unwrap();
    assert!(sent > 0, "{}", context());
    assert_eq!(result["echoes_ok"].as_u64(), Some(sent), "{}", context());
    for kind in ["audio", "video"] {
        assert!(
            result["inbound_packets"][kind].as_u64().unwrap_or(0) > 0,
            "no {kind} came back from serve's answerer: {}",
            context()
        );
    }
    let pair = &result["selected_pair"];
    for side in ["local", "remote"] {
        let address = pair_address(&pair[side]);
        assert!(
            is_loopback(&address),
            "the selected pair's {side} side is {address:?}: {}",
            context()
        );
    }
    eprintln!(
        "chromium -> serve: {elapsed:?} in all, page {} ms, stages {}",
        result["total_ms"], result["stages_ms"]
    );
}
