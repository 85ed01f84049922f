//! The userSig and privateMapKey decoders and the account and room checks that judge them:
//! base64 in the token alphabet, zlib, JSON, the fields, the HMAC, the privateMapKey's binary
//! grant, and every finding the account and room probes draw from them.
//!
//! The input's first byte chooses: the token as text, or the rest of the input as the JSON (or
//! any bytes) inside a well-encoded token; a secret key or none; a numeric or a string roomId;
//! the clock (`TRTC_PREFLIGHT_NOW` takes any 64-bit number); and whether the SDKAppID, userId and
//! roomId come from the input (lines after the token) or are fixed.
//!
//! The observation is built as `TokenObservation::observe` builds it, without `Secret::new`,
//! whose process-wide list of secrets to redact would grow with every input.
//!
//! Invariant beyond "no panic": a grant that parses lays out to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight_reports::metrics::SignatureCheck;
use trtc_preflight::diagnose::{account, room};
use trtc_preflight::offline::{AccountObservation, RoomObservation, TokenObservation};
use trtc_preflight::secret::Source;
use trtc_preflight::time::UnixTime;
use trtc_preflight::tlssig::{self, Grant};
use trtc_preflight_fuzz::{parts, selector};

const CLOCKS: [i64; 4] = [1_793_000_000, 1_700_000_000, i64::MAX, i64::MIN];

fn observe(text: &str, secret_key: Option<&str>) -> TokenObservation {
    if text.trim().is_empty() {
        return TokenObservation::Empty {
            source: Source::Env("TRTC_USER_SIG"),
        };
    }
    let decoded = tlssig::decode(text);
    let signature = match (&decoded, secret_key) {
        (Ok(decoded), Some(key)) => decoded.verify(key),
        _ => SignatureCheck::NotChecked,
    };
    let grant = decoded
        .as_ref()
        .ok()
        .and_then(|decoded| decoded.userbuf.as_deref())
        .map(Grant::parse);
    if let Some(Ok(grant)) = &grant {
        assert_eq!(Grant::parse(&grant.to_bytes()).as_ref(), Ok(grant));
    }
    TokenObservation::Present {
        length: text.trim().chars().count(),
        source: Source::Env("TRTC_USER_SIG"),
        decoded,
        signature,
        grant,
    }
}

fuzz_target!(|data: &[u8]| {
    let (choice, rest) = selector(data);
    let lines = if choice & 0x20 != 0 {
        parts(rest, b"\n", 4)
    } else {
        vec![rest]
    };
    let text = if choice & 1 != 0 {
        tlssig::encode_bytes(lines[0])
    } else {
        String::from_utf8_lossy(lines[0]).into_owned()
    };
    let field = |i: usize, default: &str| {
        lines.get(i).map_or(default.to_string(), |line| {
            String::from_utf8_lossy(line).into_owned()
        })
    };
    let secret_key = (choice & 2 != 0)
        .then_some("5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e");
    let now = UnixTime(CLOCKS[usize::from((choice >> 3) & 3)]);

    // The userbuf decoder on its own, on the raw bytes.
    if let Ok(grant) = Grant::parse(lines[0]) {
        assert_eq!(
            grant.to_bytes(),
            lines[0],
            "a parsed grant lays out as it came"
        );
    }

    let sdk_app_id = field(1, "1400000000");
    let user_id = field(2, "alice");
    let account = AccountObservation {
        sdk_app_id: sdk_app_id.clone(),
        user_id: user_id.clone(),
        now,
        user_sig: observe(&text, secret_key),
        secret_key_given: secret_key.is_some(),
    };
    let _ = account::diagnose(&account);

    let room = RoomObservation {
        room_id: field(3, "10000"),
        string_room_id: choice & 4 != 0,
        require_private_map_key: choice & 0x40 != 0,
        sdk_app_id: Some(sdk_app_id),
        user_id: Some(user_id),
        now,
        private_map_key: observe(&text, secret_key),
        secret_key_given: secret_key.is_some(),
    };
    let _ = room::diagnose(&room);
});
