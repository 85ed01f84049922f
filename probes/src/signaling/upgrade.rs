//! The WebSocket upgrade over a stream the probe opened (TCP, tunnel, TLS): tungstenite's
//! client handshake, with the answer's head kept by a [`Tap`] so that a refusal says its
//! status line, headers and the start of its body, and an answer that is not HTTP says what
//! it was.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_tungstenite::tungstenite::{self, error::ProtocolError, http, protocol::WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::io::{excerpt, BoxedIo, Tap, Tapped};
use super::{date, Settings, Target, BODY_EXCERPT, TOKEN_HEADER};
use crate::tls::PeerSpoke;

/// The most headers kept of an answer, and the most characters of each value.
const MAX_HEADERS: usize = 64;
const MAX_VALUE: usize = 512;

/// The largest message (and frame) the probe accepts after opening.
const MAX_MESSAGE: usize = 1 << 20;

/// The WebSocket stream once open.
pub(crate) type Socket = WebSocketStream<Tap<BoxedIo>>;

/// What the server answered to the upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpgradeOutcome {
    /// `101 Switching Protocols` with the right `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Accept`: the WebSocket is open.
    Opened {
        /// The answer's headers, as sent (name, value), at most 64.
        headers: Vec<(String, String)>,
    },
    /// A redirect (3xx): what captive portals and login pages answer.
    Redirected {
        /// The status.
        status: u16,
        /// Its reason phrase.
        reason: String,
        /// Where to (`Location`), if said.
        location: Option<String>,
        /// The answer's headers.
        headers: Vec<(String, String)>,
    },
    /// Another status (400, 401, 403, 404, 426, 502, ...): the upgrade was refused.
    Refused {
        /// The status.
        status: u16,
        /// Its reason phrase, as sent.
        reason: String,
        /// The answer's headers.
        headers: Vec<(String, String)>,
        /// The start of the body that came with the head, printable (at most 200
        /// characters).
        body: String,
    },
    /// `101`, but the WebSocket handshake is wrong (a proxy or server that does not speak
    /// WebSocket properly).
    BadHandshake {
        /// What is wrong.
        problem: HandshakeProblem,
        /// The answer's headers.
        headers: Vec<(String, String)>,
    },
    /// The server answered with bytes that are not HTTP.
    NotHttp {
        /// What it spoke, judged from its first bytes.
        spoke: PeerSpoke,
        /// Its first bytes (up to 16).
        first_bytes: Vec<u8>,
        /// They look like a TLS record (a TLS server reached with `ws://`).
        looks_like_tls: bool,
    },
    /// The connection was closed (or reset) before a whole answer.
    Closed {
        /// Reset rather than closed.
        reset: bool,
        /// What came before (up to 16 bytes).
        first_bytes: Vec<u8>,
    },
    /// No whole answer in time.
    Timeout {
        /// How long the probe waited.
        after: Duration,
        /// Bytes received before giving up.
        received: usize,
    },
    /// The request could not be made (a token or origin that cannot be a header value, ...)
    /// or the stream failed otherwise.
    Failed {
        /// What failed.
        reason: String,
    },
}

