//! The commands: glue between the command line, the plan, the runner and the renderers.
//! Errors get their context here; the exit status follows DESIGN.md.

use std::io::{IsTerminal, Write};
use std::path::Path;

use preflight_reports::{Format, RenderOptions, Report};

use crate::catalog::{self, Detect, Entry};
use crate::cli::{CheckArgs, Cli, CodesArgs, Command, DevicesArgs, ExplainArgs};
use crate::config::{self, Env};
use crate::explain::{self, Lookup};
use crate::plan::Plan;
use crate::runner;

/// Exit status: nothing at or above `--fail-on`.
pub const EXIT_OK: i32 = 0;
/// Exit status: a problem was found.
pub const EXIT_PROBLEM: i32 = 1;
/// Exit status: bad usage or configuration.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the tool itself failed (could not write the report, ...).
pub const EXIT_TOOL: i32 = 3;
/// Exit status: interrupted; the partial report was written.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs a parsed command line and returns the exit status.
pub fn run(cli: Cli) -> i32 {
    init_logging(cli.verbose);
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Demo(args) => demo(&args),
        Command::Serve(args) => crate::serve::run(&args),
        Command::Agent(args) => crate::agent::run(&args),
        Command::Explain(args) => explain_command(&args),
        Command::Codes(args) => codes(&args),
        Command::Devices(args) => devices(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "trtc-preflight",
                &mut std::io::stdout(),
            );
            EXIT_OK
        }
        Command::Man => man(),
    }
}

/// The manual page: the whole command, then a section per command.
fn man() -> i32 {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    let rendered = man.render(&mut page).and_then(|()| {
        for sub in command.get_subcommands() {
            let name = format!("trtc-preflight-{}", sub.get_name());
            clap_mangen::Man::new(sub.clone().display_name(name)).render(&mut page)?;
        }
        Ok(())
    });
    match rendered.and_then(|()| std::io::stdout().write_all(&page)) {
        Ok(()) => EXIT_OK,
        Err(error) => {
            eprintln!("error: cannot write the manual page: {error}");
            EXIT_TOOL
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // TRTC_PREFLIGHT_LOG, then RUST_LOG (tracing's filter syntax), then -v/-vv.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRTC_PREFLIGHT_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("RUST_LOG"))
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "trtc_preflight={level},preflight_probes={level}"
            ))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::secret::RedactingStderr)
        .with_ansi(std::io::stderr().is_terminal() && color_allowed())
        .with_target(false)
        .try_init();
}

fn check(args: &CheckArgs) -> i32 {
    let plan = match config::build_plan(args, &Env::from_process()) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    tracing::info!(
        probes = plan.probes.len(),
        not_run = plan.not_run.len(),
        "plan built"
    );
    if args.dry_run {
        emit(&plan.describe());
        return EXIT_OK;
    }
    run_plan(&plan)
}

/// The first option of `check` given to `demo` that `demo` has no use for: its targets are the
/// endpoints it starts, and it checks no account, room or device.
fn demo_ignores(args: &CheckArgs) -> Option<&'static str> {
    [
        ("--profile", args.profile.is_some()),
        ("--resolve", !args.resolve.is_empty()),
        ("--stun", !args.stun.is_empty()),
        ("--turn", !args.turn.is_empty()),
        ("--turn-user", args.turn_user.is_some()),
        ("--signal", args.signal.is_some()),
        ("--signal-mode", args.signal_mode.is_some()),
        ("--signal-reconnect", args.signal_reconnect),
        ("--peer", args.peer.is_some()),
        ("--relay-only", args.relay_only),
        ("--ports", args.ports.is_some()),
        ("--udp-ports", args.udp_ports.is_some()),
        ("--tcp-ports", args.tcp_ports.is_some()),
        ("--quality-rate", args.quality_rate.is_some()),
        ("--quality-duration", args.quality_duration.is_some()),
        ("--throughput-kbps", args.throughput_kbps.is_some()),
        ("--throughput-duration", args.throughput_duration.is_some()),
        ("--ca", args.ca.is_some()),
        ("--pin", args.pin.is_some()),
        ("--insecure", args.insecure),
        ("--sdk-app-id", args.sdk_app_id.is_some()),
        ("--user-id", args.user_id.is_some()),
        ("--room-id", args.room_id.is_some()),
        ("--string-room-id", args.string_room_id),
        ("--require-private-map-key", args.require_private_map_key),
        ("--user-sig-file", args.user_sig_file.is_some()),
        (
            "--private-map-key-file",
            args.private_map_key_file.is_some(),
        ),
        ("--secret-key-file", args.secret_key_file.is_some()),
        ("--camera", args.camera.is_some()),
        ("--camera-format", args.camera_format.is_some()),
        ("--microphone", args.microphone.is_some()),
        ("--audio-only", args.audio_only),
    ]
    .into_iter()
    .find_map(|(flag, given)| given.then_some(flag))
}

