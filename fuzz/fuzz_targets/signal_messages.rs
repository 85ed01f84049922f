//! The messages `serve`'s signaling endpoint accepts, through the protocol's sans-IO core: up to
//! sixteen text messages (separated by a newline) spread over three connections of one server,
//! each handled by its connection's `Session` with the server's shared `Rooms`.
//!
//! Invariants beyond "no panic":
//!
//! - every reply is a JSON object with a string `type`, and carries the request's `id` when the
//!   request had one (an `echo` is the request itself);
//! - an offer goes to the answerer only from a connection that has joined a room, with that
//!   room and user;
//! - once every connection has left, no room is left behind.

#![no_main]

use std::sync::Mutex;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trtc_preflight::signal_server::{Rooms, ServerInfo, Session, Step};
use trtc_preflight_fuzz::{parts, selector};

fn check_reply(request: &str, reply: &Value) {
    let object = reply.as_object().expect("a reply is an object");
    assert!(object.get("type").is_some_and(Value::is_string), "{reply}");
    if let Ok(Value::Object(asked)) = serde_json::from_str::<Value>(request) {
        if let Some(id) = asked.get("id") {
            assert_eq!(object.get("id"), Some(id), "the reply to {request}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (choice, rest) = selector(data);
    let info = ServerInfo {
        answerer: choice & 1 != 0,
        misbehave: (choice & 2 != 0).then_some("stall-dtls"),
        max_message_bytes: 64 * 1024,
        idle_timeout: Duration::from_secs(60),
    };
    // Small limits, so that full rooms and too many rooms happen.
    let rooms = Mutex::new(Rooms::new(2, 2));
    let mut sessions: Vec<Session> = (1..=3).map(|id| Session::new(id, info.clone())).collect();
    for (i, message) in parts(rest, b"\n", 16).into_iter().enumerate() {
        let text = String::from_utf8_lossy(message);
        let session = &mut sessions[(usize::from(choice >> 2) + i) % 3];
        match session.handle(&rooms, 1_793_000_000_000, &text) {
            Step::Reply(reply) | Step::Left(reply) => check_reply(&text, &reply),
            Step::Offer { room, user, .. } => {
                assert_eq!(session.joined(), Some((room.as_str(), user.as_str())));
            }
            Step::Candidate { .. } => {}
        }
    }
    for session in &mut sessions {
        session.leave(&rooms);
    }
    assert!(
        rooms.lock().unwrap().is_empty(),
        "rooms outlive their members"
    );
});
