//! Hostile STUN servers of our own (issue 10): servers on loopback that answer with garbage,
//! truncated or oversized messages, spoofed transaction ids, from another address, or flood the
//! client. For each, the `stun` probe ends within its deadline plus half a second, with the
//! finding for "no answer" (nothing such a server sends is an answer), in bounded memory, and the
//! other probes of the same run keep their normal results.
//!
//! Deadlines are the probe's documented ones: over UDP the verdict on silence comes 1.5 s after
//! the first request (README: "A verdict on blocked UDP takes about 1.5 s"); over TCP and TLS the
//! connection may take 1.5 s to open, the TLS handshake 2 s, and the answer 1.5 s.

mod lab;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lab::hostile::{check_watched, Watched, PEAK_LIMIT_KIB};
use serde_json::Value;
use stun_bytes::*;

/// The margin over a deadline that a verdict may take on these loaded 2-core machines.
const MARGIN: Duration = Duration::from_millis(500);
/// UDP: four requests (0, 100, 300, 700 ms), silence called 800 ms after the last.
const UDP_VERDICT: Duration = Duration::from_millis(1500);
/// TCP and TLS: the wait for an answer once the connection (or session) is open.
const STREAM_ANSWER: Duration = Duration::from_millis(1500);
/// TLS: the handshake's own timeout.
const TLS_HANDSHAKE: Duration = Duration::from_millis(2000);

/// The message string of "no media path at all" (DESIGN.md's diagnosis table).
const NO_CANDIDATE: &str = "RtcError: no valid ice candidate found";

/// The clock and the secret of the account probe that runs beside each hostile STUN probe.
const NOW: i64 = 1_793_000_100;
const KEY: &str = "hostile-stun-test-key";

/// STUN bytes written by hand: these servers must be able to write what a library would refuse.
mod stun_bytes {
    use std::net::{IpAddr, SocketAddr};

    /// The magic cookie.
    pub const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];

    /// The transaction id of a binding request (type 0x0001, the cookie, a consistent length).
    pub fn request_id(bytes: &[u8]) -> Option<[u8; 12]> {
        if bytes.len() < 20 || bytes[0..2] != [0x00, 0x01] || bytes[4..8] != COOKIE {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        (bytes.len() == 20 + length).then(|| bytes[8..20].try_into().unwrap())
    }

    /// A STUN message: `typ`, the cookie, `id`, and `attributes` (already padded).
    pub fn message(typ: u16, id: [u8; 12], attributes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + attributes.len());
        out.extend_from_slice(&typ.to_be_bytes());
        out.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
        out.extend_from_slice(&COOKIE);
        out.extend_from_slice(&id);
        out.extend_from_slice(attributes);
        out
    }

    /// A binding success response to `id` with XOR-MAPPED-ADDRESS `mapped` (IPv4): what a
    /// well-behaved server answers.
    pub fn success(id: [u8; 12], mapped: SocketAddr) -> Vec<u8> {
        let IpAddr::V4(ip) = mapped.ip() else {
            panic!("IPv4 only here")
        };
        let port = mapped.port() ^ 0x2112;
        let mut value = vec![0x00, 0x01];
        value.extend_from_slice(&port.to_be_bytes());
        for (byte, key) in ip.octets().iter().zip(COOKIE) {
            value.push(byte ^ key);
        }
        let mut attributes = vec![0x00, 0x20, 0x00, 0x08];
        attributes.extend_from_slice(&value);
        message(0x0101, id, &attributes)
    }

    /// `id` with every bit of its last byte flipped: a spoofed transaction id.
    pub fn spoofed(mut id: [u8; 12]) -> [u8; 12] {
        id[11] ^= 0xff;
        id
    }
}

/// The account probe's arguments and environment: it passes, and must go on passing.
fn account_env() -> Vec<(&'static str, String)> {
    vec![
        ("TRTC_PREFLIGHT_NOW", NOW.to_string()),
        (
            "TRTC_USER_SIG",
            trtc_preflight::tlssig::sign(KEY, 1_400_000_000, "alice", NOW - 100, 86_400 * 30, None),
        ),
        ("TRTC_SECRET_KEY", KEY.to_string()),
    ]
}

