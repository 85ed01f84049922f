//! The account and room checks end to end on the binary, table-driven.
//!
//! Each scenario gives the SDKAppID, userId, roomId, the tokens (in the environment) and the
//! clock, and states the exact multiset of error and warning findings per probe kind as
//! (severity, SDK code, detail code), plus the exit status. Every scenario runs once with three
//! reports: text on standard output, JSON and JUnit to files. The JSON must validate against the
//! report schema and hold exactly the expected findings, with `codes` the sorted distinct codes;
//! the text must name each error's code, name, hex and detail code; the JUnit must have a
//! failure carrying them for a failing probe and none for a passing one.
//!
//! Tokens are the shared TLSSigAPIv2 vectors (`tests/data/vectors`) or are signed here with
//! chosen defects. The clock is always set with `TRTC_PREFLIGHT_NOW`.

mod common;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use trtc_preflight::tlssig::{encode_bytes, encode_object, sign, Grant};

use common::FindingKey;

/// The clock of the generated scenarios: 2026-10-26T07:34:20Z.
const NOW: i64 = 1_793_000_060;
/// `NOW` as RFC 3339, written by hand (not by the product's formatter).
const NOW_TEXT: &str = "2026-10-26T07:34:20Z";
const DAY: i64 = 86_400;

const APP: &str = "1400000000";
const APP_ID: u64 = 1_400_000_000;
const OTHER_APP_ID: u64 = 1_400_000_099;
const USER: &str = "alice";
const KEY: &str = "account-room-test-key-3c1f";
const WRONG_KEY: &str = "not-the-application-key-77aa";

/// SDK errors these checks may raise: code, published key name and hex value.
const SDK_ERRORS: [(u64, &str, &str); 4] = [
    (4096, "INVALID_PARAMETER", "0x1000"),
    (16385, "SIGNAL_CAHNNEL_SETUP_FAILED", "0x4001"),
    (16388, "JOIN_ROOM_FAILED", "0x4004"),
    (65535, "UNKNOWN", "0xFFFF"),
];

fn sdk_error(code: u64) -> (&'static str, &'static str) {
    SDK_ERRORS
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|(_, name, hex)| (*name, *hex))
        .unwrap_or_else(|| panic!("no expectation for SDK code {code}"))
}

/// The userSig a scenario sends.
#[derive(Clone, Debug)]
enum UserSig {
    /// A valid one for the scenario's SDKAppID and userId, signed with the scenario's secret key
    /// (or `KEY`), issued an hour before the scenario's clock, valid 180 days.
    Valid,
    /// This exact text (possibly empty).
    Text(String),
    /// None at all.
    Unset,
}

/// One row of a table.
#[derive(Clone, Debug)]
struct Scenario {
    name: String,
    sdk_app_id: String,
    user_id: String,
    room_id: String,
    string_room_id: bool,
    require_private_map_key: bool,
    user_sig: UserSig,
    private_map_key: Option<String>,
    secret_key: Option<String>,
    now: i64,
    /// `TRTC_PREFLIGHT_NOW` as written, when not `now` in UNIX seconds.
    clock: Option<String>,
    extra_args: Vec<String>,
    /// Expected error and warning findings: (kind, severity, code, detail).
    findings: Vec<(&'static str, &'static str, Option<u64>, Option<i64>)>,
    /// The exit status, when it is not the one the expected findings imply.
    exit: Option<i32>,
    /// (kind, text) that some finding's evidence of that kind must contain.
    evidence: Vec<(&'static str, String)>,
    /// (kind, JSON pointer into the probe's metrics, value).
    metrics: Vec<(&'static str, &'static str, Value)>,
    /// (kind, text) that some info finding's description or evidence must contain.
    info: Vec<(&'static str, &'static str)>,
}

impl Scenario {
    fn new(name: impl Into<String>) -> Scenario {
        Scenario {
            name: name.into(),
            sdk_app_id: APP.into(),
            user_id: USER.into(),
            room_id: "1".into(),
            string_room_id: false,
            require_private_map_key: false,
            user_sig: UserSig::Valid,
            private_map_key: None,
            secret_key: None,
            now: NOW,
            clock: None,
            extra_args: Vec::new(),
            findings: Vec::new(),
            exit: None,
            evidence: Vec::new(),
            metrics: Vec::new(),
            info: Vec::new(),
        }
    }
    fn app(mut self, app: impl Into<String>) -> Self {
        self.sdk_app_id = app.into();
        self
    }
    fn user(mut self, user: impl Into<String>) -> Self {
        self.user_id = user.into();
        self
    }
    fn room(mut self, room: impl Into<String>) -> Self {
        self.room_id = room.into();
        self
    }
    fn string_room(mut self) -> Self {
        self.string_room_id = true;
        self
    }
    fn require_key(mut self) -> Self {
        self.require_private_map_key = true;
        self
    }
    fn sig(mut self, sig: impl Into<String>) -> Self {
        self.user_sig = UserSig::Text(sig.into());
        self
    }
    fn no_sig(mut self) -> Self {
        self.user_sig = UserSig::Unset;
        self
    }
    fn pmk(mut self, key: impl Into<String>) -> Self {
        self.private_map_key = Some(key.into());
        self
    }
    fn key(mut self, key: impl Into<String>) -> Self {
        self.secret_key = Some(key.into());
        self
    }
    fn now(mut self, now: i64) -> Self {
        self.now = now;
        self
    }
    /// Sets the clock as RFC 3339 text; `now` must be the same instant (tokens are signed by it).
    fn clock(mut self, now: i64, text: &str) -> Self {
        self.now = now;
        self.clock = Some(text.into());
        self
    }
    fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.into());
        self
    }
    fn error(mut self, kind: &'static str, code: u64, detail: Option<i64>) -> Self {
        self.findings.push((kind, "error", Some(code), detail));
        self
    }
    fn warning(mut self, kind: &'static str) -> Self {
        self.findings.push((kind, "warning", None, None));
        self
    }
    fn exit(mut self, status: i32) -> Self {
        self.exit = Some(status);
        self
    }
    fn evidence(mut self, kind: &'static str, text: impl Into<String>) -> Self {
        self.evidence.push((kind, text.into()));
        self
    }
    fn metric(mut self, kind: &'static str, pointer: &'static str, value: Value) -> Self {
        self.metrics.push((kind, pointer, value));
        self
    }
    fn info(mut self, kind: &'static str, text: &'static str) -> Self {
        self.info.push((kind, text));
        self
    }

    fn expected_exit(&self) -> i32 {
        self.exit.unwrap_or_else(|| {
            if self.findings.iter().any(|f| f.1 == "error") {
                1
            } else {
                0
            }
        })
    }

    /// Expected findings as sorted multisets per kind (both kinds always present).
    fn expected_keys(&self) -> BTreeMap<String, Vec<FindingKey>> {
        let mut keys: BTreeMap<String, Vec<FindingKey>> = BTreeMap::new();
        keys.insert("account".into(), Vec::new());
        keys.insert("room".into(), Vec::new());
        for (kind, severity, code, detail) in &self.findings {
            keys.get_mut(*kind).expect("kind is account or room").push((
                severity.to_string(),
                *code,
                *detail,
            ));
        }
        for list in keys.values_mut() {
            list.sort();
        }
        keys
    }

    fn user_sig_text(&self) -> Option<String> {
        match &self.user_sig {
            UserSig::Valid => {
                let app = self.sdk_app_id.parse().unwrap_or(APP_ID);
                let key = self.secret_key.as_deref().unwrap_or(KEY);
                Some(sign(
                    key,
                    app,
                    &self.user_id,
                    self.now - 3600,
                    180 * DAY as u64,
                    None,
                ))
            }
            UserSig::Text(text) => Some(text.clone()),
            UserSig::Unset => None,
        }
    }
}

