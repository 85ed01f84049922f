//! Thin tokio drivers for the binding [`Transaction`]: they own the socket or stream and the
//! timer, read the clock, and feed the engine; every decision is the engine's.
//!
//! The loop (the same for UDP and streams):
//!
//! ```text
//! loop {
//!     now = Instant::now()
//!     tx.handle_timeout(now)
//!     while let Some(t) = tx.poll_transmit(now) { send t.payload }
//!     if let Some(event) = tx.poll_event() { return the outcome }
//!     select! {
//!         bytes received      => tx.handle_input(now, bytes) (per datagram, or per frame)
//!         transport failure   => tx.handle_transport_end(now, ...)
//!         tx.poll_timeout()   => (next turn)
//!         new give-up instant => tx.set_give_up(at)
//!     }
//! }
//! ```
//!
//! Over UDP the socket is connected, so that on Linux an ICMP "port unreachable" comes back as
//! a refused `recv` (or `send`): the outcome is then [`TransportEnd::Rejected`], distinct from
//! silence ([`Event::TimedOut`]). A connected socket also hears only from its peer: datagrams
//! from other addresses never reach the engine.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::engine::{Event, IgnoredCounts, RetransmitConfig, Transaction, TransportEnd};
use super::message::{binding_request, split_frame, BindingOptions, RequestError, TransactionId};

/// Moves the give-up instant of a running exchange from outside: the driver applies each new
/// `Some(at)` with [`Transaction::set_give_up`] (for example, once a sibling on the same host
/// has answered, silence can be called after a multiple of its RTT). `None` changes nothing.
pub type GiveUpControl = watch::Receiver<Option<Instant>>;

/// One binding exchange to drive: the request, its schedule, and an optional give-up control.
#[derive(Debug)]
pub struct Exchange {
    /// The request's transaction id.
    pub id: TransactionId,
    /// The encoded request.
    pub request: Vec<u8>,
    /// The retransmission schedule ([`RetransmitConfig::reliable`] for streams).
    pub config: RetransmitConfig,
    /// Changes to the give-up instant while the exchange runs.
    pub give_up: Option<GiveUpControl>,
}

impl Exchange {
    /// Encodes a binding request with `options` for transaction `id`.
    pub fn new(
        id: TransactionId,
        options: &BindingOptions,
        config: RetransmitConfig,
    ) -> Result<Exchange, RequestError> {
        Ok(Exchange {
            id,
            request: binding_request(id, options)?,
            config,
            give_up: None,
        })
    }

    /// The same exchange, with its give-up instant controlled from outside.
    pub fn with_give_up(mut self, control: GiveUpControl) -> Exchange {
        self.give_up = Some(control);
        self
    }
}

/// The facts of one driven exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What ended it: answered, error response, transport end (rejected, closed, not STUN),
    /// or timed out.
    pub event: Event,
    /// The local address used (UDP; `None` for a stream, whose owner knows it).
    pub local: Option<SocketAddr>,
    /// The peer (UDP; `None` for a stream).
    pub peer: Option<SocketAddr>,
    /// Received bytes ignored, by reason.
    pub ignored: IgnoredCounts,
}

/// A failure of the local machinery (not a fact about the peer).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// No UDP socket could be bound.
    #[error("could not bind a UDP socket on {addr}: {source}")]
    Bind {
        /// The local address tried.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// The UDP socket could not be connected (often: no route for this address family).
    #[error("could not connect a UDP socket to {peer}: {source} (is there a route to it?)")]
    Connect {
        /// The peer.
        peer: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// Sending failed (other than a rejection or a closed stream); for example a datagram
    /// larger than the path MTU with don't-fragment set.
    #[error("could not send a STUN request{}: {source}", to(.peer))]
    Send {
        /// The peer, when known.
        peer: Option<SocketAddr>,
        /// The error.
        source: io::Error,
    },
    /// Receiving failed (other than a rejection or a closed stream).
    #[error("could not receive a STUN answer{}: {source}", from(.peer))]
    Receive {
        /// The peer, when known.
        peer: Option<SocketAddr>,
        /// The error.
        source: io::Error,
    },
}

fn to(peer: &Option<SocketAddr>) -> String {
    peer.map(|p| format!(" to {p}")).unwrap_or_default()
}

fn from(peer: &Option<SocketAddr>) -> String {
    peer.map(|p| format!(" from {p}")).unwrap_or_default()
}

/// Binds an ephemeral UDP socket of `target`'s family, connects it to `target`, and runs the
/// exchange on it.
pub async fn binding_udp(target: SocketAddr, exchange: Exchange) -> Result<Outcome, DriverError> {
    let local = match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|source| DriverError::Bind {
            addr: local,
            source,
        })?;
    socket
        .connect(target)
        .await
        .map_err(|source| DriverError::Connect {
            peer: target,
            source,
        })?;
    binding_udp_on(&socket, exchange).await
}

