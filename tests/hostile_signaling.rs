//! Hostile signaling servers of our own (issue 10): servers on loopback that accept and say
//! nothing, complete TLS and never answer the upgrade, send response headers forever, or send a
//! gigantic WebSocket frame once open. For each, the `signaling` probe (and the `webrtc` probe,
//! whose signaling is the same WebSocket) ends within the deadline of the step that stalls plus
//! half a second, with the SDK's code for it (16385 with `failed to connect to remote server via
//! websocket` when the WebSocket does not open, 16386 when it opens and then breaks), in bounded
//! memory, and the other probes of the same run keep their normal results.
//!
//! The steps' deadlines are the probe's documented ones (`check --dry-run` and the signaling
//! probe's settings): TCP 3 s, TLS 5 s, the upgrade 5 s, each pong 2 s; the webrtc probe waits
//! 5 s for each reply.

mod lab;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use lab::hostile::{check_watched, Watched, PEAK_LIMIT_KIB};
use serde_json::Value;

/// The margin over a deadline that a verdict may take on these loaded 2-core machines.
const MARGIN: Duration = Duration::from_millis(500);
/// The TLS handshake's deadline.
const TLS: Duration = Duration::from_secs(5);
/// The deadline of the answer to the upgrade request.
const UPGRADE: Duration = Duration::from_secs(5);
/// The deadline of a pong, once open.
const PONG: Duration = Duration::from_secs(2);
/// The webrtc probe's deadline for each reply on its signaling channel.
const REPLY: Duration = Duration::from_secs(5);

/// The message string of a WebSocket that cannot be opened.
const WEBSOCKET_FAILED: &str = "failed to connect to remote server via websocket";

/// The clock and the secret of the account probe that runs beside each hostile probe.
const NOW: i64 = 1_793_000_100;
const KEY: &str = "hostile-signaling-test-key";

/// Fixtures stop writing after this long, whatever happens to the test.
const FIXTURE_LIMIT: Duration = Duration::from_secs(20);

/// A `check` run of one hostile probe (`--signal URL` or `--peer URL`), with the account probe
/// and a `stun` probe of a healthy `serve` beside it.
struct Run {
    watched: Watched,
    /// The healthy server (kept alive for the run) and the id of its probe.
    _serve: lab::Serve,
    stun_id: String,
}

fn check(flag: &str, url: &str, extra: &[&str]) -> Run {
    let serve = lab::Serve::start(None, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let stun = format!("127.0.0.1:{}", serve.port("stun/udp"));
    let kind = if flag == "--signal" {
        "signaling"
    } else {
        "webrtc"
    };
    let only = format!("{kind},stun,account");
    let mut args = vec![
        "--only",
        &only,
        "--format",
        "json",
        flag,
        url,
        "--stun",
        &stun,
        "--sdk-app-id",
        "1400000000",
        "--user-id",
        "alice",
    ];
    args.extend_from_slice(extra);
    let user_sig =
        trtc_preflight::tlssig::sign(KEY, 1_400_000_000, "alice", NOW - 100, 86_400 * 30, None);
    let now = NOW.to_string();
    let watched = check_watched(
        &args,
        &[
            ("TRTC_PREFLIGHT_NOW", now.as_str()),
            ("TRTC_USER_SIG", user_sig.as_str()),
            ("TRTC_SECRET_KEY", KEY),
        ],
    );
    Run {
        watched,
        _serve: serve,
        stun_id: format!("stun/udp/{stun}"),
    }
}

/// Asserts what every hostile run shares and returns the hostile probe: its verdict within
/// `deadline` plus the margin (the probe's own time and the whole process's), exit status 1,
/// one error with `code` (and `message` when given), `evidence` in its evidence, memory under
/// the bound, and the other two probes' normal passes.
fn assert_verdict<'a>(
    run: &'a Run,
    id: &str,
    deadline: Duration,
    (code, message): (u64, Option<&str>),
    evidence: &[&str],
) -> &'a Value {
    let report = &run.watched.report;
    let probe = lab::probe(report, id);
    let duration = Duration::from_millis(probe["duration_ms"].as_u64().unwrap());
    eprintln!(
        "{id}: probe {} ms, run {} ms, peak {} KiB",
        duration.as_millis(),
        run.watched.took.as_millis(),
        run.watched.peak_kib
    );
    assert!(
        duration <= deadline + MARGIN,
        "{id} took {duration:?}, deadline {deadline:?}: {probe:#}"
    );
    assert!(
        run.watched.took <= deadline + MARGIN,
        "the run took {:?}, deadline {deadline:?}",
        run.watched.took
    );
    assert!(
        run.watched.peak_kib < PEAK_LIMIT_KIB,
        "peak memory {} KiB",
        run.watched.peak_kib
    );
    assert_eq!(run.watched.output.status.code(), Some(1), "{report:#}");
    assert_eq!(probe["status"], "fail", "{probe:#}");
    assert_eq!(
        lab::findings(probe),
        [("error".to_string(), Some(code))],
        "{probe:#}"
    );
    let finding = &probe["findings"][0];
    eprintln!(
        "  evidence: {}\n  fix: {}",
        finding["evidence"], finding["fix"]
    );
    assert_eq!(finding["message"].as_str(), message, "{finding:#}");
    let text = finding["evidence"].as_str().unwrap();
    for words in evidence {
        assert!(text.contains(words), "{words:?} not in {finding:#}");
    }
    assert_eq!(report["codes"], serde_json::json!([code]), "{report:#}");
    // The other probes of the run: the account passes as it does alone, and the healthy STUN
    // server answers on loopback time.
    let account = lab::probe(report, "account/1400000000/alice");
    assert_eq!(account["status"], "pass", "{account:#}");
    assert_eq!(account["findings"], serde_json::json!([]), "{account:#}");
    let stun = lab::probe(report, &run.stun_id);
    assert_eq!(stun["status"], "pass", "{stun:#}");
    assert!(
        stun["metrics"]["rtt_ms"].as_f64().unwrap() < 200.0,
        "{stun:#}"
    );
    probe
}

