//! The WebRTC probe: a client of `serve`'s signaling protocol that opens a peer connection the
//! way the TRTC Web SDK does, one stage at a time, each under its own deadline:
//!
//! 1. **signaling**: open the WebSocket (the signaling probe's chain: route, lookup, TCP,
//!    proxy, TLS, upgrade), `hello` → `welcome` (which says whether an answerer is there),
//!    `join` → `joined`;
//! 2. **offer**: build the connection (a data channel, an Opus and a VP8 track), create the
//!    offer and apply it;
//! 3. **answer**: send the offer, trickle the local candidates, wait for the answer
//!    ([`Settings::join_timeout`]) and apply it with the peer's candidates as they come;
//! 4. **ICE**: wait until ICE is connected ([`Settings::ice_timeout`], seconds rather than the
//!    library's 25 s);
//! 5. **DTLS**: wait until the connection is connected ([`Settings::dtls_timeout`]);
//! 6. then, together: echo [`Settings::message_sizes`] messages over the data channel, and send
//!    audio and video RTP until the peer's echo of both kinds arrives
//!    ([`Settings::media_timeout`]); finally ask the peer (over the data channel) what it
//!    received, which tells which direction lost media when some did not come back.
//!
//! The first stage that fails ends the probe ([`Failure`]); what was learnt until then
//! (candidates, ICE states, timings) is kept in the [`Observation`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidate, RTCIceConnectionState, RTCPeerConnectionState,
    RTCSessionDescription, RTCStatsReportEntry, StatsSelector,
};

use super::media::{self, MediaKind, Packetizer};
use super::{Build, Candidate, CandidateKind, Events, IceCandidateInit, IceServer, PcEvent};
use crate::resolve;
use crate::signaling::{self, AttemptOutcome};

/// Settings of a probe.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How the signaling WebSocket is opened (trust, proxy, token, `--resolve`, timeouts).
    pub signaling: signaling::Settings,
    /// The room joined.
    pub room: String,
    /// The user joined as (the server names one when `None`).
    pub user: Option<String>,
    /// STUN and TURN servers (TURN over UDP only: the library relays over nothing else).
    pub ice_servers: Vec<IceServer>,
    /// Relay candidates only (through [`Settings::ice_servers`]).
    pub relay_only: bool,
    /// How long each signaling reply (welcome, joined, the answer) may take.
    pub join_timeout: Duration,
    /// How long ICE may take to connect once the answer is applied.
    pub ice_timeout: Duration,
    /// How long DTLS may take once ICE is connected.
    pub dtls_timeout: Duration,
    /// How long the data channel may take to open and echo.
    pub channel_timeout: Duration,
    /// How long media may take to come back.
    pub media_timeout: Duration,
    /// Sizes of the messages echoed over the data channel.
    pub message_sizes: Vec<usize>,
    /// Send audio and video RTP and expect it back.
    pub media: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            signaling: signaling::Settings::default(),
            room: "trtc-preflight".into(),
            user: None,
            ice_servers: Vec::new(),
            relay_only: false,
            join_timeout: Duration::from_secs(5),
            ice_timeout: Duration::from_secs(5),
            dtls_timeout: Duration::from_secs(5),
            channel_timeout: Duration::from_secs(3),
            media_timeout: Duration::from_secs(3),
            message_sizes: vec![32, 1_200, 16_000],
            media: true,
        }
    }
}

/// The stages of a probe, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Opening the WebSocket, `hello`.
    Signaling,
    /// `join`.
    Join,
    /// Building the connection and creating the offer.
    Offer,
    /// Waiting for the answer.
    Answer,
    /// ICE connectivity checks.
    Ice,
    /// The DTLS handshake.
    Dtls,
}

impl Stage {
    /// `signaling`, `join`, `offer`, `answer`, `ice` or `dtls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Signaling => "signaling",
            Stage::Join => "join",
            Stage::Offer => "offer",
            Stage::Answer => "answer",
            Stage::Ice => "ice",
            Stage::Dtls => "dtls",
        }
    }
}

/// Why a probe stopped before the connection was up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The WebSocket did not open: the first failure of each family (or of the lookup).
    Signaling(Vec<signaling::Failure>),
    /// The signaling connection ended during `during`.
    Closed {
        /// The stage.
        during: Stage,
        /// How it ended.
        detail: String,
    },
    /// The server answered with an error object.
    Refused {
        /// The stage.
        during: Stage,
        /// Its `code`.
        code: String,
        /// Its `message`.
        message: String,
    },
    /// The server speaks another protocol (no `welcome`, or a reply that is not JSON).
    NotOurServer {
        /// What it sent.
        detail: String,
    },
    /// The server has no WebRTC answerer (`welcome` says `"answerer": false`).
    NoAnswerer,
    /// No reply in time during `during` (`welcome`, `joined`, or the answer).
    Timeout {
        /// The stage.
        during: Stage,
        /// How long the probe waited.
        waited: Duration,
    },
    /// The connection could not be built, or the offer not created or applied.
    CreateOffer(String),
    /// The answer could not be applied.
    AnswerRejected(String),
    /// ICE did not connect.
    Ice {
        /// How long the probe waited (less than the deadline when ICE reported `failed`).
        waited: Duration,
        /// The last ICE state.
        state: String,
    },
    /// ICE connected, DTLS did not complete.
    Dtls {
        /// How long the probe waited after ICE connected.
        waited: Duration,
        /// The connection's last state (`failed` when DTLS failed rather than stalled).
        state: String,
    },
}

