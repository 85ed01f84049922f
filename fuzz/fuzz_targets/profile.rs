//! The TOML profile, through the function `check --profile FILE` calls: the input is written to
//! a file and `build_plan` loads it, with no flags and an empty environment. Whatever the text, a
//! profile is a plan or a `ConfigError` (exit 2 with a message), never a panic.
//!
//! Invariants beyond "no panic": an error that points at a line names the profile file and a
//! line that exists; a plan keeps at most one report on standard output.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trtc_preflight::{build_plan, CheckArgs, Env};

/// A file of this process's own (libFuzzer's `-fork` and `-jobs` run several processes), in one
/// folder of the temporary folder that `run.sh` removes at the end.
fn profile_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join("trtc-preflight-fuzz");
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        dir.join(format!("profile-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = profile_path();
    std::fs::write(path, data).expect("the profile is written");
    let name = path.display().to_string();
    let args = CheckArgs {
        profile: Some(name.clone()),
        ..CheckArgs::default()
    };
    // The clock is fixed, so that nothing depends on the day the fuzzer runs.
    let env = Env::from_pairs([("TRTC_PREFLIGHT_NOW", "1793000000")]);
    match build_plan(&args, &env) {
        Ok(plan) => {
            let to_stdout = plan
                .outputs
                .iter()
                .filter(|output| output.path.is_none())
                .count();
            assert!(to_stdout <= 1, "{to_stdout} reports on standard output");
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.is_empty());
            let prefix = format!("profile {name}, line ");
            if let Some(at) = message.find(&prefix) {
                let digits: String = message[at + prefix.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let line: usize = digits.parse().expect("a line number");
                let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} of a {lines}-line profile: {message}"
                );
            }
        }
    }
});
