//! TLS inspection end to end: a chain that the OS trusts but that ends at a root no browser
//! ships is information ("TLS inspection by <issuer> in place"), not a failure.
//!
//! The OS trust store is not touched: on Linux the platform verifier reads the system bundle
//! through `rustls-native-certs`, which takes `SSL_CERT_FILE` instead when it is set. The
//! binary runs with `SSL_CERT_FILE` naming a file that holds only the lab's certificate, as if
//! an inspecting proxy's root had been installed on this machine; `serve` stands in for the
//! inspecting device (a certificate for the requested name from that private root).
#![cfg(target_os = "linux")]

mod lab;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use lab::{json, preflight, validate, Serve};
use preflight_probes::tls;

const HOST: &str = "signal.lab";

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A certificate for [`HOST`] (self-signed: its own root), its key, and its subject.
fn lab_certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
    let own = tls::self_signed(&[HOST.to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &own.cert)).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", own.key.secret_der())).unwrap();
    let subject = tls::CertFacts::of(&own.cert).subject;
    (cert, key, subject)
}

/// `check --only KIND` with the OS's trust store replaced by `trusted` (`None`: the system's).
fn check(kind: &str, args: &[&str], trusted: Option<&Path>) -> serde_json::Value {
    let mut command = preflight(None);
    command.args(["check", "--only", kind, "--format", "json"]);
    command.args(args);
    command.args(["--resolve", &format!("{HOST}=127.0.0.1")]);
    if let Some(file) = trusted {
        command.env("SSL_CERT_FILE", file);
    }
    let output = command.output().unwrap();
    let report = json(&output);
    validate(&report);
    report
}

fn inspection_findings(probe: &serde_json::Value) -> Vec<&serde_json::Value> {
    probe["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| {
            finding["description"]
                .as_str()
                .is_some_and(|text| text.starts_with("TLS inspection by "))
        })
        .collect()
}

#[test]
fn a_websocket_through_a_root_this_machine_trusts_is_information() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, subject) = lab_certificate(dir.path());
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--signal-wss",
            "0",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("wss://{HOST}:{}/", serve.port("signal/wss"));

    let report = check("signaling", &["--signal", &url], Some(&cert));
    let probe = &report["probes"][0];
    assert_eq!(probe["metrics"]["families"][0]["opened"], true, "{probe:#}");
    assert_eq!(
        probe["metrics"]["families"][0]["tls"]["verification"],
        "platform"
    );
    let found = inspection_findings(probe);
    assert_eq!(found.len(), 1, "{probe:#}");
    assert_eq!(found[0]["severity"], "info");
    assert!(found[0]["code"].is_null());
    let description = found[0]["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "TLS inspection by {subject} in place: the connection to {HOST} is decrypted"
        )),
        "{description}"
    );
    assert!(
        found[0]["fix"]
            .as_str()
            .unwrap()
            .contains("*.rtc.tencentcloud.com"),
        "{}",
        found[0]["fix"]
    );
    // Information only: nothing else is said, and the run passes.
    assert_eq!(probe["findings"].as_array().unwrap().len(), 1, "{probe:#}");

    // With the system's own roots, the same certificate is an unknown issuer: 16385.
    let report = check("signaling", &["--signal", &url], None);
    let probe = &report["probes"][0];
    assert_eq!(probe["findings"][0]["code"], 16385, "{probe:#}");
    assert!(inspection_findings(probe).is_empty());

    // With --pin, the user chose the certificate: no judgement of its root.
    let pin = serve.pin.clone().unwrap();
    let report = check("signaling", &["--signal", &url, "--pin", &pin], Some(&cert));
    let probe = &report["probes"][0];
    assert_eq!(probe["metrics"]["families"][0]["opened"], true, "{probe:#}");
    assert!(inspection_findings(probe).is_empty(), "{probe:#}");
}

#[test]
fn stun_over_tls_through_a_root_this_machine_trusts_is_information() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, subject) = lab_certificate(dir.path());
    let serve = Serve::start(
        None,
        &[
            "--listen",
            "127.0.0.1",
            "--stun-tls",
            "0",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let target = format!("tls:{HOST}:{}", serve.port("stun/tls"));
    let report = check("stun", &["--stun", &target], Some(&cert));
    let probe = &report["probes"][0];
    assert_eq!(
        probe["metrics"]["families"][0]["result"], "answered",
        "{probe:#}"
    );
    let found = inspection_findings(probe);
    assert_eq!(found.len(), 1, "{probe:#}");
    assert_eq!(found[0]["severity"], "info");
    assert!(
        found[0]["description"]
            .as_str()
            .unwrap()
            .contains(&format!("TLS inspection by {subject} in place")),
        "{}",
        found[0]["description"]
    );
}

#[test]
fn an_upgrade_broken_behind_inspection_names_the_inspecting_root_in_the_fix() {
    // The "inspecting device" completes TLS for the name, then refuses the upgrade.
    let dir = tempfile::tempdir().unwrap();
    let own = tls::self_signed(&[HOST.to_string()]).unwrap();
    let trusted = dir.path().join("trusted.pem");
    std::fs::write(&trusted, pem("CERTIFICATE", &own.cert)).unwrap();
    let subject = tls::CertFacts::of(&own.cert).subject;
    let acceptor =
        tls::acceptor(vec![own.cert.clone()], own.key.clone_key(), &[b"http/1.1"]).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut buffer = [0u8; 4096];
                    let _ = tls.read(&mut buffer).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    let report = check(
        "signaling",
        &["--signal", &format!("wss://{HOST}:{port}/")],
        Some(&trusted),
    );
    let finding = &report["probes"][0]["findings"][0];
    assert_eq!(finding["code"], 16385, "{finding:#}");
    let fix = finding["fix"].as_str().unwrap();
    assert!(
        fix.contains("is inspected by") && fix.contains(&subject),
        "{fix}"
    );
}