impl Failure {
    /// The stage that failed.
    pub fn stage(&self) -> Stage {
        match self {
            Failure::Signaling(_) | Failure::NotOurServer { .. } | Failure::NoAnswerer => {
                Stage::Signaling
            }
            Failure::Closed { during, .. }
            | Failure::Refused { during, .. }
            | Failure::Timeout { during, .. } => *during,
            Failure::CreateOffer(_) => Stage::Offer,
            Failure::AnswerRejected(_) => Stage::Answer,
            Failure::Ice { .. } => Stage::Ice,
            Failure::Dtls { .. } => Stage::Dtls,
        }
    }
}

/// How long each stage took (`None`: not reached).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// From the start to `joined` (WebSocket, `hello`, `join`).
    pub signaling: Option<Duration>,
    /// From sending the offer to the answer.
    pub answer: Option<Duration>,
    /// From applying the answer to ICE connected.
    pub ice: Option<Duration>,
    /// From ICE connected to the connection connected (DTLS).
    pub dtls: Option<Duration>,
    /// From the start to the connection connected.
    pub connected: Option<Duration>,
    /// From the connection connected to the data channel open.
    pub channel_open: Option<Duration>,
    /// From the connection connected to the first echoed RTP packet.
    pub first_media: Option<Duration>,
    /// From the start to data and media of every kind echoed.
    pub ready: Option<Duration>,
    /// The whole probe.
    pub total: Duration,
}

/// The data channel's echo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelFacts {
    /// Whether it opened.
    pub opened: bool,
    /// Messages sent.
    pub sent: usize,
    /// Messages echoed back unchanged.
    pub echoed: usize,
    /// The round trip of each echoed message.
    pub round_trips: Vec<Duration>,
    /// The largest message echoed, in bytes.
    pub largest_echoed: Option<usize>,
}

/// Media of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFacts {
    /// Audio or video.
    pub kind: MediaKind,
    /// RTP packets sent.
    pub sent: u64,
    /// RTP packets received back.
    pub received: u64,
    /// From the connection connected to the first packet back.
    pub first_after: Option<Duration>,
    /// What the peer says it received of this kind (our `serve` tells; other peers do not).
    pub peer_received: Option<u64>,
}

/// The candidate pair ICE selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedPair {
    /// The local candidate.
    pub local: Candidate,
    /// The peer's candidate.
    pub remote: Candidate,
    /// The latest STUN round trip on the pair.
    pub round_trip: Option<Duration>,
}

/// Everything one probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The signaling URL.
    pub target: signaling::Target,
    /// Where the WebSocket opened (the proxy's address through a proxy).
    pub signaling_address: Option<SocketAddr>,
    /// `welcome`'s `server` and `version`.
    pub server: Option<String>,
    /// `welcome`'s `misbehave`: the peer stages this failure on purpose (`serve --misbehave`).
    pub peer_misbehaves: Option<String>,
    /// The local addresses the connection bound.
    pub bound: Vec<SocketAddr>,
    /// Whether only relay candidates were allowed.
    pub relay_only: bool,
    /// The stage that failed, if one did.
    pub failure: Option<Failure>,
    /// The stages' times.
    pub timings: Timings,
    /// Local candidates gathered.
    pub local_candidates: Vec<Candidate>,
    /// The peer's candidates (trickled, or in its answer).
    pub remote_candidates: Vec<Candidate>,
    /// ICE states in order, with the time since the answer was applied.
    pub ice_states: Vec<(String, Duration)>,
    /// The selected pair.
    pub selected: Option<SelectedPair>,
    /// The data channel (`None` when the connection never came up).
    pub channel: Option<ChannelFacts>,
    /// Media per kind (empty when the connection never came up or media was off).
    pub media: Vec<MediaFacts>,
}

impl Observation {
    fn new(target: &signaling::Target, relay_only: bool) -> Observation {
        Observation {
            target: target.clone(),
            signaling_address: None,
            server: None,
            peer_misbehaves: None,
            bound: Vec::new(),
            relay_only,
            failure: None,
            timings: Timings::default(),
            local_candidates: Vec::new(),
            remote_candidates: Vec::new(),
            ice_states: Vec::new(),
            selected: None,
            channel: None,
            media: Vec::new(),
        }
    }

    /// Whether the connection came up (ICE and DTLS).
    pub fn connected(&self) -> bool {
        self.timings.connected.is_some()
    }
}

/// Runs the probe against the signaling URL `target`.
pub async fn probe(target: &signaling::Target, settings: &Settings) -> Observation {
    let started = Instant::now();
    let mut observation = Observation::new(target, settings.relay_only);
    let mut run = Run {
        settings,
        started,
        observation: &mut observation,
        pc: None,
        wire: None,
        counters: Arc::new(Received::default()),
        answer_applied: None,
    };
    if let Err(failure) = run.run().await {
        run.observation.failure = Some(failure);
    }
    run.finish().await;
    observation.timings.total = started.elapsed();
    observation
}

