//! The command line is a contract (DESIGN.md): every documented `check` option exists, and the
//! small commands work.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_help_lists_every_documented_option() {
    let output = run(&["check", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--profile",
        "--dry-run",
        "--resolve",
        "--stun",
        "--turn",
        "--turn-user",
        "--signal",
        "--peer",
        "--ports",
        "--udp-ports",
        "--tcp-ports",
        "--ca",
        "--pin",
        "--insecure",
        "--sdk-app-id",
        "--user-id",
        "--room-id",
        "--string-room-id",
        "--require-private-map-key",
        "--camera",
        "--microphone",
        "--audio-only",
        "--only",
        "--skip",
        "--require",
        "--format",
        "--output",
        "--quiet",
        "--timeout",
        "--fail-on",
    ] {
        assert!(
            help.contains(&format!("{option} ")) || help.contains(&format!("{option}\n")),
            "{option} missing:\n{help}"
        );
    }
    for variable in [
        "TRTC_USER_SIG",
        "TRTC_PRIVATE_MAP_KEY",
        "TRTC_SECRET_KEY",
        "TRTC_PREFLIGHT_TURN_PASSWORD",
        "TRTC_PREFLIGHT_TOKEN",
    ] {
        assert!(help.contains(variable), "{variable} missing:\n{help}");
    }
}

#[test]
fn completions_are_generated() {
    let output = run(&["completions", "bash"]);
    assert_eq!(output.status.code(), Some(0));
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(
        script.contains("trtc-preflight") && script.contains("--sdk-app-id"),
        "{script}"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["check", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(run(&["explain"]).status.code(), Some(2));
    assert_eq!(run(&["codes", "--format", "yaml"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(["codes", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_report_that_cannot_be_written_exits_3_before_the_run() {
    let output = run(&[
        "check",
        "--only",
        "room",
        "--room-id",
        "5",
        "--format",
        "json",
        "--output",
        "/nonexistent-folder/r.json",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent-folder/r.json") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
