//! The runner, end to end on the real binary: per-probe deadlines, the run's deadline, a probe
//! that panics, and Ctrl-C (SIGINT) with the partial report. Faults are injected with
//! `TRTC_PREFLIGHT_FAULTS`; the tokens are signed here and the clock is fixed.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use trtc_preflight::tlssig;

const NOW: i64 = 1_793_000_100;
const KEY: &str = "runner-test-key";

fn command(faults: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"));
    command
        .args([
            "check",
            "--only",
            "account,room",
            "--sdk-app-id",
            "1400000000",
            "--user-id",
            "alice",
        ])
        .args(["--room-id", "10000"])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TRTC_PREFLIGHT_NOW", NOW.to_string())
        .env("TRTC_PREFLIGHT_FAULTS", faults)
        .env(
            "TRTC_USER_SIG",
            tlssig::sign(KEY, 1_400_000_000, "alice", NOW - 100, 86_400 * 30, None),
        )
        .env("TRTC_SECRET_KEY", KEY);
    command
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(bytes)))
}

fn probe<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|probe| probe["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} probe in {report}"))
}

fn codes_of(probe: &Value) -> Vec<u64> {
    probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|finding| finding["code"].as_u64())
        .collect()
}

fn validate(report: &Value) {
    let schema: Value = serde_json::from_str(preflight_reports::SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|error| error.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
}

fn run(mut command: Command) -> (Output, Duration) {
    let started = Instant::now();
    let output = command.output().unwrap();
    (output, started.elapsed())
}

#[test]
fn a_probe_past_its_deadline_fails_alone_with_unknown() {
    let (output, elapsed) = run(command("account=sleep:60s", &["--format", "json"]));
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output.stdout);
    validate(&report);
    assert_eq!(report["complete"], true);
    let account = probe(&report, "account");
    assert_eq!(account["status"], "fail");
    assert_eq!(codes_of(account), [65535]);
    assert!(
        account["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("deadline of 5 s"),
        "{account}"
    );
    assert_eq!(probe(&report, "room")["status"], "pass");
    // The probe's own 5 s deadline ended it, not the 60 s sleep.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

#[test]
fn the_run_deadline_ends_every_unfinished_probe() {
    let (output, elapsed) = run(command(
        "account=sleep:60s,room=sleep:60s",
        &["--format", "json", "--timeout", "300ms"],
    ));
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output.stdout);
    validate(&report);
    for kind in ["account", "room"] {
        let probe = probe(&report, kind);
        assert_eq!(codes_of(probe), [65535], "{probe}");
        assert!(
            probe["findings"][0]["evidence"]
                .as_str()
                .unwrap()
                .contains("--timeout 0.3 s"),
            "{probe}"
        );
    }
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn a_panicking_probe_becomes_unknown_and_the_others_finish() {
    let (output, _) = run(command("room=panic", &["--format", "json"]));
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output.stdout);
    validate(&report);
    let room = probe(&report, "room");
    assert_eq!(room["status"], "fail");
    assert_eq!(codes_of(room), [65535]);
    assert_eq!(room["findings"][0]["name"], "UNKNOWN");
    let evidence = room["findings"][0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("crashed") && evidence.contains("fault injected"),
        "{evidence}"
    );
    assert_eq!(probe(&report, "account")["status"], "pass");
    assert_eq!(report["codes"], serde_json::json!([65535]));
}

#[test]
fn without_faults_the_same_run_passes() {
    let (output, _) = run(command("", &["--format", "json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output.stdout);
    validate(&report);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(
        probe(&report, "account")["metrics"]["user_sig"]["signature"],
        "verified"
    );
}

/// Waits until `path` holds a report in which `kind` has finished (the runner rewrites files
/// after every probe), polling; returns false if that never happens within `limit`.
fn wait_for_finished(path: &Path, kind: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(bytes) = std::fs::read(path) {
            if let Ok(report) = serde_json::from_slice::<Value>(&bytes) {
                if probe(&report, kind)["status"] != "skip" {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn ctrl_c_writes_the_partial_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let junit_path = dir.path().join("report.xml");
    let mut command = command(
        "account=sleep:60s",
        &[
            "--format",
            "json",
            "--output",
            json_path.to_str().unwrap(),
            "--format",
            "junit",
            "--output",
            junit_path.to_str().unwrap(),
            "--format",
            "text",
        ],
    );
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_finished(&json_path, "room", Duration::from_secs(20)),
        "the room probe's result never reached {}",
        json_path.display()
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report = json(&std::fs::read(&json_path).unwrap());
    validate(&report);
    assert_eq!(report["complete"], false);
    assert_eq!(probe(&report, "room")["status"], "pass");
    let account = probe(&report, "account");
    assert_eq!(account["status"], "skip");
    assert!(
        account["findings"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("Interrupted"),
        "{account}"
    );

    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("(incomplete: interrupted)"), "{text}");
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    let suites = junit_parser::from_reader(std::io::Cursor::new(junit.as_bytes())).unwrap();
    let skipped: u64 = suites.suites.iter().map(|suite| suite.skipped).sum();
    assert_eq!(skipped, 1, "{junit}");
    // No temporary file is left beside the reports.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn quick_probes_run_together_and_heavy_ones_after_them_one_at_a_time() {
    // camera and microphone are quick, quality and throughput heavy (with nothing listening on
    // 127.0.0.1 and no token, quality ends at the first ICMP unreachable and throughput skips:
    // the injected delays dominate).
    let mut command = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"));
    command
        .args([
            "check",
            "--only",
            "camera,microphone,quality,throughput",
            "--ports",
            "127.0.0.1",
            "--format",
            "json",
        ])
        .env_clear()
        .env(
            "TRTC_PREFLIGHT_FAULTS",
            "camera=sleep:1s,microphone=sleep:1s,quality=sleep:600ms,throughput=sleep:600ms",
        );
    let (output, elapsed) = run(command);
    // The camera and microphone judge this machine's devices: 0 with them, 1 without.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output.stdout);
    validate(&report);
    let order: Vec<&str> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["camera", "microphone", "quality", "throughput"]);
    // Heavy probes one after the other, after the quick phase: at least 1 s + 0.6 s + 0.6 s.
    assert!(elapsed >= Duration::from_millis(2200), "{elapsed:?}");
    // The quick ones together: one after the other would take at least 3.2 s in all.
    assert!(elapsed < Duration::from_millis(3200), "{elapsed:?}");
}