/// RTP received back, per kind.
#[derive(Default)]
struct Received {
    packets: [AtomicU64; 2],
    first: std::sync::Mutex<[Option<Instant>; 2]>,
    arrived: tokio::sync::Notify,
}

fn index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

impl Received {
    fn count(&self, kind: MediaKind) -> u64 {
        self.packets[index(kind)].load(Ordering::Relaxed)
    }

    fn first(&self, kind: MediaKind) -> Option<Instant> {
        self.first.lock().unwrap_or_else(|e| e.into_inner())[index(kind)]
    }

    fn record(&self, kind: MediaKind) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first[index(kind)].get_or_insert_with(Instant::now);
        drop(first);
        self.packets[index(kind)].fetch_add(1, Ordering::Relaxed);
        self.arrived.notify_waiters();
    }
}

/// The signaling connection: a writer task and a reader task around the WebSocket.
struct Wire {
    out: mpsc::UnboundedSender<Message>,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    tasks: tokio::task::JoinSet<()>,
}

enum Inbound {
    Message(serde_json::Value),
    NotJson(String),
    Closed(String),
}

impl Wire {
    fn new(socket: signaling::Socket) -> Wire {
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        let (inbound, inbox) = mpsc::unbounded_channel();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            while let Some(message) = outgoing.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tasks.spawn(async move {
            let reason = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let message = match serde_json::from_str::<serde_json::Value>(&text) {
                            Ok(value) if value.is_object() => Inbound::Message(value),
                            _ => Inbound::NotJson(text.chars().take(200).collect()),
                        };
                        if inbound.send(message).is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(frame) => format!(
                                "the server closed the WebSocket ({} {})",
                                u16::from(frame.code),
                                frame.reason
                            ),
                            None => "the server closed the WebSocket".to_string(),
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => break format!("the WebSocket broke: {error}"),
                    None => break "the WebSocket ended without a close frame".to_string(),
                }
            };
            let _ = inbound.send(Inbound::Closed(reason));
        });
        Wire { out, inbox, tasks }
    }

    fn send(&self, message: serde_json::Value) {
        let _ = self.out.send(Message::text(message.to_string()));
    }
}

/// A reply the probe waits for.
enum Awaited {
    Message(serde_json::Value),
    Failure(Failure),
}

struct Run<'a> {
    settings: &'a Settings,
    started: Instant,
    observation: &'a mut Observation,
    pc: Option<Arc<dyn PeerConnection>>,
    wire: Option<Wire>,
    counters: Arc<Received>,
    answer_applied: Option<Instant>,
}

