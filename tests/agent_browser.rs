//! The agent's page in a real browser: Debian's headless Chromium, driven over WebDriver by
//! Debian's `chromedriver` (the `fantoccini` crate speaks WebDriver), opens
//! `trtc-preflight agent`'s page, presses "Check my call", waits for the verdict, and reads the
//! findings from the DOM and the report from the agent's API; the two must agree.
//!
//! Each test starts its own chromedriver on a free loopback port (`--port=0`), one Chromium
//! session with the safe flags of `tests/peers/browser_harness.py` and a fresh profile, and
//! its own agent. chromedriver runs in a process group of its own that holds Chromium too;
//! the group is killed when the test ends, a panic included. Chromium speaks to chromedriver
//! over a pipe (`--remote-debugging-pipe`): it opens no DevTools port, and it can run inside a
//! network namespace while chromedriver and the test stay outside (the WebRTC tests).
//!
//! Traffic: loopback only, or inside network namespaces the test creates. Chromium resolves no
//! name (`--host-resolver-rules`), and its background networking is off.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`); the WebRTC tests need root and iproute2/nftables for their namespaces.
//! Without the browser a test says so and passes, unless `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI)
//! makes that a failure. Every finished page leaves artefacts under
//! `$CARGO_TARGET_TMPDIR/agent_browser/` (the path is printed): `NAME.png` (a screenshot of the
//! whole page), `NAME.report.json` (the agent's report) and `NAME.posted.json` (the browser
//! results the page posted).

mod lab;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use lab::{Netns, Serve};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags of `tests/peers/browser_harness.py` that every session gets (the resolver rules,
/// the profile and the media flags are added per test).
const SAFE_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    // chromedriver talks to Chromium over fds 3 and 4, not a DevTools TCP port.
    "--remote-debugging-pipe",
    "--window-size=1000,1000",
];

/// Fake camera and microphone (a test pattern and a beep), every permission prompt accepted,
/// and audio allowed to play without a gesture.
const FAKE_DEVICES: &[&str] = &[
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
];

/// How long a page may take from the click to its verdict.
const CHECK_WAIT: Duration = Duration::from_secs(90);

/// A tool this environment lacks: fails with `TRTC_PREFLIGHT_REQUIRE_PEERS=1`, else says why
/// the test is skipped (the caller then returns).
fn missing(what: &str) {
    if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
    }
    eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
}

/// Whether Chromium and chromedriver are installed (else `missing` said why).
fn browser_installed() -> bool {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if !Path::new(path).is_file() {
            missing(&format!("no {path} (Debian package {package})"));
            return false;
        }
    }
    true
}

