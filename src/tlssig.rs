//! TLSSigAPIv2 tokens (userSig and privateMapKey), decoded into facts.
//!
//! A token is JSON, compressed with zlib, encoded in base64 with `+`, `/` and `=` replaced by
//! `*`, `-` and `_`. The JSON holds `TLS.ver` (`"2.0"`), `TLS.identifier`, `TLS.sdkappid`,
//! `TLS.expire` (seconds of validity), `TLS.time` (issue time), `TLS.sig` (base64 of an
//! HMAC-SHA256 with the application's secret key) and, for a privateMapKey, `TLS.userbuf`.
//! This module reports what is in a token and what is wrong with its form; what that means for a
//! TRTC call is decided in `diagnose`.

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::ZlibDecoder;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use preflight_reports::metrics::SignatureCheck;

/// The most bytes a token may inflate to; a real one is a few hundred.
const MAX_INFLATED: u64 = 64 * 1024;

/// Why a token could not be turned into a JSON object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A character outside the token alphabet, or a bad length.
    #[error("it is not base64 in the TLSSigAPIv2 alphabet: {0}")]
    Base64(String),
    /// The bytes are not a complete zlib stream.
    #[error("its bytes are not a complete zlib stream ({0}); a truncated token looks like this")]
    Zlib(String),
    /// The inflated bytes are not JSON.
    #[error("it inflates to something that is not JSON ({0})")]
    Json(String),
    /// The JSON is not an object.
    #[error("it inflates to JSON that is not an object")]
    NotObject,
}

/// What is wrong with one field of a decoded token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The JSON key (`TLS.sdkappid`).
    pub field: &'static str,
    /// What was expected and found (`missing`, `a string, found a number`).
    pub problem: String,
}

/// The fields of a token that decoded into a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    /// `TLS.ver`.
    pub version: Option<String>,
    /// `TLS.identifier`.
    pub identifier: Option<String>,
    /// `TLS.sdkappid`.
    pub sdk_app_id: Option<u64>,
    /// `TLS.expire`, seconds.
    pub expire: Option<u64>,
    /// `TLS.time`, UNIX seconds.
    pub time: Option<i64>,
    /// `TLS.sig` as text, kept only to verify it, never reported.
    sig: Option<String>,
    /// `TLS.userbuf` as text (base64), kept to verify the signature.
    userbuf_text: Option<String>,
    /// `TLS.userbuf`, decoded.
    pub userbuf: Option<Vec<u8>>,
    /// Every field that is missing or of the wrong type.
    pub problems: Vec<FieldProblem>,
}

/// Says what is wrong without quoting the token (it is a secret): only positions and lengths.
fn describe_base64_error(error: &base64::DecodeError, length: usize) -> String {
    match error {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!(
                "character {} of {length} is outside A-Z a-z 0-9 * - _",
                offset + 1
            )
        }
        base64::DecodeError::InvalidLength(_) => {
            format!("a length of {length} characters cannot be complete base64")
        }
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!(
                "character {} of {length}, the last one, is not valid there",
                offset + 1
            )
        }
        base64::DecodeError::InvalidPadding => "its padding (`_` at the end) is wrong".to_string(),
    }
}

/// Decodes a token's text. Whitespace around it is ignored.
pub fn decode(text: &str) -> Result<Token, DecodeError> {
    let object = decode_object(text.trim())?;
    Ok(Token::from_object(&object))
}

