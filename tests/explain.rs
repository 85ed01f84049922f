//! `explain` and `codes` on the binary, and colour: only on a terminal, never with `NO_COLOR`.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// (query, the first line of each entry it must print, in order)
const QUERIES: &[(&str, &[&str])] = &[
    ("0x4003", &["16387 ICE_TRANSPORT_ERROR (0x4003)  SDK error"]),
    ("0X4003", &["16387 ICE_TRANSPORT_ERROR (0x4003)  SDK error"]),
    ("CLIENT_BANNED", &["16448 CLIENT_BANNED (0x4040)  SDK error"]),
    ("client_banned", &["16448 CLIENT_BANNED (0x4040)  SDK error"]),
    ("4099", &["4099 DEVICE_NOT_FOUND (0x1003)  SDK error"]),
    ("-10018", &["-10018  room-entry code, reported with 16388 JOIN_ROOM_FAILED (0x4004)"]),
    ("70001", &["70001  account code, reported with 16385 SIGNAL_CAHNNEL_SETUP_FAILED (0x4001)"]),
    ("-8", &["-8  account code, reported with 16385 SIGNAL_CAHNNEL_SETUP_FAILED (0x4001)"]),
    (
        "dtls transport",
        &[
            "\"DTLS Transport connection timeout (10s)\"  message, comes with 16387 ICE_TRANSPORT_ERROR (0x4003)",
            "\"ICE/DTLS Transport connection failed\"  message, comes with 16387 ICE_TRANSPORT_ERROR (0x4003)",
        ],
    ),
    (
        "no valid ice candidate",
        &["\"RtcError: no valid ice candidate found\"  message, comes with 16387 ICE_TRANSPORT_ERROR (0x4003)"],
    ),
];

#[test]
fn explain_prints_the_right_entries() {
    for (query, heads) in QUERIES {
        let output = run(&["explain", query]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{query}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = stdout(&output);
        let printed: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with(' ') && !line.is_empty())
            .collect();
        assert_eq!(&printed, heads, "{query}:\n{text}");
        for section in ["  Meaning:  ", "  Fix:      ", "  Checked:  "] {
            assert_eq!(
                text.matches(section).count(),
                heads.len(),
                "{query}: {section}\n{text}"
            );
        }
    }
}

#[test]
fn explain_says_what_cannot_be_checked_before_a_call() {
    let text = stdout(&run(&["explain", "CLIENT_BANNED"]));
    assert!(text.contains("  Checked:  not before a call: "), "{text}");
    let text = stdout(&run(&["explain", "16387"]));
    assert!(
        text.contains("stun, ports, turn, webrtc, browser"),
        "{text}"
    );
    assert!(
        text.contains("\"RtcError: no valid ice candidate found\""),
        "{text}"
    );
}

#[test]
fn explain_without_a_match_exits_2_with_suggestions() {
    let output = run(&["explain", "DEVICE_NOT_FOND"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no catalog entry matches \"DEVICE_NOT_FOND\""),
        "{stderr}"
    );
    assert!(stderr.contains("Nearest: DEVICE_NOT_FOUND"), "{stderr}");
}

#[test]
fn explain_json_is_the_entry() {
    let output = run(&["explain", "--format", "json", "-10012"]);
    let entries: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(entries[0]["table"], "room_entry");
    assert_eq!(entries[0]["code"], -10012);
    assert_eq!(entries[0]["sdk_code"], 16388);
    assert_eq!(entries[0]["detectable_by"], serde_json::json!(["room"]));
}

/// Every row of the published table, read from the markdown: (table, code or message, name, hex).
fn published_rows() -> Vec<(String, String, String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/trtc-web-4x-error-codes.md");
    let path = if shared.exists() {
        shared
    } else {
        root.join("docs/trtc-web-4x-error-codes.md")
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut table = "";
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            table = match heading.trim() {
                "Error Code Definitions" => "sdk",
                "Account Errors" => "account",
                "Room Entry Errors" => "room_entry",
                _ => "message",
            };
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[1].chars().all(|c| c == '-' || c == ':') {
            continue;
        }
        if ["Key", "Error Code", "Error Message"].contains(&cells[1]) {
            continue;
        }
        rows.push(match table {
            "sdk" => (
                "sdk".into(),
                cells[2].into(),
                cells[1].into(),
                cells[3].into(),
            ),
            other => (other.into(), cells[1].into(), String::new(), String::new()),
        });
    }
    rows
}

#[test]
fn codes_json_lists_every_row_of_the_published_table() {
    let output = run(&["codes", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let entries: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let listed: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
            let key = match entry["table"].as_str().unwrap() {
                "message" => text("message"),
                _ => entry["code"].as_i64().unwrap().to_string(),
            };
            (text("table"), key, text("name"), text("hex"))
        })
        .collect();
    let published = published_rows();
    assert_eq!(published.len(), 26 + 62 + 9 + 14);
    assert_eq!(listed, published);
    for entry in &entries {
        let detectable = !entry["detectable_by"].is_null();
        assert_ne!(
            detectable,
            entry["not_detectable_reason"].is_string(),
            "{entry}"
        );
    }
}

#[test]
fn codes_text_lists_every_entry() {
    let text = stdout(&run(&["codes"]));
    assert!(text.contains("SIGNAL_CAHNNEL_SETUP_FAILED"));
    assert!(text.contains("\"NotReadableError\""));
    assert!(text.contains("  10006 "));
    assert_eq!(
        text.lines().filter(|line| line.starts_with("  ")).count(),
        26 + 62 + 9 + 14
    );
}

/// Runs a command under a pseudo-terminal (util-linux `script`), returning what it printed.
fn on_a_terminal(args: &str, no_color: bool) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_trtc-preflight");
    let mut command = Command::new("script");
    command
        .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
        .env_remove("NO_COLOR");
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let output = command.output().ok()?;
    output.status.code()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let args = "check --only account --sdk-app-id 1400000000 --user-id alice";
    let piped = run(&args.split(' ').collect::<Vec<_>>());
    assert!(
        !piped.stdout.contains(&0x1b),
        "escape bytes in piped output"
    );
    let Some(terminal) = on_a_terminal(args, false) else {
        panic!("util-linux `script` is needed to test terminal output");
    };
    assert!(
        terminal.contains('\u{1b}'),
        "no colour on a terminal: {terminal}"
    );
    let plain = on_a_terminal(args, true).unwrap();
    assert!(
        plain.contains("FAIL") && !plain.contains('\u{1b}'),
        "NO_COLOR ignored: {plain}"
    );
}
