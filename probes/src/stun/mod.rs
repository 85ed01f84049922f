//! STUN client side: binding requests, the transaction engine, and thin tokio drivers.
//!
//! - [`message`]: encode a binding request (padding, short-term credentials, FINGERPRINT),
//!   decode the answer, cut STUN frames out of a TCP/TLS byte stream. Pure functions.
//! - [`engine`]: one binding transaction as a state machine with time as an input: the
//!   retransmission schedule, transaction matching, RTT, counters of ignored answers. No I/O.
//! - [`driver`]: async loops that own a socket (UDP) or a stream (TCP, later TLS) and a timer,
//!   and feed the engine. They report facts ([`driver::Outcome`]); judging them is the caller's
//!   job.
//! - [`probe`]: the STUN probe of one server: resolution, then per address family a binding
//!   over UDP or TCP, with the egress interface; the result is a fact such as "answered",
//!   "rejected", "silent" or "accepted but silent".

pub mod driver;
pub mod engine;
pub mod message;
pub mod probe;

#[cfg(test)]
pub(crate) mod testing;