/// A privateMapKey grant for `alice` in app 1400000000, valid 30 days from `NOW`.
fn grant(room_id: u32, privilege_map: u32) -> Grant {
    Grant {
        version: 0,
        account: USER.into(),
        sdk_app_id: APP_ID as u32,
        room_id,
        expires_at: (NOW + 30 * DAY) as u32,
        privilege_map,
        account_type: 0,
        room_str: None,
    }
}

/// A privateMapKey carrying `grant`, signed with `key` for `user` in `app`, issued an hour ago,
/// valid 30 days.
fn pmk_for(key: &str, app: u64, user: &str, grant: &Grant) -> String {
    sign(
        key,
        app,
        user,
        NOW - 3600,
        30 * DAY as u64,
        Some(&grant.to_bytes()),
    )
}

/// A privateMapKey for `alice` in app 1400000000, signed with `KEY`.
fn pmk(grant: &Grant) -> String {
    pmk_for(KEY, APP_ID, USER, grant)
}

/// The JSON object of a valid userSig for `alice`, to break one field of.
fn user_sig_object() -> Value {
    common::token_json(&sign(KEY, APP_ID, USER, NOW - 3600, 30 * DAY as u64, None))
}

/// Runs one scenario with text, JSON and JUnit reports and returns every problem found.
fn check(scenario: &Scenario) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json_path = dir.path().join("report.json");
    let xml_path = dir.path().join("report.xml");
    let mut args: Vec<String> = [
        "check",
        "--only",
        "account,room",
        "--sdk-app-id",
        &scenario.sdk_app_id,
        "--user-id",
        &scenario.user_id,
        "--room-id",
        &scenario.room_id,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    if scenario.string_room_id {
        args.push("--string-room-id".into());
    }
    if scenario.require_private_map_key {
        args.push("--require-private-map-key".into());
    }
    args.extend(scenario.extra_args.iter().cloned());
    let fail_on_warning = scenario
        .extra_args
        .windows(2)
        .any(|pair| pair[0] == "--fail-on" && pair[1] == "warning");
    args.extend([
        "--format".to_string(),
        "text".into(),
        "--format".into(),
        "json".into(),
        "--output".into(),
        json_path.display().to_string(),
        "--format".into(),
        "junit".into(),
        "--output".into(),
        xml_path.display().to_string(),
    ]);
    let user_sig = scenario.user_sig_text();
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(sig) = &user_sig {
        env.push(("TRTC_USER_SIG", sig));
    }
    if let Some(key) = &scenario.private_map_key {
        env.push(("TRTC_PRIVATE_MAP_KEY", key));
    }
    if let Some(key) = &scenario.secret_key {
        env.push(("TRTC_SECRET_KEY", key));
    }
    let clock = scenario
        .clock
        .clone()
        .unwrap_or_else(|| scenario.now.to_string());
    let run = common::run(&args, &env, &clock);

    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(text);

    let expected_exit = scenario.expected_exit();
    if run.status != expected_exit {
        problem(format!(
            "exit status {}, expected {expected_exit}",
            run.status
        ));
    }
    if !run.stderr.trim().is_empty() {
        problem(format!("unexpected standard error: {}", run.stderr));
    }

    // JSON.
    let report = match std::fs::read_to_string(&json_path)
        .map_err(|error| format!("no JSON report: {error}"))
        .and_then(|text| common::json(&text))
    {
        Ok(report) => report,
        Err(error) => {
            problem(error);
            return finish(scenario, &run, problems);
        }
    };
    let errors = common::schema_errors(&report);
    if !errors.is_empty() {
        problem(format!(
            "the JSON report breaks the schema:\n{}",
            errors.join("\n")
        ));
    }
    let mut actual = common::finding_keys(&report);
    for list in actual.values_mut() {
        list.retain(|(severity, _, _)| severity != "info");
    }
    let expected = scenario.expected_keys();
    if actual != expected {
        problem(format!(
            "error/warning findings per kind:\n  actual   {actual:?}\n  expected {expected:?}"
        ));
    }
    for kind in ["account", "room"] {
        let probes = common::probes(&report, kind);
        if probes.len() != 1 {
            problem(format!("{} {kind} probes, expected 1", probes.len()));
            continue;
        }
        let probe = probes[0];
        let keys = &expected[kind];
        let status = if keys.iter().any(|k| k.0 == "error") {
            "fail"
        } else if keys.iter().any(|k| k.0 == "warning") {
            "warn"
        } else {
            "pass"
        };
        if probe["status"] != status {
            problem(format!(
                "{kind} probe status {}, expected {status}",
                probe["status"]
            ));
        }
    }
    let codes: Vec<u64> = report["codes"]
        .as_array()
        .map(|codes| codes.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if codes != common::distinct_codes(&report) {
        problem(format!(
            "codes {codes:?}, but the findings' distinct codes are {:?}",
            common::distinct_codes(&report)
        ));
    }
    let all_findings: Vec<(&str, &Value)> = ["account", "room"]
        .into_iter()
        .flat_map(|kind| {
            common::findings(&report, kind)
                .into_iter()
                .map(move |finding| (kind, finding))
        })
        .collect();
    for (kind, finding) in &all_findings {
        match finding["code"].as_u64() {
            Some(code) => {
                let (name, hex) = sdk_error(code);
                if finding["name"] != name || finding["hex"] != hex {
                    problem(format!(
                        "{kind} finding {code} has name {} and hex {}, expected {name} {hex}",
                        finding["name"], finding["hex"]
                    ));
                }
            }
            None if finding["detail_code"].is_null() => {}
            None => problem(format!(
                "{kind} finding without a code has detail {}",
                finding["detail_code"]
            )),
        }
    }
    for (kind, text) in &scenario.evidence {
        let found = common::findings(&report, kind)
            .iter()
            .any(|finding| finding["evidence"].as_str().unwrap_or("").contains(text));
        if !found {
            problem(format!("no {kind} finding's evidence contains {text:?}"));
        }
    }
    for (kind, text) in &scenario.info {
        let found = common::findings(&report, kind).iter().any(|finding| {
            finding["severity"] == "info"
                && (finding["description"].as_str().unwrap_or("").contains(text)
                    || finding["evidence"].as_str().unwrap_or("").contains(text))
        });
        if !found {
            problem(format!("no {kind} info finding mentions {text:?}"));
        }
    }
    for (kind, pointer, value) in &scenario.metrics {
        let actual = common::probes(&report, kind)
            .first()
            .and_then(|probe| probe["metrics"].pointer(pointer))
            .cloned();
        if actual.as_ref() != Some(value) {
            problem(format!(
                "{kind} metrics{pointer} is {actual:?}, expected {value}"
            ));
        }
    }

    // Text.
    let text = common::squash(&run.stdout);
    let verdict = report["verdict"].as_str().unwrap_or("?").to_uppercase();
    if !text.contains(&format!("verdict: {verdict}")) {
        problem(format!("the text has no line `verdict: {verdict}`"));
    }
    for (kind, finding) in &all_findings {
        match (finding["severity"].as_str(), finding["code"].as_u64()) {
            (Some("error"), Some(code)) => {
                let (name, hex) = sdk_error(code);
                let mut head = format!("{code} {name} {hex}");
                if let Some(detail) = finding["detail_code"].as_i64() {
                    head.push_str(&format!(" detail {detail}"));
                }
                if !text.contains(&head) {
                    problem(format!("the text does not say `{head}` ({kind})"));
                }
            }
            (Some("error" | "warning"), _) => {
                let evidence = common::squash(finding["evidence"].as_str().unwrap_or(""));
                if !text.contains(&evidence) {
                    problem(format!("the text lacks the {kind} evidence {evidence:?}"));
                }
            }
            _ => {}
        }
    }

    // JUnit.
    match std::fs::read_to_string(&xml_path)
        .map_err(|error| format!("no JUnit report: {error}"))
        .and_then(|xml| common::junit(&xml))
    {
        Err(error) => problem(error),
        Ok(suites) => {
            let names: Vec<&str> = suites.suites.iter().map(|s| s.name.as_str()).collect();
            if names != ["account", "room"] {
                problem(format!("JUnit suites {names:?}, expected account and room"));
            }
            for suite in &suites.suites {
                for probe in common::probes(&report, &suite.name) {
                    let id = probe["id"].as_str().unwrap_or("?");
                    let Some(case) = suite.cases.iter().find(|case| case.original_name == id)
                    else {
                        problem(format!("no JUnit case {id:?} in suite {}", suite.name));
                        continue;
                    };
                    let errors: Vec<&Value> = probe["findings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|finding| finding["severity"] == "error")
                        .collect();
                    // With --fail-on warning, a probe that warned is a JUnit failure too, so the
                    // XML agrees with the exit status.
                    let warned = probe["status"] == "warn";
                    if errors.is_empty() && warned && fail_on_warning {
                        if !case.status.is_failure() {
                            problem(format!("JUnit case {id:?} warned under --fail-on warning but is not a failure"));
                        }
                        continue;
                    }
                    if errors.is_empty() {
                        if !case.status.is_success() {
                            problem(format!("JUnit case {id:?} is not a success"));
                        }
                        continue;
                    }
                    if !case.status.is_failure() {
                        problem(format!("JUnit case {id:?} is not a failure"));
                        continue;
                    }
                    let failure = case.status.failure_as_ref();
                    let first = errors[0];
                    let head = format!(
                        "{} {}",
                        first["code"].as_u64().unwrap_or(0),
                        first["name"].as_str().unwrap_or("")
                    );
                    if !failure.message.starts_with(&head) {
                        problem(format!(
                            "JUnit failure message {:?} does not start with {head:?}",
                            failure.message
                        ));
                    }
                    for finding in errors {
                        let mut wanted = vec![
                            format!("code: {}", finding["code"]),
                            format!("name: {}", finding["name"].as_str().unwrap_or("")),
                        ];
                        if let Some(detail) = finding["detail_code"].as_i64() {
                            wanted.push(format!("detail code: {detail}"));
                        }
                        for line in wanted {
                            if !failure.text.contains(&line) {
                                problem(format!(
                                    "JUnit failure text of {id:?} lacks {line:?}:\n{}",
                                    failure.text
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    finish(scenario, &run, problems)
}

fn finish(scenario: &Scenario, run: &common::Run, problems: Vec<String>) -> Vec<String> {
    if problems.is_empty() {
        return problems;
    }
    vec![format!(
        "scenario {:?}:\n  - {}\n{}",
        scenario.name,
        problems.join("\n  - "),
        run.describe()
    )]
}

/// Runs every scenario of a table and fails with all the problems at once.
fn run_table(table: &str, scenarios: Vec<Scenario>) {
    let mut names = std::collections::HashSet::new();
    for scenario in &scenarios {
        assert!(
            names.insert(scenario.name.clone()),
            "duplicate scenario name {:?}",
            scenario.name
        );
    }
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = scenarios
            .chunks(scenarios.len().div_ceil(4).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().flat_map(check).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a scenario thread panicked"))
            .collect()
    });
    common::assert_no_problems(
        &format!("{table} ({} scenarios)", scenarios.len()),
        &problems,
    );
}

// ---------------------------------------------------------------------------------------------
// The shared vectors.

fn vector_scenarios() -> Vec<Scenario> {
    let vectors = common::vectors();
    assert!(!vectors.is_empty());
    let mut scenarios = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        let expired = vector.expect.starts_with("expired");
        let valid = vector.expect.starts_with("valid");
        assert!(
            expired || valid,
            "vector {index}: unknown expectation {:?}",
            vector.expect
        );
        for key in ["none", "right", "wrong"] {
            let name = format!(
                "vector {index} ({} {}, {}), secret key {key}",
                vector.kind, vector.user_id, vector.expect
            );
            let mut s = Scenario::new(name)
                .app(vector.sdk_app_id.to_string())
                .user(vector.user_id.clone());
            // A valid vector is checked just after it was issued; the expired one long after.
            s = s.now(if expired { NOW } else { vector.issued_at + 60 });
            match key {
                "right" => s = s.key(vector.secret_key.clone()),
                "wrong" => s = s.key(WRONG_KEY),
                _ => {}
            }
            let signature = match key {
                "right" => "verified",
                "wrong" => "mismatch",
                _ => "not_checked",
            };
            match vector.kind.as_str() {
                "usersig" => {
                    s = s
                        .sig(vector.token.clone())
                        .metric("account", "/user_sig/signature", json!(signature))
                        .metric("account", "/user_sig/identifier", json!(vector.user_id))
                        .metric("account", "/user_sig/sdk_app_id", json!(vector.sdk_app_id))
                        .metric("account", "/user_sig/lifetime_s", json!(vector.expire))
                        .metric("account", "/user_sig/decoded", json!(true));
                    if expired {
                        s = s
                            .error("account", 16385, Some(70001))
                            .evidence("account", "2023-11-15");
                    }
                    if key == "wrong" {
                        s = s.error("account", 16385, Some(70009));
                    }
                }
                "privatemapkey" => {
                    s = s
                        .require_key()
                        .pmk(vector.token.clone())
                        .metric("room", "/private_map_key/signature", json!(signature))
                        .metric("room", "/private_map_key/has_userbuf", json!(true))
                        .metric(
                            "room",
                            "/private_map_key/grant/privilege_map",
                            json!(vector.privilege_map.expect("a privilege map")),
                        )
                        .metric(
                            "room",
                            "/private_map_key/grant/account",
                            json!(vector.user_id),
                        );
                    match (&vector.room_str, vector.room_id) {
                        (Some(room), _) => {
                            s = s
                                .room(room.clone())
                                .string_room()
                                .metric("room", "/room_id_type", json!("string"))
                                .metric("room", "/private_map_key/grant/room_str", json!(room));
                        }
                        (None, Some(room)) => {
                            s = s
                                .room(room.to_string())
                                .metric("room", "/room_id_type", json!("numeric"))
                                .metric("room", "/private_map_key/grant/room_id", json!(room));
                        }
                        (None, None) => panic!("vector {index} names no room"),
                    }
                    if expired {
                        s = s.error("room", 16388, Some(-10019));
                    }
                    if key == "wrong" {
                        s = s.error("room", 16388, Some(-10019));
                    }
                }
                other => panic!("vector {index}: unknown type {other:?}"),
            }
            scenarios.push(s);
        }
    }
    scenarios
}

#[test]
fn shared_vectors() {
    run_table("shared vectors", vector_scenarios());
}

#[test]
fn shared_vectors_hold_what_they_say() {
    // The vectors' own fields against the tokens, decoded here without the product's code, so a
    // wrong vector cannot make a wrong expectation above.
    for (index, vector) in common::vectors().iter().enumerate() {
        let object = common::token_json(&vector.token);
        assert_eq!(object["TLS.ver"], "2.0", "vector {index}");
        assert_eq!(
            object["TLS.identifier"],
            vector.user_id.as_str(),
            "vector {index}"
        );
        assert_eq!(object["TLS.sdkappid"], vector.sdk_app_id, "vector {index}");
        assert_eq!(object["TLS.time"], vector.issued_at, "vector {index}");
        assert_eq!(object["TLS.expire"], vector.expire, "vector {index}");
        assert_eq!(
            object.get("TLS.userbuf").is_some(),
            vector.kind == "privatemapkey",
            "vector {index}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Generated userSigs.

fn user_sig_scenarios() -> Vec<Scenario> {
    let signed =
        |user: &str, app: u64, time: i64, expire: u64| sign(KEY, app, user, time, expire, None);
    let valid = signed(USER, APP_ID, NOW - 3600, 30 * DAY as u64);
    let without = |field: &str| {
        let mut object = user_sig_object();
        object.as_object_mut().unwrap().remove(field);
        encode_object(&object)
    };
    let with = |field: &str, value: Value| {
        let mut object = user_sig_object();
        object[field] = value;
        encode_object(&object)
    };
    let future = signed(USER, APP_ID, NOW + 3600, 30 * DAY as u64);
    vec![
        Scenario::new("valid userSig, no secret key")
            .sig(valid.clone())
            .metric("account", "/user_sig/signature", json!("not_checked"))
            .info("account", "not verified"),
        Scenario::new("valid userSig, secret key")
            .sig(valid.clone())
            .key(KEY)
            .metric("account", "/user_sig/signature", json!("verified")),
        Scenario::new("expired userSig")
            .sig(signed(USER, APP_ID, NOW - 2 * DAY, DAY as u64))
            .error("account", 16385, Some(70001))
            .evidence("account", "2026-10-25T07:34:20Z")
            .metric(
                "account",
                "/user_sig/expires_at",
                json!("2026-10-25T07:34:20Z"),
            ),
        Scenario::new("expired userSig, clock in RFC 3339 with an offset")
            .clock(NOW, "2026-10-26T15:34:20+08:00")
            .sig(signed(USER, APP_ID, NOW - 2 * DAY, DAY as u64))
            .error("account", 16385, Some(70001))
            .evidence("account", "2026-10-25T07:34:20Z")
            .metric("account", "/checked_at", json!(NOW_TEXT)),
        Scenario::new("valid userSig, clock in RFC 3339")
            .clock(NOW, NOW_TEXT)
            .metric("account", "/checked_at", json!(NOW_TEXT)),
        Scenario::new("userSig expiring exactly now")
            .sig(signed(USER, APP_ID, NOW - DAY, DAY as u64))
            .error("account", 16385, Some(70001))
            .evidence("account", NOW_TEXT),
        Scenario::new("userSig for another user")
            .sig(signed("mallory", APP_ID, NOW - 3600, 30 * DAY as u64))
            .error("account", 16385, Some(70013))
            .evidence("account", "\"mallory\""),
        Scenario::new("userSig for another user, case differs")
            .sig(signed("Alice", APP_ID, NOW - 3600, 30 * DAY as u64))
            .error("account", 16385, Some(70013)),
        Scenario::new("userSig for another app")
            .sig(signed(USER, OTHER_APP_ID, NOW - 3600, 30 * DAY as u64))
            .error("account", 16385, Some(70014))
            .evidence("account", "1400000099"),
        Scenario::new("userSig for another user and app, expired")
            .sig(signed("mallory", OTHER_APP_ID, NOW - 2 * DAY, DAY as u64))
            .error("account", 16385, Some(70013))
            .error("account", 16385, Some(70014))
            .error("account", 16385, Some(70001)),
        Scenario::new("tampered signature, secret key given")
            .sig(common::tamper_sig(&valid))
            .key(KEY)
            .error("account", 16385, Some(70009))
            .metric("account", "/user_sig/signature", json!("mismatch")),
        Scenario::new("tampered signature, no secret key")
            .sig(common::tamper_sig(&valid))
            .metric("account", "/user_sig/signature", json!("not_checked"))
            .info("account", "not verified"),
        Scenario::new("userSig signed with another key")
            .sig(sign(
                WRONG_KEY,
                APP_ID,
                USER,
                NOW - 3600,
                DAY as u64 * 30,
                None,
            ))
            .key(KEY)
            .error("account", 16385, Some(70009)),
        Scenario::new("identifier altered after signing")
            .sig(with("TLS.identifier", json!("mallory")))
            .key(KEY)
            .error("account", 16385, Some(70013))
            .error("account", 16385, Some(70009)),
        Scenario::new("truncated userSig")
            .sig(valid[..valid.len() / 2].to_string())
            .error("account", 16385, Some(70003))
            .metric("account", "/user_sig/decoded", json!(false)),
        Scenario::new("userSig cut by one character")
            .sig(valid[..valid.len() - 1].to_string())
            .error("account", 16385, Some(70003)),
        Scenario::new("empty userSig")
            .sig("")
            .error("account", 16385, Some(70002))
            .evidence("account", "TRTC_USER_SIG"),
        Scenario::new("blank userSig")
            .sig("  \t ")
            .error("account", 16385, Some(70002)),
        Scenario::new("unset userSig")
            .no_sig()
            .error("account", 16385, Some(70002))
            .evidence("account", "TRTC_USER_SIG is unset")
            .metric("account", "/user_sig", Value::Null),
        Scenario::new("garbage userSig")
            .sig("this is not a userSig!")
            .error("account", 16385, Some(70003)),
        Scenario::new("userSig that is zlib but not JSON")
            .sig(encode_bytes(b"TLS.ver=2.0"))
            .error("account", 16385, Some(70003)),
        Scenario::new("userSig that is a JSON array")
            .sig(encode_bytes(b"[1,2,3]"))
            .error("account", 16385, Some(70003)),
        Scenario::new("userSig without TLS.sig")
            .sig(without("TLS.sig"))
            .error("account", 16385, Some(70005))
            .evidence("account", "TLS.sig missing"),
        Scenario::new("userSig without TLS.time")
            .sig(without("TLS.time"))
            .key(KEY)
            .error("account", 16385, Some(70005))
            .evidence("account", "TLS.time missing"),
        Scenario::new("userSig without TLS.identifier")
            .sig(without("TLS.identifier"))
            .error("account", 16385, Some(70005)),
        Scenario::new("userSig with TLS.sdkappid as a string")
            .sig(with("TLS.sdkappid", json!(APP)))
            .error("account", 16385, Some(70005))
            .evidence("account", "TLS.sdkappid expected a whole number"),
        Scenario::new("userSig with TLS.expire negative")
            .sig(with("TLS.expire", json!(-5)))
            .error("account", 16385, Some(70005)),
        Scenario::new("userSig with a TLS.sig of 16 bytes")
            .sig(with("TLS.sig", json!("AAAAAAAAAAAAAAAAAAAAAA==")))
            .error("account", 16385, Some(70005)),
        Scenario::new("userSig with TLS.ver 1.0")
            .sig(with("TLS.ver", json!("1.0")))
            .warning("account"),
        Scenario::new("userSig issued in the future")
            .sig(future.clone())
            .warning("account")
            .evidence("account", "1 h ahead")
            .evidence("account", "2026-10-26T08:34:20Z"),
        Scenario::new("userSig issued in the future, --fail-on warning")
            .sig(future)
            .arg("--fail-on")
            .arg("warning")
            .warning("account")
            .exit(1),
        Scenario::new("userSig issued 30 s ahead is within tolerance").sig(signed(
            USER,
            APP_ID,
            NOW + 30,
            30 * DAY as u64,
        )),
        Scenario::new("userSig expiring within 24 h")
            .sig(signed(USER, APP_ID, NOW - DAY + 7200, DAY as u64))
            .warning("account")
            .evidence("account", "2026-10-26T09:34:20Z")
            .evidence("account", "in 2 h"),
        Scenario::new("userSig expiring within 24 h, --fail-on warning")
            .sig(signed(USER, APP_ID, NOW - DAY + 7200, DAY as u64))
            .arg("--fail-on")
            .arg("warning")
            .warning("account")
            .exit(1),
        Scenario::new("userSig expiring in 25 h").sig(signed(USER, APP_ID, NOW - 3600, 26 * 3600)),
        Scenario::new("malformed SDKAppID")
            .app("14000abc")
            .sig(valid.clone())
            .error("account", 4096, None)
            .evidence("account", "\"14000abc\""),
        Scenario::new("SDKAppID 0")
            .app("0")
            .sig(valid.clone())
            .error("account", 4096, None),
        Scenario::new("SDKAppID above 32 bits")
            .app("4294967296")
            .sig(valid.clone())
            .error("account", 4096, None),
        Scenario::new("malformed userId")
            .user("bad user!")
            .error("account", 4096, None)
            .evidence("account", "\"bad user!\""),
        Scenario::new("userId of 33 bytes")
            .user("a".repeat(33))
            .error("account", 4096, None),
        Scenario::new("userId of 32 bytes").user(format!("{}_-", "a".repeat(30))),
    ]
}

#[test]
fn generated_user_sigs() {
    run_table("generated userSigs", user_sig_scenarios());
}

// ---------------------------------------------------------------------------------------------
// roomIds.

fn room_id_scenarios() -> Vec<Scenario> {
    let room_error = |name: &str, room: &str| {
        Scenario::new(name)
            .room(room)
            .error("room", 16388, Some(-10012))
            .evidence("room", format!("{room:?}"))
    };
    let string_room_64: String = "a1-_:".repeat(13).chars().take(64).collect();
    assert_eq!(string_room_64.len(), 64);
    vec![
        room_error("numeric room 0", "0"),
        room_error("numeric room 4294967295", "4294967295"),
        room_error("numeric room far above 32 bits", "99999999999999999999999"),
        room_error("letters without --string-room-id", "abc"),
        room_error("negative room", "-1"),
        room_error("empty room", ""),
        Scenario::new("numeric room 4294967294")
            .room("4294967294")
            .metric("room", "/room_id_type", json!("numeric")),
        Scenario::new("numeric room 1").room("1"),
        Scenario::new("string room of 65 bytes")
            .room("r".repeat(65))
            .string_room()
            .error("room", 16388, Some(-10012))
            .evidence("room", "65 bytes"),
        Scenario::new("string room with *")
            .room("team*standup")
            .string_room()
            .error("room", 16388, Some(-10012))
            .evidence("room", "'*'"),
        Scenario::new("string room with /")
            .room("team/standup")
            .string_room()
            .error("room", 16388, Some(-10012))
            .evidence("room", "'/'"),
        Scenario::new("string room with a non-ASCII letter")
            .room("caf\u{e9}")
            .string_room()
            .error("room", 16388, Some(-10012)),
        Scenario::new("empty string room")
            .room("")
            .string_room()
            .error("room", 16388, Some(-10012)),
        Scenario::new("string room of 64 bytes")
            .room(string_room_64)
            .string_room()
            .metric("room", "/room_id_type", json!("string")),
        Scenario::new("string room with every allowed symbol")
            .room("A z 9 !#$%&()+-:;<=.>?@[]^_{}|~,")
            .string_room(),
        Scenario::new("digits as a string room")
            .room("10000")
            .string_room(),
        Scenario::new("bad room and bad userSig are both reported")
            .room("0")
            .sig("garbage")
            .error("room", 16388, Some(-10012))
            .error("account", 16385, Some(70003)),
    ]
}

#[test]
fn room_ids() {
    run_table("roomIds", room_id_scenarios());
}

// ---------------------------------------------------------------------------------------------
// privateMapKeys.

fn private_map_key_scenarios() -> Vec<Scenario> {
    let room = 10_000;
    // Advanced permission control is on (the case DESIGN.md's -10018/-10019 row is about).
    let in_room = |name: &str| Scenario::new(name).room(room.to_string()).require_key();
    let good = pmk(&grant(room, 255));
    let string_grant = Grant {
        version: 1,
        room_id: 0,
        room_str: Some("team-standup".into()),
        ..grant(0, 255)
    };
    let mut other_user_grant = grant(room, 255);
    other_user_grant.account = "mallory".into();
    let mut other_app_grant = grant(room, 255);
    other_app_grant.sdk_app_id = OTHER_APP_ID as u32;
    let mut expired_grant = grant(room, 255);
    expired_grant.expires_at = (NOW - 3600) as u32;
    let mut soon_grant = grant(room, 255);
    soon_grant.expires_at = (NOW + 3 * 3600) as u32;
    let mut cut_userbuf = grant(room, 255).to_bytes();
    cut_userbuf.truncate(cut_userbuf.len() - 3);
    let with_userbuf =
        |bytes: &[u8]| sign(KEY, APP_ID, USER, NOW - 3600, 30 * DAY as u64, Some(bytes));
    vec![
        in_room("valid privateMapKey")
            .pmk(good.clone())
            .key(KEY)
            .metric("room", "/private_map_key/signature", json!("verified"))
            .metric(
                "room",
                "/private_map_key/grant/privileges",
                json!([
                    "create_room",
                    "enter_room",
                    "send_audio",
                    "receive_audio",
                    "send_video",
                    "receive_video",
                    "send_sub_video",
                    "receive_sub_video"
                ]),
            ),
        in_room("valid privateMapKey, required")
            .require_key()
            .pmk(good.clone())
            .metric("room", "/private_map_key_required", json!(true)),
        in_room("required, no privateMapKey")
            .require_key()
            .error("room", 16388, Some(-10018))
            .evidence("room", "TRTC_PRIVATE_MAP_KEY is unset"),
        in_room("required, empty privateMapKey")
            .require_key()
            .pmk("")
            .error("room", 16388, Some(-10018)),
        Scenario::new("not required, no privateMapKey")
            .room(room.to_string())
            .metric("room", "/private_map_key", Value::Null)
            .metric("room", "/private_map_key_required", json!(false)),
        in_room("privateMapKey for another room")
            .pmk(pmk(&grant(room + 1, 255)))
            .error("room", 16388, Some(-10019))
            .evidence("room", "numeric room 10001"),
        in_room("privateMapKey for another user")
            .pmk(pmk_for(KEY, APP_ID, "mallory", &other_user_grant))
            .error("room", 16388, Some(-10019))
            .evidence("room", "\"mallory\""),
        in_room("privateMapKey granting another user, signed for this one")
            .pmk(pmk(&other_user_grant))
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey signed for another user, granting this one")
            .pmk(pmk_for(KEY, APP_ID, "mallory", &grant(room, 255)))
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey for another app")
            .pmk(pmk_for(KEY, OTHER_APP_ID, USER, &other_app_grant))
            .error("room", 16388, Some(-10019))
            .evidence("room", "1400000099"),
        in_room("privateMapKey whose grant expired")
            .pmk(pmk(&expired_grant))
            .error("room", 16388, Some(-10019))
            .evidence("room", "2026-10-26T06:34:20Z"),
        in_room("privateMapKey whose token expired")
            .pmk(sign(
                KEY,
                APP_ID,
                USER,
                NOW - 2 * DAY,
                DAY as u64,
                Some(&grant(room, 255).to_bytes()),
            ))
            .error("room", 16388, Some(-10019))
            .evidence("room", "2026-10-25T07:34:20Z"),
        in_room("privateMapKey expiring within 24 h")
            .pmk(sign(
                KEY,
                APP_ID,
                USER,
                NOW - DAY + 3 * 3600,
                DAY as u64,
                Some(&soon_grant.to_bytes()),
            ))
            .warning("room")
            .evidence("room", "2026-10-26T10:34:20Z"),
        in_room("privateMapKey without the enter bit")
            .pmk(pmk(&grant(room, 253)))
            .error("room", 16388, Some(-10019))
            .evidence("room", "253"),
        in_room("privateMapKey for another room and without the enter bit")
            .pmk(pmk(&grant(room + 1, 253)))
            .error("room", 16388, Some(-10019))
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey without the create bit")
            .pmk(pmk(&grant(room, 254)))
            .info("room", "not create"),
        in_room("privateMapKey with only the enter bit")
            .pmk(pmk(&grant(room, 2)))
            .info("room", "not create"),
        in_room("undecodable privateMapKey")
            .pmk("garbage-garbage")
            .error("room", 16388, Some(-10019)),
        in_room("truncated privateMapKey")
            .pmk(good[..good.len() / 2].to_string())
            .error("room", 16388, Some(-10019)),
        in_room("userSig passed as privateMapKey")
            .pmk(sign(KEY, APP_ID, USER, NOW - 3600, 30 * DAY as u64, None))
            .error("room", 16388, Some(-10019))
            .evidence("room", "no TLS.userbuf")
            .metric("room", "/private_map_key/has_userbuf", json!(false)),
        in_room("privateMapKey with a cut userbuf")
            .pmk(with_userbuf(&cut_userbuf))
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey with an unknown userbuf layout")
            .pmk(with_userbuf(&[7, 0, 0]))
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey signed with another key")
            .pmk(pmk_for(WRONG_KEY, APP_ID, USER, &grant(room, 255)))
            .key(KEY)
            .error("room", 16388, Some(-10019))
            .metric("room", "/private_map_key/signature", json!("mismatch")),
        in_room("privateMapKey with a tampered signature")
            .pmk(common::tamper_sig(&good))
            .key(KEY)
            .error("room", 16388, Some(-10019)),
        in_room("privateMapKey issued in the future")
            .pmk(sign(
                KEY,
                APP_ID,
                USER,
                NOW + 7200,
                30 * DAY as u64,
                Some(&grant(room, 255).to_bytes()),
            ))
            .warning("room"),
        in_room("string-room privateMapKey, numeric room joined")
            .pmk(pmk(&string_grant))
            .error("room", 16388, Some(-10019)),
        Scenario::new("string-room privateMapKey, that string room joined")
            .require_key()
            .room("team-standup")
            .string_room()
            .pmk(pmk(&string_grant))
            .metric("room", "/private_map_key/grant/version", json!(1)),
        Scenario::new("string-room privateMapKey, another string room joined")
            .require_key()
            .room("team-retro")
            .string_room()
            .pmk(pmk(&string_grant))
            .error("room", 16388, Some(-10019)),
        Scenario::new("numeric privateMapKey, same digits joined as a string room")
            .require_key()
            .room("10000")
            .string_room()
            .pmk(good.clone())
            .error("room", 16388, Some(-10019)),
    ]
}

#[test]
fn private_map_keys() {
    run_table("privateMapKeys", private_map_key_scenarios());
}

// ---------------------------------------------------------------------------------------------
// Edge cases that were once product bugs: a grant that expires before its token, and times so
// large that the sums overflowed (the probe crashed into 65535 UNKNOWN).

fn edge_case_scenarios() -> Vec<Scenario> {
    let mut soon_grant = grant(10_000, 255);
    soon_grant.expires_at = (NOW + 3 * 3600) as u32;
    let with_times = |time: Value, expire: Value| {
        let mut object = user_sig_object();
        object["TLS.time"] = time;
        object["TLS.expire"] = expire;
        encode_object(&object)
    };
    vec![
        // The window is the earlier of the grant's and the token's expiry.
        Scenario::new("privateMapKey whose grant expires within 24 h, token valid 30 days")
            .room("10000")
            .pmk(pmk(&soon_grant))
            .warning("room"),
        // Times beyond 32 bits are malformed fields (70005), not a crash.
        Scenario::new("userSig with TLS.expire = i64::MAX")
            .sig(with_times(json!(NOW - 3600), json!(i64::MAX)))
            .error("account", 16385, Some(70005)),
        Scenario::new("userSig with TLS.time = i64::MAX")
            .sig(with_times(json!(i64::MAX), json!(100)))
            .error("account", 16385, Some(70005)),
        Scenario::new("userSig with TLS.time = i64::MIN")
            .sig(with_times(json!(i64::MIN), json!(0)))
            .error("account", 16385, Some(70005)),
        // Advanced permission control off: a bad key is a warning (TRTC does not check it),
        // never a failed check.
        Scenario::new("privateMapKey for another room, not required")
            .room("10000")
            .pmk(pmk(&grant(10_001, 255)))
            .warning("room"),
        Scenario::new("undecodable privateMapKey, not required")
            .room("10000")
            .pmk("not a key")
            .warning("room"),
    ]
}

#[test]
fn edge_cases() {
    run_table("edge cases", edge_case_scenarios());
}