impl UpgradeOutcome {
    /// Whether the WebSocket opened.
    pub fn opened(&self) -> bool {
        matches!(self, UpgradeOutcome::Opened { .. })
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpgradeOutcome::Opened { .. } | UpgradeOutcome::BadHandshake { .. } => Some(101),
            UpgradeOutcome::Redirected { status, .. } | UpgradeOutcome::Refused { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The answer's headers, when there was an HTTP answer.
    pub fn headers(&self) -> &[(String, String)] {
        match self {
            UpgradeOutcome::Opened { headers }
            | UpgradeOutcome::Redirected { headers, .. }
            | UpgradeOutcome::Refused { headers, .. }
            | UpgradeOutcome::BadHandshake { headers, .. } => headers,
            _ => &[],
        }
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A stable short name: `opened`, `redirected`, `refused`, `bad_handshake`, `not_http`,
    /// `closed`, `timeout`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpgradeOutcome::Opened { .. } => "opened",
            UpgradeOutcome::Redirected { .. } => "redirected",
            UpgradeOutcome::Refused { .. } => "refused",
            UpgradeOutcome::BadHandshake { .. } => "bad_handshake",
            UpgradeOutcome::NotHttp { .. } => "not_http",
            UpgradeOutcome::Closed { .. } => "closed",
            UpgradeOutcome::Timeout { .. } => "timeout",
            UpgradeOutcome::Failed { .. } => "failed",
        }
    }
}

impl fmt::Display for UpgradeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeOutcome::Opened { .. } => write!(f, "WebSocket opened (101)"),
            UpgradeOutcome::Redirected {
                status,
                reason,
                location,
                ..
            } => write!(
                f,
                "the server redirected the upgrade: {status} {reason} to {}",
                location.as_deref().unwrap_or("nowhere said")
            ),
            UpgradeOutcome::Refused {
                status,
                reason,
                body,
                ..
            } => {
                write!(f, "the server refused the upgrade: {status} {reason}")?;
                if !body.is_empty() {
                    write!(f, " ({body})")?;
                }
                Ok(())
            }
            UpgradeOutcome::BadHandshake { problem, .. } => {
                write!(f, "the server answered 101 but {problem}")
            }
            UpgradeOutcome::NotHttp {
                first_bytes,
                looks_like_tls,
                ..
            } => write!(
                f,
                "the server did not answer HTTP{}: \"{}\"",
                if *looks_like_tls {
                    " (it speaks TLS: wss:// needed?)"
                } else {
                    ""
                },
                first_bytes.escape_ascii()
            ),
            UpgradeOutcome::Closed { reset, .. } => write!(
                f,
                "the connection was {} before an answer to the upgrade",
                if *reset { "reset" } else { "closed" }
            ),
            UpgradeOutcome::Timeout { after, received } => write!(
                f,
                "no answer to the upgrade within {} ms ({received} bytes received)",
                after.as_millis()
            ),
            UpgradeOutcome::Failed { reason } => write!(f, "the upgrade failed: {reason}"),
        }
    }
}

/// What is wrong with a `101` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeProblem {
    /// No `Upgrade: websocket`.
    MissingUpgrade,
    /// No `Connection: Upgrade`.
    MissingConnection,
    /// `Sec-WebSocket-Accept` missing or not the one for our key.
    WrongAccept,
    /// Something else (tungstenite's words).
    Other(String),
}

impl fmt::Display for HandshakeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeProblem::MissingUpgrade => write!(f, "without \"Upgrade: websocket\""),
            HandshakeProblem::MissingConnection => write!(f, "without \"Connection: Upgrade\""),
            HandshakeProblem::WrongAccept => {
                write!(f, "with a missing or wrong Sec-WebSocket-Accept")
            }
            HandshakeProblem::Other(reason) => write!(f, "{reason}"),
        }
    }
}

/// The result of an upgrade attempt.
pub(crate) struct Upgraded {
    pub(crate) outcome: UpgradeOutcome,
    pub(crate) socket: Option<Socket>,
    /// The server's `Date`, UNIX seconds.
    pub(crate) server_date: Option<i64>,
    /// This machine's clock when the answer arrived, UNIX seconds.
    pub(crate) received_at: Option<i64>,
    pub(crate) took: Duration,
}

/// The upgrade request for `target`.
pub(crate) fn request(target: &Target, settings: &Settings) -> Result<http::Request<()>, String> {
    let scheme = if target.secure { "wss" } else { "ws" };
    let mut builder = http::Request::builder()
        .method("GET")
        .uri(format!(
            "{scheme}://{}{}",
            target.authority(),
            target.path_and_query
        ))
        .header("Host", target.host_header())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("User-Agent", settings.user_agent.as_str());
    if let Some(origin) = &settings.origin {
        builder = builder.header("Origin", origin.as_str());
    }
    if let Some(token) = &settings.token {
        builder = builder.header(TOKEN_HEADER, token.as_str());
    }
    builder.body(()).map_err(|error| {
        // The token's value is never printed.
        format!("the upgrade request cannot be made: {error}")
    })
}

/// The upgrade over `stream`, within the settings' upgrade timeout.
pub(crate) async fn upgrade(stream: BoxedIo, target: &Target, settings: &Settings) -> Upgraded {
    let started = Instant::now();
    let done = |outcome, socket, server_date, received_at| Upgraded {
        outcome,
        socket,
        server_date,
        received_at,
        took: started.elapsed(),
    };
    let request = match request(target, settings) {
        Ok(request) => request,
        Err(reason) => return done(UpgradeOutcome::Failed { reason }, None, None, None),
    };
    let (stream, tapped) = Tap::new(stream);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let handshake = tokio_tungstenite::client_async_with_config(request, stream, Some(config));
    let result = match tokio::time::timeout(settings.upgrade_timeout, handshake).await {
        Ok(result) => result,
        Err(_) => {
            return done(
                UpgradeOutcome::Timeout {
                    after: started.elapsed(),
                    received: tapped.bytes().len(),
                },
                None,
                None,
                None,
            )
        }
    };
    let received_at = Some(unix_now());
    match result {
        Ok((socket, response)) => {
            let headers = parse_head(&tapped.bytes())
                .map_or_else(|| headers_of(response.headers()), |head| head.headers);
            let server_date = date_of(&headers);
            done(
                UpgradeOutcome::Opened { headers },
                Some(socket),
                server_date,
                received_at,
            )
        }
        Err(error) => {
            let outcome = classify(error, &tapped);
            let server_date = date_of(outcome.headers());
            let received_at = received_at.filter(|_| outcome.status().is_some());
            done(outcome, None, server_date, received_at)
        }
    }
}

