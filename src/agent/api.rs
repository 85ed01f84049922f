//! The agent's endpoints (API version 1, JSON only) and the checks they run.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /` | anyone on this machine | the page, with a fresh page token in it |
//! | `GET /api/v1/agent` | a token | the API version, the tool's version and the plan: its probes, and for the page the peer and relays its browser checks use |
//! | `POST /api/v1/tokens` | an allowed origin | `201 {"token": "…"}`: a token for that origin |
//! | `POST /api/v1/checks` | a token | starts a check: body `{"browser": false, "only": ["stun", …]}` (both optional; `only` picks kinds of the plan, never targets); `201 {"id", "events", "report", "browser"}`; `429` when 4 are running |
//! | `GET /api/v1/checks/ID` | its token | `{"id", "state": "running"\|"done", "browser": {"wanted", "received"}, "report": …}` |
//! | `GET /api/v1/checks/ID/events` | its token (`?token=` allowed) | server-sent events: `probe` (one finished probe, as in the report), `devices` (once, `{"released": true}`: the native camera, microphone and environment probes have closed every device, so a browser may now call `getUserMedia`), then `report` (the whole report), then the stream ends; a late listener gets every event from the start |
//! | `POST /api/v1/checks/ID/browser` | its token | the browser's results (a check started with `"browser": true`), once; `204` |
//! | `GET /api/v1/checks/ID/report` | its token | the report (`409` while running) |
//! | `GET /api/v1/checks/ID/report.html` | its token | the same report as a self-contained HTML page (`check --format html`) |
//!
//! Errors are `{"error": CODE, "message": "…"}` with the status: `400 bad_request`,
//! `401 token_required` / `token_invalid`, `403 origin_not_allowed`, `404 not_found`,
//! `405 method_not_allowed`, `409 running` / `already_received` / `browser_not_wanted`,
//! `421 host_not_allowed`, `429 busy`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use preflight_reports::{Kind, ProbeResult, Report};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify};

use super::http::{self, Request, Response};
use super::Settings;
use crate::plan::Plan;

/// The page, with `__TRTC_PREFLIGHT_PAGE_TOKEN__` where its token goes.
const PAGE: &str = include_str!("page.html");

/// The placeholder of the page token in [`PAGE`].
const TOKEN_PLACEHOLDER: &str = "__TRTC_PREFLIGHT_PAGE_TOKEN__";

/// Checks running at once.
const MAX_RUNNING: usize = 4;

/// Finished checks kept for their reports.
const KEEP_FINISHED: usize = 32;

/// Page tokens and origin tokens kept (the oldest is forgotten first).
const KEEP_TOKENS: usize = 64;

/// The API's version, in paths and in `GET /api/v1/agent`.
pub const API_VERSION: &str = "v1";

/// Who issued a token.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Holder {
    /// The agent's own page (same origin).
    Page,
    /// An allowed origin.
    Origin(String),
}

/// A running agent's state.
pub struct Agent {
    /// Its settings.
    pub settings: Settings,
    port: u16,
    tokens: Mutex<VecDeque<(String, Holder)>>,
    checks: Mutex<VecDeque<Arc<Check>>>,
    next_check: Mutex<u64>,
}

/// One check: its events so far, its report when done, and the browser's results.
struct Check {
    id: String,
    token: String,
    wants_browser: bool,
    state: Mutex<CheckState>,
    changed: Notify,
    browser: Mutex<Option<oneshot::Sender<Value>>>,
}

