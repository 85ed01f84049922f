//! `trtc-preflight agent`: an HTTP server on 127.0.0.1 that serves a page for the user's own
//! browser and a small JSON API. The page starts a check of the configured plan, shows each
//! probe as it finishes, runs the checks only a browser can answer (devices and their
//! permissions, H.264, autoplay, the browser's own WebRTC path) and posts them back; the agent
//! merges them into one report as probes of kind `browser`.
//!
//! # Safe by construction
//!
//! - It listens on 127.0.0.1 only.
//! - Every request's `Host` must be `127.0.0.1:PORT` or `localhost:PORT` (a page on another
//!   name that DNS points at 127.0.0.1 — DNS rebinding — is refused with `421`).
//! - A request with an `Origin` other than the agent's own is refused (`403`) unless the user
//!   allowed that origin (`--allow-origin`); an allowed origin first asks for a token
//!   (`POST /api/v1/tokens`) and sends it with every call.
//! - Every API call carries a token the agent issued (`Authorization: Bearer …`; event streams,
//!   which browsers open without headers, take `?token=`): the page gets one when it loads, an
//!   allowed origin gets one of its own, and each token works only from where it was issued.
//! - No endpoint takes a target (a host, a URL, a port) from a request: a check runs the plan
//!   the agent was started with, or a subset of its probe kinds. No page can use the agent to
//!   reach anything the user did not configure.
//!
//! See [`api`] for the endpoints.

pub mod api;
pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use crate::app::{EXIT_OK, EXIT_USAGE};
use crate::cli::CheckArgs;
use crate::config::{self, Env};

/// The agent's port unless `--port` says otherwise; fixed so that a web app can find it.
pub const DEFAULT_PORT: u16 = 47077;

/// `agent` options: the plan's (as `check` takes them) and the server's.
#[derive(Debug, Default, Args)]
pub struct AgentArgs {
    /// Port on 127.0.0.1 [default: 47077]; 0 picks a free one.
    #[arg(long, value_name = "PORT", help_heading = "Agent")]
    pub port: Option<u16>,
    /// Open the page in the default browser.
    #[arg(long, help_heading = "Agent")]
    pub open: bool,
    /// A web origin allowed to call the API (`https://app.example.com`; repeatable).
    #[arg(long, value_name = "ORIGIN", help_heading = "Agent")]
    pub allow_origin: Vec<String>,
    /// How long a check waits for the page's browser results before reporting them missing
    /// [default: 2 minutes for the device prompts, and 40 s more per WebRTC attempt: one to
    /// --peer, one per --turn].
    #[arg(long, value_name = "DURATION", help_heading = "Agent")]
    pub browser_wait: Option<String>,
    /// The plan: the same options as `check`.
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Runs the agent until Ctrl-C; the exit status.
pub fn run(args: &AgentArgs) -> i32 {
    let settings = match settings(args, &Env::from_process()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_USAGE;
        }
    };
    let Some(runtime) = crate::app::runtime() else {
        return crate::app::EXIT_TOOL;
    };
    runtime.block_on(async move {
        let port = args.port.unwrap_or(DEFAULT_PORT);
        let listener = match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
        {
            Ok(listener) => listener,
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                eprintln!(
                    "error: --port {port}: 127.0.0.1:{port} is in use (is an agent already running? its page is http://127.0.0.1:{port}/); pass --port with a free port, or 0"
                );
                return EXIT_USAGE;
            }
            Err(error) => {
                eprintln!("error: --port {port}: cannot listen on 127.0.0.1:{port}: {error}");
                return EXIT_USAGE;
            }
        };
        let address = match listener.local_addr() {
            Ok(address) => address,
            Err(error) => {
                eprintln!("error: {error}");
                return crate::app::EXIT_TOOL;
            }
        };
        let url = format!("http://127.0.0.1:{}/", address.port());
        let agent = Arc::new(api::Agent::new(settings, address.port()));
        println!("agent {url}");
        println!(
            "ready (loopback only; API v1 at {url}api/v1/; allowed origins: {})",
            if agent.settings.allowed_origins.is_empty() {
                "none".to_string()
            } else {
                agent.settings.allowed_origins.join(", ")
            }
        );
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if args.open {
            open_browser(&url);
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(api::serve(agent, listener, stopped));
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
        let _ = server.await;
        EXIT_OK
    })
}

