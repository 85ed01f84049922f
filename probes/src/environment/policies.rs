//! Browsers' managed policies that bear on calls, read from where each browser keeps them.
//!
//! | OS | browser | where |
//! |---|---|---|
//! | Linux | Chromium | `/etc/chromium/policies/managed/*.json` (Debian), `/etc/chromium-browser/policies/managed/*.json` |
//! | Linux | Google Chrome | `/etc/opt/chrome/policies/managed/*.json` |
//! | Linux | Microsoft Edge | `/etc/opt/edge/policies/managed/*.json` |
//! | Linux | Brave | `/etc/brave/policies/managed/*.json` |
//! | Linux | Firefox | `/etc/firefox/policies/policies.json`, `/usr/lib/firefox*/distribution/policies.json`, ... |
//! | macOS | all | `/Library/Managed Preferences/[USER/]BUNDLE.plist` (read with `plutil -convert json`); Firefox also `Firefox.app/Contents/Resources/distribution/policies.json` |
//! | Windows | all | `HKLM` and `HKCU\SOFTWARE\Policies\...` (read with `reg query /s`) |
//!
//! Only the policies in [`CHROMIUM_POLICIES`] and [`FIREFOX_POLICIES`] are kept: what they
//! mean for a call is the diagnosis's business. Every path is under a root (`/` in
//! production) so tests can lay out their own.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The Chromium-family policies (Chrome, Chromium, Edge, Brave share them) kept.
pub const CHROMIUM_POLICIES: &[&str] = &[
    "WebRtcIPHandling",
    "WebRtcUdpPortRange",
    "AudioCaptureAllowed",
    "AudioCaptureAllowedUrls",
    "VideoCaptureAllowed",
    "VideoCaptureAllowedUrls",
    "AutoplayAllowed",
    "AutoplayAllowlist",
];

/// Firefox's policies kept, as dotted paths into its `policies` object (`Preferences.NAME` is
/// one preference set through the `Preferences` policy).
pub const FIREFOX_POLICIES: &[&str] = &[
    "Permissions.Camera.BlockNewRequests",
    "Permissions.Camera.Allow",
    "Permissions.Microphone.BlockNewRequests",
    "Permissions.Microphone.Allow",
    "Permissions.Autoplay.Default",
    "Preferences.media.peerconnection.enabled",
    "Preferences.media.peerconnection.ice.proxy_only",
    "Preferences.media.navigator.enabled",
];

/// One policy a browser is managed with.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The browser (`Chromium`, `Google Chrome`, `Microsoft Edge`, `Brave`, `Firefox`).
    pub browser: String,
    /// Where it was read: a file, or a registry key.
    pub source: String,
    /// Its name (Firefox: the dotted path).
    pub name: String,
    /// Its value (a Firefox preference's `{"Value": ...}` unwrapped).
    pub value: Value,
}

/// A policy source that exists and could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The file or key.
    pub source: String,
    /// Why.
    pub error: String,
}

/// Which family's policy names a browser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Chrome, Chromium, Edge, Brave.
    Chromium,
    /// Firefox.
    Firefox,
}

/// A place policies are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder of JSON files (Chromium family on Linux).
    JsonDir(PathBuf),
    /// One JSON file (`{"policies": {...}}`, Firefox).
    JsonFile(PathBuf),
    /// A property list (macOS managed preferences).
    Plist(PathBuf),
    /// A registry key (Windows).
    Registry(String),
}

/// Runs an external command and returns its standard output (`None` when it cannot run or
/// fails). Injectable so that the macOS and Windows readers are tested on recorded output.
pub type Runner = fn(program: &str, args: &[&str]) -> Option<String>;

