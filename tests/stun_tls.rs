//! STUN over TLS (RFC 7443) end to end: our `serve --stun-tls` with its self-signed certificate
//! (or one given with `--cert`/`--key`), reached by the probe library with the printed pin,
//! with wrong trust, and over the wrong transport. The binary-level `check --stun tls:…` test
//! waits for the `--pin` wiring in the configuration.

mod lab;

use std::time::Duration;

use base64::Engine as _;
use lab::{preflight, Serve};
use preflight_probes::stun::probe::{self, PathResult, Settings, Target, Transport};
use preflight_probes::tls::{self, PeerSpoke, TlsFailure, Trust, Verification};

fn serve_tls(extra: &[&str]) -> Serve {
    let mut args = vec![
        "--listen",
        "127.0.0.1",
        "--stun-tls",
        "0",
        "--stun-tcp",
        "0",
    ];
    args.extend_from_slice(extra);
    Serve::start(None, &args)
}

fn settings(trust: Trust) -> Settings {
    Settings {
        connect_timeout: Duration::from_secs(2),
        stream_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(2),
        trust,
        ..Settings::default()
    }
}

fn pinned(pin: &str) -> Trust {
    Trust {
        pin: Some(tls::parse_pin(pin).unwrap()),
        ..Trust::default()
    }
}

fn target(host: &str, port: u16, transport: Transport) -> Target {
    Target {
        host: host.to_string(),
        port,
        transport,
    }
}

#[tokio::test]
async fn stun_over_tls_answers_with_the_printed_pin() {
    let serve = serve_tls(&[]);
    let pin = serve.pin.clone().expect("serve printed `tls sha256:…`");
    let port = serve.port("stun/tls");
    for host in ["127.0.0.1", "localhost"] {
        let observation =
            probe::probe(&target(host, port, Transport::Tls), &settings(pinned(&pin))).await;
        let family = observation
            .families
            .iter()
            .find(|family| family.address.is_ipv4())
            .unwrap_or_else(|| panic!("{observation:?}"));
        match &family.result {
            PathResult::Answered { mapped, local, .. } => assert_eq!(Some(*mapped), *local),
            other => panic!("{host}: {other:?}"),
        }
        let facts = family.tls.as_ref().expect("handshake facts");
        assert_eq!(facts.server_name, host);
        assert_eq!(facts.alpn.as_deref(), Some("stun.turn"));
        assert_eq!(facts.verification, Verification::Pin);
        assert_eq!(facts.protocol, "TLS 1.3");
        let leaf = facts.leaf.as_ref().unwrap();
        assert_eq!(tls::format_pin(&leaf.sha256), pin);
        assert!(leaf.self_signed);
        for name in ["localhost", "127.0.0.1", "::1"] {
            assert!(leaf.names.contains(&name.to_string()), "{:?}", leaf.names);
        }
    }
}

