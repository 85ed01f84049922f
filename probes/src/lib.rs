//! Network and device measurements for trtc-preflight: probes return facts and know nothing of
//! TRTC.