/// The runner that runs the command.
pub fn run_command(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Where each browser keeps managed policies on `os` (`linux`, `macos`, `windows`), under
/// `root`; `users` are the macOS accounts whose own managed preferences count too.
pub fn sources(os: &str, root: &Path, users: &[String]) -> Vec<(String, Family, Source)> {
    let chromium = |browser: &str| (browser.to_string(), Family::Chromium);
    let firefox = || ("Firefox".to_string(), Family::Firefox);
    let mut out = Vec::new();
    match os {
        "macos" => {
            let bundles = [
                (chromium("Google Chrome"), "com.google.Chrome"),
                (chromium("Chromium"), "org.chromium.Chromium"),
                (chromium("Microsoft Edge"), "com.microsoft.Edge"),
                (chromium("Brave"), "com.brave.Browser"),
                (firefox(), "org.mozilla.firefox"),
            ];
            let managed = root.join("Library/Managed Preferences");
            for ((browser, family), bundle) in &bundles {
                let file = format!("{bundle}.plist");
                out.push((browser.clone(), *family, Source::Plist(managed.join(&file))));
                for user in users {
                    out.push((
                        browser.clone(),
                        *family,
                        Source::Plist(managed.join(user).join(&file)),
                    ));
                }
            }
            out.push((
                "Firefox".into(),
                Family::Firefox,
                Source::JsonFile(root.join(
                    "Applications/Firefox.app/Contents/Resources/distribution/policies.json",
                )),
            ));
        }
        "windows" => {
            let keys = [
                (
                    chromium("Google Chrome"),
                    r"SOFTWARE\Policies\Google\Chrome",
                ),
                (chromium("Chromium"), r"SOFTWARE\Policies\Chromium"),
                (
                    chromium("Microsoft Edge"),
                    r"SOFTWARE\Policies\Microsoft\Edge",
                ),
                (chromium("Brave"), r"SOFTWARE\Policies\BraveSoftware\Brave"),
                (firefox(), r"SOFTWARE\Policies\Mozilla\Firefox"),
            ];
            for hive in ["HKLM", "HKCU"] {
                for ((browser, family), key) in &keys {
                    out.push((
                        browser.clone(),
                        *family,
                        Source::Registry(format!(r"{hive}\{key}")),
                    ));
                }
            }
        }
        _ => {
            for (browser, dir) in [
                ("Chromium", "etc/chromium/policies/managed"),
                ("Chromium", "etc/chromium-browser/policies/managed"),
                ("Google Chrome", "etc/opt/chrome/policies/managed"),
                ("Microsoft Edge", "etc/opt/edge/policies/managed"),
                ("Brave", "etc/brave/policies/managed"),
            ] {
                out.push((
                    browser.to_string(),
                    Family::Chromium,
                    Source::JsonDir(root.join(dir)),
                ));
            }
            for file in [
                "etc/firefox/policies/policies.json",
                "etc/firefox-esr/policies/policies.json",
                "usr/lib/firefox/distribution/policies.json",
                "usr/lib/firefox-esr/distribution/policies.json",
                "usr/lib64/firefox/distribution/policies.json",
                "opt/firefox/distribution/policies.json",
            ] {
                out.push((
                    "Firefox".to_string(),
                    Family::Firefox,
                    Source::JsonFile(root.join(file)),
                ));
            }
        }
    }
    out
}

/// Reads every source: the policies kept, and the sources that exist but could not be read.
pub fn read(
    sources: &[(String, Family, Source)],
    runner: Runner,
) -> (Vec<Policy>, Vec<Unreadable>) {
    let mut policies = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen_files = std::collections::HashSet::new();
    for (browser, family, source) in sources {
        let documents: Vec<(String, Result<Value, String>)> = match source {
            Source::JsonDir(dir) => {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                    .collect();
                files.sort();
                files.into_iter().map(|path| read_json(&path)).collect()
            }
            Source::JsonFile(path) => {
                if !path.exists() {
                    continue;
                }
                // Distribution folders are often links to one file: read it once.
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                if !seen_files.insert(canonical) {
                    continue;
                }
                let (name, document) = read_json(path);
                vec![(
                    name,
                    document
                        .map(|document| document.get("policies").cloned().unwrap_or(Value::Null)),
                )]
            }
            Source::Plist(path) => {
                if !path.exists() {
                    continue;
                }
                let shown = path.display().to_string();
                let path_text = shown.clone();
                let document = runner("plutil", &["-convert", "json", "-o", "-", &path_text])
                    .ok_or_else(|| "plutil could not convert it to JSON".to_string())
                    .and_then(|text| {
                        serde_json::from_str::<Value>(&text).map_err(|error| error.to_string())
                    });
                vec![(shown, document)]
            }
            Source::Registry(key) => {
                let Some(text) = runner("reg", &["query", key, "/s"]) else {
                    continue;
                };
                vec![(key.clone(), Ok(registry_to_json(&text, key)))]
            }
        };
        for (name, document) in documents {
            match document {
                Ok(document) => policies.extend(pick(browser, *family, &name, &document)),
                Err(error) => unreadable.push(Unreadable {
                    source: name,
                    error,
                }),
            }
        }
    }
    (policies, unreadable)
}

fn read_json(path: &Path) -> (String, Result<Value, String>) {
    let name = path.display().to_string();
    let document = std::fs::read_to_string(path)
        .map_err(|error| error.to_string())
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|error| error.to_string()));
    (name, document)
}