/// `demo`: `serve` in this process on loopback, and every network probe against it.
fn demo(args: &CheckArgs) -> i32 {
    if let Some(flag) = demo_ignores(args) {
        eprintln!(
            "error: demo does not take {flag}: it checks the endpoints it starts itself, and no account, room or device. It takes check's report options (--only, --skip, --require, --format, --output, --quiet, --timeout, --fail-on) and --dry-run; use `trtc-preflight check {flag} ...` for your own targets."
        );
        return EXIT_USAGE;
    }
    // The endpoints run on their own runtime while the check runs on another.
    let Some(runtime) = runtime() else {
        return EXIT_TOOL;
    };
    // A token of this run's own: the probes' sweeps skip serve's rate limits with it.
    let token = format!(
        "demo-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    );
    crate::secret::register(&token);
    let serve_args = crate::serve::ServeArgs {
        listen: vec!["127.0.0.1".into()],
        stun_udp: Some("0,0,0,0,0,0".into()),
        stun_tcp: Some("0,0".into()),
        stun_tls: Some("0".into()),
        signal_wss: Some("0".into()),
        rate: 20,
        burst: 40,
        signal_connections: 64,
        ..crate::serve::ServeArgs::default()
    };
    let running = match runtime.block_on(crate::serve::start_with(&serve_args, Some(token.clone())))
    {
        Ok(running) => running,
        Err(error) => {
            eprintln!("error: demo could not start its endpoints on 127.0.0.1: {error}");
            return EXIT_TOOL;
        }
    };
    let list = |ports: Vec<u16>| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let (udp, tcp) = (running.ports("stun/udp"), running.ports("stun/tcp"));
    let (tls, wss) = (running.ports("stun/tls"), running.ports("signal/wss"));
    let pin = running.pin.clone().unwrap_or_default();
    if !args.quiet {
        eprintln!(
            "demo: serve runs in this process on 127.0.0.1: STUN (and the quality and throughput tests) on UDP {}, TCP {}, TLS {}; signaling and the WebRTC answerer on wss port {} (self-signed, pinned for this run). Every network probe runs against it:",
            list(udp.clone()),
            list(tcp.clone()),
            list(tls.clone()),
            list(wss.clone())
        );
    }
    let check = CheckArgs {
        stun: vec![
            format!("127.0.0.1:{}", udp[0]),
            format!("tcp:127.0.0.1:{}", tcp[0]),
            format!("tls:127.0.0.1:{}", tls[0]),
        ],
        ports: Some("127.0.0.1".into()),
        udp_ports: Some(list(udp)),
        tcp_ports: Some(list(tcp)),
        signal: Some(format!("wss://127.0.0.1:{}/", wss[0])),
        peer: Some(format!("wss://127.0.0.1:{}/", wss[0])),
        pin: Some(pin),
        only: if args.only.is_empty() {
            vec![
                "stun".into(),
                "ports".into(),
                "mtu".into(),
                "signaling".into(),
                "webrtc".into(),
                "quality".into(),
                "throughput".into(),
            ]
        } else {
            args.only.clone()
        },
        // Short on loopback: a fraction of a second each is enough to show the figures.
        quality_duration: Some("400ms".into()),
        throughput_duration: Some("500ms".into()),
        skip: args.skip.clone(),
        require: args.require.clone(),
        format: args.format.clone(),
        output: args.output.clone(),
        report_specs: args.report_specs.clone(),
        quiet: args.quiet,
        timeout: args.timeout.clone(),
        fail_on: args.fail_on.clone(),
        ..CheckArgs::default()
    };
    let status = match config::build_plan(&check, &Env::from_process()) {
        Ok(mut plan) => {
            plan.network.token = Some(crate::secret::Secret::new(
                &token,
                crate::secret::Source::Generated,
            ));
            if args.dry_run {
                emit(&plan.describe());
                EXIT_OK
            } else {
                run_plan(&plan)
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            EXIT_USAGE
        }
    };
    runtime.block_on(running.stop());
    runtime.shutdown_background();
    status
}

/// A multi-threaded tokio runtime, or `None` after saying why on standard error.
pub(crate) fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            None
        }
    }
}

