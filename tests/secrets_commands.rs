//! Every command, every format, the highest log level, every secret set: none of them appears
//! anywhere. The userSig, the privateMapKey, the application's secret key, `serve`'s token and
//! a TURN password are all in the environment of each run (as a user who exported them once
//! would have them), `TRTC_PREFLIGHT_LOG=trace` and `-vv` log everything, and standard output,
//! standard error and every report file are searched for any 16-character piece of each secret.
//! (tests/secrets.rs covers the account secrets given as files and in profiles, and bad
//! configurations; tests/secrets_network.rs the token and the password on the wire.)

mod lab;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trtc_preflight::tlssig::{sign, Grant};

const APP_ID: u64 = 1_400_000_000;
const USER: &str = "alice";
const ROOM: u32 = 10_000;
const KEY: &str = "Hb4nQz8rTw1yLp6vMc3kXs9dGj2fRe7u";
const TOKEN: &str = "Kd9sPw2xVb6nQm3zLt8rHc4jYf1gTe5u";
const PASSWORD: &str = "Rm3tQx7vNb2kLp9zWc5hJd8sGf4yTe6u";
const FORMATS: [&str; 6] = ["text", "json", "junit", "html", "markdown", "prometheus"];

struct Secrets {
    named: Vec<(&'static str, String)>,
}

impl Secrets {
    fn new() -> Secrets {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let lifetime = 7 * 86_400;
        let grant = Grant {
            version: 0,
            account: USER.into(),
            sdk_app_id: APP_ID as u32,
            room_id: ROOM,
            expires_at: (now - 60 + lifetime) as u32,
            privilege_map: 255,
            account_type: 0,
            room_str: None,
        };
        let user_sig = sign(KEY, APP_ID, USER, now - 60, lifetime as u64, None);
        let private_map_key = sign(
            KEY,
            APP_ID,
            USER,
            now - 60,
            lifetime as u64,
            Some(&grant.to_bytes()),
        );
        Secrets {
            named: vec![
                ("TRTC_USER_SIG", user_sig),
                ("TRTC_PRIVATE_MAP_KEY", private_map_key),
                ("TRTC_SECRET_KEY", KEY.to_string()),
                ("TRTC_PREFLIGHT_TOKEN", TOKEN.to_string()),
                ("TRTC_PREFLIGHT_TURN_PASSWORD", PASSWORD.to_string()),
            ],
        }
    }

    /// The command with every secret in its environment, and everything logged.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = lab::preflight(None);
        for (name, value) in &self.named {
            command.env(name, value);
        }
        command
            .env("TRTC_PREFLIGHT_LOG", "trace")
            .env("NO_COLOR", "1")
            .arg("-vv")
            .args(args);
        command
    }

    /// The secrets (by variable name) of which some 16-character piece is in `text`.
    fn leaked(&self, text: &str) -> Vec<&'static str> {
        self.named
            .iter()
            .filter(|(_, secret)| {
                let chars: Vec<char> = secret.chars().collect();
                chars
                    .windows(16)
                    .any(|piece| text.contains(&piece.iter().collect::<String>()))
            })
            .map(|(name, _)| *name)
            .collect()
    }

    /// Runs `args` to the end; asserts that nothing it wrote holds a secret, and returns its
    /// standard output.
    fn run_clean(&self, args: &[&str], files: &[&std::path::Path]) -> String {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("{args:?}: {error}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !stdout.is_empty() || !files.is_empty(),
            "{args:?} printed nothing: a search of nothing proves nothing\n{stderr}"
        );
        assert_eq!(self.leaked(&stdout), Vec::<&str>::new(), "{args:?}: stdout");
        assert_eq!(self.leaked(&stderr), Vec::<&str>::new(), "{args:?}: stderr");
        for file in files {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|error| panic!("{args:?}: {}: {error}", file.display()));
            assert!(!text.is_empty(), "{args:?}: {} is empty", file.display());
            assert_eq!(
                self.leaked(&text),
                Vec::<&str>::new(),
                "{args:?}: {}",
                file.display()
            );
        }
        stdout
    }
}

const APP_ID_TEXT: &str = "1400000000";
const ROOM_TEXT: &str = "10000";

#[test]
fn the_leak_search_finds_a_piece_of_each_secret() {
    let secrets = Secrets::new();
    for (name, secret) in &secrets.named {
        let piece = &secret[3..19];
        assert_eq!(
            secrets.leaked(&format!("… {piece} …")),
            [*name],
            "{name} not found"
        );
    }
    assert!(secrets.leaked("nothing secret here").is_empty());
}