fn decode_object(text: &str) -> Result<Map<String, Value>, DecodeError> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            other => other,
        })
        .collect();
    let compressed = STANDARD.decode(standard.as_bytes()).map_err(|error| {
        DecodeError::Base64(describe_base64_error(&error, text.chars().count()))
    })?;
    let mut inflated = Vec::new();
    ZlibDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED)
        .read_to_end(&mut inflated)
        .map_err(|error| DecodeError::Zlib(error.to_string()))?;
    match serde_json::from_slice::<Value>(&inflated) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(DecodeError::NotObject),
        Err(error) => Err(DecodeError::Json(error.to_string())),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Token {
    fn from_object(object: &Map<String, Value>) -> Token {
        let mut token = Token::default();
        let mut problems = Vec::new();
        let mut string = |field: &'static str, required: bool| -> Option<String> {
            match object.get(field) {
                Some(Value::String(text)) => Some(text.clone()),
                Some(other) => {
                    problems.push(FieldProblem {
                        field,
                        problem: format!("expected a string, found {}", type_name(other)),
                    });
                    None
                }
                None if required => {
                    problems.push(FieldProblem {
                        field,
                        problem: "missing".into(),
                    });
                    None
                }
                None => None,
            }
        };
        token.version = string("TLS.ver", true);
        token.identifier = string("TLS.identifier", true);
        token.sig = string("TLS.sig", true);
        token.userbuf_text = string("TLS.userbuf", false);
        let mut integer = |field: &'static str| -> Option<i64> {
            match object.get(field) {
                Some(Value::Number(number)) if number.as_i64().is_some() => number.as_i64(),
                Some(other) => {
                    problems.push(FieldProblem {
                        field,
                        problem: format!("expected a whole number, found {}", describe(other)),
                    });
                    None
                }
                None => {
                    problems.push(FieldProblem {
                        field,
                        problem: "missing".into(),
                    });
                    None
                }
            }
        };
        let sdk_app_id = integer("TLS.sdkappid");
        let expire = integer("TLS.expire");
        token.time = integer("TLS.time");
        let mut non_negative = |field: &'static str, value: Option<i64>| -> Option<u64> {
            let value = value?;
            u64::try_from(value).ok().or_else(|| {
                problems.push(FieldProblem {
                    field,
                    problem: format!("expected a positive number, found {value}"),
                });
                None
            })
        };
        token.sdk_app_id = non_negative("TLS.sdkappid", sdk_app_id);
        token.expire = non_negative("TLS.expire", expire);
        // Beyond 32 bits these are not times any signer makes (and would overflow the sums).
        let limit = u64::from(u32::MAX);
        if let Some(expire) = token.expire.filter(|expire| *expire > limit) {
            problems.push(FieldProblem {
                field: "TLS.expire",
                problem: format!("{expire} s is out of range (at most {limit})"),
            });
            token.expire = None;
        }
        if let Some(time) = token.time.filter(|time| !(0..=limit as i64).contains(time)) {
            problems.push(FieldProblem {
                field: "TLS.time",
                problem: format!("{time} is out of range (0 to {limit})"),
            });
            token.time = None;
        }
        if let Some(sig) = &token.sig {
            match STANDARD.decode(sig) {
                Ok(bytes) if bytes.len() == 32 => {}
                Ok(bytes) => problems.push(FieldProblem {
                    field: "TLS.sig",
                    problem: format!(
                        "expected the 32 bytes of an HMAC-SHA256, found {}",
                        bytes.len()
                    ),
                }),
                Err(_) => problems.push(FieldProblem {
                    field: "TLS.sig",
                    problem: "not base64".into(),
                }),
            }
        }
        if let Some(text) = &token.userbuf_text {
            match STANDARD.decode(text) {
                Ok(bytes) => token.userbuf = Some(bytes),
                Err(_) => problems.push(FieldProblem {
                    field: "TLS.userbuf",
                    problem: "not base64".into(),
                }),
            }
        }
        token.problems = problems;
        token
    }

    /// Checks `TLS.sig` against the secret key. `NotChecked` when a field it covers is missing.
    pub fn verify(&self, secret_key: &str) -> SignatureCheck {
        let (Some(identifier), Some(sdk_app_id), Some(time), Some(expire), Some(sig)) = (
            &self.identifier,
            self.sdk_app_id,
            self.time,
            self.expire,
            &self.sig,
        ) else {
            return SignatureCheck::NotChecked;
        };
        let Ok(expected) = STANDARD.decode(sig) else {
            return SignatureCheck::NotChecked;
        };
        let content = signed_content(
            identifier,
            sdk_app_id,
            time,
            expire,
            self.userbuf_text.as_deref(),
        );
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()) else {
            return SignatureCheck::NotChecked;
        };
        mac.update(content.as_bytes());
        match mac.verify_slice(&expected) {
            Ok(()) => SignatureCheck::Verified,
            Err(_) => SignatureCheck::Mismatch,
        }
    }

    /// The field problems as one phrase: `TLS.sdkappid missing; TLS.sig not base64`.
    pub fn problems_text(&self) -> String {
        let parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{} {}", p.field, p.problem))
            .collect();
        parts.join("; ")
    }

    /// `TLS.time + TLS.expire`, when both are there.
    pub fn expires_at(&self) -> Option<i64> {
        self.time?.checked_add(i64::try_from(self.expire?).ok()?)
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(text) if text.len() <= 16 => format!("the string {text:?}"),
        Value::Number(number) => format!("the number {number}"),
        other => type_name(other).to_string(),
    }
}

