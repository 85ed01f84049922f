//! STUN over a stream (TCP, or TLS over TCP): messages framed by their own header (RFC 8489
//! §6.2.2), each answered on the connection it came on.
//!
//! [`serve_tcp_with`] accepts connections, bounds how many are open at once (in all and from one
//! source, so that one host holding silent connections cannot shut everyone else out), runs an
//! acceptor hook
//! on each (identity for plain TCP, a TLS handshake later) and hands the result to
//! [`serve_stream`], which reads one message at a time and writes the answers back.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::timeout;

use super::wire::{declared_body_len, looks_like_stun, HEADER_LEN};
use super::{Decision, DropReason, Responder};

/// How long to wait before accepting again after an accept error such as too many open files.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Limits for STUN over streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// A connection is closed when a handshake, a whole message or the writing of an answer takes
    /// longer than this.
    pub idle_timeout: Duration,
    /// Connections served at once; when that many are open, a new one ends the oldest.
    pub max_connections: usize,
    /// Of those, connections served at once from one source (an IPv4 address, or the /64 of an
    /// IPv6 one); more from it are accepted and closed straight away.
    pub max_connections_per_source: usize,
    /// Longest message read from a stream (header included); a longer announced length closes
    /// the connection. Streams carry no MTU probes, so this stays small.
    pub max_message_len: usize,
}

impl Default for TcpConfig {
    /// 10 s idle timeout, 1,024 connections (16 from one source), messages up to 4,096 bytes:
    /// at most 4 MiB of message buffers in all.
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_source: 16,
            max_message_len: 4096,
        }
    }
}

/// How one connection ended.
#[derive(Debug)]
pub enum ConnectionEnd {
    /// The peer closed it between messages (or in the middle of one).
    Closed,
    /// The handshake, a message or an answer took longer than [`TcpConfig::idle_timeout`].
    IdleTimeout,
    /// The stream stopped looking like STUN framing ([`DropReason::NotStun`],
    /// [`DropReason::Malformed`] length, [`DropReason::Oversized`]): closed, counted as a drop.
    Rejected(DropReason),
    /// Reading, writing or the acceptor hook failed.
    Failed(io::Error),
}

/// What [`serve_tcp_with`] did, returned when it shuts down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSummary {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections closed on arrival because [`TcpConfig::max_connections`] were open and
    /// none could be ended to make room.
    pub refused_over_limit: u64,
    /// Connections ended to make room for a new one when [`TcpConfig::max_connections`] were
    /// open (the oldest first).
    pub evicted: u64,
    /// Connections closed on arrival because [`TcpConfig::max_connections_per_source`] were open
    /// from their source.
    pub refused_per_source: u64,
    /// Connections that ended with [`ConnectionEnd::IdleTimeout`].
    pub idle_timeouts: u64,
    /// Connections that ended with [`ConnectionEnd::Rejected`].
    pub rejected: u64,
    /// Connections that ended with [`ConnectionEnd::Failed`] (or whose task panicked).
    pub failed: u64,
    /// Accept calls that failed for a reason other than the one connection (e.g. too many open
    /// files); each is followed by a 100 ms pause.
    pub accept_errors: u64,
}

impl TcpSummary {
    fn record(&mut self, end: &ConnectionEnd) {
        match end {
            ConnectionEnd::Closed => {}
            ConnectionEnd::IdleTimeout => self.idle_timeouts += 1,
            ConnectionEnd::Rejected(_) => self.rejected += 1,
            ConnectionEnd::Failed(_) => self.failed += 1,
        }
    }
}

/// Answers STUN over plain TCP on `listener` until `shutdown` completes; see [`serve_tcp_with`].
pub async fn serve_tcp<F>(
    listener: TcpListener,
    responder: Arc<Mutex<Responder>>,
    config: TcpConfig,
    shutdown: F,
) -> TcpSummary
where
    F: Future<Output = ()>,
{
    serve_tcp_with(
        listener,
        responder,
        config,
        |stream| std::future::ready(Ok(stream)),
        shutdown,
    )
    .await
}

