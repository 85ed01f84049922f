//! Secrets never leave the process: with a userSig, a privateMapKey and the application's secret
//! key given (in the environment, as files named by flags, or as files named by a profile), no
//! output of any kind holds them: not standard output, not standard error, not a report file, in
//! any format, in a dry run, with verbose logging, or on a configuration error. Neither does the
//! `TLS.sig` HMAC inside each token (in base64 or hex), nor any 16-character piece of a secret.
//!
//! Tokens that verify, tokens whose HMAC was tampered with and expired tokens are all tried: the
//! last two produce findings, and findings' evidence is where a leak is most likely.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use trtc_preflight::tlssig::{sign, Grant};

/// The clock: 2026-10-26T07:34:20Z.
const NOW: i64 = 1_793_000_060;
const DAY: i64 = 86_400;
const APP_ID: u64 = 1_400_000_000;
const USER: &str = "alice";
const ROOM: u32 = 10_000;
/// The application's secret key: no word in it that a report could contain by chance.
const KEY: &str = "Zq8vKx3mWp0tRb7nYc4hLd2sGf6jTe1u";

/// The shortest piece of a secret that must not appear anywhere.
const PIECE: usize = 16;

#[derive(Clone, Copy, Debug)]
enum State {
    /// Tokens that verify with the key and are in date.
    Valid,
    /// Tokens whose HMAC has one bit flipped (70009 / -10019).
    Tampered,
    /// Tokens that expired a day ago (70001 / -10019).
    Expired,
}

#[derive(Clone, Copy, Debug)]
enum Delivery {
    /// TRTC_USER_SIG, TRTC_PRIVATE_MAP_KEY, TRTC_SECRET_KEY.
    Env,
    /// --user-sig-file, --private-map-key-file, --secret-key-file.
    Flags,
    /// user_sig_file, private_map_key_file, secret_key_file in a TOML profile.
    Profile,
}

/// How the report is asked for.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Text,
    Json,
    Junit,
    /// Every format, each to a file, nothing on standard output.
    Files,
    DryRun,
    /// `-vv`, text on standard output.
    Verbose,
    /// `-vv` and `TRTC_PREFLIGHT_LOG=trace`: everything the tool logs.
    Trace,
    /// `--timeout nope`: a configuration error.
    BadTimeout,
    /// `--format yaml`: a configuration error.
    BadFormat,
}

const MODES: [Mode; 9] = [
    Mode::Text,
    Mode::Json,
    Mode::Junit,
    Mode::Files,
    Mode::DryRun,
    Mode::Verbose,
    Mode::Trace,
    Mode::BadTimeout,
    Mode::BadFormat,
];

/// The three secrets of one state.
struct Secrets {
    user_sig: String,
    private_map_key: String,
    key: String,
}

fn secrets(state: State) -> Secrets {
    let (time, lifetime) = match state {
        State::Valid | State::Tampered => (NOW - 3600, 30 * DAY),
        State::Expired => (NOW - 2 * DAY, DAY),
    };
    let grant = Grant {
        version: 0,
        account: USER.into(),
        sdk_app_id: APP_ID as u32,
        room_id: ROOM,
        expires_at: (time + lifetime) as u32,
        privilege_map: 255,
        account_type: 0,
        room_str: None,
    };
    let user_sig = sign(KEY, APP_ID, USER, time, lifetime as u64, None);
    let private_map_key = sign(
        KEY,
        APP_ID,
        USER,
        time,
        lifetime as u64,
        Some(&grant.to_bytes()),
    );
    match state {
        State::Tampered => Secrets {
            user_sig: common::tamper_sig(&user_sig),
            private_map_key: common::tamper_sig(&private_map_key),
            key: KEY.into(),
        },
        _ => Secrets {
            user_sig,
            private_map_key,
            key: KEY.into(),
        },
    }
}

/// Every text that must not appear, with a label that does not itself reveal it.
fn forbidden(secrets: &Secrets) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, text: &str| {
        out.push((label.to_string(), text.to_string()));
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > PIECE {
            for start in 0..=chars.len() - PIECE {
                let piece: String = chars[start..start + PIECE].iter().collect();
                out.push((format!("{label}[{start}..{}]", start + PIECE), piece));
            }
        }
    };
    add("the userSig", &secrets.user_sig);
    add("the privateMapKey", &secrets.private_map_key);
    add("the secret key", &secrets.key);
    for (what, token) in [
        ("the userSig", &secrets.user_sig),
        ("the privateMapKey", &secrets.private_map_key),
    ] {
        let sig = common::tls_sig(token);
        let hex: String = STANDARD
            .decode(&sig)
            .expect("TLS.sig is base64")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        add(&format!("TLS.sig of {what}"), &sig);
        add(&format!("TLS.sig of {what}, in hex"), &hex);
    }
    out
}