impl Run<'_> {
    async fn run(&mut self) -> Result<(), Failure> {
        let settings = self.settings;
        // 1. Signaling.
        let (outcome, socket) =
            signaling::open(&self.observation.target, &settings.signaling).await;
        let socket = match (outcome, socket) {
            (AttemptOutcome::Opened { address, .. }, Some(socket)) => {
                self.observation.signaling_address = Some(address);
                socket
            }
            (AttemptOutcome::Failed { failures }, _) => return Err(Failure::Signaling(failures)),
            (AttemptOutcome::Opened { .. }, None) => {
                return Err(Failure::Signaling(Vec::new()));
            }
        };
        self.wire = Some(Wire::new(socket));
        self.send(serde_json::json!({"type": "hello", "id": 1}));
        let welcome = self.reply(Stage::Signaling, "welcome").await?;
        if let (Some(server), Some(version)) = (
            welcome.get("server").and_then(|v| v.as_str()),
            welcome.get("version").and_then(|v| v.as_str()),
        ) {
            self.observation.server = Some(format!("{server} {version}"));
        }
        self.observation.peer_misbehaves = welcome
            .get("misbehave")
            .and_then(|v| v.as_str())
            .map(String::from);
        if welcome.get("answerer").and_then(|v| v.as_bool()) == Some(false) {
            return Err(Failure::NoAnswerer);
        }
        let mut join = serde_json::json!({"type": "join", "room": settings.room, "id": 2});
        if let Some(user) = &settings.user {
            join["user"] = user.clone().into();
        }
        self.send(join);
        self.reply(Stage::Join, "joined").await?;
        self.observation.timings.signaling = Some(self.started.elapsed());

        // 2. The offer.
        let bind = self.bind_addresses().await;
        self.observation.bound = bind.clone();
        let (events, mut rx) = Events::new();
        let pc = super::build(
            Build {
                bind,
                ice_servers: settings.ice_servers.clone(),
                relay_only: settings.relay_only,
                all_codecs: false,
                discard: None,
                ice_disconnected: settings.ice_timeout,
            },
            events.clone(),
        )
        .await
        .map_err(Failure::CreateOffer)?;
        self.pc = Some(pc.clone());
        let channel = pc
            .create_data_channel("trtc-preflight", None)
            .await
            .map_err(|e| Failure::CreateOffer(format!("creating the data channel: {e}")))?;
        let mut tracks = Vec::new();
        if settings.media {
            for (n, kind) in [MediaKind::Audio, MediaKind::Video].into_iter().enumerate() {
                let ssrc = ssrc_seed(n as u32);
                let track = media::track(kind, ssrc, None);
                pc.add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(|e| {
                        Failure::CreateOffer(format!("adding the {} track: {e}", kind.as_str()))
                    })?;
                tracks.push((kind, ssrc, track));
            }
        }
        let offer = pc
            .create_offer(None)
            .await
            .map_err(|e| Failure::CreateOffer(format!("creating the offer: {e}")))?;
        events.set_mid(super::first_mid(&offer.sdp));
        pc.set_local_description(offer.clone())
            .await
            .map_err(|e| Failure::CreateOffer(format!("applying the offer: {e}")))?;

        // 3. The answer.
        self.send(serde_json::json!({"type": "offer", "sdp": offer.sdp, "id": 3}));
        let offered = Instant::now();
        let mut early = Vec::new();
        let answer = loop {
            let deadline = offered + settings.join_timeout;
            match self.next(&mut rx, deadline, Stage::Answer, offered).await? {
                Next::Signal(message) => match kind_of(&message) {
                    "answer" => break message,
                    "candidate" => early.extend(IceCandidateInit::from_json(&message)),
                    "error" => return Err(refused(Stage::Answer, &message)),
                    _ => {}
                },
                Next::Pc(_) => {}
                Next::Gone => {
                    return Err(Failure::CreateOffer(
                        "the peer connection closed itself before the answer".into(),
                    ));
                }
            }
        };
        self.observation.timings.answer = Some(offered.elapsed());
        let sdp = answer
            .get("sdp")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        for candidate in super::sdp_candidates(&sdp) {
            // A peer that bundles writes its candidates once per media section.
            if !self.observation.remote_candidates.contains(&candidate) {
                self.observation.remote_candidates.push(candidate);
            }
        }
        let description = RTCSessionDescription::answer(sdp.clone())
            .map_err(|e| Failure::AnswerRejected(format!("the answer is not valid SDP: {e}")))?;
        pc.set_remote_description(description)
            .await
            .map_err(|e| Failure::AnswerRejected(e.to_string()))?;
        let applied = Instant::now();
        self.answer_applied = Some(applied);
        for candidate in early {
            self.add_remote(&pc, candidate).await;
        }

        // 4. ICE.
        let ice_deadline = applied + settings.ice_timeout;
        let mut ice_state = "new".to_string();
        let mut connection_up = false;
        let ice_connected = loop {
            let event = match self.next(&mut rx, ice_deadline, Stage::Ice, applied).await {
                Ok(event) => event,
                Err(Failure::Timeout { waited, .. }) => {
                    return Err(Failure::Ice {
                        waited,
                        state: ice_state,
                    });
                }
                Err(other) => return Err(other),
            };
            match event {
                Next::Pc(PcEvent::Ice(state)) => {
                    ice_state = state.to_string();
                    match state {
                        RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                            break Instant::now();
                        }
                        RTCIceConnectionState::Failed => {
                            return Err(Failure::Ice {
                                waited: applied.elapsed(),
                                state: ice_state,
                            });
                        }
                        _ => {}
                    }
                }
                Next::Pc(PcEvent::State(RTCPeerConnectionState::Connected)) => {
                    connection_up = true;
                }
                Next::Pc(PcEvent::State(
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed,
                ))
                | Next::Gone => {
                    return Err(Failure::Ice {
                        waited: applied.elapsed(),
                        state: "failed".into(),
                    });
                }
                Next::Pc(_) => {}
                Next::Signal(message) => self.signal(&pc, message).await?,
            }
        };
        self.observation.timings.ice = Some(ice_connected - applied);

        // 5. DTLS.
        let dtls_deadline = ice_connected + settings.dtls_timeout;
        let mut connection_state = "connecting".to_string();
        while !connection_up {
            let event = match self
                .next(&mut rx, dtls_deadline, Stage::Dtls, ice_connected)
                .await
            {
                Ok(event) => event,
                Err(Failure::Timeout { waited, .. }) => {
                    return Err(Failure::Dtls {
                        waited,
                        state: connection_state,
                    });
                }
                Err(other) => return Err(other),
            };
            match event {
                Next::Pc(PcEvent::State(state)) => {
                    connection_state = state.to_string();
                    match state {
                        RTCPeerConnectionState::Connected => connection_up = true,
                        RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                            let failure = if self
                                .observation
                                .ice_states
                                .last()
                                .is_some_and(|(state, _)| state == "failed")
                            {
                                Failure::Ice {
                                    waited: applied.elapsed(),
                                    state: "failed".into(),
                                }
                            } else {
                                Failure::Dtls {
                                    waited: ice_connected.elapsed(),
                                    state: connection_state,
                                }
                            };
                            return Err(failure);
                        }
                        _ => {}
                    }
                }
                Next::Gone => {
                    return Err(Failure::Dtls {
                        waited: ice_connected.elapsed(),
                        state: "closed".into(),
                    });
                }
                Next::Pc(_) => {}
                Next::Signal(message) => self.signal(&pc, message).await?,
            }
        }
        let connected = Instant::now();
        self.observation.timings.dtls = Some(connected - ice_connected);
        self.observation.timings.connected = Some(connected - self.started);

        // 6. Data and media, together; the peer's events keep being handled meanwhile.
        let (stop_events, events_stopped) = watch::channel(false);
        let pump = tokio::spawn(pump_events(rx, self.counters.clone(), events_stopped));
        let answer_pts = payload_types(&sdp);
        let (media_done, media_done_rx) = watch::channel(false);
        let channel_phase = exchange(
            channel,
            connected,
            settings.message_sizes.clone(),
            settings.channel_timeout,
            media_done_rx,
        );
        let media_phase = async {
            let facts = if settings.media {
                send_media(
                    tracks,
                    &answer_pts,
                    self.counters.clone(),
                    connected,
                    settings.media_timeout,
                )
                .await
            } else {
                Vec::new()
            };
            let _ = media_done.send(true);
            facts
        };
        let ((channel_facts, channel_open, peer_stats, echoed_at), media_facts) =
            tokio::join!(channel_phase, media_phase);
        let _ = stop_events.send(true);
        let _ = pump.await;

        self.observation.timings.channel_open = channel_open.map(|at| at - connected);
        let firsts: Vec<Option<Instant>> = media_facts
            .iter()
            .map(|facts| self.counters.first(facts.kind))
            .collect();
        self.observation.timings.first_media = firsts
            .iter()
            .flatten()
            .min()
            .map(|first| *first - connected);
        let all_media = firsts.iter().all(Option::is_some);
        let all_echoed = channel_facts.echoed == channel_facts.sent && channel_facts.opened;
        if all_media && all_echoed {
            let last = firsts
                .iter()
                .flatten()
                .copied()
                .chain(echoed_at)
                .max()
                .unwrap_or(connected);
            self.observation.timings.ready = Some(last - self.started);
        }
        self.observation.media = media_facts
            .into_iter()
            .map(|mut facts| {
                facts.first_after = self.counters.first(facts.kind).map(|at| at - connected);
                facts.peer_received = peer_stats
                    .as_ref()
                    .and_then(|stats| stats.get(&facts.kind).copied());
                facts
            })
            .collect();
        self.observation.channel = Some(channel_facts);
        self.observation.selected = selected_pair(&pc).await;
        Ok(())
    }

    fn send(&self, message: serde_json::Value) {
        if let Some(wire) = &self.wire {
            wire.send(message);
        }
    }

    /// Waits for a message of type `expected` (or an error object).
    async fn reply(&mut self, during: Stage, expected: &str) -> Result<serde_json::Value, Failure> {
        let since = Instant::now();
        let deadline = since + self.settings.join_timeout;
        loop {
            match self.signal_until(deadline, during, since).await {
                Awaited::Failure(failure) => return Err(failure),
                Awaited::Message(message) => {
                    let kind = kind_of(&message);
                    if kind == expected {
                        return Ok(message);
                    }
                    if kind == "error" {
                        return Err(refused(during, &message));
                    }
                    if during == Stage::Signaling {
                        return Err(Failure::NotOurServer {
                            detail: format!("the first reply to hello was {message}"),
                        });
                    }
                }
            }
        }
    }

    async fn signal_until(&mut self, deadline: Instant, during: Stage, since: Instant) -> Awaited {
        let Some(wire) = self.wire.as_mut() else {
            return Awaited::Failure(Failure::Closed {
                during,
                detail: "no signaling connection".into(),
            });
        };
        match tokio::time::timeout_at(deadline.into(), wire.inbox.recv()).await {
            Err(_) => Awaited::Failure(Failure::Timeout {
                during,
                waited: since.elapsed(),
            }),
            Ok(None) => Awaited::Failure(Failure::Closed {
                during,
                detail: "the signaling connection ended".into(),
            }),
            Ok(Some(Inbound::Closed(detail))) => {
                Awaited::Failure(Failure::Closed { during, detail })
            }
            Ok(Some(Inbound::NotJson(text))) => Awaited::Failure(Failure::NotOurServer {
                detail: format!("the server sent {text:?}, not a JSON object"),
            }),
            Ok(Some(Inbound::Message(message))) => Awaited::Message(message),
        }
    }

    /// The next event of the connection or of the signaling channel, before `deadline`.
    /// Local candidates are recorded and sent to the peer; ICE states recorded; tracks counted.
    async fn next(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<PcEvent>,
        deadline: Instant,
        during: Stage,
        since: Instant,
    ) -> Result<Next, Failure> {
        loop {
            let Some(wire) = self.wire.as_mut() else {
                return Err(Failure::Closed {
                    during,
                    detail: "no signaling connection".into(),
                });
            };
            let event = tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => Either::Pc(event),
                    // The connection ended itself (it failed): the stage decides what that is.
                    None => return Ok(Next::Gone),
                },
                inbound = wire.inbox.recv() => Either::Wire(inbound),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    return Err(Failure::Timeout { during, waited: since.elapsed() });
                }
            };
            match event {
                Either::Pc(PcEvent::Candidate(init, fact)) => {
                    if let Some(fact) = fact {
                        self.observation.local_candidates.push(fact);
                    }
                    self.send(candidate_message(&init));
                }
                Either::Pc(PcEvent::Gathered) => {
                    self.send(candidate_message(&IceCandidateInit::default()));
                }
                Either::Pc(PcEvent::Track(track)) => {
                    tokio::spawn(count_track(track, self.counters.clone()));
                }
                Either::Pc(PcEvent::DataChannel(_)) => {}
                Either::Pc(PcEvent::Ice(state)) => {
                    let at = self
                        .answer_applied
                        .map_or(Duration::ZERO, |applied| applied.elapsed());
                    self.observation.ice_states.push((state.to_string(), at));
                    return Ok(Next::Pc(PcEvent::Ice(state)));
                }
                Either::Pc(event) => return Ok(Next::Pc(event)),
                Either::Wire(None) => {
                    return Err(Failure::Closed {
                        during,
                        detail: "the signaling connection ended".into(),
                    });
                }
                Either::Wire(Some(Inbound::Closed(detail))) => {
                    return Err(Failure::Closed { during, detail });
                }
                Either::Wire(Some(Inbound::NotJson(_))) => {}
                Either::Wire(Some(Inbound::Message(message))) => {
                    return Ok(Next::Signal(message));
                }
            }
        }
    }

    /// Handles a signaling message once the answer is applied.
    async fn signal(
        &mut self,
        pc: &Arc<dyn PeerConnection>,
        message: serde_json::Value,
    ) -> Result<(), Failure> {
        match kind_of(&message) {
            "candidate" => {
                if let Some(candidate) = IceCandidateInit::from_json(&message) {
                    self.add_remote(pc, candidate).await;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn add_remote(&mut self, pc: &Arc<dyn PeerConnection>, candidate: IceCandidateInit) {
        if candidate.candidate.trim().is_empty() {
            return;
        }
        if let Some(fact) = Candidate::parse(&candidate.candidate) {
            if !self.observation.remote_candidates.contains(&fact) {
                self.observation.remote_candidates.push(fact);
            }
        }
        let _ = pc.add_ice_candidate(candidate.to_rtc()).await;
    }

    /// Where the connection binds: the local address that routes to the peer's signaling
    /// address (loopback for a peer on loopback) and to each TURN server, or every interface
    /// when the peer is behind a proxy.
    async fn bind_addresses(&self) -> Vec<SocketAddr> {
        let mut destinations = Vec::new();
        let proxied = self
            .settings
            .signaling
            .proxy
            .route(&self.observation.target)
            .proxy()
            .is_some();
        if let (Some(address), false) = (self.observation.signaling_address, proxied) {
            if !self.settings.relay_only {
                destinations.push(address);
            }
        }
        for server in &self.settings.ice_servers {
            for url in &server.urls {
                if let Some((host, port)) = url_host_port(url) {
                    if let Ok(resolved) =
                        resolve::resolve(&host, &self.settings.signaling.overrides).await
                    {
                        destinations.extend(resolved.all().map(|ip| SocketAddr::new(ip, port)));
                    }
                }
            }
        }
        let mut bind: Vec<SocketAddr> = Vec::new();
        for destination in destinations {
            if let Ok(egress) = crate::route::egress(destination) {
                let address = SocketAddr::new(egress.source, 0);
                if !bind.contains(&address) {
                    bind.push(address);
                }
            }
        }
        if bind.is_empty() {
            bind.push(SocketAddr::from(([0, 0, 0, 0], 0)));
        }
        bind
    }

    /// Closes the connection and says goodbye on the signaling channel.
    async fn finish(&mut self) {
        if let Some(pc) = self.pc.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
        }
        if let Some(mut wire) = self.wire.take() {
            wire.send(serde_json::json!({"type": "leave"}));
            let _ = wire.out.send(Message::Close(None));
            let closing = async { while wire.tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(Duration::from_millis(500), closing)
                .await
                .is_err()
            {
                wire.tasks.abort_all();
            }
        }
    }
}

enum Next {
    Pc(PcEvent),
    Signal(serde_json::Value),
    /// The connection's events ended: it closed itself.
    Gone,
}

enum Either {
    Pc(PcEvent),
    Wire(Option<Inbound>),
}

fn kind_of(message: &serde_json::Value) -> &str {
    message.get("type").and_then(|v| v.as_str()).unwrap_or("")
}

fn refused(during: Stage, message: &serde_json::Value) -> Failure {
    let text = |name: &str| {
        message
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Failure::Refused {
        during,
        code: text("code"),
        message: text("message"),
    }
}

fn candidate_message(init: &IceCandidateInit) -> serde_json::Value {
    let mut message = init.to_json();
    message["type"] = "candidate".into();
    message
}

/// The host and port of a `stun:`/`turn:`/`turns:` URL.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once(':')?;
    let rest = rest.split('?').next()?;
    let default = if scheme == "turns" { 5349 } else { 3478 };
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        let port = tail
            .strip_prefix(':')
            .map_or(Some(default), |p| p.parse().ok())?;
        return Some((host.to_string(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((rest.to_string(), default)),
    }
}

/// Distinct SSRCs for the probe's two tracks.
fn ssrc_seed(n: u32) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ 0x5f3c_a9e1)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(n)
        | 1
}

/// The payload types the answer gives Opus and VP8.
fn payload_types(sdp: &str) -> HashMap<MediaKind, u8> {
    let mut types = HashMap::new();
    for line in sdp.lines() {
        let Some(rest) = line.trim().strip_prefix("a=rtpmap:") else {
            continue;
        };
        let Some((pt, codec)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(pt) = pt.parse::<u8>() else {
            continue;
        };
        let codec = codec.to_ascii_lowercase();
        if codec.starts_with("opus/") {
            types.entry(MediaKind::Audio).or_insert(pt);
        } else if codec.starts_with("vp8/") {
            types.entry(MediaKind::Video).or_insert(pt);
        }
    }
    types
}

/// Counts the RTP of a track the peer sends.
async fn count_track(track: Arc<dyn TrackRemote>, counters: Arc<Received>) {
    let Some(kind) = MediaKind::from_rtc(track.kind().await) else {
        return;
    };
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(_) => counters.record(kind),
            TrackRemoteEvent::OnEnded => break,
            _ => {}
        }
    }
}

/// Keeps handling the connection's events (new tracks) until told to stop.
async fn pump_events(
    mut rx: mpsc::UnboundedReceiver<PcEvent>,
    counters: Arc<Received>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(PcEvent::Track(track)) => {
                    tokio::spawn(count_track(track, counters.clone()));
                }
                Some(_) => {}
                None => break,
            },
            _ = stop.changed() => break,
        }
    }
}