/// The text TLSSigAPIv2 signs: one `key:value` line per field, in this order.
fn signed_content(
    identifier: &str,
    sdk_app_id: u64,
    time: i64,
    expire: u64,
    userbuf: Option<&str>,
) -> String {
    let mut content = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    if let Some(userbuf) = userbuf {
        content.push_str(&format!("TLS.userbuf:{userbuf}\n"));
    }
    content
}

/// Makes a token the way the reference implementation does. Used by tests and examples to build
/// tokens with chosen defects; the product itself never signs anything.
pub fn sign(
    secret_key: &str,
    sdk_app_id: u64,
    identifier: &str,
    time: i64,
    expire: u64,
    userbuf: Option<&[u8]>,
) -> String {
    let userbuf_text = userbuf.map(|bytes| STANDARD.encode(bytes));
    let content = signed_content(
        identifier,
        sdk_app_id,
        time,
        expire,
        userbuf_text.as_deref(),
    );
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    let mut object = serde_json::json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdk_app_id,
        "TLS.expire": expire,
        "TLS.time": time,
    });
    if let Some(text) = userbuf_text {
        object["TLS.userbuf"] = Value::String(text);
    }
    object["TLS.sig"] = Value::String(STANDARD.encode(mac.finalize().into_bytes()));
    encode_object(&object)
}

/// Compresses and encodes a JSON value as a token, with no checks (tests build broken ones).
pub fn encode_object(object: &Value) -> String {
    encode_bytes(object.to_string().as_bytes())
}

/// Compresses and encodes any bytes as a token (tests build tokens that are not JSON).
pub fn encode_bytes(bytes: &[u8]) -> String {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(bytes)
        .expect("writing to a Vec cannot fail");
    let compressed = encoder.finish().expect("writing to a Vec cannot fail");
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

/// The privilege bits of a privateMapKey, lowest first, by name.
pub const PRIVILEGES: [(u32, &str); 8] = [
    (1, "create_room"),
    (2, "enter_room"),
    (4, "send_audio"),
    (8, "receive_audio"),
    (16, "send_video"),
    (32, "receive_video"),
    (64, "send_sub_video"),
    (128, "receive_sub_video"),
];

/// The enter-room bit, without which `client.join` fails with -10019.
pub const PRIVILEGE_ENTER: u32 = 2;
/// The create-room bit.
pub const PRIVILEGE_CREATE: u32 = 1;

/// The userbuf of a privateMapKey: what the key grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// 0 for a numeric room, 1 when a string room id follows.
    pub version: u8,
    /// The userId it is for.
    pub account: String,
    /// The SDKAppID it is for.
    pub sdk_app_id: u32,
    /// The numeric room (0 with a string room).
    pub room_id: u32,
    /// Absolute expiry, UNIX seconds.
    pub expires_at: u32,
    /// The privilege bits.
    pub privilege_map: u32,
    /// The account type.
    pub account_type: u32,
    /// The string room id (version 1).
    pub room_str: Option<String>,
}

impl Grant {
    /// Parses a userbuf as the reference implementation lays it out (big-endian).
    pub fn parse(bytes: &[u8]) -> Result<Grant, String> {
        let mut reader = Reader { bytes, at: 0 };
        let version = reader.u8("version")?;
        if version > 1 {
            return Err(format!(
                "layout version {version} is unknown (0 or 1 expected)"
            ));
        }
        let account_len = usize::from(reader.u16("account length")?);
        let account = reader.text(account_len, "account")?;
        let sdk_app_id = reader.u32("sdkappid")?;
        let room_id = reader.u32("room id")?;
        let expires_at = reader.u32("expiry")?;
        let privilege_map = reader.u32("privilege map")?;
        let account_type = reader.u32("account type")?;
        let room_str = if version == 1 {
            let len = usize::from(reader.u16("string room id length")?);
            Some(reader.text(len, "string room id")?)
        } else {
            None
        };
        if reader.at != bytes.len() {
            return Err(format!(
                "{} bytes follow the last field",
                bytes.len() - reader.at
            ));
        }
        Ok(Grant {
            version,
            account,
            sdk_app_id,
            room_id,
            expires_at,
            privilege_map,
            account_type,
            room_str,
        })
    }