/// The kept policies of one document.
fn pick(browser: &str, family: Family, source: &str, document: &Value) -> Vec<Policy> {
    let policy = |name: &str, value: Value| Policy {
        browser: browser.to_string(),
        source: source.to_string(),
        name: name.to_string(),
        value,
    };
    match family {
        Family::Chromium => CHROMIUM_POLICIES
            .iter()
            .filter_map(|name| Some(policy(name, document.get(*name)?.clone())))
            .collect(),
        Family::Firefox => FIREFOX_POLICIES
            .iter()
            .filter_map(|name| {
                let value = match name.strip_prefix("Preferences.") {
                    Some(preference) => {
                        let value = document.get("Preferences")?.get(preference)?;
                        // {"Value": false, "Status": "locked"} or the bare value.
                        value.get("Value").unwrap_or(value).clone()
                    }
                    None => name
                        .split('.')
                        .try_fold(document, |value, key| value.get(key))?
                        .clone(),
                };
                Some(policy(name, value))
            })
            .collect(),
    }
}

/// `reg query KEY /s` output as one JSON object: values by name, each subkey an object (or an
/// array when its values are named 1, 2, 3: Chromium's list policies); `REG_DWORD` as a
/// number, `REG_SZ` as text.
pub fn registry_to_json(text: &str, base: &str) -> Value {
    let base = expand_hive(base);
    let mut root = Map::new();
    let mut path: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            // A key line: where the values below it go, relative to the base key.
            let key = line.trim();
            path = key
                .get(..base.len())
                .filter(|head| head.eq_ignore_ascii_case(&base))
                .and_then(|_| key.get(base.len()..))
                .filter(|rest| rest.is_empty() || rest.starts_with('\\'))
                .map(|rest| {
                    rest.split('\\')
                        .filter(|part| !part.is_empty())
                        .map(str::to_string)
                        .collect()
                });
            continue;
        }
        let Some(path) = &path else {
            continue;
        };
        let parts: Vec<&str> = line.trim().splitn(3, "    ").collect();
        let [name, kind, data] = parts.as_slice() else {
            continue;
        };
        let value = match kind.trim() {
            "REG_DWORD" | "REG_QWORD" => {
                let digits = data.trim().trim_start_matches("0x");
                u64::from_str_radix(digits, 16).map_or(Value::Null, Value::from)
            }
            _ => Value::String(data.trim().to_string()),
        };
        let mut node = &mut root;
        for part in path {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = match entry {
                Value::Object(map) => map,
                _ => unreachable!("made an object above"),
            };
        }
        node.insert(name.trim().to_string(), value);
    }
    lists_from_numbered(Value::Object(root))
}

fn expand_hive(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("HKLM") {
        format!("HKEY_LOCAL_MACHINE{rest}")
    } else if let Some(rest) = key.strip_prefix("HKCU") {
        format!("HKEY_CURRENT_USER{rest}")
    } else {
        key.to_string()
    }
}