/// `check` with the `stun` probe of each of `stun` (as given to `--stun`) and the account probe.
fn check(stun: &[String], extra: &[&str]) -> Watched {
    check_only("stun,account", stun, extra)
}

/// `check` of the probe kinds `only`, with `--stun` for each of `stun` and the account's
/// parameters.
fn check_only(only: &str, stun: &[String], extra: &[&str]) -> Watched {
    let mut args = vec![
        "--only",
        only,
        "--format",
        "json",
        "--sdk-app-id",
        "1400000000",
        "--user-id",
        "alice",
    ];
    for target in stun {
        args.extend(["--stun", target.as_str()]);
    }
    args.extend_from_slice(extra);
    let env = account_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    check_watched(&args, &env)
}

/// Asserts what every hostile run shares: a verdict within `deadline` plus the margin (the
/// probe's own time and the whole process's), memory under the bound, the account probe's
/// normal pass. Returns the probe `id` of the report.
fn common<'a>(run: &'a Watched, id: &str, deadline: Duration) -> &'a Value {
    let probe = lab::probe(&run.report, id);
    let duration = Duration::from_millis(probe["duration_ms"].as_u64().unwrap());
    assert!(
        duration <= deadline + MARGIN,
        "{id} took {duration:?}, deadline {deadline:?}: {probe:#}"
    );
    assert!(
        run.took <= deadline + MARGIN,
        "the run took {:?}, deadline {deadline:?}",
        run.took
    );
    assert!(
        run.peak_kib < PEAK_LIMIT_KIB,
        "peak memory {} KiB",
        run.peak_kib
    );
    let account = lab::probe(&run.report, "account/1400000000/alice");
    assert_eq!(account["status"], "pass", "{account:#}");
    assert_eq!(account["findings"], serde_json::json!([]), "{account:#}");
    eprintln!(
        "{id}: probe {} ms, run {} ms, peak {} KiB",
        duration.as_millis(),
        run.took.as_millis(),
        run.peak_kib
    );
    probe
}

/// Asserts that the run's one STUN probe `id` got no answer, and says so the way the diagnosis
/// table says it: `16387 ICE_TRANSPORT_ERROR` with `RtcError: no valid ice candidate found`,
/// the family's result `result` in the metrics, `evidence` in the finding's evidence.
fn assert_no_answer<'a>(
    run: &'a Watched,
    id: &str,
    deadline: Duration,
    result: &str,
    evidence: &str,
) -> &'a Value {
    let probe = common(run, id, deadline);
    assert_eq!(run.output.status.code(), Some(1), "{probe:#}");
    assert_eq!(probe["status"], "fail", "{probe:#}");
    assert_eq!(
        lab::findings(probe),
        [("error".to_string(), Some(16387))],
        "{probe:#}"
    );
    let finding = &probe["findings"][0];
    assert_eq!(finding["name"], "ICE_TRANSPORT_ERROR");
    assert_eq!(finding["message"], NO_CANDIDATE);
    assert!(
        finding["evidence"].as_str().unwrap().contains(evidence),
        "{finding:#}"
    );
    let family = &probe["metrics"]["families"][0];
    assert_eq!(family["result"], result, "{family:#}");
    assert_eq!(family["rtt_ms"], Value::Null, "{family:#}");
    assert_eq!(family["mapped"], Value::Null, "{family:#}");
    assert_eq!(run.report["codes"], serde_json::json!([16387]));
    probe
}

/// How a UDP fixture answers each binding request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Udp {
    /// Never.
    Silent,
    /// With a well-formed success (the control: the fixture itself is right).
    Correct,
    /// With bytes that are not STUN.
    Garbage,
    /// With a success whose header announces more bytes than the datagram holds.
    Truncated,
    /// With 64 KiB datagrams: a STUN header with the right id over 64 KiB of attributes with no
    /// mapped address, and 64 KiB of noise.
    Oversized,
    /// With a well-formed success to another transaction id.
    SpoofedId,
    /// With a well-formed success from another address (127.0.0.2).
    OtherAddress,
    /// From its first request on, a flood of noise and spoofed answers at the client (from the
    /// server's address and from another one), and never a correct answer.
    Flood,
    /// The same flood, with a correct answer to each request in the middle of it.
    FloodAndAnswer,
}

