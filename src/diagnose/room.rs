//! Room rules: roomId and privateMapKey.
//!
//! | observation | finding |
//! |---|---|
//! | numeric roomId not a number from 1 to 4294967294 | 16388 JOIN_ROOM_FAILED, detail -10012 |
//! | string roomId empty, over 64 bytes, or with characters TRTC does not allow | 16388, detail -10012 |
//! | privateMapKey required (`--require-private-map-key`) and missing or empty | 16388, detail -10018 |
//! | privateMapKey undecodable, malformed, without a grant, expired, for another room, user or application, without the enter-room privilege, or not verifying with the secret key | 16388, detail -10019 |
//! | the same without `--require-private-map-key` (TRTC does not check the key then) | warning |
//! | privateMapKey expires within 24 hours, or issued in the future | warning |
//! | privateMapKey without the create-room privilege | info |

use preflight_reports::metrics::{RoomMetrics, SignatureCheck};
use preflight_reports::{Finding, Severity};

use super::account::{expiry_findings, parse_sdk_app_id, token_metrics, Validity};
use super::{note, sdk_error};
use crate::catalog::sdk;
use crate::offline::{RoomObservation, TokenObservation};
use crate::time::{human_duration, UnixTime};
use crate::tlssig::{PRIVILEGE_CREATE, PRIVILEGE_ENTER};

/// The largest numeric roomId.
pub const MAX_ROOM_ID: u64 = 4_294_967_294;
/// The longest string roomId, in bytes.
pub const MAX_ROOM_STR: usize = 64;
/// The symbols a string roomId may hold besides letters, digits and space.
pub const ROOM_STR_SYMBOLS: &str = "!#$%&()+-:;<=.>?@[]^_{}|~,";

/// Findings and metrics of a room probe.
pub fn diagnose(observation: &RoomObservation) -> (RoomMetrics, Vec<Finding>) {
    let mut findings = Vec::new();
    if let Err(problem) = check_room_id(&observation.room_id, observation.string_room_id) {
        let fix = if observation.string_room_id {
            format!(
                "Use a string roomId of 1 to {MAX_ROOM_STR} bytes made of letters, digits, space and {ROOM_STR_SYMBOLS}."
            )
        } else if !observation.room_id.is_empty()
            && !observation.room_id.bytes().all(|b| b.is_ascii_digit())
        {
            format!(
                "Either use a number from 1 to {MAX_ROOM_ID} as roomId, or create the client with useStringRoomId: true and join with strRoomId (check with --string-room-id)."
            )
        } else {
            format!("Use a roomId from 1 to {MAX_ROOM_ID}.")
        };
        findings.push(sdk_error(
            sdk::JOIN_ROOM_FAILED,
            None,
            Some(-10012),
            format!("roomId {:?} {problem}.", observation.room_id),
            fix,
        ));
    }
    private_map_key_findings(observation, &mut findings);
    let metrics = RoomMetrics {
        room_id: observation.room_id.clone(),
        room_id_type: if observation.string_room_id {
            "string"
        } else {
            "numeric"
        }
        .to_string(),
        private_map_key_required: observation.require_private_map_key,
        private_map_key: token_metrics(&observation.private_map_key),
    };
    (metrics, findings)
}

/// `Ok(())` for a roomId TRTC accepts, else what is wrong with it.
pub fn check_room_id(text: &str, string_room_id: bool) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if string_room_id {
        if text.len() > MAX_ROOM_STR {
            return Err(format!(
                "is {} bytes long; a string roomId has at most {MAX_ROOM_STR}",
                text.len()
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == ' ' || ROOM_STR_SYMBOLS.contains(*c)))
        {
            return Err(format!(
                "contains {bad:?}, which a string roomId may not hold"
            ));
        }
        return Ok(());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a number, and string room ids are not enabled".into());
    }
    match text.parse::<u64>() {
        Ok(0) => Err("is 0; numeric room ids start at 1".into()),
        Ok(number) if number <= MAX_ROOM_ID => Ok(()),
        _ => Err(format!(
            "is larger than {MAX_ROOM_ID}, the largest numeric roomId"
        )),
    }
}