/// Everything the agent needs besides its socket.
#[derive(Debug)]
pub struct Settings {
    /// The plan every check runs (or a subset of its kinds).
    pub plan: crate::plan::Plan,
    /// Origins allowed to call the API, as `scheme://host[:port]`, lowercase.
    pub allowed_origins: Vec<String>,
    /// How long a check waits for the browser's results.
    pub browser_wait: std::time::Duration,
}

/// The settings from the command line (bad input names the flag).
pub fn settings(args: &AgentArgs, env: &Env) -> Result<Settings, String> {
    let plan = config::build_plan(&args.check, env).map_err(|error| error.to_string())?;
    let mut allowed_origins = Vec::new();
    for origin in &args.allow_origin {
        allowed_origins
            .push(normal_origin(origin).map_err(|e| format!("--allow-origin {origin}: {e}"))?);
    }
    let browser_wait = match &args.browser_wait {
        Some(text) => config::parse_duration(text)
            .map_err(|error| format!("--browser-wait {text}: {error}"))?,
        None => default_browser_wait(&plan),
    };
    Ok(Settings {
        plan,
        allowed_origins,
        browser_wait,
    })
}

/// The page asks for the microphone and the camera apart (up to a minute each while the person
/// decides), then tries WebRTC to the peer and through each relay (up to about 35 s each).
fn default_browser_wait(plan: &crate::plan::Plan) -> std::time::Duration {
    let attempts = match plan.network.peer {
        Some(_) => 1 + plan.network.turn.len() as u64,
        None => 0,
    };
    std::time::Duration::from_secs(120 + 40 * attempts)
}

/// `scheme://host[:port]` in lowercase, with the default port dropped; an error for anything
/// that is not an origin (a path, a wildcard, `null`).
pub fn normal_origin(text: &str) -> Result<String, String> {
    let text = text.trim().to_ascii_lowercase();
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("expected scheme://host[:port], such as https://app.example.com")?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "the scheme is {scheme}://; an origin is http:// or https://"
        ));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', '@', ' ']) {
        return Err(
            "an origin is scheme://host[:port], without a path, a wildcard or a user".into(),
        );
    }
    // host[:port]: a name without `:`, or an IPv6 address in brackets; the port a number.
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || (host.contains(':') && !bracketed) {
        return Err(format!(
            "{host:?} is not a host: an origin is scheme://host[:port], an IPv6 host in brackets"
        ));
    }
    let port = match port.map(|port| (port, port.parse::<u16>())) {
        None => None,
        Some((_, Ok(number))) if number > 0 => Some(number),
        Some((port, _)) => {
            return Err(format!("the port {port:?} is not a number from 1 to 65535"))
        }
    };
    let default_port = if scheme == "http" { 80 } else { 443 };
    match port {
        Some(port) if port != default_port => Ok(format!("{scheme}://{host}:{port}")),
        _ => Ok(format!("{scheme}://{host}")),
    }
}

/// Opens `url` in the default browser (best effort; says so when it cannot).
fn open_browser(url: &str) {
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(target_os = "windows") {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let spawned = std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(error) = spawned {
        eprintln!(
            "note: --open: could not start {} ({error}); open {url} yourself",
            opener[0]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            normal_origin("https://App.Example.com/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normal_origin("https://app.example.com:443").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normal_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            normal_origin("http://[::1]:8080").unwrap(),
            "http://[::1]:8080"
        );
        assert_eq!(normal_origin("https://[::1]:443").unwrap(), "https://[::1]");
        for bad in [
            "app.example.com",
            "ftp://x",
            "https://*.example.com",
            "https://x/path",
            "null",
            "https://x:",
            "https://x:0",
            "https://x:https",
            "https://x:99999",
            "https://::1",
        ] {
            assert!(normal_origin(bad).is_err(), "{bad}");
        }
    }

    /// Found by fuzz/fuzz_targets/agent_http.rs: `:443:443` lost one `:443` per normalisation,
    /// so the allowed origin never equalled a browser's.
    #[test]
    fn a_normal_origin_is_its_own_normal_form() {
        assert!(normal_origin("HTTPS://App.Example:443:443/").is_err());
        for origin in [
            "https://app.example.com:443",
            "http://localhost:3000/",
            "http://[::1]:80",
        ] {
            let normal = normal_origin(origin).unwrap();
            assert_eq!(normal_origin(&normal).unwrap(), normal, "{origin}");
        }
    }
}