fn setup_failed() -> (u64, Option<&'static str>) {
    (16385, Some(WEBSOCKET_FAILED))
}

fn channel_error() -> (u64, Option<&'static str>) {
    (16386, None)
}

/// A plain TCP server on 127.0.0.1 that runs `handler` on each connection, on a thread each.
fn tcp_server(handler: fn(std::net::TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || handler(stream));
        }
    });
    address
}

/// A TLS server (ALPN `http/1.1`) that runs `handler` on each session's plaintext; its
/// address and pin.
fn tls_server(handler: fn(std::os::unix::net::UnixStream)) -> (SocketAddr, String) {
    lab::hostile::tls_server(&[b"http/1.1"], handler)
}

/// Reads until the peer closes (or the limit passes): holds a connection open and silent.
fn hold<S: Read>(mut stream: S) {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    while started.elapsed() < FIXTURE_LIMIT && matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Reads an HTTP request head; its `Sec-WebSocket-Key`, if it has one.
fn read_request<S: Read>(stream: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    })
}

/// Writes `chunk()` again and again until the peer goes away (or the limit passes), pausing
/// `pause` between writes; the bytes written.
fn write_until_gone<S: Write>(
    stream: &mut S,
    mut chunk: impl FnMut(u64) -> Vec<u8>,
    pause: Duration,
) -> u64 {
    let started = Instant::now();
    let mut written = 0;
    let mut n = 0;
    while started.elapsed() < FIXTURE_LIMIT {
        let bytes = chunk(n);
        if stream
            .write_all(&bytes)
            .and_then(|()| stream.flush())
            .is_err()
        {
            break;
        }
        written += bytes.len() as u64;
        n += 1;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    written
}

/// Answers the upgrade with `101` and then an endless stream of short header lines, never the
/// blank line that ends the head.
fn endless_header_lines<S: Read + Write>(mut stream: S) {
    if read_request(&mut stream).is_none() {
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
    write_until_gone(
        &mut stream,
        |n| format!("X-Filler-{n}: {}\r\n", "h".repeat(40)).into_bytes(),
        Duration::ZERO,
    );
    hold(stream);
}

/// Answers the upgrade with `101` and then one header line that never ends.
fn endless_header_line<S: Read + Write>(mut stream: S) {
    if read_request(&mut stream).is_none() {
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nX-Endless: ");
    write_until_gone(&mut stream, |_| vec![b'e'; 16 * 1024], Duration::ZERO);
    hold(stream);
}

/// Answers the upgrade with `101` and then a header line every 20 ms, forever (slowloris).
fn dripping_header_lines<S: Read + Write>(mut stream: S) {
    if read_request(&mut stream).is_none() {
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\n");
    write_until_gone(
        &mut stream,
        |n| format!("X-Drip-{n}: d\r\n").into_bytes(),
        Duration::from_millis(20),
    );
    hold(stream);
}

/// Completes a real WebSocket upgrade; whether it did.
fn upgrade<S: Read + Write>(stream: &mut S) -> bool {
    let Some(key) = read_request(stream) else {
        return false;
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    stream
        .write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .is_ok()
}

/// A server-to-client frame header (unmasked): FIN as given, `opcode`, a 64-bit length.
fn frame_header(fin: bool, opcode: u8, length: u64) -> Vec<u8> {
    let mut header = vec![if fin { 0x80 } else { 0 } | opcode, 127];
    header.extend_from_slice(&length.to_be_bytes());
    header
}

/// Opens the WebSocket, then announces a binary frame of 2^62 bytes and streams noise.
fn frame_of_2_pow_62<S: Read + Write>(mut stream: S) {
    if !upgrade(&mut stream) {
        return;
    }
    let _ = stream.write_all(&frame_header(true, 0x2, 1 << 62));
    write_until_gone(&mut stream, |_| vec![0x5a; 64 * 1024], Duration::ZERO);
    hold(stream);
}

/// Opens the WebSocket, then sends one binary frame of 64 MiB, streamed.
fn frame_of_64_mib<S: Read + Write>(mut stream: S) {
    if !upgrade(&mut stream) {
        return;
    }
    let size = 64 << 20;
    let _ = stream.write_all(&frame_header(true, 0x2, size));
    let mut left = size;
    write_until_gone(
        &mut stream,
        |_| {
            let n = left.min(64 * 1024);
            left -= n;
            vec![0x5a; n as usize]
        },
        Duration::ZERO,
    );
    hold(stream);
}

/// Opens the WebSocket, then sends one 32 MiB binary message as 64 fragments of 512 KiB
/// (each frame under the probe's frame limit; the message far over its message limit).
fn message_of_32_mib_in_fragments<S: Read + Write>(mut stream: S) {
    if !upgrade(&mut stream) {
        return;
    }
    let fragment = 512 * 1024;
    write_until_gone(
        &mut stream,
        |n| {
            if n >= 64 {
                return Vec::new();
            }
            let opcode = if n == 0 { 0x2 } else { 0x0 };
            let mut frame = frame_header(n == 63, opcode, fragment);
            frame.resize(frame.len() + fragment as usize, 0x5a);
            frame
        },
        Duration::ZERO,
    );
    hold(stream);
}

/// The WebSocket opened, and the finding blames what was sent on it, not an idle cut.
fn assert_opened_then_violated(probe: &Value) {
    assert_eq!(probe["metrics"]["families"][0]["opened"], true, "{probe:#}");
    let fix = probe["findings"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("does not allow") && !fix.contains("idle"),
        "{fix}"
    );
}

fn signaling_id(url: &str) -> String {
    format!("signaling/{url}")
}

#[test]
fn a_tcp_server_that_accepts_and_says_nothing_fails_the_upgrade_in_time() {
    let address = tcp_server(hold);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    assert_verdict(
        &run,
        &signaling_id(&url),
        UPGRADE,
        setup_failed(),
        &[
            "upgrade step",
            "no answer to the upgrade within",
            "(0 bytes received)",
        ],
    );
}

#[test]
fn a_tcp_server_that_accepts_and_says_nothing_to_tls_fails_the_handshake_in_time() {
    let address = tcp_server(hold);
    let url = format!("wss://{address}/");
    let run = check(
        "--signal",
        &url,
        &["--pin", &format!("sha256:{}", "00".repeat(32))],
    );
    let probe = assert_verdict(
        &run,
        &signaling_id(&url),
        TLS,
        setup_failed(),
        &["tls step", "no TLS handshake within"],
    );
    // The fix names the port that was tried, not TLS's usual 443.
    let fix = probe["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains(&format!("on TCP {}", address.port())), "{fix}");
}

#[test]
fn tls_that_completes_and_never_answers_the_upgrade_fails_in_time() {
    let (address, pin) = tls_server(hold);
    let url = format!("wss://{address}/");
    let run = check("--signal", &url, &["--pin", &pin]);
    let probe = assert_verdict(
        &run,
        &signaling_id(&url),
        TLS + UPGRADE,
        setup_failed(),
        &[
            "upgrade step",
            "no answer to the upgrade within",
            "(0 bytes received)",
        ],
    );
    // TLS itself went through: the step that failed is the upgrade, after a pinned handshake.
    let family = &probe["metrics"]["families"][0];
    assert_eq!(family["tls"]["verification"], "pin", "{family:#}");
}

#[test]
fn header_lines_forever_fail_the_upgrade_in_bounded_memory() {
    let address = tcp_server(endless_header_lines);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    assert_verdict(
        &run,
        &signaling_id(&url),
        UPGRADE,
        setup_failed(),
        &["upgrade step", "the upgrade failed"],
    );
}

#[test]
fn header_lines_forever_over_tls_fail_the_upgrade_in_bounded_memory() {
    let (address, pin) = tls_server(endless_header_lines);
    let url = format!("wss://{address}/");
    let run = check("--signal", &url, &["--pin", &pin]);
    assert_verdict(
        &run,
        &signaling_id(&url),
        TLS + UPGRADE,
        setup_failed(),
        &["upgrade step", "the upgrade failed"],
    );
}

#[test]
fn a_header_line_that_never_ends_fails_the_upgrade_in_bounded_memory() {
    let address = tcp_server(endless_header_line);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    assert_verdict(
        &run,
        &signaling_id(&url),
        UPGRADE,
        setup_failed(),
        &["upgrade step", "the upgrade failed"],
    );
}

#[test]
fn header_lines_dripping_forever_fail_the_upgrade_in_time() {
    let address = tcp_server(dripping_header_lines);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    assert_verdict(
        &run,
        &signaling_id(&url),
        UPGRADE,
        setup_failed(),
        &["upgrade step"],
    );
}

#[test]
fn a_frame_announcing_2_pow_62_bytes_breaks_the_open_channel_at_once() {
    let address = tcp_server(frame_of_2_pow_62);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    let probe = assert_verdict(
        &run,
        &signaling_id(&url),
        PONG,
        channel_error(),
        &["opened, then", "too long"],
    );
    assert_opened_then_violated(probe);
}

#[test]
fn a_64_mib_frame_breaks_the_open_channel_in_bounded_memory() {
    let (address, pin) = tls_server(frame_of_64_mib);
    let url = format!("wss://{address}/");
    let run = check("--signal", &url, &["--pin", &pin]);
    let probe = assert_verdict(
        &run,
        &signaling_id(&url),
        PONG,
        channel_error(),
        &["opened, then", "too long"],
    );
    assert_opened_then_violated(probe);
}

#[test]
fn a_32_mib_message_in_fragments_breaks_the_open_channel_in_bounded_memory() {
    let address = tcp_server(message_of_32_mib_in_fragments);
    let url = format!("ws://{address}/");
    let run = check("--signal", &url, &[]);
    let probe = assert_verdict(
        &run,
        &signaling_id(&url),
        PONG,
        channel_error(),
        &["opened, then", "too long"],
    );
    assert_opened_then_violated(probe);
}

#[test]
fn giant_answers_cost_no_more_memory_than_silence() {
    let quiet = {
        let address = tcp_server(hold);
        let url = format!("ws://{address}/");
        check("--signal", &url, &[]).watched.peak_kib
    };
    for handler in [
        frame_of_64_mib as fn(std::net::TcpStream),
        message_of_32_mib_in_fragments,
        endless_header_line,
    ] {
        let address = tcp_server(handler);
        let url = format!("ws://{address}/");
        let peak = check("--signal", &url, &[]).watched.peak_kib;
        eprintln!("peak {peak} KiB against {quiet} KiB for a silent server");
        // The probe keeps at most one 1 MiB message and a 16 KiB head: a few MiB of buffers.
        assert!(
            peak <= quiet + 16 * 1024,
            "peak {peak} KiB against {quiet} KiB for a silent server"
        );
    }
}

#[test]
fn the_webrtc_probe_against_header_lines_forever_is_16385_in_time() {
    let address = tcp_server(endless_header_lines);
    let url = format!("ws://{address}/");
    let run = check("--peer", &url, &[]);
    assert_verdict(
        &run,
        &format!("webrtc/{url}"),
        UPGRADE,
        setup_failed(),
        &["upgrade"],
    );
}

#[test]
fn the_webrtc_probe_against_a_giant_frame_is_16386_in_time() {
    let address = tcp_server(frame_of_2_pow_62);
    let url = format!("ws://{address}/");
    let run = check("--peer", &url, &[]);
    assert_verdict(
        &run,
        &format!("webrtc/{url}"),
        REPLY,
        channel_error(),
        &["too long"],
    );
}
