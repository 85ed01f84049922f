//! After the WebSocket opened: pings and their pongs, a drop noticed, a clean close.
//!
//! The loop sends `pings` pings, `ping_interval` apart (from one send to the next), each with
//! its own payload, and waits up to `pong_timeout` for the pong with that payload (a late pong
//! of an earlier ping is ignored). While it waits it reads everything the server sends:
//! messages are counted, the server's pings are answered (tungstenite queues the pong), and a
//! close frame, an end of stream or a reset is a [`Dropped`]. After the pings it keeps reading
//! for `hold`, then sends a close frame and waits up to `pong_timeout` for the server's.

use std::fmt;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, error::ProtocolError, Bytes, Message};

use super::upgrade::Socket;
use super::Settings;

/// The WebSocket dropped after it opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Time from the open to the drop.
    pub after: Duration,
    /// How.
    pub how: DropKind,
}

/// How a WebSocket dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropKind {
    /// The server sent a close frame.
    CloseFrame {
        /// Its status code (`None` when the frame had none).
        code: Option<u16>,
        /// Its reason text.
        reason: String,
    },
    /// The connection ended without a close frame.
    ClosedWithoutCloseFrame,
    /// The connection was reset.
    Reset,
    /// Reading or writing failed otherwise (a protocol error, ...).
    Error {
        /// tungstenite's or the OS's words.
        reason: String,
    },
}

impl DropKind {
    /// A stable short name: `close_frame`, `closed_without_close_frame`, `reset`, `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            DropKind::CloseFrame { .. } => "close_frame",
            DropKind::ClosedWithoutCloseFrame => "closed_without_close_frame",
            DropKind::Reset => "reset",
            DropKind::Error { .. } => "error",
        }
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = self.after.as_millis();
        match &self.how {
            DropKind::CloseFrame { code, reason } => {
                write!(f, "the server closed the WebSocket after {after} ms")?;
                if let Some(code) = code {
                    write!(f, " with code {code}")?;
                }
                if !reason.is_empty() {
                    write!(f, " ({reason})")?;
                }
                Ok(())
            }
            DropKind::ClosedWithoutCloseFrame => write!(
                f,
                "the connection ended after {after} ms without a close frame"
            ),
            DropKind::Reset => write!(f, "the connection was reset after {after} ms"),
            DropKind::Error { reason } => {
                write!(f, "the WebSocket failed after {after} ms: {reason}")
            }
        }
    }
}

/// What the session after the open saw.
#[derive(Debug, Default)]
pub(crate) struct SessionFacts {
    pub(crate) pongs: Vec<Option<Duration>>,
    pub(crate) dropped: Option<Dropped>,
    pub(crate) closed_cleanly: Option<bool>,
    pub(crate) messages: u32,
}

enum Event {
    Pong(Bytes),
    Other,
    Dropped(DropKind),
    Deadline,
}

/// Runs the pings, the hold and the close on a socket that opened at `opened`.
pub(crate) async fn run(socket: &mut Socket, settings: &Settings, opened: Instant) -> SessionFacts {
    let mut facts = SessionFacts::default();
    let dropped = |how| Dropped {
        after: opened.elapsed(),
        how,
    };
    'pings: for index in 0..settings.pings {
        let payload = Bytes::from(format!("preflight-{index}"));
        let sent = Instant::now();
        if let Err(error) = socket.send(Message::Ping(payload.clone())).await {
            facts.dropped = Some(dropped(from_error(error)));
            break;
        }
        let deadline = sent + settings.pong_timeout;
        loop {
            match next(socket, deadline, &mut facts.messages).await {
                Event::Pong(bytes) if bytes == payload => {
                    facts.pongs.push(Some(sent.elapsed()));
                    break;
                }
                Event::Pong(_) | Event::Other => {}
                Event::Deadline => {
                    facts.pongs.push(None);
                    break;
                }
                Event::Dropped(how) => {
                    facts.pongs.push(None);
                    facts.dropped = Some(dropped(how));
                    break 'pings;
                }
            }
        }
        if index + 1 < settings.pings {
            if let Some(how) = read_until(socket, sent + settings.ping_interval, &mut facts).await {
                facts.dropped = Some(dropped(how));
                break;
            }
        }
    }
    // A zero hold reads nothing (a zero timeout would still wait for the timer's next tick).
    if facts.dropped.is_none() && !settings.hold.is_zero() {
        if let Some(how) = read_until(socket, Instant::now() + settings.hold, &mut facts).await {
            facts.dropped = Some(dropped(how));
        }
    }
    if facts.dropped.is_none() {
        facts.closed_cleanly = Some(close(socket, settings.pong_timeout).await);
    }
    facts
}

/// Sends a close frame and waits up to `wait` for the server's: whether it came.
pub(crate) async fn close(socket: &mut Socket, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    // 1000 "normal closure": a close frame without a code reads as 1005 to servers, which some
    // (Python's websockets) log as an abnormal end.
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "trtc-preflight check done".into(),
    };
    match tokio::time::timeout_at(deadline, socket.close(Some(frame))).await {
        Ok(Ok(())) => {}
        _ => return false,
    }
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
            _ => return false,
        }
    }
}

/// Reads until `deadline`; the drop, if the socket dropped.
async fn read_until(
    socket: &mut Socket,
    deadline: Instant,
    facts: &mut SessionFacts,
) -> Option<DropKind> {
    loop {
        match next(socket, deadline, &mut facts.messages).await {
            Event::Deadline => return None,
            Event::Dropped(how) => return Some(how),
            Event::Pong(_) | Event::Other => {}
        }
    }
}

async fn next(socket: &mut Socket, deadline: Instant, messages: &mut u32) -> Event {
    match tokio::time::timeout_at(deadline, socket.next()).await {
        Err(_) => Event::Deadline,
        Ok(None) => Event::Dropped(DropKind::ClosedWithoutCloseFrame),
        Ok(Some(Ok(Message::Pong(bytes)))) => Event::Pong(bytes),
        Ok(Some(Ok(Message::Close(frame)))) => Event::Dropped(DropKind::CloseFrame {
            code: frame.as_ref().map(|frame| u16::from(frame.code)),
            reason: frame
                .map(|frame| frame.reason.as_str().to_string())
                .unwrap_or_default(),
        }),
        Ok(Some(Ok(Message::Ping(_) | Message::Frame(_)))) => Event::Other,
        Ok(Some(Ok(Message::Text(_) | Message::Binary(_)))) => {
            *messages += 1;
            Event::Other
        }
        Ok(Some(Err(error))) => Event::Dropped(from_error(error)),
    }
}

fn from_error(error: tungstenite::Error) -> DropKind {
    match error {
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed => DropKind::ClosedWithoutCloseFrame,
        tungstenite::Error::Io(error) => match error.kind() {
            std::io::ErrorKind::UnexpectedEof => DropKind::ClosedWithoutCloseFrame,
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => DropKind::Reset,
            _ => DropKind::Error {
                reason: error.to_string(),
            },
        },
        other => DropKind::Error {
            reason: other.to_string(),
        },
    }
}
