//! The command line (a contract: see DESIGN.md). Parsing only; `config` turns the arguments into
//! a plan and `app` runs the commands.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Checks, before a call, whether this machine and its network can run a Tencent TRTC call, and
/// says what is wrong in the SDK's own terms.
#[derive(Debug, Parser)]
#[command(
    name = "trtc-preflight",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = MAIN_AFTER_HELP
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// Log what the tool does to standard error (-v, -vv); secrets are never logged.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the probes of a plan and print the report.
    #[command(after_help = CHECK_AFTER_HELP)]
    Check(Box<CheckArgs>),
    /// Start the test endpoints in this process on loopback and run every network probe against
    /// them (no network, no set-up). Takes check's output options.
    #[command(after_help = DEMO_AFTER_HELP)]
    Demo(Box<CheckArgs>),
    /// Run the test endpoints for the far side of a firewall: STUN over UDP, TCP and TLS, the
    /// signaling WebSocket and its WebRTC answerer.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(Box<crate::serve::ServeArgs>),
    /// The desktop agent: a page on 127.0.0.1 for the user's own browser, which runs the
    /// browser's checks beside the native probes of the plan, and a local JSON API.
    #[command(after_help = AGENT_AFTER_HELP)]
    Agent(Box<crate::agent::AgentArgs>),
    /// Show the catalog entry and the fix for a code, a NAME, a 0xHEX value or a message.
    #[command(after_help = EXPLAIN_AFTER_HELP)]
    Explain(ExplainArgs),
    /// List the cameras (with their formats) and microphones (with their sample rates and
    /// channels) this machine offers, and which is the default.
    #[command(
        after_help = "Examples:\n  trtc-preflight devices\n  trtc-preflight devices --format json | jq '.cameras.devices[].formats'\n  trtc-preflight check --only camera,microphone --camera 0 --camera-format 1280x720@30"
    )]
    Devices(DevicesArgs),
    /// List the whole catalog.
    #[command(
        after_help = "Examples:\n  trtc-preflight codes\n  trtc-preflight codes --format json | jq '.[] | select(.table == \"sdk\")'"
    )]
    Codes(CodesArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  trtc-preflight completions bash > /etc/bash_completion.d/trtc-preflight\n  trtc-preflight completions zsh > \"${fpath[1]}/_trtc-preflight\"\n  trtc-preflight completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of every command.
    #[command(
        after_help = "Examples:\n  trtc-preflight man > trtc-preflight.1 && man -l trtc-preflight.1"
    )]
    Man,
}

const MAIN_AFTER_HELP: &str = "\
Examples:
  trtc-preflight demo                          every network probe against endpoints on loopback
  trtc-preflight check --profile trtc-web --dry-run
  trtc-preflight explain 70001                 any code, NAME, 0xHEX or part of a message
  trtc-preflight agent --open                  the browser's own checks, in the user's browser

Logs: -v / -vv on standard error, or RUST_LOG / TRTC_PREFLIGHT_LOG with tracing's filter syntax
(secrets are never logged). NO_COLOR turns colours off.";

const DEMO_AFTER_HELP: &str = "\
Examples:
  trtc-preflight demo
  trtc-preflight demo --format html --output demo.html
  trtc-preflight demo --only webrtc --format json";

const SERVE_AFTER_HELP: &str = "\
Examples:
  trtc-preflight serve --listen 127.0.0.1 --signal-ws 8080      STUN on 3478, signaling, WebRTC
  TRTC_PREFLIGHT_TOKEN=... trtc-preflight serve --stun-udp 8000,8080,8800,843,443,16285 \\
      --stun-tcp 8687 --stun-tls 443 --signal-wss 8443         the far side of a firewall
  trtc-preflight serve --signal-ws 8080 --misbehave stall-dtls  stage a failure for training

It prints one line per listener (`stun/udp 0.0.0.0:3478`), the TLS pin (`tls sha256:...`) and
`ready`; Ctrl-C stops it and prints what it answered.";

const AGENT_AFTER_HELP: &str = "\
Examples:
  trtc-preflight agent --open
  trtc-preflight agent --peer wss://far.example.com:8443/ --pin sha256:... --open
  trtc-preflight agent --allow-origin https://app.example.com   a web app may call the API

