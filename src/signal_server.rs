//! `serve`'s signaling endpoint: a WebSocket over plain TCP (`ws`) and over TLS (`wss`) that
//! answers pings and the small JSON protocol below. The protocol is a contract: the WebRTC
//! probe, browsers and the `demo` speak it to `serve`, and an [`Answerer`] plugs the WebRTC
//! answerer in behind it.
//!
//! # Shape
//!
//! The protocol is sans-IO: a [`Session`] per connection turns one text message into a
//! [`Step`] (a reply, or an offer or a candidate for the answerer), with the room bookkeeping of
//! [`Rooms`]. The rate limits ([`SourceLimiter`], [`Bucket`]) take `now` as an input. The tokio
//! loop, [`SignalServer::serve`], owns the listener, the sockets, the clock and the answerer's
//! futures: it accepts, runs the TLS handshake when there is one, admits or refuses the upgrade
//! (below), then per connection selects over the next frame, the idle deadline, the answer being
//! prepared, the answerer's own candidates and the stop signal.
//!
//! # Admission (before the upgrade)
//!
//! Any path is accepted. In the upgrade request, a header `X-TRTC-Preflight-Token: <token>` that
//! matches `serve`'s token (`TRTC_PREFLIGHT_TOKEN`) exempts the connection from the rate limits
//! (the per-source connection rate and the per-connection message rate), so the tool's own
//! sweeps and bursts are not mistaken for loss. Every other upgrade is refused with:
//!
//! | status | when | headers |
//! |---|---|---|
//! | `429 Too Many Requests` | the source has opened more than [`Limits::connection_rate`] (10 a second, bursts of 20) | `Retry-After: 1` |
//! | `503 Service Unavailable` | [`Limits::max_connections`] WebSockets are open (token or not) | `Retry-After: 5` |
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host holds a whole
//! /64). The table of sources is bounded ([`Limits::source_table`]); when it is full, sources
//! whose bucket has refilled are forgotten first, then the idlest.
//!
//! Every answer to an upgrade, `101` or refusal, carries an HTTP `Date` header: clients measure
//! their clock's skew against it. Requests that are not WebSocket upgrades get no HTTP answer.
//!
//! # Limits
//!
//! | limit | default | what happens |
//! |---|---|---|
//! | message (or frame) size | 64 KiB | close `1009` (message too big) |
//! | open WebSockets | 1,024 | `503` before the upgrade |
//! | handshakes in progress (TCP accepted, not yet upgraded) | 256 | the oldest handshake is closed to make room (a slow client's: a real one takes milliseconds) |
//! | handshakes in progress from one source | 16 | TCP closed at once (slow clients on one address cannot hold every handshake) |
//! | handshake (TLS and HTTP upgrade) | 10 s | TCP closed |
//! | idle (no frame of any kind, pings included) | 60 s | close `1001`, reason `idle timeout` |
//! | messages per connection (frames of any kind) | 50 a second, bursts of 100 | close `1008`, reason `message rate limit` |
//! | connections per source | 10 a second, bursts of 20 | `429` before the upgrade |
//! | rooms / members per room | 1,024 / 16 | error `too_many_rooms` / `room_full` |
//! | an answer from the answerer | 15 s | error `answer_timeout` |
//!
//! Token holders skip the two rates, nothing else. A frame that breaks the WebSocket protocol
//! closes with `1002`, a text frame that is not UTF-8 with `1007`; when `serve` stops, every
//! connection is closed with `1001`, reason `server stopping`. Otherwise the server never closes
//! first: a bad message gets an error object, and the connection stays open.
//!
//! # Protocol
//!
//! Text frames, one JSON object each, with a string `type`. A request may carry an `id` (any
//! JSON value); the direct reply to it carries the same `id`. Pings are answered with pongs.
//!
//! | client sends | server replies |
//! |---|---|
//! | `{"type":"hello"}` | `{"type":"welcome","server":"trtc-preflight","version":"0.1.0","time_ms":1764320000123,"answerer":true,"max_message_bytes":65536,"idle_timeout_ms":60000}` (`time_ms`: the server's clock, UNIX milliseconds; `"misbehave":"stall-dtls"` is added when `serve --misbehave` stages a failure) |
//! | `{"type":"join","room":"r1","user":"alice"}` (`user` optional: `u<n>` is given) | `{"type":"joined","room":"r1","user":"alice","members":1}`; joining another room leaves the first |
//! | `{"type":"offer","sdp":"v=0…"}` (after `join`) | `{"type":"answer","sdp":"v=0…"}`, then the answerer's trickled candidates as `candidate` messages, the last one with `"candidate":""` (end of candidates); a new offer replaces the session of the previous one |
//! | `{"type":"candidate","candidate":"candidate:…","sdpMid":"0","sdpMLineIndex":0}` (the fields of `RTCIceCandidateInit`; `""` ends the client's candidates) | nothing; an error when it cannot be used. Candidates sent while the answer is being prepared are queued (up to 64) |
//! | `{"type":"leave"}` | `{"type":"left","room":"r1"}` (`room` null when in none); the answerer's session is closed |
//! | `{"type":"echo","data":…}` | the same object, unchanged (message round trips) |
//!
//! Errors: `{"type":"error","code":CODE,"message":"…"}`, with these codes:
//!
//! | code | meaning |
//! |---|---|
//! | `bad_message` | not JSON, not an object, no string `type`, an unknown `type`, a missing or wrong field, or a binary frame |
//! | `not_joined` | an offer before `join` |
//! | `room_full` / `too_many_rooms` | the room has [`Limits::max_members`] members / [`Limits::max_rooms`] rooms exist |
//! | `no_answerer` | an offer or a candidate, and this `serve` runs with `--no-answerer` |
//! | `busy` | an offer while the previous one is still being answered |
//! | `no_offer` | a candidate before any offer |
//! | `answer_failed` / `answer_timeout` | the answerer failed (the message says why) / took longer than [`Limits::answer_timeout`] |
//! | `candidate_failed` | the answerer could not use a candidate, or too many were queued |
//!
//! The server relays nothing between clients: rooms are bookkeeping (limits and the
//! answerer's context), not a relay, so `serve` on a public address is no open relay.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use preflight_probes::tls::TlsAcceptor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The upgrade-request header whose value, when it equals `serve`'s token, exempts a connection
/// from the rate limits.
pub const TOKEN_HEADER: &str = "X-TRTC-Preflight-Token";

/// The `server` field of `welcome`.
pub const SERVER_NAME: &str = "trtc-preflight";

/// The `version` field of `welcome`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long to wait before accepting again after an accept error (too many open files, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a closing handshake (or the answerer's `close`) may take before the socket is
/// simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Bytes read and thrown away after closing for an oversized message, so that the close frame
/// is not lost to a TCP reset caused by unread data.
const DRAIN_BYTES: usize = 1 << 20;

/// Longest `room` and `user` accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// A future the answerer returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A sustained rate with bursts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events a second, sustained (at least 1).
    pub per_second: u32,
    /// Events allowed back to back after a quiet period (at least 1).
    pub burst: u32,
}

/// The endpoint's limits (see the table in the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (and frame) read, in bytes; larger closes with `1009`.
    pub max_message_bytes: usize,
    /// WebSockets open at once; beyond, upgrades are refused with `503`.
    pub max_connections: usize,
    /// Connections accepted but not yet upgraded (TLS and HTTP in progress); beyond, new TCP
    /// connections are closed at once.
    pub max_handshakes: usize,
    /// Of those, the most from one source (an IPv4 address or an IPv6 /64); beyond, its new TCP
    /// connections are closed at once, so that slow clients on one address cannot take every
    /// handshake slot while real clients wait.
    pub max_handshakes_per_source: usize,
    /// Time for the TLS handshake and the HTTP upgrade together.
    pub handshake_timeout: Duration,
    /// A connection with no frame for this long is closed with `1001`.
    pub idle_timeout: Duration,
    /// Time to write one message; a peer that does not read for this long is dropped.
    pub write_timeout: Duration,
    /// New connections per source without the token; beyond, `429`.
    pub connection_rate: Rate,
    /// Sources remembered by the connection-rate limiter.
    pub source_table: usize,
    /// Frames per connection without the token; beyond, close `1008`.
    pub message_rate: Rate,
    /// Rooms existing at once.
    pub max_rooms: usize,
    /// Members of one room.
    pub max_members: usize,
    /// Time the answerer has to answer an offer.
    pub answer_timeout: Duration,
    /// Client candidates queued while the answer is prepared.
    pub max_queued_candidates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
            max_handshakes: 256,
            max_handshakes_per_source: 16,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            connection_rate: Rate {
                per_second: 10,
                burst: 20,
            },
            source_table: 4096,
            message_rate: Rate {
                per_second: 50,
                burst: 100,
            },
            max_rooms: 1024,
            max_members: 16,
            answer_timeout: Duration::from_secs(15),
            max_queued_candidates: 64,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The answerer hook
// ---------------------------------------------------------------------------------------------

/// An offer received on the signaling channel, for the [`Answerer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The offer's SDP.
    pub sdp: String,
    /// The room the client joined.
    pub room: String,
    /// The user it joined as.
    pub user: String,
    /// The client's address, as the signaling connection saw it.
    pub peer: SocketAddr,
}