fn classify(error: tungstenite::Error, tapped: &Tapped) -> UpgradeOutcome {
    let raw = tapped.bytes();
    let first_bytes = || raw.iter().take(16).copied().collect::<Vec<u8>>();
    let problem = |problem| {
        let head = parse_head(&raw);
        UpgradeOutcome::BadHandshake {
            problem,
            headers: head.map(|head| head.headers).unwrap_or_default(),
        }
    };
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let (reason, headers, body) = match parse_head(&raw) {
                Some(head) => (head.reason, head.headers, head.body),
                None => (
                    response
                        .status()
                        .canonical_reason()
                        .unwrap_or_default()
                        .to_string(),
                    headers_of(response.headers()),
                    response.body().clone().unwrap_or_default(),
                ),
            };
            if (300..400).contains(&status) {
                let location = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("location"))
                    .map(|(_, value)| value.clone());
                UpgradeOutcome::Redirected {
                    status,
                    reason,
                    location,
                    headers,
                }
            } else {
                UpgradeOutcome::Refused {
                    status,
                    reason,
                    headers,
                    body: excerpt(&body, BODY_EXCERPT),
                }
            }
        }
        tungstenite::Error::Protocol(ProtocolError::MissingUpgradeWebSocketHeader) => {
            problem(HandshakeProblem::MissingUpgrade)
        }
        tungstenite::Error::Protocol(ProtocolError::MissingConnectionUpgradeHeader) => {
            problem(HandshakeProblem::MissingConnection)
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch) => {
            problem(HandshakeProblem::WrongAccept)
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(error)) => {
            problem(HandshakeProblem::Other(error.to_string()))
        }
        tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete) => {
            UpgradeOutcome::Closed {
                reset: false,
                first_bytes: first_bytes(),
            }
        }
        tungstenite::Error::Io(error) => match error.kind() {
            std::io::ErrorKind::UnexpectedEof => UpgradeOutcome::Closed {
                reset: false,
                first_bytes: first_bytes(),
            },
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => UpgradeOutcome::Closed {
                reset: true,
                first_bytes: first_bytes(),
            },
            _ => UpgradeOutcome::Failed {
                reason: error.to_string(),
            },
        },
        // httparse refused the answer, or it is HTTP/1.0-, or too big.
        tungstenite::Error::Protocol(
            ProtocolError::HttparseError(_) | ProtocolError::WrongHttpVersion,
        )
        | tungstenite::Error::HttpFormat(_)
        | tungstenite::Error::Capacity(_)
        | tungstenite::Error::AttackAttempt
            if !raw.starts_with(b"HTTP/") =>
        {
            UpgradeOutcome::NotHttp {
                spoke: PeerSpoke::of(&raw),
                looks_like_tls: raw.len() >= 2 && (20..=24).contains(&raw[0]) && raw[1] == 3,
                first_bytes: first_bytes(),
            }
        }
        other => UpgradeOutcome::Failed {
            reason: other.to_string(),
        },
    }
}

/// An answer head read from raw bytes: reason phrase, headers, the body bytes after it.
struct Head {
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_head(raw: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut answer = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = answer.parse(raw).ok()? else {
        return None;
    };
    Some(Head {
        reason: answer.reason.unwrap_or_default().to_string(),
        headers: answer
            .headers
            .iter()
            .take(MAX_HEADERS)
            .map(|header| {
                (
                    header.name.to_string(),
                    bounded(&String::from_utf8_lossy(header.value)),
                )
            })
            .collect(),
        body: raw[length..].to_vec(),
    })
}

fn headers_of(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                bounded(&String::from_utf8_lossy(value.as_bytes())),
            )
        })
        .collect()
}

fn bounded(value: &str) -> String {
    value.trim().chars().take(MAX_VALUE).collect()
}

fn date_of(headers: &[(String, String)]) -> Option<i64> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("date"))
        .and_then(|(_, value)| date::parse_http_date(value))
}

/// This machine's clock, UNIX seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