The page is http://127.0.0.1:47077/ (or --port); the API is under /api/v1/ (see the README).";

const EXPLAIN_AFTER_HELP: &str = "\
Examples:
  trtc-preflight explain 4099
  trtc-preflight explain -10018
  trtc-preflight explain 0x4003
  trtc-preflight explain ICE_TRANSPORT_ERROR
  trtc-preflight explain \"dtls transport\"";

const CHECK_AFTER_HELP: &str = "\
Examples:
  trtc-preflight check --profile trtc-web --dry-run        what would run against TRTC's hosts
  trtc-preflight check --sdk-app-id 1400000000 --user-id alice --room-id 1234   (offline)
  trtc-preflight check --ports far.example.com --peer wss://far.example.com:8443/ --pin sha256:...
  trtc-preflight check --profile examples/ci.toml --format junit --output report.xml

Secrets are read from the environment or from files, never from flags:
  TRTC_USER_SIG, TRTC_PRIVATE_MAP_KEY, TRTC_SECRET_KEY, TRTC_PREFLIGHT_TURN_PASSWORD,
  TRTC_PREFLIGHT_TOKEN (or --user-sig-file, --private-map-key-file, --secret-key-file).

Exit status: 0 nothing at or above --fail-on; 1 a problem found; 2 bad usage or configuration;
3 the tool itself failed; 130 interrupted (the partial report is still written).";

