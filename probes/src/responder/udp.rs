//! The UDP loop: receive a datagram, ask the [`Responder`], send its answer to the source.
//!
//! With a [`ThroughputServer`] ([`serve_udp_with`]) the loop also demultiplexes: a datagram whose
//! first byte is the throughput marker goes to the throughput server instead, and the loop wakes
//! at the server's next due instant to send what it paces (downlink data, reports).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::throughput::ThroughputServer;
use super::{Decision, Responder};
use crate::throughput::wire::is_throughput;

/// A receive buffer for the largest datagram (65,507 bytes over IPv4, 65,527 over IPv6); a longer
/// one cannot arrive, so nothing is ever silently truncated into a smaller valid request.
const RECEIVE_BUFFER: usize = 65_536;

/// The UDP loop stopped on a socket error it cannot retry.
#[derive(Debug, thiserror::Error)]
#[error("STUN over UDP on {local}: receiving failed: {source}")]
pub struct UdpServeError {
    /// The socket's own address (`0.0.0.0:0` if even that could not be read).
    pub local: SocketAddr,
    /// What the operating system said.
    #[source]
    pub source: io::Error,
}

/// Answers binding requests on `socket` until `shutdown` completes.
///
/// Several sockets (a list of ports) may share one responder, and so one limiter and one set of
/// counters. Errors that one datagram or one ICMP message can cause (connection reset or refused,
/// interrupted) are skipped; a failed send loses that answer only. Returns `Ok(())` on shutdown.
pub async fn serve_udp<F>(
    socket: UdpSocket,
    responder: Arc<Mutex<Responder>>,
    shutdown: F,
) -> Result<(), UdpServeError>
where
    F: Future<Output = ()>,
{
    serve_udp_with(socket, responder, None, shutdown).await
}

/// [`serve_udp`], and the throughput test for token holders when `throughput` is given (several
/// sockets may share one server, and so its session limit).
pub async fn serve_udp_with<F>(
    socket: UdpSocket,
    responder: Arc<Mutex<Responder>>,
    throughput: Option<Arc<Mutex<ThroughputServer>>>,
    shutdown: F,
) -> Result<(), UdpServeError>
where
    F: Future<Output = ()>,
{
    let mut buffer = vec![0_u8; RECEIVE_BUFFER];
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    tokio::pin!(shutdown);
    loop {
        let wake = throughput.as_ref().and_then(|server| {
            server
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .poll_timeout(local)
        });
        let received = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            // Before receiving: a flood of requests must not starve the pacing.
            () = sleep_until(wake) => None,
            received = socket.recv_from(&mut buffer) => Some(received),
        };
        let (len, source) = match received {
            None => {
                if let Some(server) = &throughput {
                    send_throughput(&socket, server, local).await;
                }
                continue;
            }
            Some(Ok(received)) => received,
            Some(Err(error)) if is_transient(&error) => continue,
            Some(Err(source)) => return Err(UdpServeError { local, source }),
        };
        if let Some(server) = throughput
            .as_ref()
            .filter(|_| is_throughput(&buffer[..len]))
        {
            server
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(Instant::now(), &buffer[..len], source, local);
            send_throughput(&socket, server, local).await;
            continue;
        }
        let decision = responder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .respond(Instant::now(), &buffer[..len], source);
        if let Decision::Answer(answer) = decision {
            // A lost answer is the client's retransmission to make, as with any lost datagram.
            let _ = socket.send_to(&answer, source).await;
        }
    }
}

/// Sleeps until `wake`, or forever without one.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Sends everything the throughput server has due for this socket now.
async fn send_throughput(socket: &UdpSocket, server: &Mutex<ThroughputServer>, local: SocketAddr) {
    loop {
        let next = server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poll_transmit(Instant::now(), local);
        let Some((bytes, to)) = next else { return };
        // A lost datagram is part of what the test measures.
        let _ = socket.send_to(&bytes, to).await;
    }
}

/// Receive errors caused by one datagram or one ICMP message, not by the socket.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