/// A UDP STUN fixture on 127.0.0.1; stops when dropped.
struct UdpServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Datagrams the flood sent.
    flooded: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpServer {
    fn start(mode: Udp) -> UdpServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let other = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is loopback");
        let address = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flooded = Arc::new(AtomicU64::new(0));
        let (stop_, flooded_) = (stop.clone(), flooded.clone());
        let server = std::thread::spawn(move || {
            let socket = Arc::new(socket);
            let other = Arc::new(other);
            let mut flood: Option<JoinHandle<()>> = None;
            let mut buf = [0u8; 2048];
            while !stop_.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(id) = request_id(&buf[..n]) else {
                    continue;
                };
                if matches!(mode, Udp::Flood | Udp::FloodAndAnswer) && flood.is_none() {
                    let (socket, other, stop, count) = (
                        socket.clone(),
                        other.clone(),
                        stop_.clone(),
                        flooded_.clone(),
                    );
                    flood = Some(std::thread::spawn(move || {
                        flood_at(&socket, &other, from, id, &stop, &count)
                    }));
                }
                if mode == Udp::FloodAndAnswer && flooded_.load(Ordering::Relaxed) < 1_000 {
                    // Let the flood run first: the answer comes in the middle of it.
                    std::thread::sleep(Duration::from_millis(50));
                }
                for datagram in answers(mode, id, from) {
                    let _ = socket.send_to(&datagram, from);
                }
                if mode == Udp::OtherAddress {
                    let _ = other.send_to(&success(id, from), from);
                }
            }
            if let Some(flood) = flood {
                flood.join().unwrap();
            }
        });
        UdpServer {
            address,
            stop,
            flooded,
            threads: vec![server],
        }
    }

    fn target(&self) -> String {
        self.address.to_string()
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// What a UDP fixture sends back to request `id` from `from`, from the address it was sent to.
fn answers(mode: Udp, id: [u8; 12], from: SocketAddr) -> Vec<Vec<u8>> {
    match mode {
        Udp::Silent | Udp::OtherAddress | Udp::Flood => Vec::new(),
        Udp::Correct | Udp::FloodAndAnswer => vec![success(id, from)],
        Udp::Garbage => vec![
            b"\x17\x03\x03\x00\x13not STUN, just noise".to_vec(),
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            // A STUN-sized run of zeros: no magic cookie.
            vec![0u8; 20],
        ],
        Udp::Truncated => {
            let whole = success(id, from);
            // The header announces 12 bytes of attributes; 6 of them arrive.
            let cut = whole[..26].to_vec();
            // The header announces 76 bytes of attributes; the 12 of the answer arrive.
            let mut longer = whole.clone();
            longer[2..4].copy_from_slice(&76u16.to_be_bytes());
            vec![cut, longer]
        }
        Udp::Oversized => {
            // The largest datagram loopback carries is 65,507 bytes: 20 of header and 65,484
            // of one comprehension-optional attribute the client does not know.
            let mut attribute = vec![0xc0, 0xde];
            attribute.extend_from_slice(&65_480u16.to_be_bytes());
            attribute.resize(65_484, 0x5a);
            let stun = message(0x0101, id, &attribute);
            assert_eq!(stun.len(), 65_504);
            vec![stun, vec![0xa5; 65_507]]
        }
        Udp::SpoofedId => vec![
            success(spoofed(id), from),
            success([0x42; 12], from),
            // The right id, as a binding request rather than a response.
            message(0x0001, id, &[]),
        ],
    }
}

/// Floods `client` with noise and answers to other transactions until `stop`: bursts of 25
/// datagrams every 5 ms (about 5,000 a second) from the server's own address, which the
/// client's connected socket lets through, and as many from another address, which it must not
/// hear at all. For [`Udp::FloodAndAnswer`] the server answers correctly in the middle of it.
fn flood_at(
    socket: &UdpSocket,
    other: &UdpSocket,
    client: SocketAddr,
    id: [u8; 12],
    stop: &AtomicBool,
    count: &AtomicU64,
) {
    let noise = b"\x00\x01\x00\x00 flood flood flood flood".to_vec();
    let spoofed_answer = success(spoofed(id), client);
    let right_answer_from_elsewhere = success(id, client);
    let started = Instant::now();
    // The flood stops on its own after 20 s, whatever happens to the test.
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
        for n in 0..25u8 {
            let mut junk = noise.clone();
            junk[2] = n;
            for (from, datagram) in [
                (socket, &junk),
                (socket, &spoofed_answer),
                (other, &right_answer_from_elsewhere),
            ] {
                if from.send_to(datagram, client).is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn udp_id(server: &UdpServer) -> String {
    format!("stun/udp/{}", server.target())
}

#[test]
fn the_udp_fixture_answers_correctly_when_told_to() {
    // The control: the hand-written answer of these fixtures is a real answer, so what fails
    // below fails because of the one thing each server does wrong.
    let server = UdpServer::start(Udp::Correct);
    let run = check(&[server.target()], &[]);
    let probe = common(&run, &udp_id(&server), UDP_VERDICT);
    assert_eq!(run.output.status.code(), Some(0), "{probe:#}");
    assert_eq!(probe["status"], "pass", "{probe:#}");
    let family = &probe["metrics"]["families"][0];
    assert_eq!(family["result"], "answered");
    assert_eq!(family["mapped"], family["local"], "{family:#}");
}

#[test]
fn a_silent_udp_server_is_no_answer() {
    let server = UdpServer::start(Udp::Silent);
    let run = check(&[server.target()], &[]);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "silent",
        "no answer to 4 binding requests",
    );
    assert_eq!(probe["metrics"]["families"][0]["ignored"], 0);
}

#[test]
fn garbage_is_not_an_answer() {
    let server = UdpServer::start(Udp::Garbage);
    let run = check(&[server.target()], &[]);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "garbage",
        "none a valid STUN answer",
    );
    // Three replies to each of the four requests.
    assert_eq!(probe["metrics"]["families"][0]["ignored"], 12, "{probe:#}");
}

#[test]
fn a_truncated_answer_is_not_an_answer() {
    let server = UdpServer::start(Udp::Truncated);
    let run = check(&[server.target()], &[]);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "garbage",
        "none a valid STUN answer",
    );
    assert_eq!(probe["metrics"]["families"][0]["ignored"], 8, "{probe:#}");
}

#[test]
fn oversized_datagrams_are_not_an_answer_and_cost_no_memory() {
    let server = UdpServer::start(Udp::Oversized);
    let run = check(&[server.target()], &[]);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "garbage",
        "none a valid STUN answer",
    );
    // Two 64 KiB datagrams to each of the four requests; the second of a pair may find the
    // client's receive buffer still full of the first, and be dropped by the kernel.
    let ignored = probe["metrics"]["families"][0]["ignored"].as_u64().unwrap();
    assert!((4..=8).contains(&ignored), "{ignored} ignored: {probe:#}");
}