/// Every format to a file in one run of `args`; returns the JSON report.
fn every_format(secrets: &Secrets, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let mut files = Vec::new();
    for format in FORMATS {
        let path = dir.path().join(format!("report.{format}"));
        all.extend([
            "--format".into(),
            format.into(),
            "--output".into(),
            path.display().to_string(),
        ]);
        files.push(path);
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let files: Vec<&std::path::Path> = files.iter().map(|path| path.as_path()).collect();
    secrets.run_clean(&all, &files);
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap()
}

#[test]
fn demo_and_the_account_checks_in_every_format_keep_every_secret() {
    let secrets = Secrets::new();
    // demo: every network probe, with the token of its own and the user's secrets around.
    let demo = every_format(&secrets, &["demo"]);
    assert_eq!(demo["verdict"], "pass", "{demo:#}");
    // The account and room probes with the tokens in hand (and accepting them).
    let account = every_format(
        &secrets,
        &[
            "check",
            "--only",
            "account,room",
            "--sdk-app-id",
            APP_ID_TEXT,
            "--user-id",
            USER,
            "--room-id",
            ROOM_TEXT,
            "--require-private-map-key",
        ],
    );
    for kind in ["account", "room"] {
        let probe = account["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|probe| probe["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} probe: {account:#}"));
        assert_eq!(probe["status"], "pass", "{probe:#}");
    }
}

#[test]
fn check_dry_runs_of_the_builtin_profile_in_every_format_keep_every_secret() {
    let secrets = Secrets::new();
    for format in FORMATS {
        secrets.run_clean(
            &[
                "check",
                "--profile",
                "trtc-web",
                "--dry-run",
                "--sdk-app-id",
                APP_ID_TEXT,
                "--user-id",
                USER,
                "--format",
                format,
            ],
            &[],
        );
    }
}

#[test]
fn offline_commands_keep_every_secret() {
    let secrets = Secrets::new();
    for args in [
        &["devices"][..],
        &["devices", "--format", "json"],
        &["explain", "70001"],
        &["explain", "--format", "json", "-10018"],
        &["explain", "dtls transport"],
        &["codes"],
        &["codes", "--format", "json"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["check", "--help"],
        &["--version"],
    ] {
        secrets.run_clean(args, &[]);
    }
    // The device probes, every format (their failures here carry OS errors in the evidence).
    for format in FORMATS {
        secrets.run_clean(
            &[
                "check",
                "--only",
                "camera,microphone,environment",
                "--format",
                format,
            ],
            &[],
        );
    }
}

#[test]
fn serve_and_agent_keep_every_secret_while_running() {
    let secrets = Secrets::new();
    // serve: everything it prints until ready, then its logs of a STUN request and a stop.
    let mut serve = secrets
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--signal-ws",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = drain_stderr(&mut serve);
    let mut printed = String::new();
    let mut udp = None;
    for line in BufReader::new(serve.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(address) = line.strip_prefix("stun/udp ") {
            udp = Some(address.to_string());
        }
        if line.starts_with("ready") {
            break;
        }
    }
    let udp = udp.expect("serve printed its STUN port");
    // A token holder's check against it logs the token's use on both sides.
    let check = secrets.run_clean(
        &[
            "check", "--only", "stun", "--stun", &udp, "--format", "json",
        ],
        &[],
    );
    assert!(check.contains("\"verdict\": \"pass\""), "{check}");
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = serve.kill();
    let _ = serve.wait();
    let logs = logs.join().unwrap();
    assert!(!logs.is_empty(), "serve logged nothing at trace level");
    assert_eq!(secrets.leaked(&printed), Vec::<&str>::new(), "serve stdout");
    assert_eq!(secrets.leaked(&logs), Vec::<&str>::new(), "serve logs");

    // agent: its page, its plan and a whole check's report, with the account secrets in use.
    let mut agent = secrets
        .command(&[
            "agent",
            "--port",
            "0",
            "--only",
            "account,room",
            "--sdk-app-id",
            APP_ID_TEXT,
            "--user-id",
            USER,
            "--room-id",
            ROOM_TEXT,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = drain_stderr(&mut agent);
    let mut lines = BufReader::new(agent.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            port = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse::<u16>().ok());
            break;
        }
    }
    let port = port.unwrap_or_else(|| panic!("the agent printed no address: {printed}"));
    let host = format!("127.0.0.1:{port}");
    let page = http(&host, "GET", "/", None, "");
    let token = page
        .split("const TOKEN = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its token")
        .to_string();
    let info = http(&host, "GET", "/api/v1/agent", Some(&token), "");
    let started = http(&host, "POST", "/api/v1/checks", Some(&token), "{}");
    let body = started.split("\r\n\r\n").nth(1).unwrap_or_default();
    let id = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|started| started["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no check id: {started}"));
    let events = http(
        &host,
        "GET",
        &format!("/api/v1/checks/{id}/events"),
        Some(&token),
        "",
    );
    let report = http(
        &host,
        "GET",
        &format!("/api/v1/checks/{id}/report"),
        Some(&token),
        "",
    );
    let html = http(
        &host,
        "GET",
        &format!("/api/v1/checks/{id}/report.html"),
        Some(&token),
        "",
    );
    assert!(
        report.contains("\"kind\":\"account\"") || report.contains("\"kind\": \"account\""),
        "{report}"
    );
    let _ = agent.kill();
    let _ = agent.wait();
    for line in lines {
        let Ok(line) = line else { break };
        printed.push_str(&line);
    }
    let logs = logs.join().unwrap();
    for (what, text) in [
        ("agent stdout", &printed),
        ("agent logs", &logs),
        ("page", &page),
        ("agent info", &info),
        ("events", &events),
        ("report", &report),
        ("report.html", &html),
    ] {
        assert_eq!(secrets.leaked(text), Vec::<&str>::new(), "{what}");
    }
}

/// Reads `child`'s standard error to its end on a thread of its own (a trace log is large: the
/// child would block on a full pipe otherwise); the thread gives it back.
fn drain_stderr(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    })
}

/// One HTTP/1.1 request to the agent on loopback; the whole answer (headers and body).
fn http(host: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