/// `check` options. Every one can also be set in a TOML profile; flags win.
#[derive(Debug, Default, Args)]
pub struct CheckArgs {
    /// A TOML plan (see examples/), or a built-in one: trtc-web.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<String>,
    /// Print the plan and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use ADDR for HOST, as curl does (repeatable).
    #[arg(long, value_name = "HOST=ADDR", help_heading = "Network")]
    pub resolve: Vec<String>,
    /// A STUN server, HOST:PORT over UDP, or tcp:HOST:PORT / tls:HOST:PORT (repeatable).
    #[arg(long, value_name = "[tcp:|tls:]HOST:PORT", help_heading = "Network")]
    pub stun: Vec<String>,
    /// A TURN relay: turn:HOST:PORT?transport=udp|tcp or turns:HOST:PORT (repeatable).
    #[arg(long, value_name = "URL", help_heading = "Network")]
    pub turn: Vec<String>,
    /// The TURN user name (the password comes from TRTC_PREFLIGHT_TURN_PASSWORD).
    #[arg(long, value_name = "USER", help_heading = "Network")]
    pub turn_user: Option<String>,
    /// The WebSocket signaling endpoint (ws:// or wss://).
    #[arg(long, value_name = "URL", help_heading = "Network")]
    pub signal: Option<String>,
    /// How the signaling check is judged: `websocket` (the upgrade must succeed; default) or
    /// `reachability` (any HTTP answer after a trusted TLS handshake: TRTC's own servers).
    #[arg(long, value_name = "websocket|reachability", help_heading = "Network")]
    pub signal_mode: Option<String>,
    /// After the signaling check, drop the WebSocket and reconnect with backoff (3 tries), as
    /// the SDK does after a network drop.
    #[arg(long, help_heading = "Network")]
    pub signal_reconnect: bool,
    /// The signaling URL of a WebRTC test peer (`trtc-preflight serve`).
    #[arg(long, value_name = "URL", help_heading = "Network")]
    pub peer: Option<String>,
    /// The WebRTC check through the --turn relays only, as a network without direct UDP
    /// would force (TURN over UDP: the WebRTC stack relays over nothing else; the turn probe
    /// covers TCP and TLS).
    #[arg(long, help_heading = "Network")]
    pub relay_only: bool,
    /// Host for the TRTC port and path matrix.
    #[arg(long, value_name = "HOST", help_heading = "Network")]
    pub ports: Option<String>,
    /// UDP ports of the matrix (ranges allowed); default TRTC Web's 8000,8080,8800,843,443,16285.
    #[arg(long, value_name = "LIST", help_heading = "Network")]
    pub udp_ports: Option<String>,
    /// TCP ports of the matrix (ranges allowed); default 443.
    #[arg(long, value_name = "LIST", help_heading = "Network")]
    pub tcp_ports: Option<String>,
    /// Quality burst: STUN requests a second to the host of --ports (1-1000; default 50).
    #[arg(long, value_name = "N", help_heading = "Quality and throughput")]
    pub quality_rate: Option<String>,
    /// Quality burst: how long requests are sent (100ms-10s; default 2s).
    #[arg(long, value_name = "DURATION", help_heading = "Quality and throughput")]
    pub quality_duration: Option<String>,
    /// Throughput: kbit/s of UDP payload each way (64-10000; default 1540, TRTC's 720p video
    /// with standard audio). Needs the serve token in TRTC_PREFLIGHT_TOKEN.
    #[arg(long, value_name = "KBPS", help_heading = "Quality and throughput")]
    pub throughput_kbps: Option<String>,
    /// Throughput: how long data flows each way (500ms-10s; default 3s).
    #[arg(long, value_name = "DURATION", help_heading = "Quality and throughput")]
    pub throughput_duration: Option<String>,
    /// Trust this CA certificate (PEM) for TLS.
    #[arg(long, value_name = "FILE", help_heading = "Network")]
    pub ca: Option<PathBuf>,
    /// Trust exactly this certificate: sha256:<64 hex digits> (printed by `serve`).
    #[arg(long, value_name = "sha256:HEX", help_heading = "Network")]
    pub pin: Option<String>,
    /// Do not verify TLS certificates (every affected line of the report says so).
    #[arg(long, help_heading = "Network")]
    pub insecure: bool,
    /// The SDKAppID to check the userSig against.
    #[arg(long, value_name = "N", help_heading = "Account and room")]
    pub sdk_app_id: Option<String>,
    /// The userId to check the userSig against.
    #[arg(long, value_name = "ID", help_heading = "Account and room")]
    pub user_id: Option<String>,
    /// The roomId the application joins.
    #[arg(
        long,
        value_name = "R",
        allow_hyphen_values = true,
        help_heading = "Account and room"
    )]
    pub room_id: Option<String>,
    /// The application uses string room ids (useStringRoomId: true).
    #[arg(long, help_heading = "Account and room")]
    pub string_room_id: bool,
    /// Advanced permission control is on: a privateMapKey is required to enter.
    #[arg(long, help_heading = "Account and room")]
    pub require_private_map_key: bool,
    /// Read the userSig from this file (instead of TRTC_USER_SIG).
    #[arg(long, value_name = "FILE", help_heading = "Account and room")]
    pub user_sig_file: Option<PathBuf>,
    /// Read the privateMapKey from this file (instead of TRTC_PRIVATE_MAP_KEY).
    #[arg(long, value_name = "FILE", help_heading = "Account and room")]
    pub private_map_key_file: Option<PathBuf>,
    /// Read the secret key from this file (instead of TRTC_SECRET_KEY) to verify signatures.
    #[arg(long, value_name = "FILE", help_heading = "Account and room")]
    pub secret_key_file: Option<PathBuf>,
    /// The camera to test, by id or name.
    #[arg(long, value_name = "ID|NAME", help_heading = "Devices")]
    pub camera: Option<String>,
    /// The camera format to ask for, WIDTHxHEIGHT@FPS (default 640x480@15, TRTC Web's default
    /// 480p profile); the camera must offer that size at that rate or more.
    #[arg(long, value_name = "WxH@FPS", help_heading = "Devices")]
    pub camera_format: Option<String>,
    /// The microphone to test, by id or name.
    #[arg(long, value_name = "ID|NAME", help_heading = "Devices")]
    pub microphone: Option<String>,
    /// Audio-only calls: a missing camera is information, not an error.
    #[arg(long, help_heading = "Devices")]
    pub audio_only: bool,
    /// Run only these probe kinds (comma-separated, repeatable).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub only: Vec<String>,
    /// Do not run these probe kinds.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub skip: Vec<String>,
    /// These kinds must run; a required kind that does not run fails the run.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub require: Vec<String>,
    /// Report format: text, json, junit, html, markdown (md) or prometheus (prom) (repeatable;
    /// each may be followed by --output FILE).
    #[arg(long, value_name = "FORMAT", help_heading = "Report")]
    pub format: Vec<String>,
    /// Write the preceding --format to FILE (atomically); alone, the format follows the
    /// extension (.json, .xml, .txt, .html, .md, .prom).
    #[arg(long, value_name = "FILE", help_heading = "Report")]
    pub output: Vec<PathBuf>,
    /// Print nothing on standard output (files are still written).
    #[arg(long, short, help_heading = "Report")]
    pub quiet: bool,
    /// Deadline for the whole run (30s, 2m, 1500ms); every probe also has its own.
    #[arg(long, value_name = "DURATION", help_heading = "Report")]
    pub timeout: Option<String>,
    /// What makes the exit status non-zero: error (default) or warning.
    #[arg(long, value_name = "error|warning", help_heading = "Report")]
    pub fail_on: Option<String>,
    /// `--format`/`--output` pairs in command-line order (filled from the matches, not by clap).
    #[arg(skip)]
    pub report_specs: Vec<ReportSpec>,
}

