//! STUN server side for `serve`: a safe binding responder and its per-source limiter (to be written).