    /// The names of the privileges the map grants.
    pub fn privilege_names(&self) -> Vec<String> {
        PRIVILEGES
            .iter()
            .filter(|(bit, _)| self.privilege_map & bit != 0)
            .map(|(_, name)| name.to_string())
            .collect()
    }

    /// Lays the grant out as a userbuf (tests and examples build keys with it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![self.version];
        bytes.extend_from_slice(&(self.account.len() as u16).to_be_bytes());
        bytes.extend_from_slice(self.account.as_bytes());
        for value in [
            self.sdk_app_id,
            self.room_id,
            self.expires_at,
            self.privilege_map,
            self.account_type,
        ] {
            bytes.extend_from_slice(&value.to_be_bytes());
        }
        if let Some(room) = &self.room_str {
            bytes.extend_from_slice(&(room.len() as u16).to_be_bytes());
            bytes.extend_from_slice(room.as_bytes());
        }
        bytes
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize, what: &str) -> Result<&[u8], String> {
        let end = self.at + len;
        let slice = self.bytes.get(self.at..end).ok_or_else(|| {
            format!(
                "it ends at byte {} inside the {what} (needs {len} bytes)",
                self.bytes.len()
            )
        })?;
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let slice = self.take(2, what)?;
        Ok(u16::from_be_bytes([slice[0], slice[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let slice = self.take(4, what)?;
        Ok(u32::from_be_bytes([slice[0], slice[1], slice[2], slice[3]]))
    }
    fn text(&mut self, len: usize, what: &str) -> Result<String, String> {
        let slice = self.take(len, what)?;
        String::from_utf8(slice.to_vec()).map_err(|_| format!("the {what} is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    #[test]
    fn round_trips_a_user_sig() {
        let token = sign(KEY, 1_400_000_000, "alice", 1_793_000_000, 86_400, None);
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.identifier.as_deref(), Some("alice"));
        assert_eq!(decoded.sdk_app_id, Some(1_400_000_000));
        assert_eq!(decoded.expires_at(), Some(1_793_086_400));
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.verify(KEY), SignatureCheck::Verified);
        assert_eq!(decoded.verify("another key"), SignatureCheck::Mismatch);
    }

    #[test]
    fn reports_each_decoding_stage() {
        assert!(matches!(
            decode("not a token!"),
            Err(DecodeError::Base64(_))
        ));
        let token = sign(KEY, 1, "a", 0, 1, None);
        assert!(matches!(
            decode(&token[..token.len() / 2]),
            Err(DecodeError::Base64(_) | DecodeError::Zlib(_))
        ));
        assert!(matches!(
            decode(&encode_object(&serde_json::json!([1, 2]))),
            Err(DecodeError::NotObject)
        ));
        assert!(matches!(
            decode(&encode_bytes(b"TLS.ver=2.0")),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn lists_missing_and_mistyped_fields() {
        let token = encode_object(&serde_json::json!({
            "TLS.ver": "2.0", "TLS.identifier": 7, "TLS.sdkappid": "1400000000",
            "TLS.time": 1, "TLS.sig": "AAAA"
        }));
        let decoded = decode(&token).unwrap();
        let fields: Vec<_> = decoded.problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["TLS.identifier", "TLS.sdkappid", "TLS.expire", "TLS.sig"]
        );
        assert_eq!(decoded.verify(KEY), SignatureCheck::NotChecked);
    }

    #[test]
    fn parses_both_userbuf_layouts() {
        let numeric = Grant {
            version: 0,
            account: "alice".into(),
            sdk_app_id: 1_400_000_000,
            room_id: 10_000,
            expires_at: 2_108_360_000,
            privilege_map: 255,
            account_type: 0,
            room_str: None,
        };
        assert_eq!(Grant::parse(&numeric.to_bytes()), Ok(numeric.clone()));
        assert_eq!(numeric.privilege_names().len(), 8);
        let string = Grant {
            version: 1,
            room_id: 0,
            privilege_map: 42,
            room_str: Some("team-standup".into()),
            ..numeric
        };
        assert_eq!(Grant::parse(&string.to_bytes()), Ok(string.clone()));
        assert_eq!(
            string.privilege_names(),
            ["enter_room", "receive_audio", "receive_video"]
        );
        let bytes = string.to_bytes();
        assert!(Grant::parse(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .contains("string room id"));
        assert!(Grant::parse(&[2]).unwrap_err().contains("version 2"));
    }
}
