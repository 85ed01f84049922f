//! The answerer behind `serve`'s signaling endpoint: it answers an offer with a peer connection
//! that echoes every data-channel message (on the same channel) and every RTP packet (on a
//! track of its own, one per kind offered), and answers `{"type":"stats"}` on a data channel
//! with what it received and echoed, so that the probe can tell which direction lost media.
//!
//! # Misbehaviour (for tests and for training support staff)
//!
//! | [`Misbehave`] | what the peer sees |
//! |---|---|
//! | `never-answer` | the offer is never answered (the client's join times out) |
//! | `stall-dtls` | ICE connects, but the answerer's DTLS packets never leave: the handshake stalls |
//! | `drop-uplink` | media from the client is thrown away on arrival: nothing is echoed, `stats` says 0 received |
//! | `drop-downlink` | media is received and echoed, but the answerer's SRTP never leaves |
//!
//! # Limits
//!
//! [`Config::max_sessions`] sessions at once (an offer beyond gets [`AnswerError::Busy`]);
//! each lives at most [`Config::session_time`], then its connection is closed.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::Track;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

use super::media::{self, MediaKind};
use super::{Build, Discard, Events, IceCandidateInit, IceServer, PcEvent};

/// How the answerer misbehaves, when told to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehave {
    /// Offers are never answered.
    NeverAnswer,
    /// DTLS never completes (ICE does).
    StallDtls,
    /// Media from the client is dropped on arrival.
    DropUplink,
    /// Media to the client is dropped on departure.
    DropDownlink,
}

impl Misbehave {
    /// Every value, in the order `--help` lists them.
    pub const ALL: [Misbehave; 4] = [
        Misbehave::NeverAnswer,
        Misbehave::StallDtls,
        Misbehave::DropUplink,
        Misbehave::DropDownlink,
    ];

    /// `never-answer`, `stall-dtls`, `drop-uplink` or `drop-downlink`.
    pub fn as_str(self) -> &'static str {
        match self {
            Misbehave::NeverAnswer => "never-answer",
            Misbehave::StallDtls => "stall-dtls",
            Misbehave::DropUplink => "drop-uplink",
            Misbehave::DropDownlink => "drop-downlink",
        }
    }

    /// Reads [`Misbehave::as_str`].
    pub fn parse(text: &str) -> Option<Misbehave> {
        Misbehave::ALL
            .into_iter()
            .find(|value| value.as_str() == text)
    }
}

/// The answerer's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Local UDP addresses its connections bind (port 0; a wildcard means every
    /// non-loopback interface, so loopback is given on its own).
    pub bind: Vec<SocketAddr>,
    /// STUN and TURN servers for its own candidates (none by default).
    pub ice_servers: Vec<IceServer>,
    /// How it misbehaves, if at all.
    pub misbehave: Option<Misbehave>,
    /// Sessions at once.
    pub max_sessions: usize,
    /// The longest a session lives.
    pub session_time: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            ice_servers: Vec::new(),
            misbehave: None,
            max_sessions: 16,
            session_time: Duration::from_secs(60),
        }
    }
}

/// Why an offer was not answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// [`Config::max_sessions`] sessions are open.
    Busy(usize),
    /// The offer could not be used, or the connection not built.
    Failed(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Busy(limit) => {
                write!(f, "{limit} WebRTC sessions are open; try again later")
            }
            AnswerError::Failed(detail) => f.write_str(detail),
        }
    }
}

/// Answers offers.
#[derive(Clone, Debug)]
pub struct Answerer {
    config: Arc<Config>,
    open: Arc<AtomicUsize>,
}

/// An answered offer.
pub struct Answered {
    /// The answer's SDP.
    pub sdp: String,
    /// The session: takes the client's candidates; closes the connection.
    pub session: Session,
    /// The answerer's own candidates as they are gathered; the channel ends with gathering.
    pub candidates: mpsc::Receiver<IceCandidateInit>,
}

/// One answered offer's connection.
pub struct Session {
    pc: Arc<dyn PeerConnection>,
    stop: watch::Sender<bool>,
}

impl Session {
    /// Adds one of the client's candidates (an empty one ends them).
    pub async fn add_candidate(&self, candidate: IceCandidateInit) -> Result<(), String> {
        if candidate.candidate.trim().is_empty() {
            return Ok(());
        }
        self.pc
            .add_ice_candidate(candidate.to_rtc())
            .await
            .map_err(|e| format!("the candidate {:?} was refused: {e}", candidate.candidate))
    }

