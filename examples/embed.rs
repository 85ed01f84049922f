//! Embedding trtc-preflight in another Rust program: build a plan from a profile (or from
//! options in code), run it, print each probe as it finishes, then write the HTML report.
//!
//!   cargo run --example embed -- examples/account.toml report.html
//!
//! With no arguments it checks an account from the environment (`TRTC_USER_SIG`, offline).

use std::path::PathBuf;

use trtc_preflight::{build_plan, run, CheckArgs, Env, Status};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let args = match arguments.next() {
        Some(profile) => CheckArgs {
            profile: Some(profile),
            ..CheckArgs::default()
        },
        None => CheckArgs {
            sdk_app_id: Some("1400000000".into()),
            user_id: Some("alice".into()),
            only: vec!["account".into()],
            ..CheckArgs::default()
        },
    };
    let output = PathBuf::from(arguments.next().unwrap_or_else(|| "report.html".into()));
    let plan = build_plan(&args, &Env::from_process())?;
    let report = run(&plan, |probe| {
        let mark = match probe.status {
            Status::Pass => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        println!("{mark} {} ({} ms)", probe.id, probe.duration_ms);
    })
    .await;
    for finding in report.probes.iter().flat_map(|probe| &probe.findings) {
        if let Some(code) = finding.code {
            println!(
                "  {code} {}: {}",
                finding.name.as_deref().unwrap_or(""),
                finding.fix
            );
        }
    }
    let html =
        preflight_reports::render(preflight_reports::Format::Html, &report, Default::default())?;
    std::fs::write(&output, html)?;
    println!(
        "verdict {:?}; the HTML report is {}",
        report.verdict,
        output.display()
    );
    Ok(())
}