/// Runs a plan and writes its report; the exit status.
fn run_plan(plan: &Plan) -> i32 {
    // Fail before the run, not after it, when a report cannot be written where asked.
    for path in plan
        .outputs
        .iter()
        .filter_map(|output| output.path.as_ref())
    {
        let folder = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !folder.is_dir() {
            eprintln!(
                "error: cannot write the report to {}: the folder {} does not exist",
                path.display(),
                folder.display()
            );
            return EXIT_TOOL;
        }
    }
    let Some(runtime) = runtime() else {
        return EXIT_TOOL;
    };
    let mut write_error: Option<String> = None;
    let result = runtime.block_on(async {
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let progress = crate::progress::Progress::new(
            plan,
            crate::progress::wanted(plan.quiet),
            color_allowed(),
        );
        let result = runner::run_streaming(
            plan,
            env!("CARGO_PKG_VERSION"),
            interrupt,
            |partial| {
                if let Err(error) = write_files(plan, partial) {
                    write_error.get_or_insert(error);
                }
            },
            |probe| progress.finished(probe),
        )
        .await;
        progress.done();
        result
    });
    // Probe tasks still stuck in blocking work must not keep the process alive.
    runtime.shutdown_background();
    let report = result.report;
    if let Err(error) = write_files(plan, &report) {
        write_error.get_or_insert(error);
    }
    if !plan.quiet {
        if let Some(output) = plan.outputs.iter().find(|output| output.path.is_none()) {
            let color =
                output.format == Format::Text && std::io::stdout().is_terminal() && color_allowed();
            match preflight_reports::render(output.format, &report, render_options(plan, color)) {
                Ok(bytes) => {
                    let mut stdout = std::io::stdout().lock();
                    match stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
                        // A reader that went away (`| head`) took what it wanted.
                        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                            write_error.get_or_insert(format!(
                                "cannot write the report to standard output: {error}"
                            ));
                        }
                        _ => {}
                    }
                }
                Err(error) => {
                    write_error.get_or_insert(error.to_string());
                }
            }
        }
    }
    if result.interrupted {
        eprintln!("interrupted: the report holds what finished (\"complete\": false)");
        return EXIT_INTERRUPTED;
    }
    if let Some(error) = write_error {
        eprintln!("error: {error}");
        return EXIT_TOOL;
    }
    runner::exit_status(&report, plan.fail_on)
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// `NO_COLOR` set to anything non-empty turns colour off (no-color.org).
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn render_options(plan: &Plan, color: bool) -> RenderOptions {
    RenderOptions {
        color,
        fail_on_warning: plan.fail_on == preflight_reports::Severity::Warning,
    }
}

