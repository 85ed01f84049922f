//! The offline probes: what the account and room parameters and their tokens hold. They observe
//! (decode, verify the HMAC, parse the privateMapKey's grant) and leave judging to `diagnose`.

use preflight_reports::metrics::SignatureCheck;

use crate::plan::{AccountParams, RoomParams};
use crate::secret::{Secret, Source};
use crate::time::UnixTime;
use crate::tlssig::{self, DecodeError, Grant, Token};

/// What was given for one token (userSig or privateMapKey) and what it holds.
// One per probe run: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum TokenObservation {
    /// Nothing was given; the text says where it was looked for.
    Absent {
        /// `TRTC_USER_SIG is unset and no --user-sig-file was given`.
        looked: String,
    },
    /// Given, but empty.
    Empty {
        /// Where from.
        source: Source,
    },
    /// Given.
    Present {
        /// Characters (never the text).
        length: usize,
        /// Where from.
        source: Source,
        /// The decoded token, or why it did not decode.
        decoded: Result<Token, DecodeError>,
        /// The HMAC check, when a secret key was given.
        signature: SignatureCheck,
        /// The grant in the userbuf (privateMapKey only): `None` when the token has no userbuf.
        grant: Option<Result<Grant, String>>,
    },
}

impl TokenObservation {
    /// Observes a token: decode it, verify it when a secret key is given, parse its userbuf.
    pub fn observe(
        token: Option<&Secret>,
        looked: &str,
        secret_key: Option<&Secret>,
    ) -> TokenObservation {
        let Some(token) = token else {
            return TokenObservation::Absent {
                looked: looked.to_string(),
            };
        };
        if token.is_empty() {
            return TokenObservation::Empty {
                source: token.source.clone(),
            };
        }
        let decoded = tlssig::decode(token.expose());
        let signature = match (&decoded, secret_key) {
            (Ok(decoded), Some(key)) => decoded.verify(key.expose()),
            _ => SignatureCheck::NotChecked,
        };
        let grant = decoded
            .as_ref()
            .ok()
            .and_then(|decoded| decoded.userbuf.as_deref())
            .map(Grant::parse);
        TokenObservation::Present {
            length: token.len(),
            source: token.source.clone(),
            decoded,
            signature,
            grant,
        }
    }
}

/// What the account probe observed.
#[derive(Clone, Debug)]
pub struct AccountObservation {
    /// `--sdk-app-id` as given.
    pub sdk_app_id: String,
    /// `--user-id` as given.
    pub user_id: String,
    /// The clock of the plan.
    pub now: UnixTime,
    /// The userSig.
    pub user_sig: TokenObservation,
    /// Whether a secret key was given.
    pub secret_key_given: bool,
}

/// Runs the account probe.
pub fn observe_account(params: &AccountParams, now: UnixTime) -> AccountObservation {
    AccountObservation {
        sdk_app_id: params.sdk_app_id.clone(),
        user_id: params.user_id.clone(),
        now,
        user_sig: TokenObservation::observe(
            params.user_sig.as_ref(),
            &params.user_sig_sources,
            params.secret_key.as_ref(),
        ),
        secret_key_given: params.secret_key.is_some(),
    }
}

/// What the room probe observed.
#[derive(Clone, Debug)]
pub struct RoomObservation {
    /// `--room-id` as given.
    pub room_id: String,
    /// `--string-room-id`.
    pub string_room_id: bool,
    /// `--require-private-map-key`.
    pub require_private_map_key: bool,
    /// The SDKAppID and userId to compare the key with, when given.
    pub sdk_app_id: Option<String>,
    /// See `sdk_app_id`.
    pub user_id: Option<String>,
    /// The clock of the plan.
    pub now: UnixTime,
    /// The privateMapKey.
    pub private_map_key: TokenObservation,
    /// Whether a secret key was given.
    pub secret_key_given: bool,
}

/// Runs the room probe.
pub fn observe_room(params: &RoomParams, now: UnixTime) -> RoomObservation {
    RoomObservation {
        room_id: params.room_id.clone(),
        string_room_id: params.string_room_id,
        require_private_map_key: params.require_private_map_key,
        sdk_app_id: params.sdk_app_id.clone(),
        user_id: params.user_id.clone(),
        now,
        private_map_key: TokenObservation::observe(
            params.private_map_key.as_ref(),
            &params.private_map_key_sources,
            params.secret_key.as_ref(),
        ),
        secret_key_given: params.secret_key.is_some(),
    }
}