/// The labels of every forbidden text found in `haystack`.
fn leaks(haystack: &str, forbidden: &[(String, String)]) -> Vec<String> {
    forbidden
        .iter()
        .filter(|(_, text)| haystack.contains(text.as_str()))
        .map(|(label, _)| label.clone())
        .collect()
}

#[test]
fn the_leak_detector_finds_pieces() {
    let secrets = secrets(State::Valid);
    let forbidden = forbidden(&secrets);
    let middle: String = secrets.user_sig.chars().skip(40).take(PIECE).collect();
    assert!(!leaks(&format!("evidence: ...{middle}..."), &forbidden).is_empty());
    let sig = common::tls_sig(&secrets.private_map_key);
    assert!(!leaks(&format!("sig={sig}"), &forbidden).is_empty());
    assert!(!leaks(&format!("key {KEY}"), &forbidden).is_empty());
    assert!(leaks("TRTC_USER_SIG 16385 70009 alice 1400000000", &forbidden).is_empty());
}

/// Runs one combination and returns its problems.
fn check(state: State, delivery: Delivery, mode: Mode) -> Vec<String> {
    let secrets = secrets(state);
    let forbidden = forbidden(&secrets);
    let root = tempfile::tempdir().expect("a temporary directory");
    let secret_dir = root.path().join("secrets");
    let out_dir = root.path().join("out");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();

    let mut args: Vec<String> = vec!["check".into()];
    let mut env: Vec<(&str, String)> = Vec::new();
    let write = |name: &str, text: &str| {
        let path = secret_dir.join(name);
        // A final newline, as an editor or `echo` leaves it.
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path
    };
    match delivery {
        Delivery::Env => {
            env.push(("TRTC_USER_SIG", secrets.user_sig.clone()));
            env.push(("TRTC_PRIVATE_MAP_KEY", secrets.private_map_key.clone()));
            env.push(("TRTC_SECRET_KEY", secrets.key.clone()));
        }
        Delivery::Flags => {
            for (flag, name, text) in [
                ("--user-sig-file", "alice.usersig", &secrets.user_sig),
                (
                    "--private-map-key-file",
                    "alice.privatemapkey",
                    &secrets.private_map_key,
                ),
                ("--secret-key-file", "app.key", &secrets.key),
            ] {
                args.push(flag.into());
                args.push(write(name, text).display().to_string());
            }
        }
        Delivery::Profile => {
            write("alice.usersig", &secrets.user_sig);
            write("alice.privatemapkey", &secrets.private_map_key);
            write("app.key", &secrets.key);
            let profile = secret_dir.join("profile.toml");
            std::fs::write(
                &profile,
                "user_sig_file = \"alice.usersig\"\n\
                 private_map_key_file = \"alice.privatemapkey\"\n\
                 secret_key_file = \"app.key\"\n",
            )
            .unwrap();
            args.push("--profile".into());
            args.push(profile.display().to_string());
        }
    }
    args.extend(
        [
            "--only",
            "account,room",
            "--sdk-app-id",
            "1400000000",
            "--user-id",
            USER,
            "--room-id",
            "10000",
            "--require-private-map-key",
        ]
        .map(String::from),
    );
    let out = |name: &str| out_dir.join(name).display().to_string();
    let extra: Vec<String> = match mode {
        Mode::Text => vec!["--format".into(), "text".into()],
        Mode::Json => vec!["--format".into(), "json".into()],
        Mode::Junit => vec!["--format".into(), "junit".into()],
        Mode::Files => vec![
            "--quiet".into(),
            "--format".into(),
            "text".into(),
            "--output".into(),
            out("report.txt"),
            "--format".into(),
            "json".into(),
            "--output".into(),
            out("report.json"),
            "--format".into(),
            "junit".into(),
            "--output".into(),
            out("report.xml"),
            "--format".into(),
            "html".into(),
            "--output".into(),
            out("report.html"),
            "--format".into(),
            "markdown".into(),
            "--output".into(),
            out("report.md"),
            "--format".into(),
            "prometheus".into(),
            "--output".into(),
            out("report.prom"),
        ],
        Mode::DryRun => vec!["--dry-run".into()],
        Mode::Verbose | Mode::Trace => vec!["-vv".into()],
        Mode::BadTimeout => vec!["--timeout".into(), "nope".into()],
        Mode::BadFormat => vec!["--format".into(), "yaml".into()],
    };
    args.extend(extra);
    if let Mode::Trace = mode {
        env.push(("TRTC_PREFLIGHT_LOG", "trace".into()));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = common::run_in(Some(&out_dir), &args, &env_refs, &NOW.to_string());

    let mut problems = Vec::new();
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let found = leaks(text, &forbidden);
        if !found.is_empty() {
            problems.push(format!("{stream} holds {}", found.join(", ")));
        }
    }
    for (path, bytes) in common::files_under(&out_dir) {
        let found = leaks(&String::from_utf8_lossy(&bytes), &forbidden);
        if !found.is_empty() {
            problems.push(format!("{} holds {}", path.display(), found.join(", ")));
        }
    }

    // The run must have done what it was asked, or the absence of leaks proves nothing.
    let expected_exit = match (mode, state) {
        (Mode::BadTimeout | Mode::BadFormat, _) => 2,
        (Mode::DryRun, _) | (_, State::Valid) => 0,
        _ => 1,
    };
    if run.status != expected_exit {
        problems.push(format!("exit {}, expected {expected_exit}", run.status));
    }
    let detail = match state {
        State::Valid => None,
        State::Tampered => Some(("70009", "-10019")),
        State::Expired => Some(("70001", "-10019")),
    };
    let report_text = match mode {
        Mode::Files => std::fs::read_to_string(out_dir.join("report.json")).unwrap_or_default(),
        _ => run.stdout.clone(),
    };
    match mode {
        // Errors are described without quoting the report: it may hold a leaked secret.
        Mode::Json | Mode::Files => match common::json(&report_text) {
            Err(_) => problems.push("the JSON report is not JSON".into()),
            Ok(report) => {
                let errors = common::schema_errors(&report).len();
                if errors > 0 {
                    problems.push(format!(
                        "the JSON report breaks the schema in {errors} places"
                    ));
                }
                let account = common::probes(&report, "account");
                let room = common::probes(&report, "room");
                let (Some(account), Some(room)) = (account.first(), room.first()) else {
                    problems.push("no account or room probe".into());
                    return finish(state, delivery, mode, &run, problems);
                };
                let lengths = (
                    account["metrics"]["user_sig"]["length"].as_u64(),
                    room["metrics"]["private_map_key"]["length"].as_u64(),
                );
                let expected = (
                    Some(secrets.user_sig.len() as u64),
                    Some(secrets.private_map_key.len() as u64),
                );
                if lengths != expected {
                    problems.push(format!(
                        "token lengths {lengths:?} in the metrics, expected {expected:?}: the secrets were not read"
                    ));
                }
                let signature = match state {
                    State::Tampered => "mismatch",
                    _ => "verified",
                };
                for (probe, pointer) in [
                    (account, "/metrics/user_sig/signature"),
                    (room, "/metrics/private_map_key/signature"),
                ] {
                    if probe.pointer(pointer).and_then(|v| v.as_str()) != Some(signature) {
                        problems.push(format!(
                            "{pointer} is {:?}, expected {signature}: the secret key was not used",
                            probe.pointer(pointer)
                        ));
                    }
                }
            }
        },
        _ => {}
    }
    if let (
        Mode::Text | Mode::Json | Mode::Junit | Mode::Files | Mode::Verbose | Mode::Trace,
        Some((account, room)),
    ) = (mode, detail)
    {
        for code in [account, room] {
            if !report_text.contains(code) {
                problems.push(format!("the report does not mention {code}"));
            }
        }
    }
    if let Mode::DryRun = mode {
        if !run.stdout.contains("Plan (dry run") {
            problems.push("no plan on standard output".into());
        }
    }
    if let Mode::Verbose | Mode::Trace = mode {
        if run.stderr.trim().is_empty() {
            problems.push("-vv logged nothing".into());
        }
    }
    finish(state, delivery, mode, &run, problems)
}

