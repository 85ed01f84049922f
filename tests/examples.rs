//! The files in examples/ stay true: every profile makes a plan (`--dry-run`, nothing sent),
//! the scripts parse, and the workflow runs commands and flags that exist.

use std::path::Path;
use std::process::Command;

fn preflight() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn every_example_profile_makes_a_plan() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut profiles = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            profiles += 1;
            let output = preflight()
                .args(["check", "--dry-run", "--profile"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    assert!(profiles >= 3, "{profiles} profiles");
}

#[test]
fn the_example_scripts_parse() {
    // Every shell script in examples/.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(&examples).unwrap() {
        let script = entry.unwrap().path();
        if script.extension().is_none_or(|ext| ext != "sh") {
            continue;
        }
        let status = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success(), "{}", script.display());
    }
}

#[test]
fn the_workflow_uses_flags_that_exist() {
    let workflow = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci-workflow.yml"),
    )
    .unwrap();
    let check_help = String::from_utf8(
        preflight()
            .args(["check", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let serve_help = String::from_utf8(
        preflight()
            .args(["serve", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for flag in workflow
        .split_whitespace()
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        // `cargo install --path . --locked` is cargo's.
        .filter(|flag| !["--path", "--locked"].contains(flag))
    {
        assert!(
            check_help.contains(flag) || serve_help.contains(flag),
            "{flag} is in examples/ci-workflow.yml but neither check nor serve has it"
        );
    }
}
