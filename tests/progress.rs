//! Live progress lines: under a pseudo-terminal (`script` from util-linux gives the binary
//! one), standard error shows a line per probe with its verdict; without one, nothing.

use std::process::Command;

fn offline_check() -> Vec<&'static str> {
    vec![
        "check",
        "--only",
        "account,room",
        "--sdk-app-id",
        "1400000000",
        "--user-id",
        "bob",
        "--room-id",
        "10000",
    ]
}

#[test]
fn a_terminal_sees_a_line_per_probe_with_its_verdict() {
    let command = std::iter::once(env!("CARGO_BIN_EXE_trtc-preflight"))
        .chain(offline_check())
        .collect::<Vec<_>>()
        .join(" ");
    // stdout to a file: what remains on the terminal is standard error.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let output = Command::new("script")
        .args([
            "-qec",
            &format!("{command} > {}", report.display()),
            "/dev/null",
        ])
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(
        terminal.contains("FAIL  account/1400000000/bob"),
        "{terminal:?}"
    );
    assert!(terminal.contains("PASS  room/10000"), "{terminal:?}");
    // The report itself went to standard output, clean.
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.starts_with("trtc-preflight "), "{text:?}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn with_colour_the_lines_are_live_and_without_it_plain() {
    let live = std::iter::once(env!("CARGO_BIN_EXE_trtc-preflight"))
        .chain(offline_check())
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &format!("{live} > /dev/null"), "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&output.stdout);
    // A spinner redraws its line; the verdict is coloured.
    assert!(terminal.contains('\r'), "{terminal:?}");
    assert!(
        terminal.contains("\u{1b}[31mFAIL\u{1b}[0m  account/1400000000/bob"),
        "{terminal:?}"
    );
    let output = Command::new("script")
        .args(["-qec", &format!("{live} > /dev/null"), "/dev/null"])
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(!terminal.contains('\u{1b}'), "{terminal:?}");
    assert!(
        terminal.contains("FAIL  account/1400000000/bob  ") && terminal.contains(" ms\r\n"),
        "{terminal:?}"
    );
}

#[test]
fn without_a_terminal_or_with_quiet_there_is_no_progress() {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(offline_check())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let command = std::iter::once(env!("CARGO_BIN_EXE_trtc-preflight"))
        .chain(offline_check())
        .chain(["--quiet"])
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "");
}