/// One `--format` with the `--output` that follows it, or an `--output` alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSpec {
    /// The format as written.
    pub format: Option<String>,
    /// The file.
    pub output: Option<PathBuf>,
}

/// `explain` options.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A code (4099, -10012, 70001), a NAME (any case), a hex value (0x1003) or message text.
    #[arg(allow_negative_numbers = true, allow_hyphen_values = true, required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// `devices` options.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// `codes` options.
#[derive(Debug, Args)]
pub struct CodesArgs {
    /// text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

/// Parses the process arguments, pairing each `--format` with the `--output` after it.
pub fn parse() -> Cli {
    parse_from(std::env::args_os())
}

/// Parses these arguments (the first is the program name).
pub fn parse_from<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match (&mut cli.command, matches.subcommand()) {
        (Command::Check(args), Some(("check", sub)))
        | (Command::Demo(args), Some(("demo", sub))) => {
            args.report_specs = pair_reports(sub);
        }
        _ => {}
    }
    cli
}

fn pair_reports(matches: &clap::ArgMatches) -> Vec<ReportSpec> {
    let mut items: Vec<(usize, Option<String>, Option<PathBuf>)> = Vec::new();
    if let (Some(indices), Some(values)) = (
        matches.indices_of("format"),
        matches.get_many::<String>("format"),
    ) {
        items.extend(
            indices
                .zip(values)
                .map(|(index, value)| (index, Some(value.clone()), None)),
        );
    }
    if let (Some(indices), Some(values)) = (
        matches.indices_of("output"),
        matches.get_many::<PathBuf>("output"),
    ) {
        items.extend(
            indices
                .zip(values)
                .map(|(index, value)| (index, None, Some(value.clone()))),
        );
    }
    items.sort_by_key(|(index, _, _)| *index);
    let mut specs: Vec<ReportSpec> = Vec::new();
    for (_, format, output) in items {
        match (format, output) {
            (Some(format), _) => specs.push(ReportSpec {
                format: Some(format),
                output: None,
            }),
            (None, Some(path)) => match specs.last_mut() {
                Some(last) if last.format.is_some() && last.output.is_none() => {
                    last.output = Some(path)
                }
                _ => specs.push(ReportSpec {
                    format: None,
                    output: Some(path),
                }),
            },
            (None, None) => {}
        }
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(args: &[&str]) -> Vec<ReportSpec> {
        let mut all = vec!["trtc-preflight", "check"];
        all.extend_from_slice(args);
        match parse_from(all).command {
            Command::Check(args) => args.report_specs,
            _ => unreachable!(),
        }
    }

    #[test]
    fn pairs_each_output_with_the_format_before_it() {
        let spec = |format: Option<&str>, output: Option<&str>| ReportSpec {
            format: format.map(String::from),
            output: output.map(PathBuf::from),
        };
        assert_eq!(
            specs(&[
                "--format", "json", "--output", "r.json", "--format", "text", "--format", "junit",
                "--output", "r.xml"
            ]),
            [
                spec(Some("json"), Some("r.json")),
                spec(Some("text"), None),
                spec(Some("junit"), Some("r.xml"))
            ]
        );
        assert_eq!(
            specs(&["--output", "a.json", "--format", "text"]),
            [spec(None, Some("a.json")), spec(Some("text"), None)]
        );
        assert_eq!(specs(&[]), []);
    }

    #[test]
    fn negative_codes_are_queries_not_flags() {
        match parse_from(["trtc-preflight", "explain", "-10018"]).command {
            Command::Explain(args) => assert_eq!(args.query, ["-10018"]),
            _ => unreachable!(),
        }
    }
}