/// Runs the exchange on a UDP socket already connected to the server (so that the caller can
/// choose the local address or set socket options such as don't-fragment).
pub async fn binding_udp_on(
    socket: &UdpSocket,
    exchange: Exchange,
) -> Result<Outcome, DriverError> {
    let local = socket.local_addr().ok();
    let peer = socket.peer_addr().ok();
    let Exchange {
        id,
        request,
        config,
        mut give_up,
    } = exchange;
    let mut buf = vec![0u8; request.len().max(1500) + 1024];
    let mut tx = Transaction::new(Instant::now(), config, request, id);
    apply_current(&mut tx, &give_up);
    loop {
        let now = Instant::now();
        tx.handle_timeout(now);
        while let Some(t) = tx.poll_transmit(now) {
            match socket.send(&t.payload).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Rejected);
                }
                Err(source) => return Err(DriverError::Send { peer, source }),
            }
        }
        if let Some(event) = tx.poll_event() {
            return Ok(Outcome {
                event,
                local,
                peer,
                ignored: *tx.ignored(),
            });
        }
        let deadline = tx.poll_timeout().unwrap_or(now);
        tokio::select! {
            received = socket.recv(&mut buf) => match received {
                Ok(n) => {
                    tx.handle_input(Instant::now(), &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Rejected);
                }
                Err(source) => return Err(DriverError::Receive { peer, source }),
            },
            () = tokio::time::sleep_until(deadline.into()) => {}
            at = next_give_up(&mut give_up) => {
                if let Some(at) = at {
                    tx.set_give_up(at);
                }
            }
        }
    }
}

/// Runs the exchange over a byte stream (a connected TCP stream, or TLS over one): sends the
/// request once per scheduled send (use [`RetransmitConfig::reliable`]) and reads STUN frames
/// until one answers. `Outcome::local` and `Outcome::peer` are `None`: the stream's owner
/// knows them.
pub async fn binding_stream<S>(mut stream: S, exchange: Exchange) -> Result<Outcome, DriverError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Exchange {
        id,
        request,
        config,
        mut give_up,
    } = exchange;
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let mut tx = Transaction::new(Instant::now(), config, request, id);
    apply_current(&mut tx, &give_up);
    loop {
        let now = Instant::now();
        tx.handle_timeout(now);
        while let Some(t) = tx.poll_transmit(now) {
            let written = async {
                stream.write_all(&t.payload).await?;
                stream.flush().await
            };
            match written.await {
                Ok(()) => {}
                Err(e) if is_reset(&e) => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Closed { reset: true });
                }
                Err(source) => return Err(DriverError::Send { peer: None, source }),
            }
        }
        if let Some(event) = tx.poll_event() {
            return Ok(Outcome {
                event,
                local: None,
                peer: None,
                ignored: *tx.ignored(),
            });
        }
        let deadline = tx.poll_timeout().unwrap_or(now);
        tokio::select! {
            read = stream.read(&mut chunk) => match read {
                Ok(0) => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Closed { reset: false });
                }
                Ok(n) => {
                    pending.extend_from_slice(&chunk[..n]);
                    feed_frames(&mut tx, &mut pending, Instant::now());
                }
                Err(e) if is_reset(&e) => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Closed { reset: true });
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    tx.handle_transport_end(Instant::now(), TransportEnd::Closed { reset: false });
                }
                Err(source) => return Err(DriverError::Receive { peer: None, source }),
            },
            () = tokio::time::sleep_until(deadline.into()) => {}
            at = next_give_up(&mut give_up) => {
                if let Some(at) = at {
                    tx.set_give_up(at);
                }
            }
        }
    }
}