/// Sends audio and video until both come back (or `timeout`), then a little more so that the
/// counts settle; returns what was sent and received.
async fn send_media(
    tracks: Vec<(MediaKind, u32, Arc<TrackLocalStaticRTP>)>,
    payload_types: &HashMap<MediaKind, u8>,
    counters: Arc<Received>,
    connected: Instant,
    timeout: Duration,
) -> Vec<MediaFacts> {
    /// Packets of each kind that must come back before the probe stops sending.
    const ENOUGH: u64 = 5;
    let deadline = connected + timeout;
    let mut senders = tokio::task::JoinSet::new();
    let (stop, stopped) = watch::channel(false);
    let kinds: Vec<MediaKind> = tracks.iter().map(|(kind, ..)| *kind).collect();
    for (kind, ssrc, track) in tracks {
        let payload_type = payload_types.get(&kind).copied().unwrap_or(match kind {
            MediaKind::Audio => media::OPUS_PAYLOAD_TYPE,
            MediaKind::Video => media::VP8_PAYLOAD_TYPE,
        });
        let mut stopped = stopped.clone();
        senders.spawn(async move {
            let mut packets = Packetizer::new(kind, payload_type, ssrc, ssrc);
            let mut ticks = tokio::time::interval(kind.interval());
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sent = 0u64;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if track.write_rtp(packets.next_packet()).await.is_err() {
                            break;
                        }
                        sent += 1;
                    }
                    _ = stopped.changed() => break,
                }
            }
            (kind, sent)
        });
    }
    loop {
        let arrived = counters.arrived.notified();
        if kinds.iter().all(|kind| counters.count(*kind) >= ENOUGH) {
            break;
        }
        if tokio::time::timeout_at(deadline.into(), arrived)
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = stop.send(true);
    let mut sent = HashMap::new();
    while let Some(Ok((kind, count))) = senders.join_next().await {
        sent.insert(kind, count);
    }
    // Packets in flight when sending stopped.
    tokio::time::sleep(Duration::from_millis(50)).await;
    kinds
        .into_iter()
        .map(|kind| MediaFacts {
            kind,
            sent: sent.get(&kind).copied().unwrap_or(0),
            received: counters.count(kind),
            first_after: None,
            peer_received: None,
        })
        .collect()
}

