//! The agent's HTTP API and its defences, over real sockets: the binary started with
//! `agent --port 0`, requests written by hand so that every header (Host, Origin, the token)
//! is exactly what a test wants. Every refusal has its own test.

mod lab;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running agent; killed on drop.
struct Agent {
    child: Child,
    port: u16,
}

impl Agent {
    fn start(args: &[&str]) -> Agent {
        let mut child = lab::preflight(None)
            .args(["agent", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the agent starts");
        let mut port = None;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("agent http://127.0.0.1:") {
                port = url.trim_end_matches('/').parse().ok();
            }
            if line.starts_with("ready") {
                break;
            }
        }
        Agent {
            child,
            port: port.expect("an `agent URL` line"),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends a request with exactly these headers; returns the status, the headers (lowercase
    /// names) and the body.
    fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|line| line.split_once(": "))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }

    /// A request as the agent's own page sends it: the right Host, and the token.
    fn call(&self, method: &str, path: &str, token: &str, body: &str) -> Answer {
        let bearer = format!("Bearer {token}");
        self.raw(
            method,
            path,
            &[("Host", &self.host()), ("Authorization", &bearer)],
            body,
        )
    }

    /// Loads the page and returns the token in it.
    fn page_token(&self) -> String {
        let page = self.raw("GET", "/", &[("Host", &self.host())], "");
        assert_eq!(page.status, 200);
        // The only run of 32 hex digits between quotes in the page.
        let bytes = page.body.as_bytes();
        (0..bytes.len().saturating_sub(33))
            .find(|&at| {
                bytes[at] == b'"'
                    && bytes[at + 33] == b'"'
                    && bytes[at + 1..at + 33].iter().all(u8::is_ascii_hexdigit)
            })
            .map(|at| page.body[at + 1..at + 33].to_string())
            .expect("the page holds its token")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[test]
fn a_foreign_host_is_refused_before_anything_else() {
    let agent = Agent::start(&[]);
    // DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1.
    for host in [
        format!("attacker.example:{}", agent.port),
        format!("127.0.0.1:{}", agent.port + 1),
        "127.0.0.1".to_string(),
        String::new(),
    ] {
        let answer = agent.raw("GET", "/", &[("Host", &host)], "");
        assert_eq!(answer.status, 421, "{host}");
        assert_eq!(answer.json()["error"], "host_not_allowed");
    }
    // The page's own names pass.
    for host in [agent.host(), format!("localhost:{}", agent.port)] {
        assert_eq!(agent.raw("GET", "/", &[("Host", &host)], "").status, 200);
    }
}

#[test]
fn a_foreign_origin_is_refused_even_with_a_token() {
    let agent = Agent::start(&["--allow-origin", "https://app.example"]);
    let token = agent.page_token();
    let bearer = format!("Bearer {token}");
    let answer = agent.raw(
        "POST",
        "/api/v1/checks",
        &[
            ("Host", &agent.host()),
            ("Origin", "https://evil.example"),
            ("Authorization", &bearer),
        ],
        "{}",
    );
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"], "origin_not_allowed");
    assert!(answer.header("access-control-allow-origin").is_none());
    // A foreign origin cannot get a token either.
    let answer = agent.raw(
        "POST",
        "/api/v1/tokens",
        &[("Host", &agent.host()), ("Origin", "https://evil.example")],
        "",
    );
    assert_eq!(answer.status, 403);
}

#[test]
fn no_token_or_a_wrong_one_is_refused() {
    let agent = Agent::start(&[]);
    let answer = agent.raw("GET", "/api/v1/agent", &[("Host", &agent.host())], "");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"], "token_required");
    let answer = agent.call("POST", "/api/v1/checks", &"0".repeat(32), "{}");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"], "token_invalid");
    // A page token works.
    let token = agent.page_token();
    let info = agent.call("GET", "/api/v1/agent", &token, "").json();
    assert_eq!(info["api"], "v1");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn an_allowed_origin_gets_a_token_of_its_own_and_cors_headers() {
    let agent = Agent::start(&["--allow-origin", "https://App.Example/"]);
    let origin = [
        ("Host", agent.host()),
        ("Origin", "https://app.example".to_string()),
    ];
    let headers: Vec<(&str, &str)> = origin.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let preflight = agent.raw("OPTIONS", "/api/v1/checks", &headers, "");
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
    let issued = agent.raw("POST", "/api/v1/tokens", &headers, "");
    assert_eq!(issued.status, 201);
    let token = issued.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let mut with_token = headers.clone();
    with_token.push(("Authorization", &bearer));
    let info = agent.raw("GET", "/api/v1/agent", &with_token, "");
    assert_eq!(info.status, 200);
    assert_eq!(
        info.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // Another origin's page token does not work from the app, and the app's token does not
    // work from the page: tokens are bound to where they were issued.
    let page_token = agent.page_token();
    let bearer = format!("Bearer {page_token}");
    let mut wrong = headers.clone();
    wrong.push(("Authorization", &bearer));
    assert_eq!(agent.raw("GET", "/api/v1/agent", &wrong, "").status, 401);
    assert_eq!(agent.call("GET", "/api/v1/agent", &token, "").status, 401);
    // Only the page learns the relays' credentials.
    assert!(info.json()["plan"].get("browser").is_none());
}

#[test]
fn a_check_runs_the_plan_and_never_a_target_from_a_request() {
    let serve = lab::Serve::start(None, &["--listen", "127.0.0.1", "--signal-ws", "0"]);
    let peer = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    let agent = Agent::start(&["--peer", &peer]);
    let token = agent.page_token();
    for (body, message) in [
        (
            json!({"target": "10.0.0.1"}),
            "unknown field \"target\": a check takes \"browser\" and \"only\" (targets come from the agent's plan, never from a request)",
        ),
        (
            json!({"only": ["stun"]}),
            "the agent's plan has no stun probe: only its own probes can run",
        ),
        (json!({"only": ["nmap"]}), "\"nmap\" is not a probe kind"),
        (json!({"browser": "yes"}), "\"browser\" is true or false"),
    ] {
        let answer = agent.call("POST", "/api/v1/checks", &token, &body.to_string());
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json()["message"], message);
    }
    let started = agent.call(
        "POST",
        "/api/v1/checks",
        &token,
        &json!({"only": ["webrtc"]}).to_string(),
    );
    assert_eq!(started.status, 201, "{}", started.body);
    let started = started.json();
    let id = started["id"].as_str().unwrap();
    // The events: `devices` at once (no probe of this check opens a device), each finished
    // probe, then the report; the stream then ends.
    let events = agent.call("GET", started["events"].as_str().unwrap(), &token, "");
    assert_eq!(events.status, 200);
    assert_eq!(
        events.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let names: Vec<&str> = events
        .body
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(names, ["devices", "probe", "report"]);
    let report = agent
        .call("GET", started["report"].as_str().unwrap(), &token, "")
        .json();
    let schema: Value = serde_json::from_str(preflight_reports::SCHEMA_JSON).unwrap();
    assert!(jsonschema::validator_for(&schema)
        .unwrap()
        .is_valid(&report));
    assert_eq!(report["verdict"], "pass", "{report:#}");
    assert_eq!(report["probes"][0]["id"], format!("webrtc/{peer}"));
    let status = agent
        .call("GET", &format!("/api/v1/checks/{id}"), &token, "")
        .json();
    assert_eq!(status["state"], "done");
    // The same report as the self-contained HTML page of `check --format html`.
    let page = agent.call(
        "GET",
        &format!("/api/v1/checks/{id}/report.html"),
        &token,
        "",
    );
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.body.starts_with("<!DOCTYPE html>") || page.body.starts_with("<!doctype html>"),
        "{}",
        &page.body[..100]
    );
    assert!(page.body.contains(&format!("webrtc/{peer}")));
    // Another token does not see this check.
    let other = agent.page_token();
    assert_eq!(
        agent
            .call("GET", &format!("/api/v1/checks/{id}/report"), &other, "")
            .status,
        404
    );
}

#[test]
fn browser_results_are_taken_once_and_only_when_asked_for() {
    let agent = Agent::start(&["--only", "account", "--browser-wait", "2s"]);
    let token = agent.page_token();
    let without = agent.call("POST", "/api/v1/checks", &token, "{}").json();
    let path = format!("/api/v1/checks/{}/browser", without["id"].as_str().unwrap());
    let answer = agent.call("POST", &path, &token, "{}");
    assert_eq!(answer.status, 409);
    assert_eq!(answer.json()["error"], "browser_not_wanted");

    let with = agent
        .call("POST", "/api/v1/checks", &token, r#"{"browser": true}"#)
        .json();
    let path = with["browser"].as_str().unwrap();
    assert_eq!(agent.call("POST", path, &token, "[1]").status, 400);
    assert_eq!(
        agent
            .call("POST", path, &token, r#"{"user_agent": "x"}"#)
            .status,
        204
    );
    let again = agent.call("POST", path, &token, r#"{"user_agent": "x"}"#);
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"], "already_received");
}

#[test]
fn the_page_is_told_when_the_native_device_probes_have_let_go_of_the_devices() {
    // The page's getUserMedia waits for `devices`: a camera opened by the native probe and
    // the browser at once would be busy for one of them.
    let agent = Agent::start(&[
        "--only",
        "camera,microphone,environment,account",
        "--browser-wait",
        "1s",
    ]);
    let token = agent.page_token();
    let check = agent
        .call("POST", "/api/v1/checks", &token, r#"{"browser": true}"#)
        .json();
    let events = agent.call("GET", check["events"].as_str().unwrap(), &token, "");
    let mut order = Vec::new();
    let mut name = "";
    for line in events.body.lines() {
        if let Some(event) = line.strip_prefix("event: ") {
            name = event;
        } else if let Some(data) = line.strip_prefix("data: ") {
            let data: Value = serde_json::from_str(data).unwrap();
            match name {
                "probe" => order.push(data["kind"].as_str().unwrap().to_string()),
                "devices" => {
                    assert_eq!(data, json!({"released": true}));
                    order.push("devices".to_string());
                }
                _ => {}
            }
        }
    }
    let released = order.iter().position(|entry| entry == "devices").unwrap();
    let mut before: Vec<&str> = order[..released].iter().map(String::as_str).collect();
    before.retain(|kind| *kind != "account");
    before.sort_unstable();
    assert_eq!(before, ["camera", "environment", "microphone"], "{order:?}");
    assert_eq!(order.iter().filter(|entry| *entry == "devices").count(), 1);
}

#[test]
fn a_page_that_never_sends_its_results_is_a_warning_after_the_wait() {
    let agent = Agent::start(&["--only", "account", "--browser-wait", "1s"]);
    let token = agent.page_token();
    let started = Instant::now();
    let check = agent
        .call("POST", "/api/v1/checks", &token, r#"{"browser": true}"#)
        .json();
    let events = agent.call("GET", check["events"].as_str().unwrap(), &token, "");
    assert!(started.elapsed() < Duration::from_secs(10));
    let report = agent
        .call("GET", check["report"].as_str().unwrap(), &token, "")
        .json();
    let browser = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|probe| probe["kind"] == "browser")
        .unwrap();
    assert_eq!(browser["status"], "warn", "{browser:#}");
    assert_eq!(
        browser["findings"][0]["evidence"],
        "The page did not send its results within 1 s of the start."
    );
    assert!(events.body.contains("event: report"));
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = lab::preflight(None)
        .args(["agent", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: --port {port}: 127.0.0.1:{port} is in use")),
        "{stderr}"
    );
}

#[test]
fn bad_agent_options_name_the_flag() {
    for (args, start) in [
        (
            vec!["--allow-origin", "*.example"],
            "error: --allow-origin *.example: ",
        ),
        (
            vec!["--browser-wait", "soon"],
            "error: --browser-wait soon: ",
        ),
    ] {
        let output = lab::preflight(None)
            .arg("agent")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(start), "{stderr}");
    }
}