/// Writes every file output, each atomically (a temporary file in the same folder, renamed).
fn write_files(plan: &Plan, report: &Report) -> Result<(), String> {
    for output in &plan.outputs {
        let Some(path) = &output.path else { continue };
        let bytes = preflight_reports::render(output.format, report, render_options(plan, false))
            .map_err(|error| error.to_string())?;
        write_atomically(path, &bytes)
            .map_err(|error| format!("cannot write the report to {}: {error}", path.display()))?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn explain_command(args: &ExplainArgs) -> i32 {
    let query = args.query.join(" ");
    let json = match args.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            eprintln!("error: --format {other}: explain writes text or json");
            return EXIT_USAGE;
        }
    };
    match explain::lookup(&query) {
        Lookup::Found(entries) => {
            if json {
                emit(&explain::to_json(&entries));
            } else {
                let texts: Vec<String> = entries.into_iter().map(explain::to_text).collect();
                emit(&texts.join("\n"));
            }
            EXIT_OK
        }
        Lookup::NotFound(nearest) => {
            eprintln!(
                "error: no catalog entry matches {query:?}. Nearest: {}. Try a code (4099, -10012, 70001), a NAME, 0xHEX or part of a message; `trtc-preflight codes` lists them all.",
                nearest.join(", ")
            );
            EXIT_USAGE
        }
    }
}

/// `devices`: the cameras and microphones of this machine.
fn devices(args: &DevicesArgs) -> i32 {
    let json = match args.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            eprintln!("error: --format {other}: devices writes text or json");
            return EXIT_USAGE;
        }
    };
    let inventory = preflight_probes::devices::inventory(
        &preflight_probes::camera::native::NativeCameras,
        &preflight_probes::microphone::native::NativeMicrophones::new(),
    );
    if json {
        let mut text =
            serde_json::to_string_pretty(&crate::devices::to_json(&inventory)).unwrap_or_default();
        text.push('\n');
        emit(&text);
    } else {
        emit(&crate::devices::to_text(&inventory));
    }
    EXIT_OK
}

fn codes(args: &CodesArgs) -> i32 {
    let entries: Vec<Entry> = catalog::entries().collect();
    match args.format.as_str() {
        "json" => emit(&explain::to_json(&entries)),
        "text" => emit(&codes_text(&entries)),
        other => {
            eprintln!("error: --format {other}: codes writes text or json");
            return EXIT_USAGE;
        }
    }
    EXIT_OK
}

fn codes_text(entries: &[Entry]) -> String {
    let mut out = String::new();
    let mut table = "";
    for entry in entries {
        if entry.table_name() != table {
            table = entry.table_name();
            let heading = match table {
                "sdk" => "SDK errors (getCode)",
                "account" => "Account codes (detail of 16385 SIGNAL_CAHNNEL_SETUP_FAILED)",
                "room_entry" => "Room-entry codes (detail of 16388 JOIN_ROOM_FAILED)",
                _ => "Messages",
            };
            out.push_str(&format!(
                "{}{heading}\n",
                if out.is_empty() { "" } else { "\n" }
            ));
        }
        let checked = match entry.detect() {
            Detect::By(kinds) => kinds
                .iter()
                .map(|kind| kind.as_str())
                .collect::<Vec<_>>()
                .join(","),
            Detect::Any => "any".to_string(),
            Detect::Never(_) => "-".to_string(),
        };
        let key = match entry {
            Entry::Sdk(sdk) => format!("{:<6} {:<35} {:<7}", sdk.code, sdk.name, sdk.hex),
            Entry::Detail(detail) => format!("{:<6}", detail.code),
            Entry::Message(message) => format!("{:<58}", format!("\"{}\"", message.message)),
        };
        out.push_str(&format!("  {key}  checked by: {checked}\n"));
    }
    out.push_str("\n`trtc-preflight explain CODE` shows the meaning and the fix of any entry.\n");
    out
}