#[test]
fn an_answer_to_another_transaction_is_not_an_answer() {
    let server = UdpServer::start(Udp::SpoofedId);
    let run = check(&[server.target()], &[]);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "garbage",
        "none a valid STUN answer",
    );
    assert_eq!(probe["metrics"]["families"][0]["ignored"], 12, "{probe:#}");
}

#[test]
fn a_right_answer_from_another_address_is_not_an_answer() {
    let server = UdpServer::start(Udp::OtherAddress);
    let run = check(&[server.target()], &[]);
    // The answers from 127.0.0.2 never reach the probe: its socket is connected to the server.
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "silent",
        "no answer to 4 binding requests",
    );
    assert_eq!(probe["metrics"]["families"][0]["ignored"], 0, "{probe:#}");
}

#[test]
fn a_flood_is_no_answer_in_time_and_in_bounded_memory() {
    let quiet = {
        let server = UdpServer::start(Udp::Silent);
        let run = check(&[server.target()], &[]);
        assert_no_answer(&run, &udp_id(&server), UDP_VERDICT, "silent", "no answer");
        run.peak_kib
    };
    let server = UdpServer::start(Udp::Flood);
    let run = check(&[server.target()], &[]);
    let flooded = server.flooded.load(Ordering::Relaxed);
    let probe = assert_no_answer(
        &run,
        &udp_id(&server),
        UDP_VERDICT,
        "garbage",
        "none a valid STUN answer",
    );
    // The premise: thousands of datagrams a second reached the client's port while it waited
    // (two thirds of them from the server's own address, which the probe had to read).
    assert!(flooded >= 3_000, "only {flooded} datagrams flooded");
    let ignored = probe["metrics"]["families"][0]["ignored"].as_u64().unwrap();
    assert!(ignored >= 500, "{ignored} ignored: {probe:#}");
    eprintln!(
        "flood: {flooded} datagrams sent, {ignored} read and ignored; peak {} KiB against {quiet} KiB quiet",
        run.peak_kib
    );
    assert!(
        run.peak_kib <= quiet + 16 * 1024,
        "the flood raised peak memory from {quiet} KiB to {} KiB",
        run.peak_kib
    );
}

