//! Streams the probe stacks on each other: one boxed type for "TCP, maybe through a proxy
//! tunnel, maybe TLS", a stream that hands back bytes read ahead of it, and a tap that keeps
//! the first bytes the peer sent so that a failed WebSocket handshake can say what came back.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream the probe can send through `Send` futures.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TCP, or a proxy tunnel, or TLS over either.
pub(crate) type BoxedIo = Box<dyn Io>;

/// A stream whose first reads return `prefix` (bytes a proxy sent right after its answer to
/// CONNECT, read ahead with it), then the stream.
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Prefixed<S> {
        Prefixed {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let take = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + take]);
            this.at += take;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How many of the peer's first bytes a [`Tap`] keeps (an HTTP answer's head, usually).
pub(crate) const TAP_LEN: usize = 16 * 1024;

/// The first bytes read through a [`Tap`], shared with whoever holds the handle (the
/// WebSocket handshake consumes the stream, and its errors do not give it back).
#[derive(Clone, Default)]
pub(crate) struct Tapped(Arc<Mutex<Vec<u8>>>);

impl Tapped {
    /// A copy of the bytes kept so far.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Keeps a copy of the first [`TAP_LEN`] bytes read; reads and writes pass through.
pub(crate) struct Tap<S> {
    inner: S,
    seen: Tapped,
    full: bool,
}

impl<S> Tap<S> {
    pub(crate) fn new(inner: S) -> (Tap<S>, Tapped) {
        let seen = Tapped::default();
        (
            Tap {
                inner,
                seen: seen.clone(),
                full: false,
            },
            seen,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !this.full {
            let mut seen = this.seen.0.lock().unwrap_or_else(PoisonError::into_inner);
            let new = &buf.filled()[before..];
            let take = new.len().min(TAP_LEN - seen.len());
            seen.extend_from_slice(&new[..take]);
            this.full = seen.len() >= TAP_LEN;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Printable text of at most `max` characters from bytes a peer sent: invalid UTF-8 replaced,
/// control characters and runs of white space turned into one space, `…` when cut. A body that
/// starts with `<` (HTML, XML) is read without its tags, so that the words come first.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let markup = text.trim_start().starts_with('<');
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    let mut in_tag = false;
    for c in text.chars() {
        if markup && (in_tag || c == '<') {
            in_tag = c != '>';
            space = !out.is_empty();
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if count + usize::from(space) >= max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn excerpts_are_printable_and_bounded() {
        assert_eq!(
            excerpt(b" Forbidden:\r\n\tgo  away \x00", 200),
            "Forbidden: go away"
        );
        assert_eq!(
            excerpt(b"<?xml version=\"1.0\"?>\n<html><head><title>403 Access violation</title></head><body><h1>Access violation</h1><p>The CONNECT method</p>", 200),
            "403 Access violation Access violation The CONNECT method"
        );
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
        assert_eq!(excerpt(b"ab cd", 3), "ab…");
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
        assert_eq!(excerpt(b"", 10), "");
    }

    #[tokio::test]
    async fn a_prefix_is_read_first_and_the_tap_keeps_what_was_read() {
        let (client, mut server) = tokio::io::duplex(64);
        let (mut tap, seen) = Tap::new(Prefixed::new(b"early ".to_vec(), client));
        server.write_all(b"late").await.unwrap();
        drop(server);
        let mut all = String::new();
        tap.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "early late");
        assert_eq!(seen.bytes(), b"early late");
    }
}
