//! trtc-preflight: the application. It knows TRTC (the catalog and diagnosis), reads the
//! command line and profiles into a plan, runs the probes and hands the report to the renderers.
//!
//! # As a library
//!
//! Another Rust program builds a plan from the same options as `check` (every field of
//! [`CheckArgs`], or a TOML profile through [`CheckArgs::profile`]), runs it, receives each
//! probe's result as it finishes, and gets the report at the end. Secrets come from the [`Env`]
//! it passes (here: a userSig that cannot be decoded, which the account probe reports as the SDK
//! would, with account code 70003):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use trtc_preflight::{build_plan, run, CheckArgs, Env, Verdict};
//!
//! let args = CheckArgs {
//!     sdk_app_id: Some("1400000000".into()),
//!     user_id: Some("alice".into()),
//!     only: vec!["account".into()],
//!     ..CheckArgs::default()
//! };
//! let env = Env::from_pairs([("TRTC_USER_SIG", "not-a-user-sig")]);
//! let plan = build_plan(&args, &env).expect("the options make a plan");
//! let mut seen = Vec::new();
//! let report = run(&plan, |probe| seen.push(probe.id.clone())).await;
//! assert_eq!(seen, ["account/1400000000/alice"]);
//! assert_eq!(report.verdict, Verdict::Fail);
//! let finding = &report.probes[0].findings[0];
//! assert_eq!((finding.code, finding.detail_code), (Some(16385), Some(70003)));
//! // Any format of `check --format`:
//! let html = preflight_reports::render(
//!     preflight_reports::Format::Html,
//!     &report,
//!     Default::default(),
//! )
//! .unwrap();
//! assert!(html.starts_with(b"<!"));
//! # }
//! ```
pub mod agent;
pub mod answer;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod devices;
pub mod diagnose;
pub mod explain;
pub mod faults;
pub mod offline;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod secret;
pub mod serve;
pub mod signal_server;
pub mod time;
pub mod tlssig;

pub use cli::CheckArgs;
pub use config::{build_plan, ConfigError, Env};
pub use plan::Plan;
pub use preflight_reports::{Finding, ProbeResult, Report, Severity, Status, Verdict};

/// Runs `plan` to the end and returns its report; `on_probe` receives each probe's result as it
/// finishes (a path probe's findings may still change in the report: every path is judged
/// together at the end). The binary's `check` is this, plus the outputs and Ctrl-C.
pub async fn run(plan: &Plan, on_probe: impl FnMut(&ProbeResult)) -> Report {
    runner::run_streaming(
        plan,
        env!("CARGO_PKG_VERSION"),
        std::future::pending::<()>(),
        |_| {},
        on_probe,
    )
    .await
    .report
}