#[test]
fn in_a_flood_the_one_right_answer_is_found_and_other_probes_are_unaffected() {
    let healthy = lab::Serve::start(None, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let healthy_target = format!("127.0.0.1:{}", healthy.port("stun/udp"));
    let answered = UdpServer::start(Udp::FloodAndAnswer);
    let run = check(&[answered.target(), healthy_target.clone()], &[]);
    assert_eq!(run.output.status.code(), Some(0), "{:#}", run.report);
    let probe = common(&run, &udp_id(&answered), UDP_VERDICT);
    assert_eq!(probe["status"], "pass", "{probe:#}");
    let family = &probe["metrics"]["families"][0];
    assert_eq!(family["result"], "answered", "{family:#}");
    assert_eq!(family["mapped"], family["local"], "{family:#}");
    // The healthy server beside the flood: answered, on loopback time.
    let other = common(&run, &format!("stun/udp/{healthy_target}"), UDP_VERDICT);
    assert_eq!(other["status"], "pass", "{other:#}");
    let rtt = other["metrics"]["rtt_ms"].as_f64().unwrap();
    assert!(rtt < 200.0, "{rtt} ms on loopback beside a flood");
    assert!(answered.flooded.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_flooded_probe_beside_a_healthy_one_is_not_a_pass_and_the_healthy_one_is() {
    let healthy = lab::Serve::start(None, &["--listen", "127.0.0.1", "--stun-udp", "0"]);
    let healthy_target = format!("127.0.0.1:{}", healthy.port("stun/udp"));
    let flooding = UdpServer::start(Udp::Flood);
    let run = check(&[flooding.target(), healthy_target.clone()], &[]);
    let probe = common(&run, &udp_id(&flooding), UDP_VERDICT);
    // Another UDP path answered: a warning, not 16387 and never a pass.
    assert_eq!(probe["status"], "warn", "{probe:#}");
    assert_eq!(
        lab::findings(probe),
        [("warning".to_string(), None)],
        "{probe:#}"
    );
    let finding = &probe["findings"][0];
    assert!(
        finding["evidence"]
            .as_str()
            .unwrap()
            .contains("none a valid STUN answer"),
        "{finding:#}"
    );
    assert!(
        !finding["description"]
            .as_str()
            .unwrap()
            .contains("TCP path"),
        "only UDP answered in this run: {finding:#}"
    );
    let other = common(&run, &format!("stun/udp/{healthy_target}"), UDP_VERDICT);
    assert_eq!(other["status"], "pass", "{other:#}");
    assert!(other["metrics"]["rtt_ms"].as_f64().unwrap() < 200.0);
}

/// How a TCP (or TLS) STUN fixture treats each connection once the request has arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    /// Answers correctly (the control).
    Correct,
    /// Sends an HTTP error: not STUN framing.
    Garbage,
    /// Sends a STUN header for this transaction announcing 65,532 bytes (more than a STUN
    /// message may hold) and then noise.
    HugeLength,
    /// Sends a STUN header announcing 60,000 bytes of attributes, then up to 32 MiB of noise
    /// (the client reads a whole frame, finds it malformed, then stops at the first bytes that
    /// are not a STUN header).
    EndlessFrame,
    /// Sends well-formed answers to other transactions, without end.
    SpoofedFlood,
    /// Says nothing.
    Silent,
}

/// Serves one connection: reads the request, then does what `mode` says.
fn serve_stream<S: Read + Write>(mut stream: S, mode: Stream) {
    let mut request = [0u8; 20];
    if stream.read_exact(&mut request).is_err() {
        return;
    }
    let length = usize::from(u16::from_be_bytes([request[2], request[3]]));
    let mut rest = vec![0u8; length];
    if stream.read_exact(&mut rest).is_err() {
        return;
    }
    let mut whole = request.to_vec();
    whole.extend_from_slice(&rest);
    let Some(id) = request_id(&whole) else {
        return;
    };
    // Over a stream the mapped address does not matter to the verdict; any address will do.
    let mapped: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let noise = [0x5a_u8; 64 * 1024];
    let _ = match mode {
        Stream::Correct => stream.write_all(&success(id, mapped)),
        Stream::Garbage => stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        Stream::HugeLength => {
            let mut header = message(0x0101, id, &[]);
            header[2..4].copy_from_slice(&65_532u16.to_be_bytes());
            stream
                .write_all(&header)
                .and_then(|()| stream.write_all(&noise))
        }
        Stream::EndlessFrame => {
            let mut header = message(0x0101, id, &[]);
            header[2..4].copy_from_slice(&60_000u16.to_be_bytes());
            (|| {
                stream.write_all(&header)?;
                for _ in 0..512 {
                    stream.write_all(&noise)?;
                }
                Ok(())
            })()
        }
        Stream::SpoofedFlood => {
            let answer = success(spoofed(id), mapped);
            let started = Instant::now();
            let mut burst = Vec::new();
            for _ in 0..100 {
                burst.extend_from_slice(&answer);
            }
            (|| {
                while started.elapsed() < Duration::from_secs(20) {
                    stream.write_all(&burst)?;
                    stream.flush()?;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            })()
        }
        Stream::Silent => {
            // Hold the connection open until the client gives up.
            let mut sink = [0u8; 64];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            Ok(())
        }
    };
    // Wait for the client to close, so that closing here is never what ended the probe.
    let mut sink = [0u8; 64];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// A plain TCP STUN fixture on 127.0.0.1 (the thread ends with the test process).
fn tcp_server(mode: Stream) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_stream(stream, mode));
        }
    });
    address
}