#[derive(Default)]
struct CheckState {
    events: Vec<(&'static str, String)>,
    report: Option<Report>,
    browser_received: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Check {
    fn push(&self, event: &'static str, data: String) {
        lock(&self.state).events.push((event, data));
        self.changed.notify_waiters();
    }

    fn done(&self) -> bool {
        lock(&self.state).report.is_some()
    }
}

/// A random token: 128 bits from the OS, hex.
fn token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom(&mut bytes).is_err() {
        // No OS randomness: mix the clock and addresses (never reached on supported systems).
        let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
        bytes.copy_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(seed.as_bytes())[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

/// Who is calling, once admitted.
struct Caller {
    /// A foreign origin the user allowed (`None`: the agent's own page, or no browser).
    origin: Option<String>,
}

impl Agent {
    /// An agent for `settings` on `port`.
    pub fn new(settings: Settings, port: u16) -> Agent {
        Agent {
            settings,
            port,
            tokens: Mutex::new(VecDeque::new()),
            checks: Mutex::new(VecDeque::new()),
            next_check: Mutex::new(0),
        }
    }

    fn issue(&self, holder: Holder) -> String {
        let token = token();
        let mut tokens = lock(&self.tokens);
        if tokens.len() >= KEEP_TOKENS {
            tokens.pop_front();
        }
        tokens.push_back((token.clone(), holder));
        token
    }

    fn own_origins(&self) -> [String; 2] {
        [
            format!("http://127.0.0.1:{}", self.port),
            format!("http://localhost:{}", self.port),
        ]
    }

    /// The `Host` and `Origin` checks, before anything else.
    fn admit(&self, request: &Request) -> Result<Caller, Response> {
        let host = request.header("host").unwrap_or("").to_ascii_lowercase();
        let own_hosts = [
            format!("127.0.0.1:{}", self.port),
            format!("localhost:{}", self.port),
        ];
        if !own_hosts.contains(&host) {
            return Err(Response::error(
                421,
                "host_not_allowed",
                format!(
                    "this agent answers to {} only (Host was {host:?})",
                    own_hosts.join(" or ")
                ),
            ));
        }
        match request.header("origin") {
            None => Ok(Caller { origin: None }),
            Some(origin) => {
                let origin = super::normal_origin(origin).unwrap_or_else(|_| origin.to_string());
                if self.own_origins().contains(&origin) {
                    Ok(Caller { origin: None })
                } else if self.settings.allowed_origins.contains(&origin) {
                    Ok(Caller {
                        origin: Some(origin),
                    })
                } else {
                    Err(Response::error(
                        403,
                        "origin_not_allowed",
                        format!("{origin} may not call this agent; start it with --allow-origin {origin} to allow it"),
                    ))
                }
            }
        }
    }

    /// The token of a request, checked against where it comes from.
    fn authorize(&self, request: &Request, caller: &Caller) -> Result<String, Response> {
        let given = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .or_else(|| request.query.get("token").map(String::as_str))
            .filter(|token| !token.is_empty());
        let Some(given) = given else {
            return Err(Response::error(
                401,
                "token_required",
                "send the token the agent issued: Authorization: Bearer TOKEN",
            ));
        };
        let expected = match &caller.origin {
            None => Holder::Page,
            Some(origin) => Holder::Origin(origin.clone()),
        };
        let known = lock(&self.tokens)
            .iter()
            .any(|(token, holder)| constant_eq(token, given) && *holder == expected);
        if known {
            Ok(given.to_string())
        } else {
            Err(Response::error(
                401,
                "token_invalid",
                "this token was not issued to this origin by this agent (it restarts with new tokens)",
            ))
        }
    }

    fn check(&self, id: &str, token: &str) -> Option<Arc<Check>> {
        lock(&self.checks)
            .iter()
            .find(|check| check.id == id && constant_eq(&check.token, token))
            .cloned()
    }
}

/// Compares without stopping at the first difference.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a request gets.
enum Reply {
    Plain(Response),
    Events(Arc<Check>),
}

/// Serves connections until `stopped` turns true.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (agent, stopped) = (agent.clone(), stopped.clone());
                tasks.spawn(connection(agent, stream, stopped));
                while tasks.try_join_next().is_some() {}
            }
            _ = stopped.changed() => break,
        }
    }
    tasks.abort_all();
}

