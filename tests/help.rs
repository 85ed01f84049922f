//! `--help` of every command, as snapshots: the command line is a contract, and its help (with
//! the examples) changes only on purpose. `cargo insta review` accepts a deliberate change.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_command_has_help_with_examples() {
    for command in [
        "",
        "check",
        "demo",
        "serve",
        "agent",
        "explain",
        "codes",
        "devices",
        "completions",
        "man",
    ] {
        let args: Vec<&str> = if command.is_empty() {
            vec![]
        } else {
            vec![command]
        };
        let text = help(&args);
        assert!(text.contains("Examples:"), "{command}: {text}");
        let name = if command.is_empty() { "main" } else { command };
        insta::assert_snapshot!(format!("help_{name}"), text);
    }
}

#[test]
fn the_man_page_has_a_section_per_command() {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .arg("man")
        .output()
        .unwrap();
    let page = String::from_utf8(output.stdout).unwrap();
    for command in [
        "check",
        "demo",
        "serve",
        "agent",
        "explain",
        "codes",
        "devices",
        "completions",
    ] {
        assert!(
            page.contains(&format!(".TH trtc-preflight-{command} 1")),
            "{command}"
        );
    }
    assert!(
        page.starts_with(".ie \\\\n(.g .ds Aq \\\\(aq") || page.contains(".TH trtc-preflight 1")
    );
}

#[test]
fn version_and_completions_for_every_shell() {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("trtc-preflight {}\n", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("trtc-preflight"),
            "{shell}"
        );
    }
}