/// An ICE candidate, with the fields of the browsers' `RTCIceCandidateInit`. An empty
/// `candidate` is the end of candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The `a=candidate:` line's value, `candidate:…`; empty at the end of candidates.
    pub candidate: String,
    /// The media stream's identification tag.
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of the media description.
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment the candidate belongs to.
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

/// An answer to an offer: its SDP and the session that lives as long as the signaling
/// connection (until `leave`, a new offer, or the end of the connection).
pub struct Answer {
    /// The answer's SDP.
    pub sdp: String,
    /// Takes the client's candidates; closed when the session ends.
    pub session: Box<dyn AnswerSession>,
    /// The answerer's own trickled candidates, sent to the client as they come; the channel's
    /// end sends the end of candidates. `None` when the SDP holds them all.
    pub candidates: Option<mpsc::Receiver<Candidate>>,
}

/// Answers offers: the WebRTC answerer of `serve` implements it. The server holds one behind an
/// `Arc` and calls it from any connection's task.
pub trait Answerer: Send + Sync {
    /// Answers `offer`, or says why not (the message goes to the client in `answer_failed`).
    fn answer(&self, offer: Offer) -> BoxFuture<'static, Result<Answer, String>>;

    /// How it misbehaves on purpose (`serve --misbehave`), told to clients in `welcome` so
    /// that a staged failure is never taken for a real one.
    fn misbehave(&self) -> Option<&'static str> {
        None
    }
}

/// One answered offer's peer connection, seen from the signaling channel.
pub trait AnswerSession: Send + Sync {
    /// Adds one of the client's candidates (an empty one is the end of its candidates).
    fn add_candidate(&self, candidate: Candidate) -> BoxFuture<'static, Result<(), String>>;
    /// Ends the session (the peer connection is closed); called once, then the session is
    /// dropped.
    fn close(&self) -> BoxFuture<'static, ()>;
}

// ---------------------------------------------------------------------------------------------
// Rate limits (time as an input)
// ---------------------------------------------------------------------------------------------

/// GCRA: a request at `t` is allowed when the theoretical arrival time is at most `tolerance`
/// ahead of `t`; then it moves one `interval` further.
fn gcra(tat: &mut u64, t: u64, interval: u64, tolerance: u64) -> bool {
    let start = (*tat).max(t);
    if start - t > tolerance {
        return false;
    }
    *tat = start.saturating_add(interval);
    true
}

fn interval_and_tolerance(rate: Rate) -> (u64, u64) {
    let interval = 1_000_000_000 / u64::from(rate.per_second.max(1));
    (
        interval,
        interval.saturating_mul(u64::from(rate.burst.max(1) - 1)),
    )
}

/// Nanoseconds from `epoch` to `now` (0 when `now` is earlier).
fn nanos(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// One token bucket (a connection's message rate).
#[derive(Clone, Debug)]
pub struct Bucket {
    interval: u64,
    tolerance: u64,
    tat: u64,
    epoch: Option<Instant>,
}

impl Bucket {
    /// A full bucket for `rate`.
    pub fn new(rate: Rate) -> Bucket {
        let (interval, tolerance) = interval_and_tolerance(rate);
        Bucket {
            interval,
            tolerance,
            tat: 0,
            epoch: None,
        }
    }

    /// Takes one token at `now`; false when the bucket is empty.
    pub fn allow(&mut self, now: Instant) -> bool {
        let epoch = *self.epoch.get_or_insert(now);
        gcra(
            &mut self.tat,
            nanos(epoch, now),
            self.interval,
            self.tolerance,
        )
    }
}

/// A token bucket per source (IPv4 address, or IPv6 /64) in a bounded table.
#[derive(Debug)]
pub struct SourceLimiter {
    interval: u64,
    tolerance: u64,
    capacity: usize,
    tats: HashMap<[u8; 16], u64>,
    epoch: Option<Instant>,
}

impl SourceLimiter {
    /// `rate` per source, remembering at most `capacity` sources (at least 1).
    pub fn new(rate: Rate, capacity: usize) -> SourceLimiter {
        let (interval, tolerance) = interval_and_tolerance(rate);
        SourceLimiter {
            interval,
            tolerance,
            capacity: capacity.max(1),
            tats: HashMap::new(),
            epoch: None,
        }
    }

    /// Takes one token from `source`'s bucket at `now`; false when it is empty.
    pub fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        let epoch = *self.epoch.get_or_insert(now);
        let t = nanos(epoch, now);
        let key = source_key(source);
        if !self.tats.contains_key(&key) && self.tats.len() >= self.capacity {
            // A bucket that has refilled is the same as a source never seen: forget those.
            self.tats.retain(|_, tat| *tat > t);
            if self.tats.len() >= self.capacity {
                let idlest = self
                    .tats
                    .iter()
                    .min_by_key(|(_, tat)| **tat)
                    .map(|(key, _)| *key);
                if let Some(idlest) = idlest {
                    self.tats.remove(&idlest);
                }
            }
        }
        let tat = self.tats.entry(key).or_insert(0);
        gcra(tat, t, self.interval, self.tolerance)
    }

    /// Sources remembered now.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }
}

/// IPv4 as IPv4-mapped IPv6; IPv6 cut to its /64.
fn source_key(source: IpAddr) -> [u8; 16] {
    match source {
        IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut octets = ip.octets();
                octets[8..].fill(0);
                octets
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Rooms and the per-connection protocol (sans-IO)
// ---------------------------------------------------------------------------------------------

/// Why a join was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// The room has the most members allowed.
    RoomFull,
    /// The most rooms allowed exist.
    TooManyRooms,
}

/// The rooms and their members (connection id to user), bounded; a room goes when its last
/// member leaves.
#[derive(Debug)]
pub struct Rooms {
    rooms: HashMap<String, HashMap<u64, String>>,
    max_rooms: usize,
    max_members: usize,
}

impl Rooms {
    /// No rooms; at most `max_rooms` of at most `max_members` each.
    pub fn new(max_rooms: usize, max_members: usize) -> Rooms {
        Rooms {
            rooms: HashMap::new(),
            max_rooms,
            max_members,
        }
    }

    /// Adds connection `member` to `room` as `user` (again: renames it); the members after.
    pub fn join(&mut self, room: &str, member: u64, user: &str) -> Result<usize, JoinError> {
        match self.rooms.get_mut(room) {
            Some(members) => {
                if !members.contains_key(&member) && members.len() >= self.max_members {
                    return Err(JoinError::RoomFull);
                }
                members.insert(member, user.to_string());
                Ok(members.len())
            }
            None => {
                if self.rooms.len() >= self.max_rooms {
                    return Err(JoinError::TooManyRooms);
                }
                if self.max_members == 0 {
                    return Err(JoinError::RoomFull);
                }
                self.rooms.insert(
                    room.to_string(),
                    HashMap::from([(member, user.to_string())]),
                );
                Ok(1)
            }
        }
    }

    /// Removes `member` from `room`, and the room when it is empty.
    pub fn leave(&mut self, room: &str, member: u64) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&member);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Rooms existing now.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no room exists.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Members of `room` (0 when it does not exist).
    pub fn members(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, HashMap::len)
    }
}

/// What a [`Session`] tells the welcome message about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// An answerer is configured.
    pub answerer: bool,
    /// The answerer misbehaves on purpose this way (`serve --misbehave`).
    pub misbehave: Option<&'static str>,
    /// [`Limits::max_message_bytes`].
    pub max_message_bytes: usize,
    /// [`Limits::idle_timeout`].
    pub idle_timeout: Duration,
}

/// What to do with one message.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send this object back.
    Reply(Value),
    /// Hand this offer to the answerer; reply to `id`.
    Offer {
        /// The offer's SDP.
        sdp: String,
        /// The room joined.
        room: String,
        /// The user joined as.
        user: String,
        /// The request's `id`.
        id: Option<Value>,
    },
    /// Hand this candidate to the answerer's session; errors go to `id`.
    Candidate {
        /// The candidate.
        candidate: Candidate,
        /// The request's `id`.
        id: Option<Value>,
    },
    /// The client left: end the answerer's session, then send this object back.
    Left(Value),
}

/// One connection's side of the protocol: which room it is in, under which user.
#[derive(Debug)]
pub struct Session {
    id: u64,
    info: ServerInfo,
    joined: Option<(String, String)>,
}

impl Session {
    /// A new connection, `id` unique among open connections.
    pub fn new(id: u64, info: ServerInfo) -> Session {
        Session {
            id,
            info,
            joined: None,
        }
    }

    /// The room and user joined, if any.
    pub fn joined(&self) -> Option<(&str, &str)> {
        self.joined
            .as_ref()
            .map(|(room, user)| (room.as_str(), user.as_str()))
    }