/// The data channel: open, echo the messages, then (once media is done) ask the peer what
/// it received. Returns the facts, when it opened, the peer's counts, and when the last echo
/// arrived.
async fn exchange(
    channel: Arc<dyn DataChannel>,
    connected: Instant,
    sizes: Vec<usize>,
    timeout: Duration,
    mut media_done: watch::Receiver<bool>,
) -> (
    ChannelFacts,
    Option<Instant>,
    Option<HashMap<MediaKind, u64>>,
    Option<Instant>,
) {
    let deadline = connected + timeout;
    let mut facts = ChannelFacts::default();
    // Open.
    let opened_at = loop {
        match tokio::time::timeout_at(deadline.into(), channel.poll()).await {
            Ok(Some(DataChannelEvent::OnOpen)) => {
                facts.opened = true;
                break Some(Instant::now());
            }
            Ok(Some(DataChannelEvent::OnClose)) | Ok(None) | Err(_) => {
                return (facts, None, None, None);
            }
            Ok(Some(_)) => {}
        }
    };
    // Echo.
    let mut pending: HashMap<String, (Instant, usize, String)> = HashMap::new();
    for (n, size) in sizes.iter().enumerate() {
        let text = echo_message(n, *size);
        let key = format!("trtc-preflight-echo {n} ");
        if channel.send_text(&text).await.is_err() {
            break;
        }
        facts.sent += 1;
        pending.insert(key, (Instant::now(), *size, text));
    }
    let mut last_echo = None;
    while !pending.is_empty() {
        match tokio::time::timeout_at(deadline.into(), channel.poll()).await {
            Ok(Some(DataChannelEvent::OnMessage(message))) => {
                let text = String::from_utf8_lossy(&message.data).into_owned();
                let key = pending
                    .keys()
                    .find(|key| text.starts_with(key.as_str()))
                    .cloned();
                if let Some(key) = key {
                    let (sent_at, size, original) = pending
                        .remove(&key)
                        .unwrap_or_else(|| unreachable!("the key was just found in the map"));
                    if original == text {
                        facts.echoed += 1;
                        facts.round_trips.push(sent_at.elapsed());
                        facts.largest_echoed = facts.largest_echoed.max(Some(size));
                        last_echo = Some(Instant::now());
                    }
                }
            }
            Ok(Some(DataChannelEvent::OnClose)) | Ok(None) | Err(_) => break,
            Ok(Some(_)) => {}
        }
    }
    // The peer's counts, once media is done.
    let _ = media_done.wait_for(|done| *done).await;
    let mut peer = None;
    if channel
        .send_text(&serde_json::json!({"type": "stats"}).to_string())
        .await
        .is_ok()
    {
        let until = Instant::now() + Duration::from_secs(1);
        while let Ok(Some(event)) = tokio::time::timeout_at(until.into(), channel.poll()).await {
            if let DataChannelEvent::OnMessage(message) = event {
                if let Ok(reply) = serde_json::from_slice::<serde_json::Value>(&message.data) {
                    if kind_of(&reply) == "stats" {
                        // An echo of the request (a peer that is not ours) has no counts.
                        peer = reply.get("received").map(|received| {
                            [MediaKind::Audio, MediaKind::Video]
                                .into_iter()
                                .filter_map(|kind| {
                                    received
                                        .get(kind.as_str())
                                        .and_then(|v| v.as_u64())
                                        .map(|n| (kind, n))
                                })
                                .collect()
                        });
                        break;
                    }
                }
            }
        }
    }
    let _ = channel.close().await;
    (facts, opened_at, peer, last_echo)
}