fn finish(
    state: State,
    delivery: Delivery,
    mode: Mode,
    run: &common::Run,
    problems: Vec<String>,
) -> Vec<String> {
    if problems.is_empty() {
        return problems;
    }
    // The run's output is not shown: it may hold the very secrets this test looks for.
    vec![format!(
        "{state:?} tokens, secrets by {delivery:?}, {mode:?} (exit {}):\n  - {}",
        run.status,
        problems.join("\n  - ")
    )]
}

/// Every mode for one state and delivery, run on a few threads.
fn check_all(state: State, delivery: Delivery) {
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = MODES
            .chunks(3)
            .map(|modes| {
                scope.spawn(move || {
                    modes
                        .iter()
                        .flat_map(|mode| check(state, delivery, *mode))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a check thread panicked"))
            .collect()
    });
    common::assert_no_problems(&format!("{state:?} tokens by {delivery:?}"), &problems);
}

#[test]
fn valid_tokens_from_the_environment() {
    check_all(State::Valid, Delivery::Env);
}

#[test]
fn valid_tokens_from_files() {
    check_all(State::Valid, Delivery::Flags);
}

#[test]
fn valid_tokens_from_a_profile() {
    check_all(State::Valid, Delivery::Profile);
}

#[test]
fn tampered_tokens_from_the_environment() {
    check_all(State::Tampered, Delivery::Env);
}

#[test]
fn tampered_tokens_from_files() {
    check_all(State::Tampered, Delivery::Flags);
}

#[test]
fn tampered_tokens_from_a_profile() {
    check_all(State::Tampered, Delivery::Profile);
}

#[test]
fn expired_tokens_from_the_environment() {
    check_all(State::Expired, Delivery::Env);
}

#[test]
fn expired_tokens_from_files() {
    check_all(State::Expired, Delivery::Flags);
}

#[test]
fn expired_tokens_from_a_profile() {
    check_all(State::Expired, Delivery::Profile);
}

/// Undecodable tokens are secrets too: the decode error must not quote them.
#[test]
fn undecodable_tokens_are_not_quoted() {
    let user_sig = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkEnMyk1NhUsUp2YkFBZ";
    let private_map_key = "this-is-not-a-privateMapKey-but-a-secret-all-the-same-9f8e7d";
    let secrets = Secrets {
        user_sig: user_sig.into(),
        private_map_key: private_map_key.into(),
        key: KEY.into(),
    };
    let mut forbidden: Vec<(String, String)> = Vec::new();
    for (label, text) in [
        ("the userSig", user_sig),
        ("the privateMapKey", private_map_key),
        ("the secret key", KEY),
    ] {
        let chars: Vec<char> = text.chars().collect();
        for start in 0..=chars.len() - PIECE {
            forbidden.push((
                format!("{label}[{start}..]"),
                chars[start..start + PIECE].iter().collect(),
            ));
        }
    }
    let mut problems = Vec::new();
    for format in ["text", "json", "junit"] {
        let run = common::run(
            &[
                "check",
                "--only",
                "account,room",
                "--sdk-app-id",
                "1400000000",
                "--user-id",
                USER,
                "--room-id",
                "10000",
                "-vv",
                "--format",
                format,
            ],
            &[
                ("TRTC_USER_SIG", &secrets.user_sig),
                ("TRTC_PRIVATE_MAP_KEY", &secrets.private_map_key),
                ("TRTC_SECRET_KEY", &secrets.key),
            ],
            &NOW.to_string(),
        );
        if run.status != 1 {
            problems.push(format!("{format}: exit {}, expected 1", run.status));
        }
        for code in ["70003", "-10019"] {
            if !run.stdout.contains(code) {
                problems.push(format!("{format}: the report does not mention {code}"));
            }
        }
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            let found = leaks(text, &forbidden);
            if !found.is_empty() {
                problems.push(format!("{format}: {stream} holds {}", found.join(", ")));
            }
        }
    }
    common::assert_no_problems("undecodable tokens", &problems);
}

/// A secret file that cannot be read is a configuration error that names the file, not its text.
#[test]
fn unreadable_secret_file_names_the_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.key");
    let user_sig = sign(KEY, APP_ID, USER, NOW - 3600, 30 * DAY as u64, None);
    let run = common::run(
        &[
            "check",
            "--only",
            "account",
            "--sdk-app-id",
            "1400000000",
            "--user-id",
            USER,
            "--secret-key-file",
            &missing.display().to_string(),
        ],
        &[("TRTC_USER_SIG", &user_sig)],
        &NOW.to_string(),
    );
    assert_eq!(run.status, 2, "exit status");
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "the error names the file: {}",
        run.stderr
    );
    let forbidden = forbidden(&Secrets {
        private_map_key: user_sig.clone(),
        user_sig,
        key: KEY.into(),
    });
    for text in [&run.stdout, &run.stderr] {
        let found = leaks(text, &forbidden);
        assert!(found.is_empty(), "leaked: {}", found.join(", "));
    }
}
