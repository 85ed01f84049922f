//! WebRTC: the probe (a client that opens a peer connection the way the TRTC Web SDK does:
//! offer, ICE, DTLS, SRTP, a data channel) and the answerer that `serve` puts behind its
//! signaling endpoint. Facts only: which stage was reached, how long each took, what was
//! gathered, selected, echoed; what that means for a call is decided elsewhere.
//!
//! # Shape
//!
//! Both sides are built on the `webrtc` crate (pinned exactly; its sans-IO core is `rtc`).
//! Its connection reports events through a handler; [`Events`] turns them into a channel of
//! [`PcEvent`] that the probe's and the answerer's own loops read, so each stage is a plain
//! `select!` over that channel, the signaling socket and a deadline.
//!
//! - [`probe`]: the client, with its [`probe::Settings`] and the [`probe::Observation`] it
//!   returns (stages, timings, candidates, the selected pair, data and media echoes).
//! - [`answerer`]: answers offers, echoes data-channel messages and RTP, and can be told to
//!   misbehave ([`answerer::Misbehave`]); sessions are limited in number and in time.
//! - [`media`]: the codecs both sides register and the RTP the probe sends (a real Opus
//!   silence frame and a real VP8 key frame, so that a peer which decodes still answers).
//! - `filter`: a runtime whose UDP sockets drop one class of outgoing packets (DTLS, or
//!   SRTP/SRTCP), which is how the answerer stalls DTLS or drops media one way.

pub mod answerer;
mod filter;
pub mod media;
pub mod probe;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceCandidateType,
    RTCIceConnectionState, RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, Registry, SettingEngineBuilder,
};

pub use self::filter::Discard;
use self::filter::FilteringRuntime;

/// The kind of an ICE candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CandidateKind {
    /// An address of a local interface.
    Host,
    /// The address a STUN server saw (server reflexive).
    Srflx,
    /// An address learnt from the peer's connectivity checks (peer reflexive).
    Prflx,
    /// An address on a TURN relay.
    Relay,
}

impl CandidateKind {
    /// `host`, `srflx`, `prflx` or `relay`, as in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::Srflx => "srflx",
            CandidateKind::Prflx => "prflx",
            CandidateKind::Relay => "relay",
        }
    }

    fn parse(text: &str) -> Option<CandidateKind> {
        match text {
            "host" => Some(CandidateKind::Host),
            "srflx" => Some(CandidateKind::Srflx),
            "prflx" => Some(CandidateKind::Prflx),
            "relay" => Some(CandidateKind::Relay),
            _ => None,
        }
    }

    fn from_rtc(kind: RTCIceCandidateType) -> Option<CandidateKind> {
        match kind {
            RTCIceCandidateType::Host => Some(CandidateKind::Host),
            RTCIceCandidateType::Srflx => Some(CandidateKind::Srflx),
            RTCIceCandidateType::Prflx => Some(CandidateKind::Prflx),
            RTCIceCandidateType::Relay => Some(CandidateKind::Relay),
            _ => None,
        }
    }
}

/// One ICE candidate, as a report lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its kind.
    pub kind: CandidateKind,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// The address (an IP address, or an mDNS `.local` name a browser hides its address behind).
    pub address: String,
    /// The port.
    pub port: u16,
}

impl Candidate {
    /// Reads an SDP candidate attribute (`candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY
    /// ADDRESS PORT typ TYPE ...`, with or without the `a=` and `candidate:` prefixes).
    pub fn parse(line: &str) -> Option<Candidate> {
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        let line = line.strip_prefix("candidate:").unwrap_or(line);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 8 || !fields[6].eq_ignore_ascii_case("typ") {
            return None;
        }
        Some(Candidate {
            kind: CandidateKind::parse(&fields[7].to_ascii_lowercase())?,
            protocol: fields[2].to_ascii_lowercase(),
            address: fields[4].to_string(),
            port: fields[5].parse().ok()?,
        })
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = match self.address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.address.clone(),
        };
        write!(
            f,
            "{} {} {address}:{}",
            self.kind.as_str(),
            self.protocol,
            self.port
        )
    }
}