    /// Closes the connection.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let _ = self.pc.close().await;
    }
}

/// Counts of one session, for `stats`.
#[derive(Default)]
struct Counters {
    received: [AtomicU64; 2],
    echoed: [AtomicU64; 2],
}

fn slot(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// Decrements the open-session count when the session's task ends.
struct SessionSlot(Arc<AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Answerer {
    /// An answerer with `config`.
    pub fn new(config: Config) -> Answerer {
        Answerer {
            config: Arc::new(config),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Answers `offer` (an SDP). Never returns with [`Misbehave::NeverAnswer`].
    pub async fn answer(&self, offer: String) -> Result<Answered, AnswerError> {
        if self.config.misbehave == Some(Misbehave::NeverAnswer) {
            return std::future::pending().await;
        }
        let taken = self.open.fetch_add(1, Ordering::SeqCst);
        let slot = SessionSlot(self.open.clone());
        if taken >= self.config.max_sessions {
            return Err(AnswerError::Busy(self.config.max_sessions));
        }
        let (events, mut rx) = Events::new();
        let discard = match self.config.misbehave {
            Some(Misbehave::StallDtls) => Some(Discard::Dtls),
            Some(Misbehave::DropDownlink) => Some(Discard::Media),
            _ => None,
        };
        let pc = super::build(
            Build {
                bind: self.config.bind.clone(),
                ice_servers: self.config.ice_servers.clone(),
                relay_only: false,
                all_codecs: true,
                discard,
                ice_disconnected: Duration::from_secs(5),
            },
            events.clone(),
        )
        .await
        .map_err(AnswerError::Failed)?;
        let described = RTCSessionDescription::offer(offer.clone())
            .map_err(|e| AnswerError::Failed(format!("the offer is not valid SDP: {e}")));
        let prepared = async {
            let described = described?;
            // One echo track per kind the offer has, added before the offer is applied so
            // that they take its transceivers (send and receive on one m-line, as a browser).
            let mut tracks: HashMap<MediaKind, Arc<TrackLocalStaticRTP>> = HashMap::new();
            for kind in offered_kinds(&offer) {
                if tracks.contains_key(&kind) {
                    continue;
                }
                let track = media::track(kind, rand_ssrc(), None);
                pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(|e| AnswerError::Failed(format!("adding an echo track: {e}")))?;
                tracks.insert(kind, track);
            }
            pc.set_remote_description(described)
                .await
                .map_err(|e| AnswerError::Failed(format!("the offer was refused: {e}")))?;
            let answer = pc
                .create_answer(None)
                .await
                .map_err(|e| AnswerError::Failed(format!("creating the answer: {e}")))?;
            events.set_mid(super::first_mid(&answer.sdp));
            pc.set_local_description(answer.clone())
                .await
                .map_err(|e| AnswerError::Failed(format!("applying the answer: {e}")))?;
            let sdp = pc
                .local_description()
                .await
                .map_or(answer.sdp, |description| description.sdp);
            Ok::<_, AnswerError>((sdp, tracks))
        }
        .await;
        let (sdp, tracks) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                let _ = pc.close().await;
                return Err(error);
            }
        };
        let (candidates_tx, candidates_rx) = mpsc::channel(64);
        let (stop, stopped) = watch::channel(false);
        let run = Run {
            pc: pc.clone(),
            tracks,
            counters: Arc::new(Counters::default()),
            drop_uplink: self.config.misbehave == Some(Misbehave::DropUplink),
            misbehave: self.config.misbehave,
        };
        let lifetime = self.config.session_time;
        tokio::spawn(async move {
            let _slot = slot;
            run.events(&mut rx, candidates_tx, stopped, lifetime).await;
        });
        Ok(Answered {
            sdp,
            session: Session { pc, stop },
            candidates: candidates_rx,
        })
    }
}

/// The kinds of the offer's media sections, in order (`m=audio`, `m=video`).
fn offered_kinds(sdp: &str) -> Vec<MediaKind> {
    sdp.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with("m=audio ") {
                Some(MediaKind::Audio)
            } else if line.starts_with("m=video ") {
                Some(MediaKind::Video)
            } else {
                None
            }
        })
        .collect()
}

