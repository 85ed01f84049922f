//! Typed `metrics` objects for the kinds whose shape is fixed by the schema.
//!
//! A probe result stores its metrics as a JSON object; these structs are how the application
//! builds them, so that the object always has the shape `schema/report.schema.json` documents.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the checker could say about a token's signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureCheck {
    /// The HMAC-SHA256 matches the secret key that was given.
    Verified,
    /// The HMAC-SHA256 does not match the secret key that was given.
    Mismatch,
    /// No secret key was given, or the token could not be decoded far enough.
    #[default]
    NotChecked,
}

/// `metrics` of an `account` probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountMetrics {
    /// The SDKAppID as given.
    pub sdk_app_id: String,
    /// The userId as given.
    pub user_id: String,
    /// The clock the checks compared with, RFC 3339.
    pub checked_at: String,
    /// What the userSig holds; null when none was given.
    pub user_sig: Option<TokenMetrics>,
}

/// `metrics` of a `room` probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomMetrics {
    /// The roomId as given.
    pub room_id: String,
    /// `numeric` or `string`.
    pub room_id_type: String,
    /// Whether `--require-private-map-key` (advanced permission control) was set.
    pub private_map_key_required: bool,
    /// What the privateMapKey holds; null when none was given.
    pub private_map_key: Option<TokenMetrics>,
}

/// The non-secret fields of a TLSSigAPIv2 token (userSig or privateMapKey).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenMetrics {
    /// Characters in the token as given (its text is never reported).
    pub length: usize,
    /// Whether the token decoded (base64, zlib, JSON) into an object.
    pub decoded: bool,
    /// `TLS.ver`.
    pub version: Option<String>,
    /// `TLS.identifier`: the userId the token was issued for.
    pub identifier: Option<String>,
    /// `TLS.sdkappid`.
    pub sdk_app_id: Option<u64>,
    /// `TLS.time`, RFC 3339.
    pub issued_at: Option<String>,
    /// `TLS.time + TLS.expire`, RFC 3339.
    pub expires_at: Option<String>,
    /// `TLS.expire`, in seconds.
    pub lifetime_s: Option<u64>,
    /// Whether a `TLS.userbuf` is present.
    pub has_userbuf: bool,
    /// What the HMAC check concluded.
    pub signature: SignatureCheck,
    /// For a privateMapKey: what its userbuf grants; null otherwise.
    pub grant: Option<GrantMetrics>,
}

/// The decoded userbuf of a privateMapKey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantMetrics {
    /// Layout version: 0 for a numeric room, 1 when a string room id follows.
    pub version: u8,
    /// The userId the grant is for.
    pub account: String,
    /// The SDKAppID the grant is for.
    pub sdk_app_id: u32,
    /// The numeric room id (0 for a string room).
    pub room_id: u32,
    /// The string room id (version 1 only).
    pub room_str: Option<String>,
    /// Absolute expiry, RFC 3339.
    pub expires_at: String,
    /// The privilege bit map.
    pub privilege_map: u32,
    /// The privileges the map grants, by name.
    pub privileges: Vec<String>,
    /// The account type field.
    pub account_type: u32,
}

/// Turns a metrics struct into the JSON object a probe result stores.
pub fn to_object<T: Serialize>(metrics: &T) -> Map<String, Value> {
    match serde_json::to_value(metrics) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