/// An ICE candidate on the signaling channel: the fields of the browsers'
/// `RTCIceCandidateInit`. An empty `candidate` is the end of candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IceCandidateInit {
    /// The `a=candidate:` line's value, `candidate:…`; empty at the end of candidates.
    pub candidate: String,
    /// The media stream's identification tag.
    pub sdp_mid: Option<String>,
    /// The index of the media description.
    pub sdp_mline_index: Option<u16>,
    /// The ICE username fragment the candidate belongs to.
    pub username_fragment: Option<String>,
}

impl IceCandidateInit {
    /// The message field set of the protocol (`candidate`, `sdpMid`, `sdpMLineIndex`,
    /// `usernameFragment`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("candidate".into(), self.candidate.clone().into());
        if let Some(mid) = &self.sdp_mid {
            object.insert("sdpMid".into(), mid.clone().into());
        }
        if let Some(index) = self.sdp_mline_index {
            object.insert("sdpMLineIndex".into(), index.into());
        }
        if let Some(fragment) = &self.username_fragment {
            object.insert("usernameFragment".into(), fragment.clone().into());
        }
        serde_json::Value::Object(object)
    }

    /// Reads the fields of [`IceCandidateInit::to_json`] from a message.
    pub fn from_json(message: &serde_json::Value) -> Option<IceCandidateInit> {
        let text = |name: &str| message.get(name).and_then(|v| v.as_str()).map(String::from);
        Some(IceCandidateInit {
            candidate: text("candidate")?,
            sdp_mid: text("sdpMid"),
            sdp_mline_index: message
                .get("sdpMLineIndex")
                .and_then(|v| v.as_u64())
                .and_then(|v| u16::try_from(v).ok()),
            username_fragment: text("usernameFragment"),
        })
    }

    fn to_rtc(&self) -> RTCIceCandidateInit {
        RTCIceCandidateInit {
            candidate: self.candidate.clone(),
            sdp_mid: self.sdp_mid.clone(),
            sdp_mline_index: self.sdp_mline_index,
            username_fragment: self.username_fragment.clone(),
            url: None,
        }
    }
}

/// A STUN or TURN server for a peer connection.
#[derive(Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:HOST:PORT`, `turn:HOST:PORT?transport=udp`, ...
    pub urls: Vec<String>,
    /// The TURN user.
    pub username: String,
    /// The TURN password; never printed.
    pub credential: String,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field("credential", &"***")
            .finish()
    }
}

/// What a peer connection reports, as the probe's and the answerer's loops read it.
pub(crate) enum PcEvent {
    /// A local candidate was gathered.
    Candidate(IceCandidateInit, Option<Candidate>),
    /// Gathering is complete.
    Gathered,
    /// The ICE connection state changed.
    Ice(RTCIceConnectionState),
    /// The connection state (ICE and DTLS together) changed.
    State(RTCPeerConnectionState),
    /// The peer opened a data channel.
    DataChannel(Arc<dyn DataChannel>),
    /// The peer's media arrived on a new track.
    Track(Arc<dyn TrackRemote>),
}

/// The handler that turns a connection's callbacks into [`PcEvent`]s.
pub(crate) struct Events {
    tx: mpsc::UnboundedSender<PcEvent>,
    /// The `sdpMid` given to local candidates (the library leaves it empty).
    mid: std::sync::Mutex<Option<String>>,
}

