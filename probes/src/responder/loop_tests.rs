//! The tokio loops on loopback only (127.0.0.1 and ::1, ephemeral ports), and [`serve_stream`]
//! over an in-memory pipe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc_stun::attributes::{ATTR_PADDING, ATTR_USERNAME};
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{Getter, Message, Setter, TransactionId, BINDING_REQUEST, BINDING_SUCCESS};
use rtc_stun::textattrs::TextAttribute;
use rtc_stun::xoraddr::XorMappedAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::*;

const TOKEN: &str = "loop-token";
/// Generous: only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(5);
const LOOPBACKS: [&str; 2] = ["127.0.0.1:0", "[::1]:0"];

fn request(padding: usize, token: Option<&str>) -> (Vec<u8>, [u8; 12]) {
    let provider = rtc_stun::crypto::default_provider().expect("provider");
    let mut m = Message::new();
    let id = TransactionId::new();
    m.build(&[Box::new(id), Box::new(BINDING_REQUEST)])
        .expect("header");
    if padding > 0 {
        m.add(ATTR_PADDING, &vec![0; padding]);
    }
    if let Some(token) = token {
        TextAttribute::new(ATTR_USERNAME, "preflight".to_owned())
            .add_to(&mut m)
            .expect("username");
        MessageIntegrity::new_short_term_integrity_with_provider(
            token.to_owned(),
            provider.crypto(),
        )
        .add_to(&mut m)
        .expect("integrity");
    }
    FINGERPRINT.add_to(&mut m).expect("fingerprint");
    (m.raw.clone(), id.0)
}

/// Decodes an answer, checks it is a binding success for `id` with a valid fingerprint, and
/// returns the mapped address.
fn check_answer(bytes: &[u8], id: [u8; 12]) -> SocketAddr {
    let mut m = Message::new();
    m.raw = bytes.to_vec();
    m.decode().expect("answer decodes");
    assert_eq!(m.typ, BINDING_SUCCESS);
    assert_eq!(m.transaction_id.0, id);
    FINGERPRINT.check(&m).expect("fingerprint");
    let mut xor = XorMappedAddress::default();
    xor.get_from(&m).expect("XOR-MAPPED-ADDRESS");
    SocketAddr::new(xor.ip, xor.port)
}

fn shared(config: ResponderConfig) -> Arc<Mutex<Responder>> {
    Arc::new(Mutex::new(Responder::new(config).expect("config")))
}

fn counters(responder: &Mutex<Responder>) -> Counters {
    responder.lock().expect("not poisoned").counters()
}

fn shutdown_pair() -> (oneshot::Sender<()>, impl std::future::Future<Output = ()>) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

fn expected_len(addr: SocketAddr, authenticated: bool) -> usize {
    match (addr, authenticated) {
        (SocketAddr::V4(_), false) => ANSWER_LEN_V4,
        (SocketAddr::V6(_), false) => ANSWER_LEN_V6,
        (SocketAddr::V4(_), true) => ANSWER_LEN_V4_AUTHENTICATED,
        (SocketAddr::V6(_), true) => ANSWER_LEN_V6_AUTHENTICATED,
    }
}

#[tokio::test]
async fn udp_loop_answers_binding_requests_on_ipv4_and_ipv6_loopback() {
    for bind in LOOPBACKS {
        let responder = shared(ResponderConfig {
            token: Some(TOKEN.to_owned()),
            ..ResponderConfig::default()
        });
        let server = UdpSocket::bind(bind).await.expect("bind server");
        let server_addr = server.local_addr().expect("server address");
        let (stop, shutdown) = shutdown_pair();
        let task = tokio::spawn(serve_udp(server, Arc::clone(&responder), shutdown));

        let client = UdpSocket::bind(bind).await.expect("bind client");
        let client_addr = client.local_addr().expect("client address");
        client.connect(server_addr).await.expect("connect");
        client.send(b"not stun at all").await.expect("send");
        let mut buffer = vec![0_u8; 2048];
        for (padding, token) in [(0, None), (8_952, None), (0, Some(TOKEN))] {
            let (bytes, id) = request(padding, token);
            client.send(&bytes).await.expect("send");
            let len = timeout(PATIENCE, client.recv(&mut buffer))
                .await
                .expect("an answer in time")
                .expect("recv");
            assert_eq!(
                len,
                expected_len(client_addr, token.is_some()),
                "{bind} {padding}"
            );
            assert_eq!(check_answer(&buffer[..len], id), client_addr);
        }

        stop.send(()).expect("loop still running");
        let ended = timeout(PATIENCE, task).await.expect("stops in time");
        ended.expect("no panic").expect("no socket error");
        let c = counters(&responder);
        assert_eq!(
            (c.answered, c.answered_authenticated, c.not_stun),
            (3, 1, 1)
        );
    }
}

