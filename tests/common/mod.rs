//! Helpers shared by the end-to-end tests of the binary: run `trtc-preflight` with a clean
//! environment and a fixed clock, read its JSON and JUnit reports, validate the JSON against the
//! report schema, list findings, load the shared TLSSigAPIv2 vectors and take tokens apart.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_trtc-preflight");

/// The environment variables that carry secrets.
pub const SECRET_VARS: [&str; 3] = ["TRTC_USER_SIG", "TRTC_PRIVATE_MAP_KEY", "TRTC_SECRET_KEY"];

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub status: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// The command line, for messages.
    pub command: String,
}

impl Run {
    /// A one-paragraph description of the run for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the binary with `args`, the clock at `now` (UNIX seconds or RFC 3339) and `env` on top of
/// the inherited environment with every `TRTC_*` variable removed.
pub fn run<S: AsRef<str>>(args: &[S], env: &[(&str, &str)], now: &str) -> Run {
    run_in(None, args, env, now)
}

/// As [`run`], in the working directory `cwd` when given.
pub fn run_in<S: AsRef<str>>(
    cwd: Option<&Path>,
    args: &[S],
    env: &[(&str, &str)],
    now: &str,
) -> Run {
    let mut command = Command::new(BIN);
    command.args(args.iter().map(AsRef::as_ref));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRTC_") {
            command.env_remove(&name);
        }
    }
    // Belt and braces: the secret variables are removed even if the loop above missed them.
    for name in SECRET_VARS {
        command.env_remove(name);
    }
    command.env_remove("NO_COLOR");
    command.env("TRTC_PREFLIGHT_NOW", now);
    for (name, value) in env {
        command.env(name, value);
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {BIN}: {error}"));
    let shown: Vec<String> = args
        .iter()
        .map(|arg| {
            let arg = arg.as_ref();
            if arg.is_empty() || arg.contains([' ', '!', '*', '"', '\'', '$']) {
                format!("'{arg}'")
            } else {
                arg.to_string()
            }
        })
        .collect();
    let env_names: Vec<String> = env
        .iter()
        .map(|(name, value)| {
            if SECRET_VARS.contains(name) {
                format!("{name}=<{} chars>", value.len())
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        command: format!(
            "TRTC_PREFLIGHT_NOW={now} {} trtc-preflight {}",
            env_names.join(" "),
            shown.join(" ")
        ),
    }
}

/// Parses JSON, or says what it was.
pub fn json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("not JSON ({error}):\n{text}"))
}

/// The report schema, compiled once.
pub fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(preflight_reports::SCHEMA_JSON).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema compiles")
    })
}

/// Every way `report` breaks the schema (empty when it validates).
pub fn schema_errors(report: &Value) -> Vec<String> {
    validator()
        .iter_errors(report)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

/// Every way `metrics` breaks the schema's definition `def` (`camera_metrics`, ...): for the
/// kinds whose shape the schema documents without requiring it of every report yet.
pub fn metrics_errors(def: &str, metrics: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(preflight_reports::SCHEMA_JSON).expect("the schema is JSON");
    let wrapper = serde_json::json!({
        "$defs": schema["$defs"],
        "$ref": format!("#/$defs/{def}"),
    });
    let validator = jsonschema::validator_for(&wrapper).expect("the definition compiles");
    validator
        .iter_errors(metrics)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

/// A finding reduced to what a rule decides: severity, SDK code and detail code.
pub type FindingKey = (String, Option<u64>, Option<i64>);

/// The probes of `kind` in a report.
pub fn probes<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["probes"]
        .as_array()
        .map(|probes| probes.iter().filter(|p| p["kind"] == kind).collect())
        .unwrap_or_default()
}

/// The findings of every probe, as a sorted multiset of keys per kind.
pub fn finding_keys(report: &Value) -> BTreeMap<String, Vec<FindingKey>> {
    let mut by_kind: BTreeMap<String, Vec<FindingKey>> = BTreeMap::new();
    for probe in report["probes"].as_array().into_iter().flatten() {
        let kind = probe["kind"].as_str().unwrap_or("?").to_string();
        let keys = by_kind.entry(kind).or_default();
        for finding in probe["findings"].as_array().into_iter().flatten() {
            keys.push((
                finding["severity"].as_str().unwrap_or("?").to_string(),
                finding["code"].as_u64(),
                finding["detail_code"].as_i64(),
            ));
        }
        keys.sort();
    }
    by_kind
}

/// Every finding of every probe of `kind`.
pub fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    probes(report, kind)
        .into_iter()
        .flat_map(|probe| probe["findings"].as_array().into_iter().flatten())
        .collect()
}