impl Events {
    pub(crate) fn new() -> (Arc<Events>, mpsc::UnboundedReceiver<PcEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Events {
                tx,
                mid: std::sync::Mutex::new(None),
            }),
            rx,
        )
    }

    /// Sets the `sdpMid` of the candidates gathered from now on (the first media section's).
    pub(crate) fn set_mid(&self, mid: Option<String>) {
        *self.mid.lock().unwrap_or_else(|e| e.into_inner()) = mid;
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(init) = event.candidate.to_json() else {
            return;
        };
        let mid = self.mid.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fact = CandidateKind::from_rtc(event.candidate.typ).map(|kind| Candidate {
            kind,
            protocol: event.candidate.protocol.to_string().to_ascii_lowercase(),
            address: event.candidate.address.clone(),
            port: event.candidate.port,
        });
        let init = IceCandidateInit {
            candidate: init.candidate,
            sdp_mid: mid.or(Some("0".into())),
            sdp_mline_index: Some(0),
            username_fragment: None,
        };
        let _ = self.tx.send(PcEvent::Candidate(init, fact));
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.tx.send(PcEvent::Gathered);
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.tx.send(PcEvent::Ice(state));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.tx.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.tx.send(PcEvent::DataChannel(channel));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tx.send(PcEvent::Track(track));
    }
}

/// How a peer connection is built.
pub(crate) struct Build {
    /// Local UDP addresses to bind (a wildcard means every non-loopback interface).
    pub bind: Vec<SocketAddr>,
    /// STUN and TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// Relay candidates only.
    pub relay_only: bool,
    /// Register every codec the library knows (the answerer, facing browsers) rather than
    /// only Opus and VP8 (the probe).
    pub all_codecs: bool,
    /// Outgoing packets of this class are dropped (the answerer's misbehaviour).
    pub discard: Option<Discard>,
    /// How long ICE may go without an answer before it is `disconnected`; twice that and it
    /// is `failed` (the probe's own deadlines are shorter: the library's verdict never races
    /// them).
    pub ice_disconnected: Duration,
}

/// Builds a peer connection with `handler`.
pub(crate) async fn build(
    build: Build,
    handler: Arc<Events>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut media = MediaEngine::default();
    if build.all_codecs {
        media
            .register_default_codecs()
            .map_err(|e| format!("registering codecs: {e}"))?;
    } else {
        media::register(&mut media).map_err(|e| format!("registering codecs: {e}"))?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut media)
        .map_err(|e| format!("registering interceptors: {e}"))?;
    let mut setting = SettingEngineBuilder::new()
        .with_ice_timeouts(
            Some(build.ice_disconnected),
            Some(build.ice_disconnected.saturating_mul(2)),
            Some(Duration::from_millis(500)),
        )
        // Checks every 50 ms as browsers pace them (the library's 200 ms costs a connection
        // hundreds of milliseconds), for up to 2 s per pair.
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(40))
        // No mDNS: resolving a peer's `.local` candidate multicasts on the LAN (and binding the
        // mDNS socket fails where there is no multicast route). Host candidates carry IPs.
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled);
    if build.relay_only {
        // Nothing better than a relay candidate will come: no reason to wait for one.
        setting = setting.with_relay_acceptance_min_wait(Some(Duration::ZERO));
    }
    let setting = setting.build();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(
            build
                .ice_servers
                .iter()
                .map(|server| RTCIceServer {
                    urls: server.urls.clone(),
                    username: server.username.clone(),
                    credential: server.credential.clone(),
                })
                .collect(),
        )
        .with_ice_transport_policy(if build.relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        })
        .build();
    let mut builder = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting)
        .with_handler(handler)
        .with_udp_addrs(build.bind);
    if let Some(discard) = build.discard {
        builder = builder.with_runtime(Arc::new(FilteringRuntime::new(discard)?));
    }
    let pc = builder.build().await.map_err(|e| e.to_string())?;
    Ok(Arc::new(pc))
}

/// The first `a=mid:` of an SDP.
pub(crate) fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix("a=mid:"))
        .map(|mid| mid.trim().to_string())
}

/// The candidates written in an SDP (a non-trickling peer puts them all there).
pub fn sdp_candidates(sdp: &str) -> Vec<Candidate> {
    sdp.lines()
        .filter(|line| line.trim().starts_with("a=candidate:"))
        .filter_map(Candidate::parse)
        .collect()
}