/// A STUN-over-TLS fixture on 127.0.0.1 (ALPN `stun.turn`) with a fresh self-signed
/// certificate: completes the handshake, then treats the session as `mode` says. Returns its
/// address and pin.
fn tls_server(mode: Stream) -> (SocketAddr, String) {
    lab::hostile::tls_server(&[preflight_probes::tls::ALPN_STUN_TURN], move |session| {
        serve_stream(session, mode)
    })
}

#[test]
fn the_stream_fixtures_answer_correctly_when_told_to() {
    let tcp = tcp_server(Stream::Correct);
    let (tls, pin) = tls_server(Stream::Correct);
    let run = check(
        &[format!("tcp:{tcp}"), format!("tls:{tls}")],
        &["--pin", &pin],
    );
    assert_eq!(run.output.status.code(), Some(0), "{:#}", run.report);
    for id in [format!("stun/tcp/{tcp}"), format!("stun/tls/{tls}")] {
        let probe = common(&run, &id, TLS_HANDSHAKE + STREAM_ANSWER);
        assert_eq!(probe["status"], "pass", "{probe:#}");
    }
}

#[test]
fn tcp_garbage_is_not_an_answer_and_is_told_at_once() {
    let address = tcp_server(Stream::Garbage);
    let run = check(&[format!("tcp:{address}")], &[]);
    // Not STUN framing: the stream cannot carry an answer any more, so no need to wait.
    assert_no_answer(
        &run,
        &format!("stun/tcp/{address}"),
        Duration::ZERO,
        "garbage",
        "none a valid STUN answer",
    );
}

#[test]
fn a_tcp_frame_announcing_more_than_stun_allows_is_not_an_answer() {
    let address = tcp_server(Stream::HugeLength);
    let run = check(&[format!("tcp:{address}")], &[]);
    assert_no_answer(
        &run,
        &format!("stun/tcp/{address}"),
        Duration::ZERO,
        "garbage",
        "none a valid STUN answer",
    );
}