/// The sorted distinct SDK codes of every finding of the report.
pub fn distinct_codes(report: &Value) -> Vec<u64> {
    let mut codes: Vec<u64> = report["probes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|probe| probe["findings"].as_array().into_iter().flatten())
        .filter_map(|finding| finding["code"].as_u64())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// Parses JUnit XML with the independent `junit-parser`.
pub fn junit(xml: &str) -> Result<junit_parser::TestSuites, String> {
    junit_parser::from_reader(xml.as_bytes())
        .map_err(|error| format!("junit-parser cannot read it ({error}):\n{xml}"))
}

/// Whitespace runs collapsed to one space, so that wrapped text can be searched.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One entry of `tests/data/vectors/tls-sig-api-v2.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Vector {
    /// `usersig` or `privatemapkey`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The SDKAppID it was signed for.
    pub sdk_app_id: u64,
    /// The key it was signed with.
    pub secret_key: String,
    /// The userId it was signed for.
    pub user_id: String,
    /// `TLS.time`.
    pub issued_at: i64,
    /// `TLS.expire`.
    pub expire: u64,
    /// What a correct checker concludes.
    pub expect: String,
    /// The token.
    pub token: String,
    /// The numeric room of a privateMapKey.
    pub room_id: Option<u32>,
    /// The string room of a privateMapKey.
    pub room_str: Option<String>,
    /// The privilege map of a privateMapKey.
    pub privilege_map: Option<u32>,
}

/// The path of the shared vectors.
pub fn vectors_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors/tls-sig-api-v2.json")
}

/// The shared TLSSigAPIv2 vectors.
pub fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(vectors_path()).expect("the vectors file is readable");
    serde_json::from_str(&text).expect("the vectors file holds the expected fields")
}

/// A token's JSON object, decoded here independently of the product: the TLSSigAPIv2 alphabet
/// (`*-_` for `+/=`), then base64, zlib and JSON.
pub fn token_json(token: &str) -> Value {
    let standard: String = token
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            other => other,
        })
        .collect();
    let compressed = STANDARD.decode(standard).expect("the token is base64");
    let mut text = String::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .read_to_string(&mut text)
        .expect("the token is zlib");
    serde_json::from_str(&text).expect("the token is JSON")
}

/// `TLS.sig` of a token (the base64 HMAC).
pub fn tls_sig(token: &str) -> String {
    token_json(token)["TLS.sig"]
        .as_str()
        .expect("TLS.sig is a string")
        .to_string()
}

/// The token with one bit of its HMAC flipped: still well formed, no longer verifying.
pub fn tamper_sig(token: &str) -> String {
    let mut object = token_json(token);
    let mut sig = STANDARD
        .decode(object["TLS.sig"].as_str().expect("TLS.sig is a string"))
        .expect("TLS.sig is base64");
    sig[0] ^= 1;
    object["TLS.sig"] = Value::String(STANDARD.encode(sig));
    trtc_preflight::tlssig::encode_object(&object)
}

/// Every file under `dir`, recursively, with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("the file is readable");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Fails with every collected problem, when there are any.
pub fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s) in {what}:\n\n{}",
        problems.len(),
        problems.join("\n\n==========\n\n")
    );
}