#[tokio::test]
async fn tcp_loop_answers_each_framed_request_on_its_connection() {
    for bind in LOOPBACKS {
        let responder = shared(ResponderConfig::default());
        let listener = TcpListener::bind(bind).await.expect("bind");
        let server_addr = listener.local_addr().expect("address");
        let (stop, shutdown) = shutdown_pair();
        let task = tokio::spawn(serve_tcp(
            listener,
            Arc::clone(&responder),
            TcpConfig::default(),
            shutdown,
        ));

        let mut client = TcpStream::connect(server_addr).await.expect("connect");
        let client_addr = client.local_addr().expect("client address");
        // Two requests in one write, and one split across writes: framing by the header.
        let (first, first_id) = request(0, None);
        let (second, second_id) = request(100, None);
        let (third, third_id) = request(0, None);
        client
            .write_all(&[first, second].concat())
            .await
            .expect("write");
        client.write_all(&third[..7]).await.expect("write");
        client.flush().await.expect("flush");
        client.write_all(&third[7..]).await.expect("write");
        let one = expected_len(client_addr, false);
        let mut answers = vec![0_u8; 3 * one];
        timeout(PATIENCE, client.read_exact(&mut answers))
            .await
            .expect("answers in time")
            .expect("read");
        for (chunk, id) in answers.chunks(one).zip([first_id, second_id, third_id]) {
            assert_eq!(check_answer(chunk, id), client_addr);
        }

        // Something that is not STUN ends the connection.
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut rest = Vec::new();
        let read = timeout(PATIENCE, client.read_to_end(&mut rest))
            .await
            .expect("closed in time");
        assert!(read.map_or(true, |n| n == 0), "no answer to HTTP");

        stop.send(()).expect("loop still running");
        let summary = timeout(PATIENCE, task)
            .await
            .expect("stops in time")
            .expect("no panic");
        assert_eq!(summary.accepted, 1);
        assert_eq!(summary.rejected, 1);
        let c = counters(&responder);
        assert_eq!((c.answered, c.not_stun), (3, 1));
    }
}