    /// Handles one text message received at `now_unix_ms` (the server's clock, for `welcome`).
    pub fn handle(&mut self, rooms: &Mutex<Rooms>, now_unix_ms: u64, text: &str) -> Step {
        let object = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Step::Reply(error(
                    None,
                    "bad_message",
                    "a message is one JSON object with a string \"type\"",
                ))
            }
            Err(parse) => {
                return Step::Reply(error(
                    None,
                    "bad_message",
                    &format!("not JSON ({parse}): send one JSON object per text frame"),
                ))
            }
        };
        let id = object.get("id").cloned();
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            _ => {
                return Step::Reply(error(
                    id,
                    "bad_message",
                    "no string \"type\": every message is {\"type\": ...}",
                ))
            }
        };
        match kind {
            "hello" => {
                let idle_ms = u64::try_from(self.info.idle_timeout.as_millis()).unwrap_or(u64::MAX);
                let mut welcome = json!({
                    "type": "welcome",
                    "server": SERVER_NAME,
                    "version": VERSION,
                    "time_ms": now_unix_ms,
                    "answerer": self.info.answerer,
                    "max_message_bytes": self.info.max_message_bytes,
                    "idle_timeout_ms": idle_ms,
                });
                if let Some(how) = self.info.misbehave {
                    welcome["misbehave"] = how.into();
                }
                Step::Reply(with_id(welcome, id))
            }
            "echo" => Step::Reply(Value::Object(object)),
            "join" => Step::Reply(self.join(rooms, &object, id)),
            "leave" => {
                let room = self.leave(rooms);
                Step::Left(with_id(json!({"type": "left", "room": room}), id))
            }
            "offer" => {
                let sdp = match object.get("sdp") {
                    Some(Value::String(sdp)) if !sdp.is_empty() => sdp.clone(),
                    _ => {
                        return Step::Reply(error(
                            id,
                            "bad_message",
                            "an offer needs a non-empty string \"sdp\"",
                        ))
                    }
                };
                match &self.joined {
                    Some((room, user)) => Step::Offer {
                        sdp,
                        room: room.clone(),
                        user: user.clone(),
                        id,
                    },
                    None => Step::Reply(error(
                        id,
                        "not_joined",
                        "join a room first: {\"type\":\"join\",\"room\":\"...\"}",
                    )),
                }
            }
            "candidate" => match Candidate::deserialize(Value::Object(object)) {
                Ok(candidate) => Step::Candidate { candidate, id },
                Err(wrong) => Step::Reply(error(
                    id,
                    "bad_message",
                    &format!("a candidate has the fields of RTCIceCandidateInit: {wrong}"),
                )),
            },
            other => Step::Reply(error(
                id,
                "bad_message",
                &format!(
                    "unknown type {other:?}; known: hello, join, offer, candidate, leave, echo"
                ),
            )),
        }
    }

    fn join(
        &mut self,
        rooms: &Mutex<Rooms>,
        object: &Map<String, Value>,
        id: Option<Value>,
    ) -> Value {
        let room = match object.get("room") {
            Some(Value::String(room)) if !room.is_empty() && room.len() <= MAX_NAME_BYTES => room,
            _ => {
                return error(
                    id,
                    "bad_message",
                    &format!("a join needs a string \"room\" of 1 to {MAX_NAME_BYTES} bytes"),
                )
            }
        };
        let user = match object.get("user") {
            None | Some(Value::Null) => format!("u{}", self.id),
            Some(Value::String(user)) if !user.is_empty() && user.len() <= MAX_NAME_BYTES => {
                user.clone()
            }
            Some(_) => {
                return error(
                    id,
                    "bad_message",
                    &format!("\"user\" is a string of 1 to {MAX_NAME_BYTES} bytes, or absent"),
                )
            }
        };
        let mut rooms = rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((previous, _)) = &self.joined {
            if previous != room {
                rooms.leave(previous, self.id);
                self.joined = None;
            }
        }
        match rooms.join(room, self.id, &user) {
            Ok(members) => {
                self.joined = Some((room.clone(), user.clone()));
                with_id(
                    json!({"type": "joined", "room": room, "user": user, "members": members}),
                    id,
                )
            }
            Err(JoinError::RoomFull) => error(
                id,
                "room_full",
                &format!(
                    "room {room:?} has {} members, the most this serve allows",
                    rooms.max_members
                ),
            ),
            Err(JoinError::TooManyRooms) => error(
                id,
                "too_many_rooms",
                &format!(
                    "{} rooms exist, the most this serve allows; retry later",
                    rooms.max_rooms
                ),
            ),
        }
    }

    /// Leaves the room joined, if any; its name.
    pub fn leave(&mut self, rooms: &Mutex<Rooms>) -> Option<String> {
        let (room, _) = self.joined.take()?;
        rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .leave(&room, self.id);
        Some(room)
    }
}

/// `{"type":"error","code":...,"message":...}`, with the request's `id`.
pub fn error(id: Option<Value>, code: &str, message: &str) -> Value {
    with_id(
        json!({"type": "error", "code": code, "message": message}),
        id,
    )
}

fn with_id(mut reply: Value, id: Option<Value>) -> Value {
    if let (Some(id), Value::Object(object)) = (id, &mut reply) {
        object.insert("id".to_string(), id);
    }
    reply
}

/// An HTTP date (IMF-fixdate, RFC 9110): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 2026-11-28T10:00:00Z
    let rfc3339 = crate::time::UnixTime(unix_seconds).rfc3339();
    let (date, time) = rfc3339.split_once('T').unwrap_or((&rfc3339, "00:00:00Z"));
    let mut parts = date.rsplitn(3, '-');
    let (day, month, year) = (
        parts.next().unwrap_or("01"),
        parts.next().unwrap_or("01"),
        parts.next().unwrap_or("1970"),
    );
    let month = month
        .parse::<usize>()
        .ok()
        .and_then(|month| MONTHS.get(month.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    // 1970-01-01 was a Thursday.
    let weekday =
        DAYS[usize::try_from((unix_seconds.div_euclid(86_400) + 4).rem_euclid(7)).unwrap_or(0)];
    format!(
        "{weekday}, {day} {month} {year} {} GMT",
        time.trim_end_matches('Z')
    )
}

// ---------------------------------------------------------------------------------------------
// The server (I/O at the edge)
// ---------------------------------------------------------------------------------------------

/// What the signaling endpoint is told at start.
#[derive(Clone, Default)]
pub struct SignalConfig {
    /// The secret whose header exempts a connection from the rate limits.
    pub token: Option<String>,
    /// The limits.
    pub limits: Limits,
    /// The WebRTC answerer; `None`: offers get `no_answerer`.
    pub answerer: Option<Arc<dyn Answerer>>,
}

impl std::fmt::Debug for SignalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalConfig")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("limits", &self.limits)
            .field("answerer", &self.answerer.is_some())
            .finish()
    }
}

/// What the endpoint has done since it started, for the line `serve` prints when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// WebSockets opened.
    pub opened: u64,
    /// Of those, opened with the token.
    pub opened_with_token: u64,
    /// Upgrades refused with `429` (connection rate).
    pub refused_rate: u64,
    /// Upgrades refused with `503` (open connections).
    pub refused_full: u64,
    /// TCP connections closed on arrival (too many handshakes in progress).
    pub refused_handshakes: u64,
    /// TLS or HTTP handshakes that failed or timed out.
    pub failed_handshakes: u64,
    /// Handshakes ended to make room for a new connection when every slot was held.
    pub evicted_handshakes: u64,
    /// Text messages handled.
    pub messages: u64,
    /// Connections closed for the size, message-rate or idle limits.
    pub closed_by_limits: u64,
}

#[derive(Default)]
struct AtomicCounters {
    opened: AtomicU64,
    opened_with_token: AtomicU64,
    refused_rate: AtomicU64,
    refused_full: AtomicU64,
    refused_handshakes: AtomicU64,
    failed_handshakes: AtomicU64,
    evicted_handshakes: AtomicU64,
    messages: AtomicU64,
    closed_by_limits: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How one connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// The client closed it (with or without a close frame).
    Closed,
    /// The upgrade was refused (`429`, `503`) or the handshake failed or timed out.
    NotUpgraded,
    /// Closed by the server for a limit, with this close code.
    Limit(u16),
    /// Closed by the server because it is stopping.
    Stopped,
    /// Reading or writing failed.
    Failed(String),
}

/// The signaling endpoint, shared by all its listeners and connections.
pub struct SignalServer {
    config: SignalConfig,
    rooms: Mutex<Rooms>,
    sources: Mutex<SourceLimiter>,
    open: AtomicUsize,
    handshaking: AtomicUsize,
    /// Handshakes in progress per source key (at most `max_handshakes` entries: none is 0).
    handshaking_by_source: Mutex<HashMap<[u8; 16], usize>>,
    /// Handshakes in progress, oldest first (by connection number), each with what ends it.
    handshakes: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next_handshake: AtomicU64,
    next_id: AtomicU64,
    counters: AtomicCounters,
}

/// One unit of a bounded count, given back on drop.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(count: &'a AtomicUsize, max: usize) -> Option<Slot<'a>> {
        // Not `then_some`: its argument is built (and dropped, giving back a slot) either way.
        reserve(count, max).then(|| Slot(count))
    }
}

/// Adds one to `count` unless it has reached `max`.
fn reserve(count: &AtomicUsize, max: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One handshake in progress from one source, given back on drop.
struct SourceSlot<'a> {
    table: &'a Mutex<HashMap<[u8; 16], usize>>,
    key: [u8; 16],
}

