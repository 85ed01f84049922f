//! The built-in `trtc-web` profile: its plan, and a run against a lab through `--resolve`, with
//! the production names and SNI (a certificate for signaling.rtc.tencentcloud.com, pinned).

mod lab;

use base64::Engine as _;
use lab::{json, preflight, validate, Netns, Serve};

const HOST: &str = "signaling.rtc.tencentcloud.com";

#[test]
fn the_plan_of_trtc_web() {
    let output = preflight(None)
        .args(["check", "--profile", "trtc-web", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let plan = String::from_utf8(output.stdout).unwrap();
    assert!(
        plan.contains("signaling/wss://signaling.rtc.tencentcloud.com/"),
        "{plan}"
    );
    assert!(plan.contains("judged by reachability"), "{plan}");
    assert!(
        plan.contains("ports       Not configured: pass --ports HOST of a `serve`"),
        "{plan}"
    );
    let with_far_end = preflight(None)
        .args([
            "check",
            "--profile",
            "trtc-web",
            "--dry-run",
            "--ports",
            "far.example.com",
        ])
        .output()
        .unwrap();
    let plan = String::from_utf8(with_far_end.stdout).unwrap();
    assert!(
        plan.contains("UDP 8000,8080,8800,843,443,16285; TCP 443,8687"),
        "{plan}"
    );
}

fn pem(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn against_a_lab_with_production_names_through_resolve() {
    let certificate = preflight_probes::tls::self_signed(&[HOST.to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", certificate.cert.as_ref())).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", certificate.key.secret_der())).unwrap();
    // Port 443 as in production: inside a namespace of our own, as root.
    let namespace = Netns::new();
    let serve = Serve::start(
        Some(&namespace),
        &[
            "--listen",
            "127.0.0.1",
            "--signal-wss",
            "443",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let pin = serve.pin.clone().unwrap();
    let output = preflight(Some(&namespace))
        .args([
            "check",
            "--profile",
            "trtc-web",
            "--only",
            "signaling",
            "--format",
            "json",
        ])
        .args(["--resolve", &format!("{HOST}=127.0.0.1"), "--pin", &pin])
        .output()
        .unwrap();
    let report = json(&output);
    validate(&report);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let signaling = &report["probes"][0];
    assert_eq!(signaling["id"], format!("signaling/wss://{HOST}/"));
    assert_eq!(
        signaling["metrics"]["families"][0]["opened"], true,
        "{signaling:#}"
    );

    // Without the pin, the lab's certificate is not trusted for the name: 16385 at the TLS step.
    let output = preflight(Some(&namespace))
        .args([
            "check",
            "--profile",
            "trtc-web",
            "--only",
            "signaling",
            "--format",
            "json",
        ])
        .args(["--resolve", &format!("{HOST}=127.0.0.1")])
        .output()
        .unwrap();
    let report = json(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["probes"][0]["findings"][0]["code"], 16385);
}

#[test]
fn reachability_counts_any_http_answer_after_trusted_tls() {
    // A TLS server that answers every request with 404, as a real server may answer a bare
    // upgrade without the SDK's parameters.
    let certificate = preflight_probes::tls::self_signed(&[HOST.to_string()]).unwrap();
    let pin = preflight_probes::tls::format_pin(&certificate.sha256);
    let acceptor = preflight_probes::tls::acceptor(
        vec![certificate.cert.clone()],
        certificate.key.clone_key(),
        &[b"http/1.1"],
    )
    .unwrap();
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
                    let _ = tls.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    let url = format!("wss://{HOST}:{port}/");
    let run = |mode: &str| {
        let output = preflight(None)
            .args([
                "check",
                "--only",
                "signaling",
                "--format",
                "json",
                "--signal",
                &url,
                "--signal-mode",
                mode,
            ])
            .args(["--resolve", &format!("{HOST}=127.0.0.1"), "--pin", &pin])
            .output()
            .unwrap();
        let report = json(&output);
        validate(&report);
        (output.status.code(), report)
    };
    let (status, report) = run("reachability");
    assert_eq!(status, Some(0), "{report:#}");
    let finding = &report["probes"][0]["findings"][0];
    assert_eq!(finding["severity"], "info");
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("answered 404"),
        "{finding:#}"
    );
    let (status, report) = run("websocket");
    assert_eq!(status, Some(1));
    assert_eq!(report["probes"][0]["findings"][0]["code"], 16385);
}
