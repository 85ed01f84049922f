//! The UDP loop: receive a datagram, ask the [`Responder`], send its answer to the source.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::{Decision, Responder};

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
    let mut buffer = vec![0_u8; RECEIVE_BUFFER];
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            received = socket.recv_from(&mut buffer) => received,
        };
        let (len, source) = match received {
            Ok(received) => received,
            Err(error) if is_transient(&error) => continue,
            Err(source) => {
                let local = socket
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                return Err(UdpServeError { local, source });
            }
        };
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