/// Adds one to `key`'s count in `table` unless it has reached `max` (at least 1).
fn reserve_source(table: &Mutex<HashMap<[u8; 16], usize>>, key: [u8; 16], max: usize) -> bool {
    let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
    let count = table.entry(key).or_insert(0);
    if *count >= max.max(1) {
        return false;
    }
    *count += 1;
    true
}

impl Drop for SourceSlot<'_> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = table.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                table.remove(&self.key);
            }
        }
    }
}

/// `mutex`'s guard, even when a thread panicked while holding it (the data stays consistent:
/// every change under these locks is a single step).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handshake's entry in [`SignalServer::handshakes`], removed when the handshake ends.
struct Listed<'a> {
    handshakes: &'a Mutex<BTreeMap<u64, Arc<Notify>>>,
    number: u64,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        lock(self.handshakes).remove(&self.number);
    }
}

/// Why an upgrade was refused.
enum Refusal {
    RateLimited,
    Full,
}

impl SignalServer {
    /// A server with `config`.
    pub fn new(config: SignalConfig) -> Arc<SignalServer> {
        let limits = &config.limits;
        Arc::new(SignalServer {
            rooms: Mutex::new(Rooms::new(limits.max_rooms, limits.max_members)),
            sources: Mutex::new(SourceLimiter::new(
                limits.connection_rate,
                limits.source_table,
            )),
            open: AtomicUsize::new(0),
            handshaking: AtomicUsize::new(0),
            handshaking_by_source: Mutex::new(HashMap::new()),
            handshakes: Mutex::new(BTreeMap::new()),
            next_handshake: AtomicU64::new(1),
            next_id: AtomicU64::new(1),
            counters: AtomicCounters::default(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SignalConfig {
        &self.config
    }

    /// WebSockets open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// What the endpoint has done so far.
    pub fn counters(&self) -> Counters {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counters {
            opened: get(&c.opened),
            opened_with_token: get(&c.opened_with_token),
            refused_rate: get(&c.refused_rate),
            refused_full: get(&c.refused_full),
            refused_handshakes: get(&c.refused_handshakes),
            failed_handshakes: get(&c.failed_handshakes),
            evicted_handshakes: get(&c.evicted_handshakes),
            messages: get(&c.messages),
            closed_by_limits: get(&c.closed_by_limits),
        }
    }

    /// Accepts connections on `listener` (TLS first when `tls` is given) until `stop` turns
    /// true (or its sender goes); then closes every connection with `1001` and returns.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        while tasks.try_join_next().is_some() {}
                        let limits = &self.config.limits;
                        let (table, key) = (&self.handshaking_by_source, source_key(peer.ip()));
                        if !reserve_source(table, key, limits.max_handshakes_per_source) {
                            bump(&self.counters.refused_handshakes);
                            drop(stream);
                            continue;
                        }
                        if !reserve(&self.handshaking, limits.max_handshakes) {
                            // Every slot is held: end the oldest handshake (the slowest
                            // client's) and take its slot. Its task gives the slot back when it
                            // sees the eviction, so the count stays above the limit only until
                            // then; with nothing to evict, this connection is refused.
                            if !self.evict_oldest() {
                                drop(SourceSlot { table, key });
                                bump(&self.counters.refused_handshakes);
                                drop(stream);
                                continue;
                            }
                            self.handshaking.fetch_add(1, Ordering::AcqRel);
                        }
                        let number = self.next_handshake.fetch_add(1, Ordering::Relaxed);
                        let evicted = Arc::new(Notify::new());
                        lock(&self.handshakes).insert(number, evicted.clone());
                        let (server, tls, stop) = (self.clone(), tls.clone(), stop.clone());
                        tasks.spawn(async move {
                            server.connection(stream, peer, tls, stop, (number, evicted)).await;
                        });
                    }
                    Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                },
            }
        }
        // Every connection watches `stop` too and sends its close frame.
        let _ = tokio::time::timeout(CLOSE_GRACE * 2, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    /// One accepted TCP connection, its handshaking slots (in all and for its source) already
    /// reserved (given back here).
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<TlsAcceptor>,
        stop: watch::Receiver<bool>,
        (number, evicted): (u64, Arc<Notify>),
    ) -> ConnectionEnd {
        let handshaking = (
            Slot(&self.handshaking),
            SourceSlot {
                table: &self.handshaking_by_source,
                key: source_key(peer.ip()),
            },
            Listed {
                handshakes: &self.handshakes,
                number,
            },
        );
        let _ = stream.set_nodelay(true);
        let deadline = tokio::time::Instant::now() + self.config.limits.handshake_timeout;
        let Some(acceptor) = tls else {
            return Box::pin(self.upgrade_and_run(
                stream,
                peer,
                deadline,
                handshaking,
                Some(evicted),
                stop,
            ))
            .await;
        };
        let accepted = tokio::select! {
            accepted = tokio::time::timeout_at(deadline, Box::pin(acceptor.accept(stream))) => accepted,
            () = evicted.notified() => {
                bump(&self.counters.evicted_handshakes);
                return ConnectionEnd::NotUpgraded;
            }
        };
        match accepted {
            Ok(Ok(stream)) => {
                Box::pin(self.upgrade_and_run(
                    stream,
                    peer,
                    deadline,
                    handshaking,
                    Some(evicted),
                    stop,
                ))
                .await
            }
            _ => {
                bump(&self.counters.failed_handshakes);
                ConnectionEnd::NotUpgraded
            }
        }
    }

    /// Ends the oldest handshake in progress (it gives its slot back once it sees that);
    /// false when none is in progress.
    fn evict_oldest(&self) -> bool {
        let oldest = lock(&self.handshakes).pop_first();
        match oldest {
            Some((_, evicted)) => {
                // A permit: the handshake ends even if it is not waiting at this moment.
                evicted.notify_one();
                true
            }
            None => false,
        }
    }

    /// Serves one connection that has already been accepted (and decrypted, for TLS) from
    /// `peer`: the upgrade, then the protocol until it ends or `stop` turns true (or its sender
    /// goes: keep it alive). [`Limits::max_handshakes`] and [`Limits::max_handshakes_per_source`]
    /// do not apply: they count what [`SignalServer::serve`] accepts. For other transports and
    /// tests.
    pub async fn serve_stream<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> ConnectionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(handshaking) = Slot::take(&self.handshaking, usize::MAX) else {
            return ConnectionEnd::NotUpgraded;
        };
        let deadline = tokio::time::Instant::now() + self.config.limits.handshake_timeout;
        self.upgrade_and_run(stream, peer, deadline, handshaking, None, stop)
            .await
    }

    async fn upgrade_and_run<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        deadline: tokio::time::Instant,
        handshaking: impl Send,
        evicted: Option<Arc<Notify>>,
        stop: watch::Receiver<bool>,
    ) -> ConnectionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let limits = &self.config.limits;
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(limits.max_message_bytes))
            .max_frame_size(Some(limits.max_message_bytes));
        let mut admitted: Option<(bool, Slot<'_>)> = None;
        // The callback's type is tungstenite's: its error is the refusal's HTTP response.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request, mut response: Response| {
            let date = http_date(unix_now().as_secs() as i64);
            match self.admit(Instant::now(), peer.ip(), request) {
                Ok(admission) => {
                    admitted = Some(admission);
                    let headers = response.headers_mut();
                    if let Ok(date) = HeaderValue::from_str(&date) {
                        headers.insert("date", date);
                    }
                    headers.insert("server", HeaderValue::from_static(SERVER_NAME));
                    Ok(response)
                }
                Err(refusal) => Err(refused(refusal, &date)),
            }
        };
        let upgrade = tokio::time::timeout_at(
            deadline,
            Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
                stream,
                callback,
                Some(ws_config),
            )),
        );
        let eviction = async {
            match &evicted {
                Some(evicted) => evicted.notified().await,
                None => std::future::pending().await,
            }
        };
        let upgraded = tokio::select! {
            upgraded = upgrade => upgraded,
            () = eviction => {
                bump(&self.counters.evicted_handshakes);
                return ConnectionEnd::NotUpgraded;
            }
        };
        drop(handshaking);
        let ws = match upgraded {
            Ok(Ok(ws)) => ws,
            Ok(Err(WsError::Http(_))) => return ConnectionEnd::NotUpgraded,
            _ => {
                bump(&self.counters.failed_handshakes);
                return ConnectionEnd::NotUpgraded;
            }
        };
        let Some((exempt, slot)) = admitted else {
            return ConnectionEnd::NotUpgraded;
        };
        bump(&self.counters.opened);
        if exempt {
            bump(&self.counters.opened_with_token);
        }
        let end = self.run(ws, peer, exempt, stop).await;
        drop(slot);
        if matches!(end, ConnectionEnd::Limit(_)) {
            bump(&self.counters.closed_by_limits);
        }
        end
    }

    /// The token check, the source's rate, then a slot among the open connections.
    fn admit(
        &self,
        now: Instant,
        source: IpAddr,
        request: &Request,
    ) -> Result<(bool, Slot<'_>), Refusal> {
        let exempt = match (&self.config.token, request.headers().get(TOKEN_HEADER)) {
            (Some(token), Some(given)) => constant_time_eq(token.as_bytes(), given.as_bytes()),
            _ => false,
        };
        if !exempt {
            let allowed = self
                .sources
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .allow(now, source);
            if !allowed {
                bump(&self.counters.refused_rate);
                return Err(Refusal::RateLimited);
            }
        }
        match Slot::take(&self.open, self.config.limits.max_connections) {
            Some(slot) => Ok((exempt, slot)),
            None => {
                bump(&self.counters.refused_full);
                Err(Refusal::Full)
            }
        }
    }

    /// The protocol on an open WebSocket: one select over the stop signal, the idle deadline,
    /// the answer being prepared, the answerer's candidates and the next frame.
    async fn run<S>(
        &self,
        mut ws: WebSocketStream<S>,
        peer: SocketAddr,
        exempt: bool,
        mut stop: watch::Receiver<bool>,
    ) -> ConnectionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let limits = &self.config.limits;
        let mut connection = Connection::new(self, peer);
        let mut rate = Bucket::new(limits.message_rate);
        let mut last_frame = tokio::time::Instant::now();
        let end = loop {
            let idle_deadline = last_frame + limits.idle_timeout;
            let reply = tokio::select! {
                _ = stopped(&mut stop) => {
                    let then = ConnectionEnd::Stopped;
                    break Box::pin(close(&mut ws, CloseCode::Away, "server stopping", false, then)).await;
                }
                _ = tokio::time::sleep_until(idle_deadline) => {
                    let then = ConnectionEnd::Limit(1001);
                    break Box::pin(close(&mut ws, CloseCode::Away, "idle timeout", false, then)).await;
                }
                (id, result) = poll_answer(&mut connection.answering) => {
                    Some(Box::pin(connection.on_answer(id, result)).await)
                }
                candidate = next_candidate(&mut connection.their_candidates) => {
                    Some(connection.on_their_candidate(candidate))
                }
                frame = ws.next() => {
                    let message = match frame.map(|read| read.map_err(on_read_error)) {
                        None => break ConnectionEnd::Closed,
                        Some(Ok(message)) => message,
                        Some(Err(Err(end))) => break end,
                        Some(Err(Ok((code, reason, then)))) => {
                            break Box::pin(close(&mut ws, code, &reason, true, then)).await;
                        }
                    };
                    last_frame = tokio::time::Instant::now();
                    if !exempt && !rate.allow(last_frame.into_std()) {
                        let (reason, then) = ("message rate limit", ConnectionEnd::Limit(1008));
                        break Box::pin(close(&mut ws, CloseCode::Policy, reason, false, then)).await;
                    }
                    Box::pin(connection.on_message(message)).await
                }
            };
            if let Some(reply) = reply {
                if let Err(end) = send(&mut ws, &reply, limits.write_timeout).await {
                    break end;
                }
            }
        };
        connection.end().await;
        end
    }
}