async fn connection(agent: Arc<Agent>, mut stream: TcpStream, mut stopped: watch::Receiver<bool>) {
    let request = match http::read_request(&mut stream).await {
        Ok(request) => request,
        Err(refused) => {
            let response = Response::error(refused.status, "bad_request", refused.reason);
            let _ = http::write_response(&mut stream, &response).await;
            return;
        }
    };
    let caller = match agent.admit(&request) {
        Ok(caller) => caller,
        Err(response) => {
            tracing::info!(path = %request.path, status = response.status, "refused");
            let _ = http::write_response(&mut stream, &response).await;
            return;
        }
    };
    let cors: Vec<(String, String)> = caller
        .origin
        .iter()
        .flat_map(|origin| {
            [
                ("Access-Control-Allow-Origin".to_string(), origin.clone()),
                ("Vary".to_string(), "Origin".to_string()),
            ]
        })
        .collect();
    match route(&agent, &request, &caller) {
        Reply::Plain(mut response) => {
            response.headers.extend(cors);
            let _ = http::write_response(&mut stream, &response).await;
        }
        Reply::Events(check) => {
            if http::start_events(&mut stream, &cors).await.is_err() {
                return;
            }
            let mut sent = 0;
            loop {
                let changed = check.changed.notified();
                let (pending, finished) = {
                    let state = lock(&check.state);
                    (state.events[sent..].to_vec(), state.report.is_some())
                };
                for (event, data) in &pending {
                    if http::write_event(&mut stream, event, data).await.is_err() {
                        return;
                    }
                }
                sent += pending.len();
                if finished && pending.is_empty() {
                    break;
                }
                if !finished {
                    tokio::select! {
                        () = changed => {}
                        _ = stopped.changed() => break,
                        // A comment line keeps proxies and the browser from timing out.
                        () = tokio::time::sleep(Duration::from_secs(15)) => {
                            if http::write_event_comment(&mut stream).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            use tokio::io::AsyncWriteExt;
            let _ = stream.shutdown().await;
        }
    }
}

fn route(agent: &Arc<Agent>, request: &Request, caller: &Caller) -> Reply {
    let method = request.method.as_str();
    let path = request.path.as_str();
    if method == "OPTIONS" {
        // A CORS preflight: only allowed origins get here.
        return Reply::Plain(match &caller.origin {
            Some(_) => Response::empty(204)
                .with("Access-Control-Allow-Methods", "GET, POST")
                .with(
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type",
                )
                .with("Access-Control-Max-Age", "600"),
            None => Response::error(
                403,
                "origin_not_allowed",
                "a preflight from the agent's own page is not needed",
            ),
        });
    }
    if path == "/" || path == "/index.html" {
        if method != "GET" {
            return Reply::Plain(not_allowed("GET"));
        }
        let token = agent.issue(Holder::Page);
        return Reply::Plain(
            Response {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "text/html; charset=utf-8".into()),
                    (
                        "Content-Security-Policy".into(),
                        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'".into(),
                    ),
                ],
                body: PAGE.replace(TOKEN_PLACEHOLDER, &token).into_bytes(),
            },
        );
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return Reply::Plain(Response::error(
            404,
            "not_found",
            format!("no {path} here; the API is under /api/v1/"),
        ));
    };
    if rest == "tokens" {
        if method != "POST" {
            return Reply::Plain(not_allowed("POST"));
        }
        return Reply::Plain(match &caller.origin {
            Some(origin) => Response::json(
                201,
                &json!({"token": agent.issue(Holder::Origin(origin.clone()))}),
            ),
            None => Response::error(
                400,
                "bad_request",
                "tokens are for allowed origins; the agent's page has its own",
            ),
        });
    }
    let token = match agent.authorize(request, caller) {
        Ok(token) => token,
        Err(response) => return Reply::Plain(response),
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["agent"]) => Reply::Plain(Response::json(200, &agent_info(agent, caller))),
        ("POST", ["checks"]) => Reply::Plain(start(agent, request, &token)),
        ("GET", ["checks", id]) => Reply::Plain(match agent.check(id, &token) {
            Some(check) => Response::json(200, &status(&check)),
            None => unknown_check(id),
        }),
        ("GET", ["checks", id, "events"]) => match agent.check(id, &token) {
            Some(check) => Reply::Events(check),
            None => Reply::Plain(unknown_check(id)),
        },
        ("GET", ["checks", id, "report.html"]) => Reply::Plain(match agent.check(id, &token) {
            Some(check) => match &lock(&check.state).report {
                Some(report) => Response {
                    status: 200,
                    headers: vec![
                        ("Content-Type".into(), "text/html; charset=utf-8".into()),
                        (
                            "Content-Security-Policy".into(),
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:".into(),
                        ),
                    ],
                    body: preflight_reports::html::render(
                        report,
                        preflight_reports::RenderOptions::default(),
                    )
                    .into_bytes(),
                },
                None => Response::error(
                    409,
                    "running",
                    "the check is still running; follow its events",
                ),
            },
            None => unknown_check(id),
        }),
        ("GET", ["checks", id, "report"]) => Reply::Plain(match agent.check(id, &token) {
            Some(check) => match &lock(&check.state).report {
                Some(report) => {
                    Response::json(200, &serde_json::to_value(report).unwrap_or(Value::Null))
                }
                None => Response::error(
                    409,
                    "running",
                    "the check is still running; follow its events",
                ),
            },
            None => unknown_check(id),
        }),
        ("POST", ["checks", id, "browser"]) => Reply::Plain(match agent.check(id, &token) {
            Some(check) => browser_results(&check, request),
            None => unknown_check(id),
        }),
        (_, ["agent"])
        | (_, ["checks", _, "events"])
        | (_, ["checks", _, "report"])
        | (_, ["checks", _]) => Reply::Plain(not_allowed("GET")),
        (_, ["checks"]) | (_, ["checks", _, "browser"]) => Reply::Plain(not_allowed("POST")),
        _ => Reply::Plain(Response::error(
            404,
            "not_found",
            format!("no {path} in API v1"),
        )),
    }
}

fn not_allowed(allow: &str) -> Response {
    Response::error(405, "method_not_allowed", format!("use {allow}")).with("Allow", allow)
}

fn unknown_check(id: &str) -> Response {
    Response::error(404, "not_found", format!("no check {id:?} for this token"))
}

/// `GET /api/v1/agent`: the API, the version and the plan. The page (and only the page) also
/// gets what its browser checks use: the peer and the relays with their credentials.
fn agent_info(agent: &Agent, caller: &Caller) -> Value {
    let plan = &agent.settings.plan;
    let probes: Vec<Value> = plan
        .probes
        .iter()
        .map(|probe| json!({"id": probe.id, "kind": probe.kind.as_str(), "target": probe.target}))
        .collect();
    let mut info = json!({
        "api": API_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "plan": {"probes": probes},
    });
    if caller.origin.is_none() {
        let network = &plan.network;
        let ice_servers: Vec<Value> = match (&network.turn_user, &network.turn_password) {
            (Some(user), Some(password)) => network
                .turn
                .iter()
                .map(
                    |url| json!({"urls": [url], "username": user, "credential": password.expose()}),
                )
                .collect(),
            _ => Vec::new(),
        };
        info["plan"]["browser"] = json!({
            "peer": network.peer,
            "ice_servers": ice_servers,
            "audio_only": plan.devices.audio_only,
        });
    }
    info
}

fn status(check: &Check) -> Value {
    let state = lock(&check.state);
    json!({
        "id": check.id,
        "state": if state.report.is_some() { "done" } else { "running" },
        "browser": {"wanted": check.wants_browser, "received": state.browser_received},
        "report": state.report,
    })
}

/// `POST /api/v1/checks`.
fn start(agent: &Arc<Agent>, request: &Request, token: &str) -> Response {
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(value @ Value::Object(_)) => value,
            _ => {
                return Response::error(
                    400,
                    "bad_request",
                    "the body is a JSON object: {\"browser\": true, \"only\": [\"stun\"]}",
                )
            }
        }
    };
    if let Some(unknown) = body.as_object().and_then(|object| {
        object
            .keys()
            .find(|key| *key != "browser" && *key != "only")
    }) {
        return Response::error(400, "bad_request", format!("unknown field {unknown:?}: a check takes \"browser\" and \"only\" (targets come from the agent's plan, never from a request)"));
    }
    let wants_browser = match body.get("browser") {
        None => false,
        Some(Value::Bool(wanted)) => *wanted,
        Some(_) => return Response::error(400, "bad_request", "\"browser\" is true or false"),
    };
    let mut plan = agent.settings.plan.clone();
    if let Some(only) = body.get("only") {
        let Some(kinds) = only.as_array() else {
            return Response::error(400, "bad_request", "\"only\" is a list of probe kinds");
        };
        let mut wanted = Vec::new();
        for kind in kinds {
            let name = kind.as_str().unwrap_or_default();
            let Some(kind) = Kind::parse(name) else {
                return Response::error(400, "bad_request", format!("{kind} is not a probe kind"));
            };
            if !plan.probes.iter().any(|probe| probe.kind == kind) {
                return Response::error(
                    400,
                    "bad_request",
                    format!("the agent's plan has no {name} probe: only its own probes can run"),
                );
            }
            wanted.push(kind);
        }
        plan.probes.retain(|probe| wanted.contains(&probe.kind));
        plan.not_run.clear();
    }
    if wants_browser {
        plan.not_run.retain(|entry| entry.kind != Kind::Browser);
    }
    let id = {
        let mut next = lock(&agent.next_check);
        *next += 1;
        format!("c{}", *next)
    };
    let (browser_tx, browser_rx) = oneshot::channel();
    let check = Arc::new(Check {
        id: id.clone(),
        token: token.to_string(),
        wants_browser,
        state: Mutex::new(CheckState::default()),
        changed: Notify::new(),
        browser: Mutex::new(wants_browser.then_some(browser_tx)),
    });
    {
        let mut checks = lock(&agent.checks);
        if checks.iter().filter(|check| !check.done()).count() >= MAX_RUNNING {
            return Response::error(
                429,
                "busy",
                format!("{MAX_RUNNING} checks are running; wait for one to finish"),
            )
            .with("Retry-After", "5");
        }
        while checks.len() >= KEEP_FINISHED + MAX_RUNNING {
            match checks.iter().position(|check| check.done()) {
                Some(oldest) => {
                    checks.remove(oldest);
                }
                None => break,
            }
        }
        checks.push_back(check.clone());
    }
    let wait = agent.settings.browser_wait;
    tokio::spawn(run_check(
        plan,
        check,
        wants_browser.then_some(browser_rx),
        wait,
    ));
    let base = format!("/api/v1/checks/{id}");
    Response::json(
        201,
        &json!({
            "id": id,
            "events": format!("{base}/events"),
            "report": format!("{base}/report"),
            "browser": if wants_browser { Value::String(format!("{base}/browser")) } else { Value::Null },
        }),
    )
    .with("Location", base)
}