fn private_map_key_findings(observation: &RoomObservation, findings: &mut Vec<Finding>) {
    let user = observation.user_id.as_deref();
    let regenerate = format!(
        "Have your server sign a new privateMapKey (TLSSigAPIv2 genPrivateMapKey{}) for {}room {:?} with the enter-room privilege (bit 2), and pass it to client.join as privateMapKey.",
        if observation.string_room_id { "WithStringRoomID" } else { "" },
        user.map_or(String::new(), |user| format!("userId {user:?}, ")),
        observation.room_id
    );
    // With advanced permission control on, a bad key fails the join (-10019). Off, TRTC does not
    // ask for the key: a bad one is worth a warning, not a failed check.
    let required = observation.require_private_map_key;
    let invalid = |evidence: String, fix: String| {
        if required {
            sdk_error(sdk::JOIN_ROOM_FAILED, None, Some(-10019), evidence, fix)
        } else {
            note(
                Severity::Warning,
                "The privateMapKey given would be refused (16388 JOIN_ROOM_FAILED, detail -10019) if advanced permission control were on; with it off, as here (no --require-private-map-key), TRTC does not check it.",
                evidence,
                fix,
            )
        }
    };
    let (length, source, decoded, signature, grant) = match &observation.private_map_key {
        TokenObservation::Absent { looked } => {
            if observation.require_private_map_key {
                findings.push(sdk_error(
                    sdk::JOIN_ROOM_FAILED,
                    None,
                    Some(-10018),
                    format!("Advanced permission control is on (--require-private-map-key) and no privateMapKey was given: {looked}."),
                    format!("{regenerate} To check it here, put it in TRTC_PRIVATE_MAP_KEY or a file named by --private-map-key-file."),
                ));
            }
            return;
        }
        TokenObservation::Empty { source } => {
            if observation.require_private_map_key {
                findings.push(sdk_error(
                    sdk::JOIN_ROOM_FAILED,
                    None,
                    Some(-10018),
                    format!("Advanced permission control is on (--require-private-map-key) and the privateMapKey in {source} is empty."),
                    regenerate,
                ));
            }
            return;
        }
        TokenObservation::Present {
            length,
            source,
            decoded,
            signature,
            grant,
        } => (length, source, decoded, signature, grant),
    };
    let token = match decoded {
        Err(error) => {
            findings.push(invalid(
                format!("The privateMapKey in {source} ({length} characters) cannot be decoded: {error}."),
                format!("Check that nothing cut it short or URL-encoded it. {regenerate}"),
            ));
            return;
        }
        Ok(token) => token,
    };
    if !token.problems.is_empty() {
        findings.push(invalid(
            format!(
                "The privateMapKey in {source} decodes, but {}.",
                token.problems_text()
            ),
            format!("Use Tencent's TLSSigAPIv2 library to make it. {regenerate}"),
        ));
    }
    let grant = match grant {
        None => {
            findings.push(invalid(
                format!("The token in {source} has no TLS.userbuf, so it grants no room: it looks like a userSig, not a privateMapKey."),
                regenerate,
            ));
            return;
        }
        Some(Err(problem)) => {
            findings.push(invalid(
                format!("The privateMapKey's TLS.userbuf is malformed: {problem}."),
                regenerate,
            ));
            return;
        }
        Some(Ok(grant)) => grant,
    };
    if let Some(user) = user {
        let mut others: Vec<String> = Vec::new();
        if grant.account != user {
            others.push(format!("its grant is for userId {:?}", grant.account));
        }
        if let Some(identifier) = token
            .identifier
            .as_deref()
            .filter(|identifier| *identifier != user)
        {
            others.push(format!("it is signed for userId {identifier:?}"));
        }
        if !others.is_empty() {
            findings.push(invalid(
                format!(
                    "The privateMapKey is not for userId {user:?}: {}.",
                    others.join(" and ")
                ),
                regenerate.clone(),
            ));
        }
    }
    if let Some(Ok(app_id)) = observation.sdk_app_id.as_deref().map(parse_sdk_app_id) {
        let mut others: Vec<String> = Vec::new();
        if grant.sdk_app_id != app_id {
            others.push(format!("its grant is for SDKAppID {}", grant.sdk_app_id));
        }
        if let Some(inside) = token
            .sdk_app_id
            .filter(|inside| *inside != u64::from(app_id))
        {
            others.push(format!("it is signed for SDKAppID {inside}"));
        }
        if !others.is_empty() {
            findings.push(invalid(
                format!(
                    "The privateMapKey is not for SDKAppID {app_id}: {}.",
                    others.join(" and ")
                ),
                format!("Sign it with the secret key of SDKAppID {app_id}. {regenerate}"),
            ));
        }
    }
    let room_matches = match (&grant.room_str, observation.string_room_id) {
        (Some(room), true) => room == &observation.room_id,
        (None, false) => observation.room_id.parse::<u64>().ok() == Some(u64::from(grant.room_id)),
        _ => false,
    };
    if !room_matches {
        let granted = match &grant.room_str {
            Some(room) => format!("string room {room:?}"),
            None => format!("numeric room {}", grant.room_id),
        };
        let joined = if observation.string_room_id {
            "string room"
        } else {
            "numeric room"
        };
        findings.push(invalid(
            format!(
                "The privateMapKey grants {granted}; the call joins {joined} {:?}.",
                observation.room_id
            ),
            regenerate.clone(),
        ));
    }
    if grant.privilege_map & PRIVILEGE_ENTER == 0 {
        findings.push(invalid(
            format!(
                "The privateMapKey's privilege map is {} ({}): the enter-room bit (2) is not set.",
                grant.privilege_map,
                privileges_text(&grant.privilege_names())
            ),
            format!("Sign it with a privilege map that includes 2 (enter room), e.g. 255 for every privilege. {regenerate}"),
        ));
    } else if grant.privilege_map & PRIVILEGE_CREATE == 0 {
        findings.push(note(
            Severity::Info,
            "The privateMapKey lets this user enter the room but not create it: entering works only once someone allowed to create it is in the room.",
            format!("Privilege map {} ({}).", grant.privilege_map, privileges_text(&grant.privilege_names())),
            "If this user may be the first in the room, sign the key with bit 1 (create room) too.".to_string(),
        ));
    }
    // The key stops working at the earlier of its own expiry and its grant's.
    let validity = Validity {
        issued_at: token.time.unwrap_or(i64::MIN),
        expires_at: i64::from(grant.expires_at).min(token.expires_at().unwrap_or(i64::MAX)),
    };
    if let Some(issued_at) = token.time {
        expiry_findings(
            Validity {
                issued_at,
                ..validity
            },
            observation.now,
            "privateMapKey",
            &regenerate,
            findings,
            invalid,
        );
    } else if validity.expires_at <= observation.now.0 {
        findings.push(invalid(
            format!(
                "The privateMapKey's grant expired at {} ({} ago).",
                UnixTime(validity.expires_at).rfc3339(),
                human_duration(observation.now.0.saturating_sub(validity.expires_at))
            ),
            regenerate.clone(),
        ));
    }
    if *signature == SignatureCheck::Mismatch {
        findings.push(invalid(
            "The privateMapKey's HMAC-SHA256 does not verify with the secret key given here: it was signed with another application's key, or altered."
                .to_string(),
            format!(
                "Sign it with the secret key of SDKAppID {} from the TRTC console.",
                observation.sdk_app_id.as_deref().unwrap_or("(the application's)")
            ),
        ));
    }
}

fn privileges_text(names: &[String]) -> String {
    if names.is_empty() {
        "no privileges".to_string()
    } else {
        names.join(", ")
    }
}