/// Objects whose keys are all 1, 2, 3, ... become arrays in that order.
fn lists_from_numbered(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let numbered = !map.is_empty() && map.keys().all(|key| key.parse::<u32>().is_ok());
            if numbered {
                let mut items: Vec<(u32, Value)> = map
                    .into_iter()
                    .map(|(key, value)| (key.parse().unwrap_or(0), lists_from_numbered(value)))
                    .collect();
                items.sort_by_key(|(index, _)| *index);
                Value::Array(items.into_iter().map(|(_, value)| value).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(key, value)| (key, lists_from_numbered(value)))
                        .collect(),
                )
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_commands(_: &str, _: &[&str]) -> Option<String> {
        None
    }

    #[test]
    fn linux_chromium_family_and_firefox_files_under_a_root() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "etc/chromium/policies/managed/webrtc.json",
            r#"{"WebRtcIPHandling": "disable_non_proxied_udp", "HomepageLocation": "x"}"#,
        );
        write(
            "etc/opt/chrome/policies/managed/b.json",
            r#"{"AudioCaptureAllowed": false, "AudioCaptureAllowedUrls": ["https://meet.example"]}"#,
        );
        write("etc/opt/chrome/policies/managed/a.json", "{not json");
        write("etc/opt/edge/policies/managed/readme.txt", "ignored");
        write(
            "etc/firefox/policies/policies.json",
            r#"{"policies": {"Permissions": {"Camera": {"BlockNewRequests": true}},
                "Preferences": {"media.peerconnection.ice.proxy_only": {"Value": true, "Status": "locked"},
                                "media.peerconnection.enabled": false}}}"#,
        );
        let (policies, unreadable) = read(&sources("linux", root.path(), &[]), no_commands);
        let found: Vec<(&str, &str, Value)> = policies
            .iter()
            .map(|p| (p.browser.as_str(), p.name.as_str(), p.value.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "Chromium",
                    "WebRtcIPHandling",
                    json!("disable_non_proxied_udp")
                ),
                ("Google Chrome", "AudioCaptureAllowed", json!(false)),
                (
                    "Google Chrome",
                    "AudioCaptureAllowedUrls",
                    json!(["https://meet.example"])
                ),
                (
                    "Firefox",
                    "Permissions.Camera.BlockNewRequests",
                    json!(true)
                ),
                (
                    "Firefox",
                    "Preferences.media.peerconnection.enabled",
                    json!(false)
                ),
                (
                    "Firefox",
                    "Preferences.media.peerconnection.ice.proxy_only",
                    json!(true)
                ),
            ]
        );
        assert!(policies[0]
            .source
            .ends_with("etc/chromium/policies/managed/webrtc.json"));
        assert_eq!(unreadable.len(), 1);
        assert!(unreadable[0].source.ends_with("a.json"), "{unreadable:?}");
    }

    #[test]
    fn no_policy_files_no_policies() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            read(&sources("linux", root.path(), &[]), no_commands),
            (vec![], vec![])
        );
    }

    fn plutil(program: &str, args: &[&str]) -> Option<String> {
        assert_eq!(program, "plutil");
        assert_eq!(&args[..4], ["-convert", "json", "-o", "-"]);
        Some(r#"{"VideoCaptureAllowed":false,"WebRtcUdpPortRange":"10000-10010"}"#.to_string())
    }

    #[test]
    fn macos_managed_preferences_through_plutil() {
        let root = tempfile::tempdir().unwrap();
        let managed = root.path().join("Library/Managed Preferences/alice");
        std::fs::create_dir_all(&managed).unwrap();
        std::fs::write(managed.join("com.google.Chrome.plist"), b"bplist00").unwrap();
        let (policies, unreadable) = read(
            &sources("macos", root.path(), &["alice".to_string()]),
            plutil,
        );
        assert!(unreadable.is_empty());
        assert_eq!(
            policies
                .iter()
                .map(|p| (p.browser.as_str(), p.name.as_str()))
                .collect::<Vec<_>>(),
            [
                ("Google Chrome", "WebRtcUdpPortRange"),
                ("Google Chrome", "VideoCaptureAllowed")
            ]
        );
        assert!(policies[0]
            .source
            .ends_with("Library/Managed Preferences/alice/com.google.Chrome.plist"));
    }

    const REG_CHROME: &str = "\r
HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Google\\Chrome\r
    WebRtcIPHandling    REG_SZ    disable_non_proxied_udp\r
    VideoCaptureAllowed    REG_DWORD    0x0\r
\r
HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Google\\Chrome\\VideoCaptureAllowedUrls\r
    2    REG_SZ    https://b.example\r
    1    REG_SZ    https://a.example\r
\r
";

    const REG_FIREFOX: &str = "
HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Mozilla\\Firefox\\Permissions\\Microphone
    BlockNewRequests    REG_DWORD    0x1

HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Mozilla\\Firefox\\Permissions\\Autoplay
    Default    REG_SZ    block-audio-video
";

    fn reg(program: &str, args: &[&str]) -> Option<String> {
        assert_eq!(program, "reg");
        match args {
            ["query", r"HKLM\SOFTWARE\Policies\Google\Chrome", "/s"] => Some(REG_CHROME.into()),
            ["query", r"HKCU\SOFTWARE\Policies\Mozilla\Firefox", "/s"] => Some(REG_FIREFOX.into()),
            _ => None,
        }
    }

    #[test]
    fn windows_registry_policies_through_reg_query() {
        let (policies, unreadable) = read(&sources("windows", Path::new("/"), &[]), reg);
        assert!(unreadable.is_empty());
        let found: Vec<(&str, &str, &str, Value)> = policies
            .iter()
            .map(|p| {
                (
                    p.browser.as_str(),
                    p.source.as_str(),
                    p.name.as_str(),
                    p.value.clone(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "Google Chrome",
                    r"HKLM\SOFTWARE\Policies\Google\Chrome",
                    "WebRtcIPHandling",
                    json!("disable_non_proxied_udp")
                ),
                (
                    "Google Chrome",
                    r"HKLM\SOFTWARE\Policies\Google\Chrome",
                    "VideoCaptureAllowed",
                    json!(0)
                ),
                (
                    "Google Chrome",
                    r"HKLM\SOFTWARE\Policies\Google\Chrome",
                    "VideoCaptureAllowedUrls",
                    json!(["https://a.example", "https://b.example"])
                ),
                (
                    "Firefox",
                    r"HKCU\SOFTWARE\Policies\Mozilla\Firefox",
                    "Permissions.Microphone.BlockNewRequests",
                    json!(1)
                ),
                (
                    "Firefox",
                    r"HKCU\SOFTWARE\Policies\Mozilla\Firefox",
                    "Permissions.Autoplay.Default",
                    json!("block-audio-video")
                ),
            ]
        );
    }
}
