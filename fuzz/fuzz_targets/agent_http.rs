//! What the agent reads on its loopback port: the request head (request line, path, query,
//! headers; percent-decoding), the `Origin` header's normalisation, and the browser's results
//! (the JSON body the agent's page posts), turned into probe results.
//!
//! The input is a request as it arrives: the head up to the first blank line, then the body.
//!
//! Invariants beyond "no panic": header names come out lowercase and values trimmed; a
//! normalised origin normalises to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trtc_preflight::agent::http::parse_head;
use trtc_preflight::agent::normal_origin;
use trtc_preflight::diagnose::browser;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(4).position(|window| window == b"\r\n\r\n") {
        Some(at) => data.split_at(at + 4),
        None => (data, &[][..]),
    };
    if let Ok(request) = parse_head(head) {
        for (name, value) in &request.headers {
            assert_eq!(name, &name.to_ascii_lowercase());
            assert_eq!(value, value.trim());
        }
        if let Some(origin) = request.header("origin") {
            if let Ok(normal) = normal_origin(origin) {
                assert_eq!(normal_origin(&normal).as_ref(), Ok(&normal), "{origin:?}");
            }
        }
    }
    if let Ok(results @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
        let _ = browser::probes(&results);
    }
});