/// One open WebSocket's state: the protocol's session and the answerer's side of it.
struct Connection<'a> {
    server: &'a SignalServer,
    peer: SocketAddr,
    session: Session,
    /// The offer being answered: its request `id` and the answerer's future.
    answering: Option<(Option<Value>, AnswerFuture)>,
    /// The client's candidates received while the answer is prepared.
    queued: Vec<Candidate>,
    /// The answered offer's session.
    answered: Option<Box<dyn AnswerSession>>,
    /// The answerer's trickled candidates, while they come.
    their_candidates: Option<mpsc::Receiver<Candidate>>,
}

impl<'a> Connection<'a> {
    fn new(server: &'a SignalServer, peer: SocketAddr) -> Connection<'a> {
        let limits = &server.config.limits;
        let info = ServerInfo {
            answerer: server.config.answerer.is_some(),
            misbehave: server
                .config
                .answerer
                .as_ref()
                .and_then(|answerer| answerer.misbehave()),
            max_message_bytes: limits.max_message_bytes,
            idle_timeout: limits.idle_timeout,
        };
        Connection {
            server,
            peer,
            session: Session::new(server.next_id.fetch_add(1, Ordering::Relaxed), info),
            answering: None,
            queued: Vec::new(),
            answered: None,
            their_candidates: None,
        }
    }

    /// One message from the client; the reply, if any.
    async fn on_message(&mut self, message: Message) -> Option<Value> {
        let step = match message {
            Message::Text(text) => {
                bump(&self.server.counters.messages);
                let now_ms = u64::try_from(unix_now().as_millis()).unwrap_or(u64::MAX);
                self.session
                    .handle(&self.server.rooms, now_ms, text.as_str())
            }
            Message::Binary(_) => Step::Reply(error(
                None,
                "bad_message",
                "binary frames are not part of the protocol: send one JSON object per text frame",
            )),
            // Pings are answered by the library as it reads; a close is answered too, and the
            // next read ends the stream.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {
                return None
            }
        };
        let limits = &self.server.config.limits;
        match step {
            Step::Reply(reply) => Some(reply),
            Step::Left(reply) => {
                self.end_answer().await;
                Some(reply)
            }
            Step::Offer {
                sdp,
                room,
                user,
                id,
            } => match &self.server.config.answerer {
                None => Some(no_answerer(id)),
                Some(_) if self.answering.is_some() => Some(error(
                    id,
                    "busy",
                    "the previous offer is still being answered; wait for its answer",
                )),
                Some(answerer) => {
                    self.end_answer().await;
                    let offer = Offer {
                        sdp,
                        room,
                        user,
                        peer: self.peer,
                    };
                    let answer =
                        tokio::time::timeout(limits.answer_timeout, answerer.answer(offer));
                    self.answering = Some((id, Box::pin(answer)));
                    None
                }
            },
            Step::Candidate { candidate, id } => {
                if let Some(session) = &self.answered {
                    let added =
                        with_timeout(limits.write_timeout, session.add_candidate(candidate));
                    added
                        .await
                        .err()
                        .map(|why| error(id, "candidate_failed", &why))
                } else if self.answering.is_some() {
                    if self.queued.len() < limits.max_queued_candidates {
                        self.queued.push(candidate);
                        None
                    } else {
                        let why = format!(
                            "more than {} candidates before the answer",
                            limits.max_queued_candidates
                        );
                        Some(error(id, "candidate_failed", &why))
                    }
                } else if self.server.config.answerer.is_none() {
                    Some(no_answerer(id))
                } else {
                    Some(error(id, "no_offer", "send an offer before its candidates"))
                }
            }
        }
    }

    /// The answerer's result for the offer of request `id`: the reply.
    async fn on_answer(
        &mut self,
        id: Option<Value>,
        result: Result<Result<Answer, String>, tokio::time::error::Elapsed>,
    ) -> Value {
        self.answering = None;
        let limits = &self.server.config.limits;
        match result {
            Ok(Ok(answer)) => {
                let mut reply = with_id(json!({"type": "answer", "sdp": answer.sdp}), id.clone());
                for candidate in self.queued.drain(..) {
                    let added = answer.session.add_candidate(candidate);
                    if let Err(why) = with_timeout(limits.write_timeout, added).await {
                        reply = error(id.clone(), "candidate_failed", &why);
                    }
                }
                self.answered = Some(answer.session);
                self.their_candidates = answer.candidates;
                reply
            }
            Ok(Err(why)) => error(id, "answer_failed", &why),
            Err(_) => error(
                id,
                "answer_timeout",
                &format!(
                    "the answerer gave no answer within {} s",
                    limits.answer_timeout.as_secs()
                ),
            ),
        }
    }

    /// One of the answerer's candidates for the client (`None`: their end).
    fn on_their_candidate(&mut self, candidate: Option<Candidate>) -> Value {
        let candidate = candidate.unwrap_or_else(|| {
            self.their_candidates = None;
            Candidate::default()
        });
        let mut message = serde_json::to_value(&candidate).unwrap_or_else(|_| json!({}));
        if let Value::Object(object) = &mut message {
            object.insert("type".to_string(), json!("candidate"));
        }
        message
    }

    /// Forgets the offer being answered and closes the answered one's session.
    async fn end_answer(&mut self) {
        self.answering = None;
        self.queued.clear();
        self.their_candidates = None;
        if let Some(session) = self.answered.take() {
            let _ = tokio::time::timeout(CLOSE_GRACE, session.close()).await;
        }
    }

    /// The connection is over: leave the room, close the answerer's session.
    async fn end(mut self) {
        self.session.leave(&self.server.rooms);
        self.end_answer().await;
    }
}

fn no_answerer(id: Option<Value>) -> Value {
    error(
        id,
        "no_answerer",
        "this serve runs without a WebRTC answerer (--no-answerer)",
    )
}

/// What a read error means: a close frame to send (its code and reason, and how the connection
/// will have ended), or the end already.
fn on_read_error(error: WsError) -> Result<(CloseCode, String, ConnectionEnd), ConnectionEnd> {
    match error {
        WsError::Capacity(too_big) => Ok((
            CloseCode::Size,
            format!("message too big: {too_big}"),
            ConnectionEnd::Limit(1009),
        )),
        WsError::Utf8(_) => Ok((
            CloseCode::Invalid,
            "text frame is not UTF-8".to_string(),
            ConnectionEnd::Failed("text frame is not UTF-8".to_string()),
        )),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed => Err(ConnectionEnd::Closed),
        WsError::Protocol(broken) => Ok((
            CloseCode::Protocol,
            broken.to_string(),
            ConnectionEnd::Failed(broken.to_string()),
        )),
        other => Err(ConnectionEnd::Failed(other.to_string())),
    }
}