/// Answers STUN on connections accepted from `listener`, each first passed through `acceptor`
/// (a TLS handshake, say), until `shutdown` completes.
///
/// At most [`TcpConfig::max_connections`] are served at once, and
/// [`TcpConfig::max_connections_per_source`] from one source; the acceptor counts against
/// [`TcpConfig::idle_timeout`]. On shutdown the open connections are closed and the summary is
/// returned.
pub async fn serve_tcp_with<A, H, S, F>(
    listener: TcpListener,
    responder: Arc<Mutex<Responder>>,
    config: TcpConfig,
    acceptor: A,
    shutdown: F,
) -> TcpSummary
where
    A: Fn(TcpStream) -> H,
    H: Future<Output = io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = ()>,
{
    let mut summary = TcpSummary::default();
    let mut connections = JoinSet::new();
    // The connections' tasks in the order they were accepted (some may have ended).
    let mut order: VecDeque<AbortHandle> = VecDeque::new();
    let sources: Arc<Mutex<HashMap<[u8; 16], usize>>> = Arc::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                match ended {
                    Ok(end) => summary.record(&end),
                    // Ended to make room: counted in `evicted` already.
                    Err(error) if error.is_cancelled() => {}
                    Err(_) => summary.failed += 1,
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let limit = config.max_connections_per_source;
                    let Some(source) = SourceSlot::take(&sources, peer.ip(), limit) else {
                        summary.refused_per_source += 1;
                        drop(stream);
                        continue;
                    };
                    if connections.len() >= config.max_connections {
                        // Every slot is held: end the oldest connection (under a slow attack,
                        // an attacker's; a real client's lasts milliseconds) and take its slot.
                        // Its task ends at its next poll, so the connections still running stay
                        // within the limit; with none to end, this one is refused.
                        if !evict_oldest(&mut order) {
                            summary.refused_over_limit += 1;
                            drop((source, stream));
                            continue;
                        }
                        summary.evicted += 1;
                    }
                    summary.accepted += 1;
                    let handshake = acceptor(stream);
                    let responder = Arc::clone(&responder);
                    let handle = connections.spawn(async move {
                        // Given back when the connection ends, however it ends.
                        let _source = source;
                        match timeout(config.idle_timeout, handshake).await {
                            Err(_) => ConnectionEnd::IdleTimeout,
                            Ok(Err(error)) => ConnectionEnd::Failed(error),
                            Ok(Ok(stream)) => serve_stream(stream, peer, &responder, &config).await,
                        }
                    });
                    order.push_back(handle);
                    if order.len() > 2 * config.max_connections {
                        order.retain(|handle| !handle.is_finished());
                    }
                }
                Err(error) if is_per_connection(&error) => {}
                Err(_) => {
                    summary.accept_errors += 1;
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    connections.shutdown().await;
    summary
}

/// Ends the oldest connection still running in `order`; false when none is.
fn evict_oldest(order: &mut VecDeque<AbortHandle>) -> bool {
    while let Some(handle) = order.pop_front() {
        if !handle.is_finished() {
            handle.abort();
            return true;
        }
    }
    false
}

/// Serves one connection from `peer`: reads STUN messages one by one and writes each answer back,
/// until the peer closes, a limit of `config` is hit, or the stream stops looking like STUN.
///
/// Any `AsyncRead + AsyncWrite` will do (a TLS stream, an in-memory pipe in tests). A message
/// the responder drops gets no answer and the connection goes on, since its framing was sound.
pub async fn serve_stream<S>(
    mut stream: S,
    peer: SocketAddr,
    responder: &Mutex<Responder>,
    config: &TcpConfig,
) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut message = Vec::new();
    loop {
        let mut header = [0_u8; HEADER_LEN];
        match timeout(config.idle_timeout, stream.read_exact(&mut header)).await {
            Err(_) => return ConnectionEnd::IdleTimeout,
            Ok(Err(error)) => return end_of_read(error),
            Ok(Ok(_)) => {}
        }
        let body_len = declared_body_len(&header);
        let refusal = if !looks_like_stun(&header) {
            Some(DropReason::NotStun)
        } else if !body_len.is_multiple_of(4) {
            Some(DropReason::Malformed)
        } else if HEADER_LEN + body_len > config.max_message_len {
            Some(DropReason::Oversized)
        } else {
            None
        };
        if let Some(reason) = refusal {
            lock(responder).record_drop(reason);
            return ConnectionEnd::Rejected(reason);
        }

        message.clear();
        message.extend_from_slice(&header);
        message.resize(HEADER_LEN + body_len, 0);
        match timeout(
            config.idle_timeout,
            stream.read_exact(&mut message[HEADER_LEN..]),
        )
        .await
        {
            Err(_) => return ConnectionEnd::IdleTimeout,
            Ok(Err(error)) => return end_of_read(error),
            Ok(Ok(_)) => {}
        }

        let decision = lock(responder).respond(Instant::now(), &message, peer);
        if let Decision::Answer(answer) = decision {
            let written = async {
                stream.write_all(&answer).await?;
                stream.flush().await
            };
            match timeout(config.idle_timeout, written).await {
                Err(_) => return ConnectionEnd::IdleTimeout,
                Ok(Err(error)) => return ConnectionEnd::Failed(error),
                Ok(Ok(())) => {}
            }
        }
    }
}

/// One connection open from one source, counted in a table shared by a listener's connections
/// (no entry is 0, so it holds at most `max_connections` entries); given back on drop.
struct SourceSlot {
    table: Arc<Mutex<HashMap<[u8; 16], usize>>>,
    key: [u8; 16],
}

impl SourceSlot {
    /// Counts a connection from `source` unless `max` (at least 1) are open from it.
    fn take(
        table: &Arc<Mutex<HashMap<[u8; 16], usize>>>,
        source: IpAddr,
        max: usize,
    ) -> Option<Self> {
        let key = match source.to_canonical() {
            IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
            IpAddr::V6(ip) => {
                let mut octets = ip.octets();
                octets[8..].fill(0);
                octets
            }
        };
        let mut counts = table.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= max.max(1) {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            table: Arc::clone(table),
            key,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

fn lock(responder: &Mutex<Responder>) -> std::sync::MutexGuard<'_, Responder> {
    responder.lock().unwrap_or_else(PoisonError::into_inner)
}

fn end_of_read(error: io::Error) -> ConnectionEnd {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        ConnectionEnd::Closed
    } else {
        ConnectionEnd::Failed(error)
    }
}

/// Accept errors that concern one connection only (it was reset before being accepted).
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