#[tokio::test]
async fn stun_over_tls_with_the_wrong_trust_is_classified() {
    let serve = serve_tls(&[]);
    let pin = serve.pin.clone().unwrap();
    let target = target("127.0.0.1", serve.port("stun/tls"), Transport::Tls);

    let wrong = Trust {
        pin: Some([0xAB; 32]),
        ..Trust::default()
    };
    let observation = probe::probe(&target, &settings(wrong)).await;
    match &observation.families[0].result {
        PathResult::TlsFailed {
            failure: TlsFailure::PinMismatch { expected, got, .. },
        } => {
            assert_eq!(*expected, [0xAB; 32]);
            assert_eq!(tls::format_pin(got), pin);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(observation.families[0].tls, None);

    // The OS's roots do not hold a certificate made a moment ago.
    let observation = probe::probe(&target, &settings(Trust::default())).await;
    match &observation.families[0].result {
        PathResult::TlsFailed {
            failure: TlsFailure::UnknownIssuer { leaf, .. },
        } => assert!(leaf.self_signed),
        other => panic!("{other:?}"),
    }

    // --insecure gets through, and says it did not verify.
    let insecure = Trust {
        insecure: true,
        ..Trust::default()
    };
    let observation = probe::probe(&target, &settings(insecure)).await;
    let family = &observation.families[0];
    assert!(family.result.answered(), "{family:?}");
    assert_eq!(family.tls.as_ref().unwrap().verification, Verification::Off);
}

#[tokio::test]
async fn tls_and_plain_tcp_ports_are_not_confused() {
    let serve = serve_tls(&[]);
    let pin = serve.pin.clone().unwrap();

    // TLS to the plain STUN-over-TCP port: the responder closes on the ClientHello.
    let plain = target("127.0.0.1", serve.port("stun/tcp"), Transport::Tls);
    let observation = probe::probe(&plain, &settings(pinned(&pin))).await;
    match &observation.families[0].result {
        PathResult::TlsFailed {
            failure: TlsFailure::Closed { first_bytes, .. },
        } => assert!(first_bytes.is_empty()),
        other => panic!("{other:?}"),
    }

    // Plain STUN to the TLS port: whatever comes back is not a STUN answer.
    let tls_port = target("127.0.0.1", serve.port("stun/tls"), Transport::Tcp);
    let observation = probe::probe(&tls_port, &settings(Trust::default())).await;
    let result = &observation.families[0].result;
    assert!(
        matches!(
            result,
            PathResult::Garbage { .. } | PathResult::ClosedBeforeAnswer { .. }
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_plain_http_server_is_not_tls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let observation = probe::probe(
        &target("127.0.0.1", port, Transport::Tls),
        &settings(Trust::default()),
    )
    .await;
    match &observation.families[0].result {
        PathResult::TlsFailed {
            failure: TlsFailure::NotTls { spoke, .. },
        } => assert_eq!(*spoke, PeerSpoke::Http),
        other => panic!("{other:?}"),
    }
}

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

#[tokio::test]
async fn serve_uses_a_given_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let own = tls::self_signed(&["stun.lab".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &own.cert)).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", own.key.secret_der())).unwrap();
    let serve = serve_tls(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        serve.pin.as_deref(),
        Some(tls::format_pin(&own.sha256).as_str())
    );
    let observation = probe::probe(
        &target("127.0.0.1", serve.port("stun/tls"), Transport::Tls),
        &settings(pinned(serve.pin.as_deref().unwrap())),
    )
    .await;
    let family = &observation.families[0];
    assert!(family.result.answered(), "{family:?}");
    assert_eq!(
        family.tls.as_ref().unwrap().leaf.as_ref().unwrap().names,
        ["stun.lab"]
    );
}

#[test]
fn serve_says_what_is_wrong_with_cert_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let own = tls::self_signed(&["stun.lab".to_string()]).unwrap();
    let other = tls::self_signed(&["stun.lab".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", &own.cert)).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", other.key.secret_der())).unwrap();
    let missing = dir.path().join("missing.pem");
    let run = |args: &[&str]| {
        let output = preflight(None)
            .args(["serve", "--listen", "127.0.0.1", "--stun-tls", "0"])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (cert, key, missing) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        missing.to_str().unwrap(),
    );

    let (code, stderr) = run(&["--cert", missing, "--key", key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--cert") && stderr.contains("cannot read it"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--cert", key, "--key", key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no certificate in it"), "{stderr}");

    let (code, stderr) = run(&["--cert", cert, "--key", cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--key") && stderr.contains("no private key in it"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--cert", cert, "--key", key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--cert", cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--key"), "{stderr}");
}

/// Enable once `check` maps `tls:HOST:PORT` to `Transport::Tls` and passes `--pin` into the
/// STUN settings' trust.
#[test]
fn check_stun_tls_with_the_pin_passes() {
    let serve = serve_tls(&[]);
    let port = serve.port("stun/tls");
    let pin = serve.pin.clone().unwrap();
    let output = preflight(None)
        .args(["check", "--only", "stun", "--format", "json"])
        .args(["--stun", &format!("tls:127.0.0.1:{port}"), "--pin", &pin])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = lab::json(&output);
    lab::validate(&report);
    let probe = lab::probe(&report, &format!("stun/tls/127.0.0.1:{port}"));
    assert_eq!(probe["status"], "pass", "{probe:#}");
    assert_eq!(probe["metrics"]["transport"], "tls");
    assert_eq!(probe["metrics"]["families"][0]["result"], "answered");

    // Without the pin, the self-signed certificate is not trusted.
    let output = preflight(None)
        .args(["check", "--only", "stun", "--format", "json"])
        .args(["--stun", &format!("tls:127.0.0.1:{port}")])
        .output()
        .unwrap();
    let report = lab::json(&output);
    let probe = lab::probe(&report, &format!("stun/tls/127.0.0.1:{port}"));
    assert_eq!(probe["metrics"]["families"][0]["result"], "tls_failed");
}

#[test]
fn insecure_is_said_on_every_tls_probe() {
    let serve = lab::Serve::start(None, &["--listen", "127.0.0.1", "--stun-tls", "0"]);
    let port = serve.port("stun/tls");
    let output = lab::preflight(None)
        .args(["check", "--only", "stun", "--format", "json", "--insecure"])
        .args(["--stun", &format!("tls:127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = lab::json(&output);
    lab::validate(&report);
    let probe = lab::probe(&report, &format!("stun/tls/127.0.0.1:{port}"));
    assert_eq!(
        probe["metrics"]["families"][0]["result"], "answered",
        "{probe:#}"
    );
    assert_eq!(
        probe["metrics"]["families"][0]["tls"]["verification"], "off",
        "{probe:#}"
    );
    let info = &probe["findings"][0];
    assert_eq!(info["severity"], "info");
    assert!(
        info["description"].as_str().unwrap().contains("--insecure"),
        "{info:#}"
    );
}