type AnswerFuture = Pin<
    Box<dyn Future<Output = Result<Result<Answer, String>, tokio::time::error::Elapsed>> + Send>,
>;

/// The answer being prepared, if any; pending forever when none.
async fn poll_answer(
    answering: &mut Option<(Option<Value>, AnswerFuture)>,
) -> (
    Option<Value>,
    Result<Result<Answer, String>, tokio::time::error::Elapsed>,
) {
    match answering {
        Some((id, future)) => {
            let result = future.await;
            (id.take(), result)
        }
        None => std::future::pending().await,
    }
}

/// The answerer's next candidate (`None`: its end), if a channel is open; pending otherwise.
async fn next_candidate(candidates: &mut Option<mpsc::Receiver<Candidate>>) -> Option<Candidate> {
    match candidates {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn with_timeout(
    limit: Duration,
    future: BoxFuture<'static, Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the answerer took longer than {} s",
                limit.as_secs()
            ))
        })
}

/// Resolves when `stop` is (or becomes) true, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn send<S>(
    ws: &mut WebSocketStream<S>,
    reply: &Value,
    limit: Duration,
) -> Result<(), ConnectionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit, ws.send(Message::text(reply.to_string()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => Err(ConnectionEnd::Closed),
        Ok(Err(error)) => Err(ConnectionEnd::Failed(error.to_string())),
        Err(_) => Err(ConnectionEnd::Failed(format!(
            "the client read nothing for {} s",
            limit.as_secs()
        ))),
    }
}