#[tokio::test]
async fn tcp_loop_ends_the_oldest_connection_when_full_and_closes_open_ones_on_shutdown() {
    let responder = shared(ResponderConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("address");
    let (stop, shutdown) = shutdown_pair();
    let config = TcpConfig {
        max_connections: 1,
        ..TcpConfig::default()
    };
    let task = tokio::spawn(serve_tcp(
        listener,
        Arc::clone(&responder),
        config,
        shutdown,
    ));

    // The first connection is served (and so holds the only slot).
    let mut first = TcpStream::connect(server_addr).await.expect("connect");
    let (bytes, id) = request(0, None);
    first.write_all(&bytes).await.expect("write");
    let mut answer = [0_u8; ANSWER_LEN_V4];
    timeout(PATIENCE, first.read_exact(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    check_answer(&answer, id);

    // The second ends the first (the oldest) to take its slot, and is answered.
    let mut second = TcpStream::connect(server_addr).await.expect("connect");
    let (bytes, id) = request(0, None);
    second.write_all(&bytes).await.expect("write");
    timeout(PATIENCE, second.read_exact(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    check_answer(&answer, id);
    let mut rest = Vec::new();
    let read = timeout(PATIENCE, first.read_to_end(&mut rest))
        .await
        .expect("the oldest closed in time");
    assert!(read.map_or(true, |n| n == 0), "the oldest was ended");

    stop.send(()).expect("loop still running");
    let summary = timeout(PATIENCE, task)
        .await
        .expect("stops in time")
        .expect("no panic");
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.evicted, 1);
    assert_eq!((summary.refused_over_limit, summary.failed), (0, 0));
    // Shutdown closed the second connection too.
    let read = timeout(PATIENCE, second.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(read.map_or(true, |n| n == 0));
}

/// Silent connections from one address hold at most its share of the slots: the next one from
/// there is closed on arrival, another address is still answered, and a slot comes back when
/// its connection ends.
#[tokio::test]
async fn tcp_loop_bounds_connections_from_one_source() {
    let responder = shared(ResponderConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("address");
    let (stop, shutdown) = shutdown_pair();
    let config = TcpConfig {
        max_connections_per_source: 2,
        ..TcpConfig::default()
    };
    let task = tokio::spawn(serve_tcp(listener, responder, config, shutdown));
    let from = |source: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::from((source, 0))).expect("bind");
        socket.connect(server_addr).await.expect("connect")
    };
    async fn answered(stream: &mut TcpStream) -> bool {
        let (bytes, id) = request(0, None);
        if stream.write_all(&bytes).await.is_err() {
            return false;
        }
        let mut answer = [0_u8; ANSWER_LEN_V4];
        match timeout(PATIENCE, stream.read_exact(&mut answer)).await {
            Ok(Ok(_)) => {
                check_answer(&answer, id);
                true
            }
            _ => false,
        }
    }

    let first = from([127, 0, 0, 1]).await;
    let mut second = from([127, 0, 0, 1]).await;
    let mut third = from([127, 0, 0, 1]).await;
    assert!(
        !answered(&mut third).await,
        "a third connection from one source"
    );
    assert!(answered(&mut second).await);
    assert!(answered(&mut from([127, 0, 0, 2]).await).await);

    drop(first);
    let started = std::time::Instant::now();
    // The loop notices the first one gone when it reads its end; until then, refusals.
    while !answered(&mut from([127, 0, 0, 1]).await).await {
        assert!(started.elapsed() < PATIENCE, "the slot never came back");
    }

    stop.send(()).expect("loop still running");
    let summary = timeout(PATIENCE, task)
        .await
        .expect("stops in time")
        .expect("no panic");
    assert!(summary.refused_per_source >= 1, "{summary:?}");
    assert_eq!(summary.refused_over_limit, 0);
}

#[tokio::test]
async fn tcp_loop_closes_idle_and_slow_connections() {
    let responder = shared(ResponderConfig::default());
    let listener = TcpListener::bind("[::1]:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("address");
    let (stop, shutdown) = shutdown_pair();
    let config = TcpConfig {
        idle_timeout: Duration::from_millis(100),
        ..TcpConfig::default()
    };
    let task = tokio::spawn(serve_tcp(
        listener,
        Arc::clone(&responder),
        config,
        shutdown,
    ));

    let mut silent = TcpStream::connect(server_addr).await.expect("connect");
    let mut slow = TcpStream::connect(server_addr).await.expect("connect");
    slow.write_all(&request(0, None).0[..10])
        .await
        .expect("half a header");
    for stream in [&mut silent, &mut slow] {
        let mut rest = Vec::new();
        let read = timeout(PATIENCE, stream.read_to_end(&mut rest))
            .await
            .expect("closed by the idle timeout");
        assert!(read.map_or(true, |n| n == 0));
    }

    stop.send(()).expect("loop still running");
    let summary = timeout(PATIENCE, task)
        .await
        .expect("stops in time")
        .expect("no panic");
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.idle_timeouts, 2);
}

#[tokio::test]
async fn tcp_loop_runs_the_acceptor_hook_on_every_connection() {
    let responder = shared(ResponderConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("address");
    let (stop, shutdown) = shutdown_pair();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&handshakes);
    // Stands in for a TLS handshake: the first connection fails it, the others pass.
    let acceptor = move |stream: TcpStream| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(std::io::Error::other("handshake refused"))
            } else {
                Ok(stream)
            }
        }
    };
    let task = tokio::spawn(serve_tcp_with(
        listener,
        Arc::clone(&responder),
        TcpConfig::default(),
        acceptor,
        shutdown,
    ));

    let mut refused = TcpStream::connect(server_addr).await.expect("connect");
    let mut rest = Vec::new();
    let read = timeout(PATIENCE, refused.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(read.map_or(true, |n| n == 0));

    let mut client = TcpStream::connect(server_addr).await.expect("connect");
    let (bytes, id) = request(0, None);
    client.write_all(&bytes).await.expect("write");
    let mut answer = [0_u8; ANSWER_LEN_V4];
    timeout(PATIENCE, client.read_exact(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    check_answer(&answer, id);

    stop.send(()).expect("loop still running");
    let summary = timeout(PATIENCE, task)
        .await
        .expect("stops in time")
        .expect("no panic");
    assert_eq!(handshakes.load(Ordering::SeqCst), 2);
    assert_eq!((summary.accepted, summary.failed), (2, 1));
}

#[tokio::test]
async fn stream_announcing_an_oversized_message_is_closed_and_counted() {
    let responder = Mutex::new(Responder::new(ResponderConfig::default()).expect("config"));
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let peer: SocketAddr = "192.0.2.7:4000".parse().expect("address");
    let config = TcpConfig::default();
    let serving = serve_stream(server, peer, &responder, &config);
    let talking = async {
        let (ok, id) = request(0, None);
        client.write_all(&ok).await.expect("write");
        let mut answer = [0_u8; ANSWER_LEN_V4];
        client.read_exact(&mut answer).await.expect("read");
        assert_eq!(check_answer(&answer, id), peer);
        // A padded request over the stream limit: the header alone decides.
        let (big, _) = request(config.max_message_len, None);
        client.write_all(&big[..20]).await.expect("write");
    };
    let (end, ()) = tokio::join!(serving, talking);
    assert!(
        matches!(end, ConnectionEnd::Rejected(DropReason::Oversized)),
        "{end:?}"
    );
    let c = counters(&responder);
    assert_eq!((c.answered, c.oversized), (1, 1));
}