/// An SSRC nobody else in the session is likely to use.
fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    (hasher.finish() as u32) | 1
}

/// A running session.
struct Run {
    pc: Arc<dyn PeerConnection>,
    tracks: HashMap<MediaKind, Arc<TrackLocalStaticRTP>>,
    counters: Arc<Counters>,
    drop_uplink: bool,
    misbehave: Option<Misbehave>,
}

impl Run {
    async fn events(
        self,
        rx: &mut mpsc::UnboundedReceiver<PcEvent>,
        candidates: mpsc::Sender<IceCandidateInit>,
        mut stopped: watch::Receiver<bool>,
        lifetime: Duration,
    ) {
        let mut candidates = Some(candidates);
        let mut tasks = tokio::task::JoinSet::new();
        let end = tokio::time::sleep(lifetime);
        tokio::pin!(end);
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    None => break,
                    Some(PcEvent::Candidate(init, _)) => {
                        if let Some(tx) = &candidates {
                            let _ = tx.try_send(init);
                        }
                    }
                    Some(PcEvent::Gathered) => candidates = None,
                    Some(PcEvent::Ice(_)) => {}
                    Some(PcEvent::State(state)) => {
                        if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
                            break;
                        }
                    }
                    Some(PcEvent::DataChannel(channel)) => {
                        tasks.spawn(echo_channel(channel, self.counters.clone(), self.misbehave));
                    }
                    Some(PcEvent::Track(track)) => {
                        tasks.spawn(echo_track(
                            track,
                            self.tracks.clone(),
                            self.counters.clone(),
                            self.drop_uplink,
                        ));
                    }
                },
                _ = &mut end => break,
                _ = stopped.changed() => break,
            }
        }
        tasks.abort_all();
        let _ = self.pc.close().await;
    }
}

/// Echoes every message of `channel`, and answers `{"type":"stats"}`.
async fn echo_channel(
    channel: Arc<dyn DataChannel>,
    counters: Arc<Counters>,
    misbehave: Option<Misbehave>,
) {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnMessage(message) => {
                let reply = message
                    .is_string
                    .then(|| stats_reply(&message.data, &counters, misbehave))
                    .flatten();
                let sent = match reply {
                    Some(reply) => channel.send_text(&reply).await,
                    None if message.is_string => {
                        channel
                            .send_text(&String::from_utf8_lossy(&message.data))
                            .await
                    }
                    None => channel.send(BytesMut::from(&message.data[..])).await,
                };
                if sent.is_err() {
                    break;
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
}

/// The answer to `{"type":"stats"}`, or `None` for any other message.
fn stats_reply(data: &[u8], counters: &Counters, misbehave: Option<Misbehave>) -> Option<String> {
    let message: serde_json::Value = serde_json::from_slice(data).ok()?;
    if message.get("type").and_then(|t| t.as_str()) != Some("stats") {
        return None;
    }
    let count = |counts: &[AtomicU64; 2], kind| counts[slot(kind)].load(Ordering::Relaxed);
    Some(
        serde_json::json!({
            "type": "stats",
            "received": {
                "audio": count(&counters.received, MediaKind::Audio),
                "video": count(&counters.received, MediaKind::Video),
            },
            "echoed": {
                "audio": count(&counters.echoed, MediaKind::Audio),
                "video": count(&counters.echoed, MediaKind::Video),
            },
            "misbehave": misbehave.map(Misbehave::as_str),
        })
        .to_string(),
    )
}

/// Echoes the RTP of `track` on the answerer's own track of the same kind.
async fn echo_track(
    track: Arc<dyn TrackRemote>,
    tracks: HashMap<MediaKind, Arc<TrackLocalStaticRTP>>,
    counters: Arc<Counters>,
    drop_uplink: bool,
) {
    let Some(kind) = MediaKind::from_rtc(track.kind().await) else {
        return;
    };
    let Some(output) = tracks.get(&kind) else {
        return;
    };
    let Some(ssrc) = output.ssrcs().await.first().copied() else {
        return;
    };
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(mut packet) => {
                if drop_uplink {
                    continue;
                }
                counters.received[slot(kind)].fetch_add(1, Ordering::Relaxed);
                packet.header.ssrc = ssrc;
                if output.write_rtp(packet).await.is_err() {
                    break;
                }
                counters.echoed[slot(kind)].fetch_add(1, Ordering::Relaxed);
            }
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}