/// Sends a close frame, then waits (briefly) for the client's: by reading frames, or, when the
/// stream may hold the rest of a frame that was refused (`drain`), by reading and discarding raw
/// bytes, so that unread data does not turn the close into a TCP reset. The connection has then
/// ended as `then`, unless sending failed.
async fn close<S>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &str,
    drain: bool,
    then: ConnectionEnd,
) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A close reason is at most 123 bytes.
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..cut].into(),
    };
    match tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame))).await {
        Ok(Ok(())) => {}
        Ok(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
            return ConnectionEnd::Closed
        }
        Ok(Err(error)) => return ConnectionEnd::Failed(error.to_string()),
        Err(_) => return ConnectionEnd::Failed("the client read nothing".to_string()),
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if drain {
            let mut buffer = [0u8; 4096];
            let mut total = 0;
            while total < DRAIN_BYTES {
                match ws.get_mut().read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        } else {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
    then
}

fn refused(refusal: Refusal, date: &str) -> ErrorResponse {
    let (status, retry, body) = match refusal {
        Refusal::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "1",
            "too many new connections from this address: retry in a second \
             (the token header exempts the tool's own runs)\n",
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "5",
            "too many open connections: retry later\n",
        ),
    };
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from_static(retry));
    if let Ok(date) = HeaderValue::from_str(date) {
        headers.insert("date", date);
    }
    headers.insert("server", HeaderValue::from_static(SERVER_NAME));
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    headers.insert("connection", HeaderValue::from_static("close"));
    response
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicBool;

    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    fn info() -> ServerInfo {
        ServerInfo {
            misbehave: None,
            answerer: false,
            max_message_bytes: 65_536,
            idle_timeout: Duration::from_secs(60),
        }
    }

    fn reply(step: Step) -> Value {
        match step {
            Step::Reply(reply) | Step::Left(reply) => reply,
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn the_protocol_as_data() {
        let rooms = Mutex::new(Rooms::new(4, 4));
        let mut session = Session::new(7, info());
        let cases: &[(&str, Value)] = &[
            (
                r#"{"type":"hello","id":"a"}"#,
                json!({"type": "welcome", "server": "trtc-preflight", "version": VERSION,
                       "time_ms": 1_764_320_000_123u64, "answerer": false,
                       "max_message_bytes": 65536, "idle_timeout_ms": 60000, "id": "a"}),
            ),
            (
                r#"{"type":"echo","data":{"x":[1,"y"]},"id":3}"#,
                json!({"type": "echo", "data": {"x": [1, "y"]}, "id": 3}),
            ),
            (
                r#"{"type":"join","room":"r"}"#,
                json!({"type": "joined", "room": "r", "user": "u7", "members": 1}),
            ),
            (
                r#"{"type":"join","room":"r","user":"bob"}"#,
                json!({"type": "joined", "room": "r", "user": "bob", "members": 1}),
            ),
            (r#"{"type":"leave"}"#, json!({"type": "left", "room": "r"})),
            (
                r#"{"type":"offer","sdp":"v=0"}"#,
                error(
                    None,
                    "not_joined",
                    "join a room first: {\"type\":\"join\",\"room\":\"...\"}",
                ),
            ),
        ];
        for (text, expected) in cases {
            let got = reply(session.handle(&rooms, 1_764_320_000_123, text));
            assert_eq!(&got, expected, "{text}");
        }
        assert!(rooms.lock().unwrap().is_empty(), "left: the room is gone");
    }

    #[test]
    fn offers_and_candidates_go_to_the_answerer() {
        let rooms = Mutex::new(Rooms::new(4, 4));
        let mut session = Session::new(1, info());
        session.handle(&rooms, 0, r#"{"type":"join","room":"r","user":"a"}"#);
        assert_eq!(
            session.handle(&rooms, 0, r#"{"type":"offer","sdp":"v=0","id":9}"#),
            Step::Offer {
                sdp: "v=0".to_string(),
                room: "r".to_string(),
                user: "a".to_string(),
                id: Some(json!(9)),
            }
        );
        assert_eq!(
            session.handle(
                &rooms,
                0,
                r#"{"type":"candidate","candidate":"candidate:1","sdpMid":"0","sdpMLineIndex":0}"#
            ),
            Step::Candidate {
                candidate: Candidate {
                    candidate: "candidate:1".to_string(),
                    sdp_mid: Some("0".to_string()),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                },
                id: None,
            }
        );
    }

    #[test]
    fn bad_messages_are_errors_never_panics() {
        let rooms = Mutex::new(Rooms::new(4, 4));
        let mut session = Session::new(1, info());
        let long = format!(r#"{{"type":"join","room":"{}"}}"#, "r".repeat(129));
        for text in [
            "",
            "nul\u{0}",
            "{",
            "1",
            "null",
            "{}",
            r#"{"type":null}"#,
            r#"{"type":"HELLO"}"#,
            r#"{"type":"join","room":""}"#,
            long.as_str(),
            r#"{"type":"join","room":"r","user":5}"#,
            r#"{"type":"offer","sdp":""}"#,
            r#"{"type":"candidate"}"#,
            r#"{"type":"candidate","candidate":"c","sdpMLineIndex":-1}"#,
        ] {
            let got = reply(session.handle(&rooms, 0, text));
            assert_eq!(got["type"], "error", "{text}: {got}");
            assert_eq!(got["code"], "bad_message", "{text}: {got}");
        }
    }

    #[test]
    fn rooms_are_bounded_and_go_when_empty() {
        let rooms = Mutex::new(Rooms::new(1, 2));
        let mut sessions: Vec<Session> = (1..=4).map(|id| Session::new(id, info())).collect();
        let join = |session: &mut Session, room: &str| {
            reply(session.handle(
                &rooms,
                0,
                &json!({"type": "join", "room": room}).to_string(),
            ))
        };
        assert_eq!(join(&mut sessions[0], "a")["members"], 1);
        assert_eq!(join(&mut sessions[1], "a")["members"], 2);
        assert_eq!(join(&mut sessions[2], "a")["code"], "room_full");
        assert_eq!(join(&mut sessions[2], "b")["code"], "too_many_rooms");
        // Joining again is not a second membership.
        assert_eq!(join(&mut sessions[1], "a")["members"], 2);
        // Moving to another room leaves the first; the last to leave removes it.
        sessions[0].leave(&rooms);
        sessions[1].leave(&rooms);
        assert!(rooms.lock().unwrap().is_empty());
        assert_eq!(join(&mut sessions[2], "b")["members"], 1);
        assert_eq!(join(&mut sessions[2], "c")["members"], 1);
        assert_eq!(rooms.lock().unwrap().members("b"), 0);
        assert_eq!(rooms.lock().unwrap().len(), 1);
    }

    #[test]
    fn source_limiter_bursts_then_refills() {
        let rate = Rate {
            per_second: 10,
            burst: 20,
        };
        let mut limiter = SourceLimiter::new(rate, 16);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let allowed = (0..40).filter(|_| limiter.allow(t0, a)).count();
        assert_eq!(allowed, 20);
        assert!(limiter.allow(t0, b), "another source has its own bucket");
        assert!(!limiter.allow(t0 + Duration::from_millis(50), a));
        assert!(limiter.allow(t0 + Duration::from_millis(100), a));
        let later = t0 + Duration::from_secs(10);
        assert_eq!((0..40).filter(|_| limiter.allow(later, a)).count(), 20);
    }

    #[test]
    fn source_limiter_keys_ipv6_by_64_and_stays_bounded() {
        let rate = Rate {
            per_second: 1,
            burst: 1,
        };
        let mut limiter = SourceLimiter::new(rate, 4);
        let t0 = Instant::now();
        assert!(limiter.allow(t0, "2001:db8:1:2::1".parse().unwrap()));
        assert!(!limiter.allow(t0, "2001:db8:1:2:ffff::9".parse().unwrap()));
        assert!(limiter.allow(t0, "2001:db8:1:3::1".parse().unwrap()));
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(limiter.allow(t0, "198.51.100.7".parse().unwrap()));
        assert!(!limiter.allow(t0, "::ffff:198.51.100.7".parse().unwrap()));
        for i in 0..100u8 {
            limiter.allow(t0, IpAddr::from([203, 0, 113, i]));
            assert!(limiter.len() <= 4);
        }
    }

    #[test]
    fn bucket_limits_a_connection() {
        let mut bucket = Bucket::new(Rate {
            per_second: 50,
            burst: 100,
        });
        let t0 = Instant::now();
        assert_eq!((0..150).filter(|_| bucket.allow(t0)).count(), 100);
        assert!(bucket.allow(t0 + Duration::from_millis(20)));
        assert!(!bucket.allow(t0 + Duration::from_millis(20)));
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_798_761_599), "Thu, 31 Dec 2026 23:59:59 GMT");
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret "));
        assert!(!constant_time_eq(b"secret", b""));
    }

    // --- the loop, over in-memory streams with paused time ---------------------------------

    struct Lab {
        server: Arc<SignalServer>,
        stop: watch::Sender<bool>,
    }

    impl Lab {
        fn new(config: SignalConfig) -> Lab {
            Lab {
                server: SignalServer::new(config),
                stop: watch::channel(false).0,
            }
        }

        /// A client connected through a duplex pipe, the server's side run in a task.
        async fn connect(
            &self,
            headers: &[(&'static str, &str)],
        ) -> (
            Result<WebSocketStream<DuplexStream>, WsError>,
            tokio::task::JoinHandle<ConnectionEnd>,
        ) {
            let (client, served) = tokio::io::duplex(256 * 1024);
            let (server, stop) = (self.server.clone(), self.stop.subscribe());
            let peer: SocketAddr = "192.0.2.10:40000".parse().unwrap();
            let task = tokio::spawn(async move { server.serve_stream(served, peer, stop).await });
            let mut request = "ws://serve.test/".into_client_request().unwrap();
            for (name, value) in headers {
                request.headers_mut().insert(*name, value.parse().unwrap());
            }
            let ws = tokio_tungstenite::client_async(request, client)
                .await
                .map(|(ws, _)| ws);
            (ws, task)
        }
    }

    async fn send_json(ws: &mut WebSocketStream<DuplexStream>, message: Value) {
        ws.send(Message::text(message.to_string())).await.unwrap();
    }

    async fn next_json(ws: &mut WebSocketStream<DuplexStream>) -> Value {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("not a text message: {other:?}"),
        }
    }

    async fn next_close(ws: &mut WebSocketStream<DuplexStream>) -> CloseFrame {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return frame,
                Some(Ok(Message::Text(_))) => continue,
                other => panic!("not a close frame: {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_with_1001() {
        let lab = Lab::new(SignalConfig {
            limits: Limits {
                idle_timeout: Duration::from_secs(3),
                ..Limits::default()
            },
            ..SignalConfig::default()
        });
        let (ws, task) = lab.connect(&[]).await;
        let mut ws = ws.unwrap();
        let started = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // A ping is a frame: it resets the idle clock.
        ws.send(Message::Ping(Vec::new().into())).await.unwrap();
        assert!(matches!(ws.next().await, Some(Ok(Message::Pong(_)))));
        let frame = next_close(&mut ws).await;
        assert_eq!(frame.code, CloseCode::Away);
        assert_eq!(frame.reason.as_str(), "idle timeout");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
            "{waited:?}"
        );
        drop(ws);
        assert_eq!(task.await.unwrap(), ConnectionEnd::Limit(1001));
        assert_eq!(lab.server.counters().closed_by_limits, 1);
        assert_eq!(lab.server.open_connections(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_flood_is_closed_with_1008_unless_the_token_is_presented() {
        let lab = Lab::new(SignalConfig {
            token: Some("t0k".to_string()),
            limits: Limits {
                message_rate: Rate {
                    per_second: 5,
                    burst: 5,
                },
                ..Limits::default()
            },
            ..SignalConfig::default()
        });
        let (ws, task) = lab.connect(&[]).await;
        let mut ws = ws.unwrap();
        for _ in 0..6 {
            send_json(&mut ws, json!({"type": "echo"})).await;
        }
        let frame = next_close(&mut ws).await;
        assert_eq!(frame.code, CloseCode::Policy);
        assert_eq!(frame.reason.as_str(), "message rate limit");
        drop(ws);
        assert_eq!(task.await.unwrap(), ConnectionEnd::Limit(1008));

        let (ws, _) = lab.connect(&[(TOKEN_HEADER, "t0k")]).await;
        let mut ws = ws.unwrap();
        for n in 0..50 {
            send_json(&mut ws, json!({"type": "echo", "n": n})).await;
            assert_eq!(next_json(&mut ws).await["n"], n);
        }
        assert_eq!(lab.server.counters().opened_with_token, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_max_connections_the_upgrade_gets_503() {
        let lab = Lab::new(SignalConfig {
            token: Some("t0k".to_string()),
            limits: Limits {
                max_connections: 1,
                ..Limits::default()
            },
            ..SignalConfig::default()
        });
        let (first, first_task) = lab.connect(&[]).await;
        let first = first.unwrap();
        // The token does not exempt from this limit.
        for headers in [&[][..], &[(TOKEN_HEADER, "t0k")][..]] {
            match lab.connect(headers).await.0 {
                Err(WsError::Http(response)) => {
                    assert_eq!(response.status(), 503);
                    assert_eq!(response.headers()["retry-after"], "5");
                    assert!(response.headers().contains_key("date"));
                }
                other => panic!("not refused: {:?}", other.map(|_| ())),
            }
            assert_eq!(lab.server.open_connections(), 1);
        }
        assert_eq!(lab.server.counters().refused_full, 2);
        // The slot comes back when the connection ends (here without a close frame).
        drop(first);
        assert_eq!(first_task.await.unwrap(), ConnectionEnd::Closed);
        assert_eq!(lab.server.open_connections(), 0);
        assert!(lab.connect(&[]).await.0.is_ok());
    }

    /// A server with `limits` accepting on a loopback port of its own: the server, its
    /// address, what stops it and its task.
    async fn accepting(
        limits: Limits,
    ) -> (
        Arc<SignalServer>,
        SocketAddr,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let server = SignalServer::new(SignalConfig {
            limits,
            ..SignalConfig::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let serving = tokio::spawn(server.clone().serve(listener, None, stopped));
        (server, address, stop, serving)
    }

    /// A TCP connection to `address` from the loopback address `source`.
    async fn connect_from(source: [u8; 4], address: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        socket.connect(address).await.unwrap()
    }

    /// Whether the server closed `stream` (end of stream) within `wait`.
    async fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut byte = [0_u8; 1];
        matches!(
            tokio::time::timeout(wait, stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    /// Slow clients on many addresses cannot hold every handshake slot either: when all are
    /// held, a new connection ends the oldest handshake and takes its slot, so a real client
    /// (whose handshake takes milliseconds) still upgrades.
    #[tokio::test]
    async fn a_new_connection_ends_the_oldest_handshake_when_every_slot_is_held() {
        let (server, address, stop, serving) = accepting(Limits {
            max_handshakes: 3,
            ..Limits::default()
        })
        .await;
        let from = |source| connect_from(source, address);
        // Three silent clients from three addresses hold every slot, oldest first.
        let mut silent = Vec::new();
        for source in [[127, 0, 0, 11], [127, 0, 0, 12], [127, 0, 0, 13]] {
            silent.push(from(source).await);
            // Accepted in this order.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let request = format!("ws://{address}/").into_client_request().unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(request, from([127, 0, 0, 2]).await)
            .await
            .expect("a real client upgrades while every slot is held");
        assert!(closed(&mut silent[0], Duration::from_secs(5)).await);
        assert!(!closed(&mut silent[1], Duration::from_millis(200)).await);
        assert!(!closed(&mut silent[2], Duration::from_millis(200)).await);
        let counters = server.counters();
        assert_eq!(
            (counters.evicted_handshakes, counters.refused_handshakes),
            (1, 0)
        );
        // The upgraded client gave its slot back and is not a handshake any more: the next
        // newcomer takes that slot, and the one after ends the next oldest silent client,
        // never the upgraded one.
        let _next = from([127, 0, 0, 3]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.counters().evicted_handshakes, 1);
        let _after = from([127, 0, 0, 4]).await;
        assert!(closed(&mut silent[1], Duration::from_secs(5)).await);
        ws.send(Message::text(r#"{"type":"hello","id":1}"#))
            .await
            .unwrap();
        let welcome = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the upgraded client is answered")
            .unwrap()
            .unwrap();
        assert!(welcome.to_text().unwrap().contains("welcome"), "{welcome}");
        assert_eq!(server.counters().evicted_handshakes, 2);
        stop.send(true).unwrap();
        serving.await.unwrap();
    }

    /// Slow clients on one address hold at most their share of the handshake slots; the next
    /// connection from that address is closed at once, another address still upgrades, and a
    /// slot comes back when its connection goes.
    #[tokio::test]
    async fn one_source_holds_at_most_its_share_of_handshakes() {
        let (server, address, stop, serving) = accepting(Limits {
            max_handshakes_per_source: 2,
            ..Limits::default()
        })
        .await;
        let from = |source| connect_from(source, address);
        let mut first = from([127, 0, 0, 1]).await;
        let mut second = from([127, 0, 0, 1]).await;
        let mut third = from([127, 0, 0, 1]).await;
        assert!(closed(&mut third, Duration::from_secs(5)).await);
        assert!(!closed(&mut first, Duration::from_millis(200)).await);
        assert!(!closed(&mut second, Duration::from_millis(200)).await);
        assert_eq!(server.counters().refused_handshakes, 1);

        let other = from([127, 0, 0, 2]).await;
        let request = format!("ws://{address}/").into_client_request().unwrap();
        let (ws, _) = tokio_tungstenite::client_async(request, other)
            .await
            .expect("another address upgrades");

        drop(first);
        let mut again = from([127, 0, 0, 1]).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        // The server notices the first one gone on its next read; until then, refusals.
        while closed(&mut again, Duration::from_millis(200)).await {
            assert!(Instant::now() < deadline, "the slot never came back");
            again = from([127, 0, 0, 1]).await;
        }
        assert!(!closed(&mut second, Duration::from_millis(10)).await);
        drop(ws);
        let _ = stop.send(true);
        serving.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn broken_frames_are_closed_with_1007_or_1002() {
        use tokio::io::AsyncWriteExt;
        let lab = Lab::new(SignalConfig::default());
        // A masked text frame whose payload is not UTF-8 (mask 0: the payload as is).
        let not_utf8 = [0x81, 0x82, 0, 0, 0, 0, 0xC3, 0x28];
        // An unmasked frame from a client.
        let unmasked = [0x81, 0x02, b'h', b'i'];
        for (bytes, code, end) in [
            (
                &not_utf8[..],
                CloseCode::Invalid,
                ConnectionEnd::Failed("text frame is not UTF-8".to_string()),
            ),
            (
                &unmasked[..],
                CloseCode::Protocol,
                ConnectionEnd::Failed("Received an unmasked frame from client".to_string()),
            ),
        ] {
            let (ws, task) = lab.connect(&[]).await;
            let mut ws = ws.unwrap();
            ws.get_mut().write_all(bytes).await.unwrap();
            assert_eq!(next_close(&mut ws).await.code, code);
            drop(ws);
            assert_eq!(task.await.unwrap(), end);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_closes_with_1001() {
        let lab = Lab::new(SignalConfig::default());
        let (ws, task) = lab.connect(&[]).await;
        let mut ws = ws.unwrap();
        send_json(&mut ws, json!({"type": "join", "room": "r"})).await;
        assert_eq!(next_json(&mut ws).await["type"], "joined");
        lab.stop.send(true).unwrap();
        let frame = next_close(&mut ws).await;
        assert_eq!(frame.code, CloseCode::Away);
        assert_eq!(frame.reason.as_str(), "server stopping");
        drop(ws);
        assert_eq!(task.await.unwrap(), ConnectionEnd::Stopped);
        assert!(lab.server.rooms.lock().unwrap().is_empty(), "left on close");
    }

    /// An answerer that answers `answer:<offer>`, trickles one candidate, and records what it
    /// was given; it fails offers whose SDP is `fail`, and never answers `hang`.
    #[derive(Default)]
    struct Recorder {
        candidates: Arc<Mutex<Vec<Candidate>>>,
        closed: Arc<AtomicBool>,
    }

    struct RecorderSession {
        candidates: Arc<Mutex<Vec<Candidate>>>,
        closed: Arc<AtomicBool>,
    }

    impl Answerer for Recorder {
        fn answer(&self, offer: Offer) -> BoxFuture<'static, Result<Answer, String>> {
            let session = RecorderSession {
                candidates: self.candidates.clone(),
                closed: self.closed.clone(),
            };
            Box::pin(async move {
                match offer.sdp.as_str() {
                    "fail" => return Err("no codec in common".to_string()),
                    "hang" => std::future::pending::<()>().await,
                    _ => {}
                }
                // Some work, so that the client's candidates arrive before the answer.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (sender, receiver) = mpsc::channel(4);
                sender
                    .send(Candidate {
                        candidate: "candidate:9 1 udp 2 127.0.0.1 5000 typ host".to_string(),
                        sdp_mid: Some("0".to_string()),
                        sdp_mline_index: Some(0),
                        username_fragment: None,
                    })
                    .await
                    .unwrap();
                Ok(Answer {
                    sdp: format!("answer:{}:{}@{}", offer.sdp, offer.user, offer.room),
                    session: Box::new(session),
                    candidates: Some(receiver),
                })
            })
        }
    }

    impl AnswerSession for RecorderSession {
        fn add_candidate(&self, candidate: Candidate) -> BoxFuture<'static, Result<(), String>> {
            let candidates = self.candidates.clone();
            Box::pin(async move {
                if candidate.candidate == "bad" {
                    return Err("not a candidate line".to_string());
                }
                candidates.lock().unwrap().push(candidate);
                Ok(())
            })
        }

        fn close(&self) -> BoxFuture<'static, ()> {
            let closed = self.closed.clone();
            Box::pin(async move { closed.store(true, Ordering::SeqCst) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answerer_answers_and_trickles() {
        let recorder = Recorder::default();
        let (candidates, closed) = (recorder.candidates.clone(), recorder.closed.clone());
        let lab = Lab::new(SignalConfig {
            answerer: Some(Arc::new(recorder)),
            limits: Limits {
                answer_timeout: Duration::from_secs(5),
                ..Limits::default()
            },
            ..SignalConfig::default()
        });
        let (ws, _) = lab.connect(&[]).await;
        let mut ws = ws.unwrap();
        send_json(&mut ws, json!({"type": "hello"})).await;
        assert_eq!(next_json(&mut ws).await["answerer"], true);
        send_json(&mut ws, json!({"type": "candidate", "candidate": "c0"})).await;
        assert_eq!(next_json(&mut ws).await["code"], "no_offer");
        send_json(&mut ws, json!({"type": "join", "room": "r", "user": "al"})).await;
        next_json(&mut ws).await;

        send_json(&mut ws, json!({"type": "offer", "sdp": "fail", "id": 1})).await;
        let failed = next_json(&mut ws).await;
        assert_eq!(failed["code"], "answer_failed");
        assert_eq!(failed["message"], "no codec in common");
        assert_eq!(failed["id"], 1);

        send_json(&mut ws, json!({"type": "offer", "sdp": "v=0", "id": 2})).await;
        send_json(&mut ws, json!({"type": "offer", "sdp": "v=0", "id": 3})).await;
        let busy = next_json(&mut ws).await;
        assert_eq!(
            (busy["code"].clone(), busy["id"].clone()),
            (json!("busy"), json!(3))
        );
        // Queued until the answer, then handed over in order.
        send_json(
            &mut ws,
            json!({"type": "candidate", "candidate": "c1", "sdpMid": "0"}),
        )
        .await;
        send_json(&mut ws, json!({"type": "candidate", "candidate": ""})).await;
        assert_eq!(
            next_json(&mut ws).await,
            json!({"type": "answer", "sdp": "answer:v=0:al@r", "id": 2})
        );
        assert_eq!(
            next_json(&mut ws).await,
            json!({"type": "candidate", "candidate": "candidate:9 1 udp 2 127.0.0.1 5000 typ host",
                   "sdpMid": "0", "sdpMLineIndex": 0})
        );
        assert_eq!(
            next_json(&mut ws).await,
            json!({"type": "candidate", "candidate": ""})
        );
        let given: Vec<String> = candidates
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.candidate.clone())
            .collect();
        assert_eq!(given, ["c1", ""]);
        send_json(
            &mut ws,
            json!({"type": "candidate", "candidate": "bad", "id": 4}),
        )
        .await;
        let refused = next_json(&mut ws).await;
        assert_eq!(refused["code"], "candidate_failed");
        assert_eq!(refused["id"], 4);

        assert!(!closed.load(Ordering::SeqCst));
        send_json(&mut ws, json!({"type": "leave"})).await;
        assert_eq!(next_json(&mut ws).await["type"], "left");
        assert!(closed.load(Ordering::SeqCst), "leave closes the session");

        send_json(&mut ws, json!({"type": "join", "room": "r"})).await;
        next_json(&mut ws).await;
        send_json(&mut ws, json!({"type": "offer", "sdp": "hang"})).await;
        let started = tokio::time::Instant::now();
        let timed_out = next_json(&mut ws).await;
        assert_eq!(timed_out["code"], "answer_timeout");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