#[test]
fn a_tcp_frame_followed_by_endless_noise_ends_at_the_first_bytes_that_are_not_stun() {
    let address = tcp_server(Stream::EndlessFrame);
    let run = check(&[format!("tcp:{address}")], &[]);
    assert_no_answer(
        &run,
        &format!("stun/tcp/{address}"),
        STREAM_ANSWER,
        "garbage",
        "none a valid STUN answer",
    );
}

#[test]
fn a_tcp_flood_of_answers_to_other_transactions_is_not_an_answer() {
    let address = tcp_server(Stream::SpoofedFlood);
    let run = check(&[format!("tcp:{address}")], &[]);
    let probe = assert_no_answer(
        &run,
        &format!("stun/tcp/{address}"),
        STREAM_ANSWER,
        "garbage",
        "none a valid STUN answer",
    );
    let ignored = probe["metrics"]["families"][0]["ignored"].as_u64().unwrap();
    assert!(ignored >= 1_000, "{ignored} ignored: {probe:#}");
}

#[test]
fn tls_that_completes_then_sends_garbage_is_not_an_answer() {
    let (address, pin) = tls_server(Stream::Garbage);
    let run = check(&[format!("tls:{address}")], &["--pin", &pin]);
    let probe = assert_no_answer(
        &run,
        &format!("stun/tls/{address}"),
        TLS_HANDSHAKE,
        "garbage",
        "none a valid STUN answer",
    );
    // The handshake's facts are kept: TLS itself worked.
    assert_eq!(
        probe["metrics"]["families"][0]["tls"]["verification"],
        "pin"
    );
}

#[test]
fn tls_that_completes_then_says_nothing_times_out_in_time() {
    let (address, pin) = tls_server(Stream::Silent);
    let run = check(&[format!("tls:{address}")], &["--pin", &pin]);
    assert_no_answer(
        &run,
        &format!("stun/tls/{address}"),
        TLS_HANDSHAKE + STREAM_ANSWER,
        "accepted_but_silent",
        "then no STUN answer",
    );
}

#[test]
fn tls_with_a_flood_of_answers_to_other_transactions_is_not_an_answer() {
    let (address, pin) = tls_server(Stream::SpoofedFlood);
    let run = check(&[format!("tls:{address}")], &["--pin", &pin]);
    assert_no_answer(
        &run,
        &format!("stun/tls/{address}"),
        TLS_HANDSHAKE + STREAM_ANSWER,
        "garbage",
        "none a valid STUN answer",
    );
}

#[test]
fn the_ports_matrix_takes_no_hostile_reply_for_an_answer() {
    // The same engine behind TRTC's path matrix: a flood, spoofed answers and a TCP port that
    // speaks HTTP are no path at all.
    let flood = UdpServer::start(Udp::Flood);
    let spoofed = UdpServer::start(Udp::SpoofedId);
    let tcp = tcp_server(Stream::Garbage);
    let udp_ports = format!("{},{}", flood.address.port(), spoofed.address.port());
    let tcp_ports = tcp.port().to_string();
    let run = check_only(
        "ports,account",
        &[],
        &[
            "--ports",
            "127.0.0.1",
            "--udp-ports",
            &udp_ports,
            "--tcp-ports",
            &tcp_ports,
        ],
    );
    let probe = common(&run, "ports/127.0.0.1", UDP_VERDICT);
    assert_eq!(run.output.status.code(), Some(1), "{probe:#}");
    assert_eq!(probe["status"], "fail", "{probe:#}");
    assert_eq!(lab::findings(probe), [("error".to_string(), Some(16387))]);
    assert_eq!(probe["findings"][0]["message"], NO_CANDIDATE);
    let cells = probe["metrics"]["matrix"].as_array().unwrap();
    assert_eq!(cells.len(), 3, "{probe:#}");
    for cell in cells {
        assert_eq!(cell["result"], "garbage", "{cell:#}");
    }
    assert_eq!(
        probe["metrics"]["open"],
        serde_json::json!({"tcp": [], "udp": []})
    );
}