/// Hands every complete frame at the start of `pending` to the engine.
fn feed_frames(tx: &mut Transaction, pending: &mut Vec<u8>, now: Instant) {
    loop {
        match split_frame(pending) {
            Ok(Some(len)) => {
                tx.handle_input(now, &pending[..len]);
                pending.drain(..len);
            }
            Ok(None) => return,
            Err(error) => {
                tx.handle_transport_end(now, TransportEnd::NotStun(error));
                pending.clear();
                return;
            }
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn apply_current(tx: &mut Transaction, control: &Option<GiveUpControl>) {
    if let Some(at) = control.as_ref().and_then(|rx| *rx.borrow()) {
        tx.set_give_up(at);
    }
}

/// The next give-up instant sent; pends forever without a control, or once its sender is gone.
async fn next_give_up(control: &mut Option<GiveUpControl>) -> Option<Instant> {
    let Some(rx) = control.as_mut() else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *control = None;
        return None;
    }
    let at = *rx.borrow_and_update();
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::message::IdSequence;
    use crate::stun::testing::{request_id, success_response};
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    const MS: Duration = Duration::from_millis(1);

    fn exchange(seed: u64, config: RetransmitConfig) -> Exchange {
        let id = IdSequence::seeded(seed).next_id();
        Exchange::new(id, &BindingOptions::default(), config).unwrap()
    }

    /// A short schedule for tests: sends at 0, 20, 60 ms, gives up at 260 ms.
    fn quick() -> RetransmitConfig {
        RetransmitConfig {
            initial_rto: 20 * MS,
            max_rto: 80 * MS,
            max_sends: 3,
            final_wait: 200 * MS,
        }
    }

    /// A UDP responder on `bind` that, for the n-th request (from 1), sends what `reply` returns
    /// (datagrams, in order) to the source, with the request's id and source address.
    async fn udp_responder<F>(bind: &str, reply: F) -> Option<SocketAddr>
    where
        F: Fn(u32, TransactionId, SocketAddr) -> Vec<Vec<u8>> + Send + 'static,
    {
        let socket = UdpSocket::bind(bind).await.ok()?;
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut n = 0;
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                let Some(id) = request_id(&buf[..len]) else {
                    continue;
                };
                n += 1;
                for datagram in reply(n, id, from) {
                    let _ = socket.send_to(&datagram, from).await;
                }
            }
        });
        Some(addr)
    }

    fn answer_all(_: u32, id: TransactionId, from: SocketAddr) -> Vec<Vec<u8>> {
        vec![success_response(id, from, true)]
    }

    fn answered(outcome: &Outcome) -> (Duration, u32, SocketAddr) {
        match &outcome.event {
            Event::Answered {
                rtt,
                attempts,
                response,
                ..
            } => (*rtt, *attempts, response.mapped),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn udp_v4_answered_with_the_local_address_as_mapped() {
        let server = udp_responder("127.0.0.1:0", answer_all).await.unwrap();
        let started = Instant::now();
        let outcome = binding_udp(server, exchange(1, RetransmitConfig::UDP))
            .await
            .unwrap();
        let (rtt, attempts, mapped) = answered(&outcome);
        assert_eq!(attempts, 1);
        assert!(rtt < Duration::from_secs(1), "loopback rtt {rtt:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        let local = outcome.local.unwrap();
        assert_eq!(mapped.port(), local.port());
        assert_eq!(mapped.ip(), server.ip(), "no NAT on loopback");
        assert_eq!(outcome.peer, Some(server));
        assert_eq!(outcome.ignored, IgnoredCounts::default());
    }

    #[tokio::test]
    async fn udp_v6_answered() {
        let Some(server) = udp_responder("[::1]:0", answer_all).await else {
            eprintln!("no IPv6 loopback here: skipped");
            return;
        };
        let outcome = binding_udp(server, exchange(2, RetransmitConfig::UDP))
            .await
            .unwrap();
        let (_, _, mapped) = answered(&outcome);
        assert!(mapped.is_ipv6());
        assert_eq!(mapped.port(), outcome.local.unwrap().port());
    }

    #[tokio::test]
    async fn udp_silence_times_out_after_the_schedule() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = silent.local_addr().unwrap();
        let started = Instant::now();
        let outcome = binding_udp(target, exchange(3, quick())).await.unwrap();
        let elapsed = started.elapsed();
        let Event::TimedOut { attempts, waited } = outcome.event else {
            panic!("{:?}", outcome.event)
        };
        assert_eq!(attempts, 3);
        assert!(waited >= quick().give_up_after(), "{waited:?}");
        assert!(elapsed >= quick().give_up_after(), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        // The silent server did receive the three sends.
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let (n, _) = silent.try_recv_from(&mut buf).unwrap();
            assert_eq!(request_id(&buf[..n]), Some(IdSequence::seeded(3).next_id()));
        }
    }

    #[tokio::test]
    async fn udp_closed_port_is_rejected_not_silent() {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let started = Instant::now();
        let outcome = binding_udp(port, exchange(4, RetransmitConfig::UDP))
            .await
            .unwrap();
        if cfg!(target_os = "linux") {
            assert!(
                matches!(
                    outcome.event,
                    Event::Transport {
                        end: TransportEnd::Rejected,
                        attempts: 1,
                        ..
                    }
                ),
                "{:?}",
                outcome.event
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }

    #[tokio::test]
    async fn udp_bad_answers_are_counted_and_the_good_one_wins() {
        let server = udp_responder("127.0.0.1:0", |_, id, from| {
            let other = IdSequence::seeded(99).next_id();
            let mut bad_fp = success_response(id, from, true);
            let last = bad_fp.len() - 1;
            bad_fp[last] ^= 0xFF;
            vec![
                b"not stun at all".to_vec(),
                success_response(other, from, true),
                bad_fp,
                success_response(id, None, true),
                success_response(id, from, false),
            ]
        })
        .await
        .unwrap();
        let outcome = binding_udp(server, exchange(5, RetransmitConfig::UDP))
            .await
            .unwrap();
        let (_, attempts, mapped) = answered(&outcome);
        assert_eq!(attempts, 1);
        assert_eq!(mapped.port(), outcome.local.unwrap().port());
        assert_eq!(
            outcome.ignored,
            IgnoredCounts {
                not_stun: 1,
                wrong_transaction: 1,
                bad_fingerprint: 1,
                no_mapped_address: 1,
                ..Default::default()
            }
        );
    }

    #[tokio::test]
    async fn udp_first_request_lost_second_answered() {
        let server = udp_responder("127.0.0.1:0", |n, id, from| {
            if n == 1 {
                vec![]
            } else {
                vec![success_response(id, from, true)]
            }
        })
        .await
        .unwrap();
        let outcome = binding_udp(server, exchange(6, quick())).await.unwrap();
        let Event::Answered {
            rtt,
            since_first_send,
            attempts,
            ..
        } = outcome.event
        else {
            panic!("{:?}", outcome.event)
        };
        assert_eq!(attempts, 2);
        // Measured from the second send, which left at least one RTO after the first.
        assert!(
            since_first_send >= rtt + quick().initial_rto,
            "{rtt:?} {since_first_send:?}"
        );
    }

    #[tokio::test]
    async fn udp_give_up_moved_from_outside() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = silent.local_addr().unwrap();
        let (set, control) = watch::channel(None);
        let started = Instant::now();
        let run = tokio::spawn(binding_udp(
            target,
            exchange(7, RetransmitConfig::UDP).with_give_up(control),
        ));
        // Once the exchange is under way (its first request arrived), call silence at 200 ms.
        let mut buf = [0u8; 64];
        silent.recv_from(&mut buf).await.unwrap();
        set.send(Some(started + 200 * MS)).unwrap();
        let outcome = run.await.unwrap().unwrap();
        let elapsed = started.elapsed();
        // Sends at 0 and 100 ms; the one due at 300 ms never happens.
        assert!(
            matches!(outcome.event, Event::TimedOut { attempts: 2, .. }),
            "{:?}",
            outcome.event
        );
        assert!(
            elapsed >= 200 * MS && elapsed < Duration::from_secs(1),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn udp_socket_errors_are_typed() {
        // An unconnected socket cannot send: a local failure, not a fact about a peer.
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = binding_udp_on(&socket, exchange(8, quick()))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Send { peer: None, .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("could not send a STUN request: "));
    }

    /// A TCP server on loopback that runs `serve` on the first connection.
    async fn tcp_server<F, Fut>(serve: F) -> SocketAddr
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((stream, _)) = listener.accept().await {
                serve(stream).await;
            }
        });
        addr
    }

    /// Reads one STUN frame from `stream`.
    async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            if let Ok(Some(n)) = split_frame(&buf) {
                return buf[..n].to_vec();
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn reliable() -> RetransmitConfig {
        RetransmitConfig::reliable(300 * MS)
    }

    #[tokio::test]
    async fn tcp_answered_even_when_the_answer_arrives_in_pieces() {
        let server = tcp_server(|mut s| async move {
            let request = read_frame(&mut s).await;
            let id = request_id(&request).unwrap();
            let peer = s.peer_addr().unwrap();
            let foreign = success_response(IdSequence::seeded(1234).next_id(), peer, true);
            let answer = success_response(id, peer, true);
            let bytes = [foreign, answer].concat();
            for piece in bytes.chunks(7) {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            let _ = s.read(&mut [0u8; 1]).await;
        })
        .await;
        let stream = TcpStream::connect(server).await.unwrap();
        let local = stream.local_addr().unwrap();
        let outcome = binding_stream(stream, exchange(10, reliable()))
            .await
            .unwrap();
        let (_, attempts, mapped) = answered(&outcome);
        assert_eq!((attempts, mapped), (1, local));
        assert_eq!(outcome.ignored.wrong_transaction, 1);
        assert_eq!(outcome.local, None);
    }

    #[tokio::test]
    async fn tcp_closed_before_an_answer() {
        let server = tcp_server(|mut s| async move {
            read_frame(&mut s).await;
        })
        .await;
        let stream = TcpStream::connect(server).await.unwrap();
        let outcome = binding_stream(stream, exchange(11, reliable()))
            .await
            .unwrap();
        assert!(
            matches!(
                outcome.event,
                Event::Transport {
                    end: TransportEnd::Closed { .. },
                    attempts: 1,
                    ..
                }
            ),
            "{:?}",
            outcome.event
        );
    }

    #[tokio::test]
    async fn tcp_peer_speaking_something_else() {
        let server = tcp_server(|mut s| async move {
            read_frame(&mut s).await;
            s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .await
                .unwrap();
            let _ = s.read(&mut [0u8; 1]).await;
        })
        .await;
        let stream = TcpStream::connect(server).await.unwrap();
        let outcome = binding_stream(stream, exchange(12, reliable()))
            .await
            .unwrap();
        let Event::Transport {
            end: TransportEnd::NotStun(error),
            ..
        } = &outcome.event
        else {
            panic!("{:?}", outcome.event)
        };
        assert!(error.to_string().contains("48"), "{error}");
    }

    #[tokio::test]
    async fn tcp_accepts_but_never_answers() {
        let server = tcp_server(|mut s| async move {
            read_frame(&mut s).await;
            let _ = s.read(&mut [0u8; 1]).await;
        })
        .await;
        let stream = TcpStream::connect(server).await.unwrap();
        let started = Instant::now();
        let outcome = binding_stream(stream, exchange(13, reliable()))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert!(matches!(outcome.event, Event::TimedOut { attempts: 1, .. }));
        assert!(
            elapsed >= 300 * MS && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn stream_driver_takes_any_async_stream() {
        // An in-memory pipe stands in for TLS: anything AsyncRead + AsyncWrite will do.
        let (client, mut server) = tokio::io::duplex(4096);
        let mapped: SocketAddr = "198.51.100.4:4444".parse().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            let n = server.read(&mut buf).await.unwrap();
            let id = request_id(&buf[..n]).unwrap();
            server
                .write_all(&success_response(id, mapped, false))
                .await
                .unwrap();
            let _ = server.read(&mut buf).await;
        });
        let outcome = binding_stream(client, exchange(14, reliable()))
            .await
            .unwrap();
        assert_eq!(answered(&outcome).2, mapped);
    }
}