/// Message `n` of the echo, `size` bytes long (at least its prefix).
fn echo_message(n: usize, size: usize) -> String {
    let mut text = format!("trtc-preflight-echo {n} ");
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = n;
    while text.len() < size {
        text.push(alphabet[i % alphabet.len()] as char);
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    text
}

/// The selected candidate pair, from the ICE transport (the statistics know only the
/// candidates that were trickled, not those written in the answer), and its round trip from the
/// statistics.
async fn selected_pair(pc: &Arc<dyn PeerConnection>) -> Option<SelectedPair> {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let stats_pair = report.transport().and_then(|transport| {
        match report.get(&transport.selected_candidate_pair_id) {
            Some(RTCStatsReportEntry::IceCandidatePair(pair)) => Some(pair),
            _ => None,
        }
    });
    let round_trip = stats_pair
        .filter(|pair| pair.current_round_trip_time > 0.0)
        .map(|pair| Duration::from_secs_f64(pair.current_round_trip_time));
    let convert = |c: &RTCIceCandidate| {
        Some(Candidate {
            kind: CandidateKind::from_rtc(c.typ)?,
            protocol: c.protocol.to_string().to_ascii_lowercase(),
            address: c.address.clone(),
            port: c.port,
        })
    };
    let sctp = pc.sctp().await?;
    let pair = sctp
        .transport()
        .ice_transport()
        .get_selected_candidate_pair()
        .await
        .ok()??;
    Some(SelectedPair {
        local: convert(pair.local())?,
        remote: convert(pair.remote())?,
        round_trip,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn turn_urls_give_host_and_port() {
        assert_eq!(
            url_host_port("turn:relay.example:3478?transport=udp"),
            Some(("relay.example".into(), 3478))
        );
        assert_eq!(
            url_host_port("turns:relay.example"),
            Some(("relay.example".into(), 5349))
        );
        assert_eq!(url_host_port("turn:[::1]:3479"), Some(("::1".into(), 3479)));
        assert_eq!(
            url_host_port("stun:127.0.0.1"),
            Some(("127.0.0.1".into(), 3478))
        );
    }

    #[test]
    fn echo_messages_have_the_size_asked_and_a_unique_prefix() {
        let text = echo_message(2, 1200);
        assert_eq!(text.len(), 1200);
        assert!(text.starts_with("trtc-preflight-echo 2 "));
        assert_eq!(echo_message(0, 1), "trtc-preflight-echo 0 ");
    }

    #[test]
    fn payload_types_are_read_from_the_answer() {
        let sdp = "a=rtpmap:111 opus/48000/2\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n";
        let types = payload_types(sdp);
        assert_eq!(types.get(&MediaKind::Audio), Some(&111));
        assert_eq!(types.get(&MediaKind::Video), Some(&96));
    }

    #[test]
    fn stage_names_are_stable() {
        let names: Vec<_> = [
            Stage::Signaling,
            Stage::Join,
            Stage::Offer,
            Stage::Answer,
            Stage::Ice,
            Stage::Dtls,
        ]
        .iter()
        .map(|stage| stage.as_str())
        .collect();
        assert_eq!(
            names,
            ["signaling", "join", "offer", "answer", "ice", "dtls"]
        );
    }
}
