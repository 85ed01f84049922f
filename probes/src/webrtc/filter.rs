//! A runtime whose UDP sockets silently drop one class of outgoing packets, told apart by their
//! first byte as RFC 7983 demultiplexes them: 20–63 DTLS, 128–191 RTP and RTCP. Everything
//! else (timers, tasks, TCP) is tokio's. The answerer uses it to stall DTLS after ICE (its DTLS
//! never leaves) or to drop the media it echoes (its SRTP never leaves), exactly as a network
//! that lets STUN through but not the rest would.

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
};

/// The class of outgoing packets dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// DTLS records (first byte 20–63).
    Dtls,
    /// SRTP and SRTCP (first byte 128–191).
    Media,
}

impl Discard {
    pub(crate) fn matches(self, first: u8) -> bool {
        match self {
            Discard::Dtls => (20..=63).contains(&first),
            Discard::Media => (128..=191).contains(&first),
        }
    }
}

/// tokio's runtime, with UDP sockets that drop [`Discard`]'s class of packets.
#[derive(Debug)]
pub(crate) struct FilteringRuntime {
    inner: TokioRuntime,
    discard: Discard,
}

impl FilteringRuntime {
    pub(crate) fn new(discard: Discard) -> Result<FilteringRuntime, String> {
        Ok(FilteringRuntime {
            inner: TokioRuntime,
            discard,
        })
    }
}

impl Runtime for FilteringRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(FilteredSocket {
            inner: self.inner.wrap_udp_socket(socket)?,
            discard: self.discard,
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (filtered)"
    }
}

#[derive(Debug)]
struct FilteredSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    discard: Discard,
}

impl AsyncUdpSocket for FilteredSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        // One datagram per send (max_gso_segments is 1), so the first byte classifies it.
        match transmit.contents.first() {
            Some(&first) if self.discard.matches(first) => Poll::Ready(Ok(transmit.contents.len())),
            _ => self.inner.poll_send(cx, transmit),
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn max_gso_segments(&self) -> usize {
        1
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}
