//! Network and device measurements for trtc-preflight: probes return facts and know nothing of
//! TRTC.

pub mod camera;
pub mod devices;
pub mod environment;
pub mod microphone;
pub mod mtu;
pub mod ports;
pub mod quality;
pub mod resolve;
pub mod responder;
pub mod route;
pub mod signaling;
pub mod silence;
pub mod stun;
pub mod throughput;
pub mod tls;
pub mod turn;
pub mod webrtc;