/// `POST /api/v1/checks/ID/browser`.
fn browser_results(check: &Check, request: &Request) -> Response {
    if !check.wants_browser {
        return Response::error(
            409,
            "browser_not_wanted",
            "this check was started without \"browser\": true",
        );
    }
    let results: Value = match serde_json::from_slice(&request.body) {
        Ok(value @ Value::Object(_)) => value,
        _ => return Response::error(400, "bad_request", "the browser results are a JSON object"),
    };
    let Some(sender) = lock(&check.browser).take() else {
        return Response::error(
            409,
            "already_received",
            "the browser results of this check were already received",
        );
    };
    lock(&check.state).browser_received = true;
    let _ = sender.send(results);
    Response::empty(204)
}

/// Runs the native probes and, when asked, waits for the browser's results; merges both.
async fn run_check(
    plan: Plan,
    check: Arc<Check>,
    browser: Option<oneshot::Receiver<Value>>,
    wait: Duration,
) {
    let started = Instant::now();
    let version = env!("CARGO_PKG_VERSION");
    // A camera is exclusive on most systems: were the browser's getUserMedia and the native
    // camera probe to open it at once, one of them would find it busy (and name the other as
    // the program holding it). The native device probes run first, and `devices` tells the
    // page when they have all let go.
    let mut holding: Vec<String> = plan
        .probes
        .iter()
        .filter(|probe| holds_devices(probe.kind))
        .map(|probe| probe.id.clone())
        .collect();
    let released = || check.push("devices", json!({"released": true}).to_string());
    if holding.is_empty() {
        released();
    }
    let native = crate::runner::run_streaming(
        &plan,
        version,
        std::future::pending::<()>(),
        |_| {},
        |probe| {
            if let Ok(data) = serde_json::to_string(probe) {
                check.push("probe", data);
            }
            let before = holding.len();
            holding.retain(|id| *id != probe.id);
            if before > 0 && holding.is_empty() {
                released();
            }
        },
    );
    let browser_probes = async {
        let Some(receiver) = browser else {
            return Vec::new();
        };
        match tokio::time::timeout(wait, receiver).await {
            Ok(Ok(results)) => {
                let probes = crate::diagnose::browser::probes(&results);
                for probe in &probes {
                    if let Ok(data) = serde_json::to_string(probe) {
                        check.push("probe", data);
                    }
                }
                probes
            }
            _ => vec![missing_browser(wait)],
        }
    };
    let (native, browser_probes) = tokio::join!(native, browser_probes);
    let mut report = native.report;
    if !browser_probes.is_empty() {
        let mut probes = report.probes;
        probes.retain(|probe| !(probe.kind == Kind::Browser && probe.id == "browser"));
        probes.extend(browser_probes);
        report = Report::assemble(
            version,
            report.started_at,
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            report.complete,
            probes,
        );
    }
    if let Ok(data) = serde_json::to_string(&report) {
        let mut state = lock(&check.state);
        state.events.push(("report", data));
        state.report = Some(report);
    }
    check.changed.notify_waiters();
}

/// Whether a probe of this kind opens a capture device (and may hold it while it runs).
fn holds_devices(kind: Kind) -> bool {
    matches!(kind, Kind::Camera | Kind::Microphone | Kind::Environment)
}

/// The browser probe of a check whose page never sent its results.
fn missing_browser(wait: Duration) -> ProbeResult {
    let findings = vec![crate::diagnose::note(
        preflight_reports::Severity::Warning,
        "The browser's own checks did not arrive, so nothing is known about this browser's devices, codecs, autoplay and WebRTC.",
        format!("The page did not send its results within {} s of the start.", wait.as_secs()),
        "Keep the agent's page open until the verdict shows, and allow the camera and microphone when the browser asks.".to_string(),
    )];
    ProbeResult {
        id: "browser".into(),
        kind: Kind::Browser,
        target: "browser".into(),
        status: ProbeResult::status_from_findings(false, &findings),
        duration_ms: wait.as_millis() as u64,
        metrics: serde_json::Map::new(),
        findings,
    }
}
