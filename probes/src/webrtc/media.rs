//! The media the probe sends: Opus audio and VP8 video, as RTP it builds itself (no encoder).
//! The payloads are real: a 20 ms Opus silence frame and a small VP8 key frame, so that a peer
//! which decodes what it receives (a browser, aiortc, an SFU that inspects key frames) still
//! answers. Audio goes every 20 ms, video 30 times a second, each packet one whole frame.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::MediaEngine;

/// 20 ms of silence in Opus (TOC: CELT, full band, 20 ms, mono, one frame; then an empty
/// frame): what browsers send while a microphone is muted.
pub const OPUS_SILENCE: &[u8] = &[0xf8, 0xff, 0xfe];

/// A VP8 key frame (the raw frame, without the RTP payload descriptor).
pub const VP8_KEY_FRAME: &[u8] = include_bytes!("keyframe.vp8");

/// The payload type the probe offers Opus with (Chromium's).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// The payload type the probe offers VP8 with (Chromium's).
pub const VP8_PAYLOAD_TYPE: u8 = 96;

/// Time between two audio packets.
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// Time between two video frames (30 a second).
pub const VIDEO_INTERVAL: Duration = Duration::from_micros(33_333);

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaKind {
    /// Opus.
    Audio,
    /// VP8.
    Video,
}

impl MediaKind {
    /// `audio` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }

    pub(crate) fn from_rtc(kind: RtpCodecKind) -> Option<MediaKind> {
        match kind {
            RtpCodecKind::Audio => Some(MediaKind::Audio),
            RtpCodecKind::Video => Some(MediaKind::Video),
            _ => None,
        }
    }

    fn rtc(self) -> RtpCodecKind {
        match self {
            MediaKind::Audio => RtpCodecKind::Audio,
            MediaKind::Video => RtpCodecKind::Video,
        }
    }

    /// The codec the probe sends this kind with.
    fn codec(self) -> RTCRtpCodec {
        match self {
            MediaKind::Audio => RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            MediaKind::Video => RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: ["nack", "nack pli", "ccm fir", "goog-remb"]
                    .iter()
                    .map(|feedback| {
                        let (typ, parameter) = feedback.split_once(' ').unwrap_or((feedback, ""));
                        RTCPFeedback {
                            typ: typ.to_owned(),
                            parameter: parameter.to_owned(),
                        }
                    })
                    .collect(),
            },
        }
    }

    fn payload_type(self) -> u8 {
        match self {
            MediaKind::Audio => OPUS_PAYLOAD_TYPE,
            MediaKind::Video => VP8_PAYLOAD_TYPE,
        }
    }

    /// Time between two packets.
    pub fn interval(self) -> Duration {
        match self {
            MediaKind::Audio => AUDIO_INTERVAL,
            MediaKind::Video => VIDEO_INTERVAL,
        }
    }

    /// RTP clock ticks between two packets.
    fn timestamp_step(self) -> u32 {
        match self {
            MediaKind::Audio => 960,
            MediaKind::Video => 3_000,
        }
    }
}

/// Registers the probe's two codecs (Opus and VP8 only, as a TRTC Web client without H.264
/// offers them).
pub(crate) fn register(media: &mut MediaEngine) -> webrtc::error::Result<()> {
    for kind in [MediaKind::Audio, MediaKind::Video] {
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: kind.codec(),
                payload_type: kind.payload_type(),
            },
            kind.rtc(),
        )?;
    }
    Ok(())
}

/// A local track that takes RTP as it is (its SSRC is `ssrc`), with `codec` when given (the
/// answerer echoes with the codec the peer sent), else the probe's codec for `kind`.
pub(crate) fn track(
    kind: MediaKind,
    ssrc: u32,
    codec: Option<RTCRtpCodec>,
) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("trtc-preflight-{}", kind.as_str()),
        format!("trtc-preflight-{}-{ssrc:08x}", kind.as_str()),
        format!("trtc-preflight {}", kind.as_str()),
        kind.rtc(),
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.unwrap_or_else(|| kind.codec()),
            ..Default::default()
        }],
    )))
}

/// Builds the probe's RTP packets for one kind: sequence numbers and timestamps advance as a
/// real sender's would.
pub(crate) struct Packetizer {
    kind: MediaKind,
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    payload: Bytes,
}

impl Packetizer {
    pub(crate) fn new(kind: MediaKind, payload_type: u8, ssrc: u32, seed: u32) -> Packetizer {
        let payload = match kind {
            MediaKind::Audio => Bytes::from_static(OPUS_SILENCE),
            MediaKind::Video => {
                // The VP8 payload descriptor (RFC 7741): S=1 (start of a partition), PID 0.
                let mut payload = Vec::with_capacity(VP8_KEY_FRAME.len() + 1);
                payload.push(0x10);
                payload.extend_from_slice(VP8_KEY_FRAME);
                Bytes::from(payload)
            }
        };
        Packetizer {
            kind,
            payload_type,
            ssrc,
            sequence: seed as u16,
            timestamp: seed.rotate_left(13),
            payload,
        }
    }

    /// The next packet.
    pub(crate) fn next_packet(&mut self) -> rtp::Packet {
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                // Each video packet is a whole frame; audio marks nothing (no talk spurts).
                marker: self.kind == MediaKind::Video,
                payload_type: self.payload_type,
                sequence_number: self.sequence,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: self.payload.clone(),
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(self.kind.timestamp_step());
        packet
    }
}
