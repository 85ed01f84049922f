//! `demo`, run as the README says: the endpoints in-process on loopback, every network probe
//! against them, exit 0, with no network, no root and no set-up.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_passes_every_network_probe_on_loopback() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .args(["demo", "--format", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_str(preflight_reports::SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&report), "{report:#}");
    let kinds: Vec<&str> = report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|probe| probe["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "stun",
            "stun",
            "stun",
            "ports",
            "mtu",
            "quality",
            "throughput",
            "signaling",
            "webrtc"
        ]
    );
    // Quality and throughput measured with serve's token (the split and the fit).
    let quality = &report["probes"][5]["metrics"];
    assert_eq!(quality["level"], 1, "{quality:#}");
    assert!(quality["split"].is_object(), "{quality:#}");
    let throughput = &report["probes"][6]["metrics"];
    assert!(throughput["uplink"].is_object(), "{throughput:#}");
    // The WebRTC probe went all the way: connected over wss with the pinned certificate,
    // data echoed, audio and video back.
    let webrtc = &report["probes"][8]["metrics"];
    assert_eq!(webrtc["connected"], true, "{webrtc:#}");
    assert!(webrtc["url"]
        .as_str()
        .unwrap()
        .starts_with("wss://127.0.0.1:"));
    assert_eq!(webrtc["data_channel"]["echoed"], 3);
    for media in webrtc["media"].as_array().unwrap() {
        assert!(media["received"].as_u64().unwrap() > 0, "{media}");
    }
    assert!(
        report["probes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|probe| probe["status"] == "pass"),
        "{report:#}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("demo: serve runs in this process on 127.0.0.1"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn demo_text_is_the_readme_output() {
    let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
        .arg("demo")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("verdict: PASS  9 pass, 0 warn, 0 fail, 0 skip"),
        "{text}"
    );
}

#[test]
fn demo_refuses_the_options_it_would_ignore() {
    for args in [
        &["demo", "--stun", "127.0.0.1:3478"][..],
        &["demo", "--sdk-app-id", "1400000000", "--format", "json"],
        &["demo", "--camera", "0"],
        &["demo", "--profile", "trtc-web"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_trtc-preflight"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!("error: demo does not take {}:", args[1])),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("trtc-preflight check {}", args[1])),
            "{stderr}"
        );
    }
}
