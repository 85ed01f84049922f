//! Secrets of the network probes never leave the process either: serve's token and a TURN
//! password, given to `serve`, `check` (every network probe, every format, at the highest log
//! level) and `agent`, appear in no output, no log and no report file. (The agent hands the relay
//! password to its own page only, so that the user's browser can use the relay; that answer is
//! the one place it may appear, and only for the page's token.)

mod lab;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

const TOKEN: &str = "Tk7wQ2mZp9LxV4cR8nJd3sHf6gYb1uEa";
const PASSWORD: &str = "Pw5nB8vX2qLm7zR4kT9cJ3hF6dS1gYwe";

fn leaks(text: &str) -> Vec<&'static str> {
    [TOKEN, PASSWORD]
        .into_iter()
        .filter(|secret| {
            // Any 16-character piece, as the account secrets test does.
            (0..=secret.len() - 16).any(|at| text.contains(&secret[at..at + 16]))
        })
        .collect()
}

#[test]
fn serve_check_and_agent_keep_the_token_and_the_relay_password() {
    let user = format!("bob:{PASSWORD}");
    let relay = lab::Relay::start(None, "127.0.0.1", &["--user", &user]);
    // serve with its token, logging everything.
    let mut serve = lab::preflight(None)
        .env("TRTC_PREFLIGHT_TOKEN", TOKEN)
        .env("TRTC_PREFLIGHT_LOG", "trace")
        .args([
            "serve",
            "-vv",
            "--listen",
            "127.0.0.1",
            "--stun-udp",
            "0",
            "--stun-tcp",
            "0",
        ])
        .args(["--signal-ws", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its trace log is large: read it as it comes, or serve blocks on a full pipe.
    let mut serve_stderr = serve.stderr.take().unwrap();
    let serve_err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = serve_stderr.read_to_string(&mut text);
        text
    });
    let mut serve_out = String::new();
    let (mut udp, mut tcp, mut ws) = (0, 0, 0);
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        serve_out.push_str(&line);
        serve_out.push('\n');
        let port = |prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|address| address.rsplit(':').next())
                .and_then(|port| port.parse::<u16>().ok())
        };
        udp = port("stun/udp ").unwrap_or(udp);
        tcp = port("stun/tcp ").unwrap_or(tcp);
        ws = port("signal/ws ").unwrap_or(ws);
        if line.starts_with("ready") {
            break;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let turn = format!("turn:127.0.0.1:{}?transport=udp", relay.port);
    let turns = format!("turns:127.0.0.1:{}", relay.tls_port);
    let peer = format!("ws://127.0.0.1:{ws}/");
    let mut args: Vec<String> = [
        "check",
        "-vv",
        "--ports",
        "127.0.0.1",
        "--udp-ports",
        &udp.to_string(),
        "--tcp-ports",
        &tcp.to_string(),
        "--stun",
        &format!("127.0.0.1:{udp}"),
        "--signal",
        &peer,
        "--peer",
        &peer,
        "--turn",
        &turn,
        "--turn",
        &turns,
        "--pin",
        &relay.pin,
        "--turn-user",
        "bob",
        "--quality-duration",
        "200ms",
        "--throughput-duration",
        "500ms",
        "--only",
        "stun,ports,mtu,signaling,webrtc,turn,quality,throughput",
        "--format",
        "text",
    ]
    .map(String::from)
    .to_vec();
    for (format, name) in [
        ("json", "r.json"),
        ("junit", "r.xml"),
        ("html", "r.html"),
        ("markdown", "r.md"),
        ("prometheus", "r.prom"),
    ] {
        args.extend([
            "--format".into(),
            format.into(),
            "--output".into(),
            out(name),
        ]);
    }
    let output = lab::preflight(None)
        .env("TRTC_PREFLIGHT_TOKEN", TOKEN)
        .env("TRTC_PREFLIGHT_TURN_PASSWORD", PASSWORD)
        .env("TRTC_PREFLIGHT_LOG", "trace")
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The run did its work (or the absence of leaks proves nothing).
    assert!(stdout.contains("PASS  turn"), "{stdout}\n{stderr}");
    assert!(stdout.contains("PASS  throughput"), "{stdout}");
    assert!(stdout.contains("PASS  webrtc"), "{stdout}");
    assert!(!stderr.is_empty(), "trace logging wrote nothing");
    assert_eq!(leaks(&stdout), Vec::<&str>::new(), "check's stdout");
    assert_eq!(leaks(&stderr), Vec::<&str>::new(), "check's stderr");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(leaks(&text), Vec::<&str>::new(), "{}", path.display());
    }

    // The agent, with the same secrets, logging everything.
    let mut agent = lab::preflight(None)
        .env("TRTC_PREFLIGHT_TOKEN", TOKEN)
        .env("TRTC_PREFLIGHT_TURN_PASSWORD", PASSWORD)
        .env("TRTC_PREFLIGHT_LOG", "trace")
        .args([
            "agent",
            "-vv",
            "--port",
            "0",
            "--turn",
            &turn,
            "--turn-user",
            "bob",
        ])
        .args(["--peer", &peer, "--only", "turn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut agent_out = String::new();
    for line in BufReader::new(agent.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        agent_out.push_str(&line);
        agent_out.push('\n');
        if line.starts_with("ready") {
            break;
        }
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let mut agent_err = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut agent_err)
        .unwrap();
    assert!(agent_out.contains("agent http://127.0.0.1:"), "{agent_out}");
    assert_eq!(leaks(&agent_out), Vec::<&str>::new(), "agent's stdout");
    assert_eq!(leaks(&agent_err), Vec::<&str>::new(), "agent's stderr");

    // serve's own output, once stopped.
    let _ = serve.kill();
    let _ = serve.wait();
    for line in lines {
        serve_out.push_str(&line.unwrap_or_default());
    }
    let serve_err = serve_err.join().unwrap();
    assert!(serve_out.contains("token on"), "{serve_out}");
    assert_eq!(leaks(&serve_out), Vec::<&str>::new(), "serve's stdout");
    assert_eq!(leaks(&serve_err), Vec::<&str>::new(), "serve's stderr");
}