/// A process the test started, in a process group of its own: its stdout lines on a channel,
/// its stderr collected; on drop (a panic included) the whole group gets SIGKILL.
struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command) -> Proc {
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{name} could not start: {error}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end even when nobody listens: the process never blocks on a pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..read]));
            }
        });
        Proc {
            name,
            child,
            lines,
            stderr,
        }
    }

    /// Waits at most `limit` for a line that `wanted` accepts; returns what it made of it.
    fn wait_line<T>(&self, limit: Duration, mut wanted: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = wanted(&line) {
                        return value;
                    }
                }
                Err(error) => panic!(
                    "{}: no expected line within {limit:?} ({error}); stderr:\n{}",
                    self.name,
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `trtc-preflight agent --port 0 ARGS` (inside `namespace` if given), killed on drop.
struct Agent {
    /// Killed on drop.
    _process: Proc,
    port: u16,
}

impl Agent {
    fn start(namespace: Option<&Netns>, args: &[&str]) -> Agent {
        let proc = Proc::spawn(
            "trtc-preflight agent",
            lab::preflight(namespace)
                .args(["agent", "--port", "0"])
                .args(args),
        );
        let port = proc.wait_line(Duration::from_secs(20), |line| {
            line.strip_prefix("agent http://127.0.0.1:")
                .and_then(|rest| rest.trim_end_matches('/').parse::<u16>().ok())
        });
        proc.wait_line(Duration::from_secs(10), |line| {
            line.starts_with("ready").then_some(())
        });
        Agent {
            _process: proc,
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `GET path` with the page's token, straight from the test (the agent on this loopback).
    fn get(&self, path: &str, token: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, body.to_string())
    }
}

/// The agent as the test reaches it.
enum Reach<'a> {
    /// On this loopback: the report is fetched by the test itself.
    Direct(&'a Agent),
    /// Inside a namespace: the report is fetched by the page's browser (same API and token).
    ThroughBrowser,
}

/// chromedriver, and one Chromium session through it.
struct Browser {
    client: Option<Client>,
    /// chromedriver, whose process group holds Chromium: killed on drop.
    _driver: Proc,
    /// The profile, the wrapper and chromedriver's log; removed after the group is killed.
    work: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a session with the safe flags plus `flags`. With `namespace`,
    /// Chromium runs inside it (chromedriver starts it through `ip netns exec`);
    /// `resolver_exclude` lists IP literals Chromium may reach besides 127.0.0.1 (the resolver
    /// rules map every name, IP literals included, to "not found").
    async fn start(
        flags: &[&str],
        namespace: Option<&Netns>,
        resolver_exclude: &[&str],
    ) -> Browser {
        let work = tempfile::Builder::new()
            .prefix("trtc-agent-browser-")
            .tempdir()
            .unwrap();
        let log = work.path().join("chromedriver.log");
        let driver = Proc::spawn(
            "chromedriver",
            Command::new(CHROMEDRIVER)
                .arg("--port=0")
                .arg(format!("--log-path={}", log.display())),
        );
        let port: u16 = driver.wait_line(Duration::from_secs(20), |line| {
            line.split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').parse().ok())
        });
        let binary = match namespace {
            None => PathBuf::from(CHROMIUM),
            Some(namespace) => {
                let wrapper = work.path().join("chromium-in-netns.sh");
                std::fs::write(
                    &wrapper,
                    format!(
                        "#!/bin/sh\nexec ip netns exec {} {CHROMIUM} \"$@\"\n",
                        namespace.name
                    ),
                )
                .unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
                wrapper
            }
        };
        let mut rules = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string();
        for address in resolver_exclude {
            rules.push_str(&format!(", EXCLUDE {address}"));
        }
        let mut args: Vec<String> = SAFE_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(rules);
        args.push(format!(
            "--user-data-dir={}",
            work.path().join("profile").display()
        ));
        args.extend(flags.iter().map(|flag| flag.to_string()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": binary, "args": args}),
        );
        capabilities.insert(
            "timeouts".into(),
            json!({"script": 30_000, "pageLoad": 30_000, "implicit": 0}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap_or_else(|_| panic!("no WebDriver session within 60 s:\n{}", tail_of(&log)))
        .unwrap_or_else(|error| panic!("no WebDriver session ({error}):\n{}", tail_of(&log)));
        Browser {
            client: Some(client),
            _driver: driver,
            work,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// chromedriver's log, its end.
    fn log_tail(&self) -> String {
        tail_of(&self.work.path().join("chromedriver.log"))
    }

    /// Runs `script` (a function body; `arguments` as WebDriver passes them), bounded.
    async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        tokio::time::timeout(Duration::from_secs(30), self.client().execute(script, args))
            .await
            .expect("a script answers within 30 s")
            .unwrap_or_else(|error| panic!("script failed ({error}): {script}"))
    }

    /// Opens `url` as a link would: WebDriver's own navigation counts as one the user typed,
    /// and Chromium then lets that document play audio without a gesture whatever
    /// `--autoplay-policy` says (seen with Chromium 156: `audio.play()` at load resolves under
    /// `document-user-activation-required`). So: `about:blank`, then a script navigation.
    async fn open(&self, url: &str) {
        let client = self.client();
        tokio::time::timeout(Duration::from_secs(30), client.goto("about:blank"))
            .await
            .expect("about:blank within 30 s")
            .expect("about:blank");
        self.execute("location.href = arguments[0];", vec![json!(url)])
            .await;
        let started = Instant::now();
        while self
            .execute(
                "return location.href === arguments[0] && document.readyState === 'complete';",
                vec![json!(url)],
            )
            .await
            != true
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{url} did not load within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session (Chromium exits); the group is killed on drop anyway.
    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
    }
}

fn tail_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(text.len());
    text[start..].to_string()
}

/// A finding as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shown {
    probe: String,
    severity: String,
    code: Option<u64>,
}

/// A finished page: what the DOM says and what the agent's API says.
struct Finished {
    verdict: String,
    findings: Vec<Shown>,
    error: String,
    report: Value,
    /// The browser results the page posted to the agent (seen by wrapping `fetch`).
    posted: Value,
    screenshot: PathBuf,
}

impl Finished {
    fn probe(&self, id: &str) -> &Value {
        lab::probe(&self.report, id)
    }

    /// The findings of `probe` with `code`.
    fn coded(&self, probe: &str, code: u64) -> Vec<&Value> {
        self.probe(probe)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|finding| finding["code"] == code)
            .collect()
    }

    fn context(&self) -> String {
        format!(
            "verdict {}, #error {:?}, DOM findings {:?}\nreport: {:#}\nthe page posted: {:#}\nscreenshot: {}",
            self.verdict,
            self.error,
            self.findings,
            self.report,
            self.posted,
            self.screenshot.display()
        )
    }
}

/// The only run of 32 hex digits between double quotes in `text`: the page's token.
fn page_token(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(33))
        .find(|&at| {
            bytes[at] == b'"'
                && bytes[at + 33] == b'"'
                && bytes[at + 1..at + 33].iter().all(u8::is_ascii_hexdigit)
        })
        .map(|at| text[at + 1..at + 33].to_string())
}

/// An artefact's path: `name` with `extension`, under the target's tmp directory.
fn artefact(name: &str, extension: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent_browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.{extension}"))
}

/// Wraps the page's `fetch` so that the body of its `POST …/browser` is kept in
/// `window.__posted` (passed through unchanged).
const CAPTURE_POSTED: &str = "window.__posted = null;
const original = window.fetch;
window.fetch = function (input, init) {
  if (init && init.method === 'POST' && String(input).endsWith('/browser')) window.__posted = init.body;
  return original.apply(this, arguments);
};";

/// Opens the agent's page, presses `#start`, waits for `body[data-done="1"]`, reads the
/// verdict and the findings, keeps a screenshot as `name`.png, and fetches the report.
async fn run_page(browser: &Browser, page_url: &str, reach: Reach<'_>, name: &str) -> Finished {
    let client = browser.client();
    browser.open(page_url).await;
    let token = page_token(
        &tokio::time::timeout(Duration::from_secs(10), client.source())
            .await
            .expect("the source within 10 s")
            .unwrap(),
    )
    .expect("the page holds its token");
    // The button is enabled once the page has read the plan.
    let started = Instant::now();
    let start = client.find(Locator::Id("start")).await.expect("#start");
    while !start.is_enabled().await.unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "#start still disabled after 15 s: {}",
            browser
                .execute("return document.body.innerText", vec![])
                .await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.execute(CAPTURE_POSTED, vec![]).await;
    start.click().await.expect("#start clicks");
    let clicked = Instant::now();
    loop {
        let done = client
            .find_all(Locator::Css("body[data-done=\"1\"]"))
            .await
            .unwrap();
        if !done.is_empty() {
            break;
        }
        if clicked.elapsed() > CHECK_WAIT {
            let shot = artefact(&format!("{name}-unfinished"), "png");
            if let Ok(png) = client.screenshot().await {
                let _ = std::fs::write(&shot, png);
            }
            panic!(
                "no verdict {CHECK_WAIT:?} after the click; the page says:\n{}\nscreenshot: {}\nchromedriver:\n{}",
                browser
                    .execute("return document.body.innerText", vec![])
                    .await,
                shot.display(),
                browser.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("{name}: verdict {:?} after the click", clicked.elapsed());
    let verdict = client
        .find(Locator::Id("verdict"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let error = client
        .find(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut findings = Vec::new();
    for element in client
        .find_all(Locator::Css("#findings .finding"))
        .await
        .unwrap()
    {
        let attr = |value: Option<String>| value.unwrap_or_default();
        let code = attr(element.attr("data-code").await.unwrap());
        findings.push(Shown {
            probe: attr(element.attr("data-probe").await.unwrap()),
            severity: attr(element.attr("data-severity").await.unwrap()),
            code: if code.is_empty() {
                None
            } else {
                Some(
                    code.parse()
                        .unwrap_or_else(|_| panic!("data-code {code:?}")),
                )
            },
        });
    }
    // The whole page in one picture: the viewport as tall as the document (the window is
    // taller than its viewport by the browser's own frame, measured here).
    for _ in 0..2 {
        let sizes = browser
            .execute(
                "return [window.outerHeight - window.innerHeight, document.documentElement.scrollHeight];",
                vec![],
            )
            .await;
        let frame = sizes[0].as_u64().unwrap_or(0);
        let document = sizes[1].as_u64().unwrap_or(1000);
        let height = (frame + document).clamp(600, 8000);
        let _ = client.set_window_size(1000, height as u32).await;
    }
    let png = tokio::time::timeout(Duration::from_secs(20), client.screenshot())
        .await
        .expect("a screenshot within 20 s")
        .expect("a screenshot");
    let screenshot = artefact(name, "png");
    std::fs::write(&screenshot, png).unwrap();
    eprintln!("{name}: screenshot {}", screenshot.display());
    let posted = browser.execute("return window.__posted", vec![]).await;
    let posted: Value = posted.as_str().map_or(Value::Null, |text| {
        serde_json::from_str(text).unwrap_or(json!(text))
    });
    std::fs::write(
        artefact(name, "posted.json"),
        serde_json::to_string_pretty(&posted).unwrap(),
    )
    .unwrap();
    // The page's token sees only its own checks; this agent's first check is c1.
    let path = "/api/v1/checks/c1/report";
    let report: Value = match reach {
        Reach::Direct(agent) => {
            let (status, body) = agent.get(path, &token);
            assert_eq!(status, 200, "GET {path}: {body}");
            serde_json::from_str(&body).unwrap()
        }
        Reach::ThroughBrowser => {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                client.execute_async(
                    "const [path, token, done] = arguments;
                     fetch(path, {headers: {Authorization: `Bearer ${token}`}, cache: 'no-store'})
                       .then(r => r.text().then(body => done({status: r.status, body})))
                       .catch(e => done({status: 0, body: String(e)}));",
                    vec![json!(path), json!(token)],
                ),
            )
            .await
            .expect("the report within 30 s")
            .unwrap();
            assert_eq!(answer["status"], 200, "GET {path}: {answer}");
            serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
        }
    };
    std::fs::write(
        artefact(name, "report.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    lab::validate(&report);
    let finished = Finished {
        verdict,
        findings,
        error,
        report,
        posted,
        screenshot,
    };
    // The DOM shows the report: its verdict, and one `.finding` per finding.
    assert_eq!(
        finished.verdict,
        finished.report["verdict"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase(),
        "{}",
        finished.context()
    );
    let mut in_report: Vec<Shown> = finished.report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|probe| {
            probe["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |finding| Shown {
                    probe: probe["id"].as_str().unwrap().to_string(),
                    severity: finding["severity"].as_str().unwrap().to_string(),
                    code: finding["code"].as_u64(),
                })
        })
        .collect();
    let mut shown = finished.findings.clone();
    in_report.sort();
    shown.sort();
    assert_eq!(shown, in_report, "{}", finished.context());
    finished
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_in_chromium() {
    if !browser_installed() {
        return;
    }
    let agent = Agent::start(None, &["--only", "browser"]);
    let browser = Browser::start(FAKE_DEVICES, None, &[]).await;
    let client = browser.client();
    browser.open(&agent.url()).await;
    let title = client.title().await.unwrap();
    assert_eq!(title, "TRTC call check");
    let source = client.source().await.unwrap();
    assert!(page_token(&source).is_some(), "no token in the page");
    client.find(Locator::Id("start")).await.expect("#start");
    browser.close().await;
    drop(agent);
}

/// The report's microphone level, in dBFS (`rms_dbfs` in its metrics).
fn level(finished: &Finished, metric: &str) -> f64 {
    finished.probe("browser/microphone")["metrics"][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no microphone {metric}: {}", finished.context()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_devices_pass_the_tone_is_heard_and_h264_agrees_with_get_capabilities() {
    if !browser_installed() {
        return;
    }
    // The native device probes run in the same check: the page waits for them to let go of
    // the devices before its own getUserMedia (this machine has no camera or sound server, so
    // the native ones find none, and the browser's fake devices still pass).
    let agent = Agent::start(None, &["--only", "browser,camera,microphone,environment"]);
    let browser = Browser::start(FAKE_DEVICES, None, &[]).await;
    let done = run_page(
        &browser,
        &agent.url(),
        Reach::Direct(&agent),
        "fake_devices",
    )
    .await;
    for id in ["camera/default", "microphone/default", "environment"] {
        assert!(
            ["pass", "warn", "fail"].contains(&done.probe(id)["status"].as_str().unwrap_or("")),
            "{id} did not run: {}",
            done.context()
        );
    }
    for id in [
        "browser/support",
        "browser/microphone",
        "browser/camera",
        "browser/autoplay",
    ] {
        assert_eq!(done.probe(id)["status"], "pass", "{id}: {}", done.context());
    }
    // Autoplay allowed: nothing to report but the fact (no code, no warning).
    assert_eq!(
        lab::findings(done.probe("browser/autoplay")),
        [("info".to_string(), None)],
        "{}",
        done.context()
    );
    // Chromium's fake microphone beeps: the level is far above digital silence (-120 dBFS)
    // and above the page's "silent" line.
    let (rms, peak) = (level(&done, "rms_dbfs"), level(&done, "peak_dbfs"));
    eprintln!("fake microphone: rms {rms} dBFS, peak {peak} dBFS");
    assert!(rms > -50.0, "rms {rms} dBFS: {}", done.context());
    assert!(peak > -20.0, "peak {peak} dBFS: {}", done.context());
    assert!(done.error.is_empty(), "{}", done.context());

    // H.264 as the same browser's codec capabilities say it, read here independently.
    let capabilities = browser
        .execute(
            "const h264 = side => {
               const caps = side.getCapabilities('video');
               return Boolean(caps) && caps.codecs.some(c => c.mimeType.toLowerCase() === 'video/h264');
             };
             return {send: h264(RTCRtpSender), receive: h264(RTCRtpReceiver)};",
            vec![],
        )
        .await;
    eprintln!("Chromium's H.264: {capabilities}");
    let complete = capabilities["send"] == true && capabilities["receive"] == true;
    let flagged = !done.coded("browser/h264", 16457).is_empty();
    assert_eq!(
        flagged,
        !complete,
        "getCapabilities says {capabilities}: {}",
        done.context()
    );
    assert_eq!(
        done.probe("browser/h264")["status"],
        if complete { "pass" } else { "fail" },
        "{}",
        done.context()
    );
    browser.close().await;
}

/// The one coded finding of `probe`: `code`, an error, with the DOMException's name as its
/// message.
fn assert_device_error(done: &Finished, probe: &str, code: u64, name: &str) {
    let coded = done.coded(probe, code);
    assert_eq!(coded.len(), 1, "{probe}: {}", done.context());
    assert_eq!(coded[0]["severity"], "error", "{probe}: {}", done.context());
    assert_eq!(coded[0]["message"], name, "{probe}: {}", done.context());
    assert_eq!(done.probe(probe)["status"], "fail", "{}", done.context());
    assert!(
        done.findings.contains(&Shown {
            probe: probe.into(),
            severity: "error".into(),
            code: Some(code),
        }),
        "{}",
        done.context()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_permission_is_4100_not_allowed_error() {
    if !browser_installed() {
        return;
    }
    let agent = Agent::start(None, &["--only", "browser"]);
    // Fake devices exist, but without the fake UI every prompt is denied.
    let browser = Browser::start(
        &[
            "--use-fake-device-for-media-stream",
            "--deny-permission-prompts",
            "--autoplay-policy=no-user-gesture-required",
        ],
        None,
        &[],
    )
    .await;
    let done = run_page(&browser, &agent.url(), Reach::Direct(&agent), "denied").await;
    assert_device_error(&done, "browser/microphone", 4100, "NotAllowedError");
    assert_device_error(&done, "browser/camera", 4100, "NotAllowedError");
    assert_eq!(done.verdict, "FAIL", "{}", done.context());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_devices_is_4099_not_found_error() {
    if !browser_installed() {
        return;
    }
    let agent = Agent::start(None, &["--only", "browser"]);
    // Prompts accepted, but no fake devices: this machine has no camera, and no sound server.
    let browser = Browser::start(
        &[
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ],
        None,
        &[],
    )
    .await;
    let done = run_page(&browser, &agent.url(), Reach::Direct(&agent), "no_devices").await;
    assert_device_error(&done, "browser/microphone", 4099, "NotFoundError");
    assert_device_error(&done, "browser/camera", 4099, "NotFoundError");
    assert_eq!(done.verdict, "FAIL", "{}", done.context());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoplay_refused_without_a_gesture_is_a_16451_warning() {
    if !browser_installed() {
        return;
    }
    let agent = Agent::start(None, &["--only", "browser"]);
    let browser = Browser::start(
        &[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=document-user-activation-required",
        ],
        None,
        &[],
    )
    .await;
    let done = run_page(
        &browser,
        &agent.url(),
        Reach::Direct(&agent),
        "autoplay_refused",
    )
    .await;
    let coded = done.coded("browser/autoplay", 16451);
    assert_eq!(coded.len(), 1, "{}", done.context());
    assert_eq!(coded[0]["severity"], "warning", "{}", done.context());
    assert_eq!(
        done.probe("browser/autoplay")["status"],
        "warn",
        "{}",
        done.context()
    );
    assert!(
        done.findings.contains(&Shown {
            probe: "browser/autoplay".into(),
            severity: "warning".into(),
            code: Some(16451),
        }),
        "{}",
        done.context()
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browsers_peer_connection_to_serve_connects() {
    if !browser_installed() {
        return;
    }
    // Chromium, the agent and serve inside a namespace with nothing but `lo`: Chromium gathers
    // on loopback alone, and nothing it sends can leave.
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &["--listen", "127.0.0.1", "--signal-ws", "0"],
    );
    let peer = format!("ws://127.0.0.1:{}/", serve.port("signal/ws"));
    let agent = Agent::start(Some(&namespace), &["--only", "browser", "--peer", &peer]);
    let browser = Browser::start(FAKE_DEVICES, Some(&namespace), &[]).await;
    let done = run_page(
        &browser,
        &agent.url(),
        Reach::ThroughBrowser,
        "webrtc_direct",
    )
    .await;
    let direct = done.probe("browser/webrtc/direct");
    assert_eq!(direct["status"], "pass", "{}", done.context());
    assert_eq!(
        lab::findings(direct),
        [("info".to_string(), None)],
        "{}",
        done.context()
    );
    assert_eq!(direct["metrics"]["connected"], true, "{}", done.context());
    assert_eq!(done.verdict, "PASS", "{}", done.context());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_dropped_the_browsers_peer_connection_fails_with_16387() {
    if !browser_installed() {
        return;
    }
    // The client (Chromium and the agent) and the server (serve) on a veth link; every UDP
    // datagram leaving the client is dropped, so signaling (TCP) passes and ICE cannot.
    let client = Netns::new();
    let server = Netns::new();
    client.link(&server, "10.236.1.1/24", "10.236.1.2/24");
    client.nft(
        "table inet lab {\n  chain output {\n    type filter hook output priority 0;\n    oifname != \"lo\" meta l4proto udp drop\n  }\n}\n",
    );
    let serve = Serve::start(
        Some(&server),
        &["--listen", "10.236.1.2", "--signal-ws", "0"],
    );
    let peer = format!("ws://10.236.1.2:{}/", serve.port("signal/ws"));
    let agent = Agent::start(Some(&client), &["--only", "browser", "--peer", &peer]);
    let browser = Browser::start(FAKE_DEVICES, Some(&client), &["10.236.1.2"]).await;
    let done = run_page(
        &browser,
        &agent.url(),
        Reach::ThroughBrowser,
        "webrtc_udp_dropped",
    )
    .await;
    let coded = done.coded("browser/webrtc/direct", 16387);
    assert_eq!(coded.len(), 1, "{}", done.context());
    assert_eq!(coded[0]["severity"], "error", "{}", done.context());
    assert_eq!(
        coded[0]["message"],
        "ICE/DTLS Transport connection failed",
        "{}",
        done.context()
    );
    assert_eq!(
        done.probe("browser/webrtc/direct")["status"],
        "fail",
        "{}",
        done.context()
    );
    assert_eq!(done.verdict, "FAIL", "{}", done.context());
    browser.close().await;
}
