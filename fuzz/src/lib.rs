//! Helpers shared by the fuzz targets: cutting one input into parts, and a runtime for the
//! loops that read from a stream.

use std::future::Future;

/// Cuts `data` into its first byte (a selector) and the rest.
pub fn selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    }
}

/// Splits `data` on `separator`, at most `max` parts (the last one keeps the rest).
pub fn parts<'a>(data: &'a [u8], separator: &'a [u8], max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match rest
            .windows(separator.len())
            .position(|window| window == separator)
        {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + separator.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// Runs `future` to its end on a current-thread runtime whose clock is paused: timers fire as
/// soon as nothing else can run, so an idle timeout costs no real time.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// A client on the far end of an in-memory connection that speaks in two flights, as a
/// WebSocket client does: `first` (the upgrade request) at once, then `then` (the frames) only
/// once the server has written something back (a client that sent frames before the `101`
/// would be refused for junk after its request). After that, or when the server wrote nothing,
/// the client has no more to say: end of stream. Everything the server writes is kept.
#[derive(Debug, Default)]
pub struct TwoFlights {
    first: Vec<u8>,
    then: Vec<u8>,
    read_first: usize,
    read_then: usize,
    /// What the server wrote.
    pub written: Vec<u8>,
}

impl TwoFlights {
    /// A client that sends `first`, waits for an answer, then sends `then`.
    pub fn new(first: &[u8], then: &[u8]) -> TwoFlights {
        TwoFlights {
            first: first.to_vec(),
            then: then.to_vec(),
            ..TwoFlights::default()
        }
    }

    /// Bytes of both flights the server has read.
    pub fn read(&self) -> usize {
        self.read_first + self.read_then
    }
}

impl tokio::io::AsyncRead for TwoFlights {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let (flight, at) = if this.read_first < this.first.len() {
            (&this.first, &mut this.read_first)
        } else if !this.written.is_empty() {
            (&this.then, &mut this.read_then)
        } else {
            return std::task::Poll::Ready(Ok(()));
        };
        let n = buf.remaining().min(flight.len() - *at);
        buf.put_slice(&flight[*at..*at + n]);
        *at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for TwoFlights {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.get_mut().written.extend_from_slice(bytes);
        std::task::Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
