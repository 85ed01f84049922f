//! The TRTC catalog: every row of the SDK's published error table (Web SDK 4.x), in one
//! declarative table.
//!
//! Four tables are published: the SDK error codes (`getCode`), the account codes, the room-entry
//! codes and the common error messages. Codes, names, hex values and message strings are copied as
//! published (including the SDK's own spelling `SIGNAL_CAHNNEL_SETUP_FAILED`); descriptions and
//! fixes are this project's own words. Each entry says which probe kinds can emit it, or why it
//! cannot be seen before a call. `tests/catalog.rs` proves the table matches the published one.

mod table;

use preflight_reports::Kind;

pub use table::{sdk, ACCOUNT_CODES, MESSAGES, ROOM_ENTRY_CODES, SDK_ERRORS};

/// Whether, and by what, a catalog entry can be detected before a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detect {
    /// These probe kinds can emit it.
    By(&'static [Kind]),
    /// Any probe can emit it (the tool's own "could not classify").
    Any,
    /// It cannot be detected before a call, for this reason.
    Never(&'static str),
}

/// A row of the SDK error table (`getCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdkError {
    /// The key as published (`ICE_TRANSPORT_ERROR`).
    pub name: &'static str,
    /// The decimal code (`16387`).
    pub code: u32,
    /// The hex value as published (`0x4003`).
    pub hex: &'static str,
    /// What it means, in this project's words.
    pub description: &'static str,
    /// What to do about it, in this project's words.
    pub fix: &'static str,
    /// Whether a probe can see it.
    pub detect: Detect,
}

/// Which published table a detail code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailTable {
    /// "Account Errors".
    Account,
    /// "Room Entry Errors".
    RoomEntry,
}

/// A row of the account or room-entry table: a detail code carried beside an SDK error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetailCode {
    /// The code as published (`70001`, `-10012`, `10006`).
    pub code: i64,
    /// Which table it is in.
    pub table: DetailTable,
    /// The SDK error a developer sees it with (16385 for account codes, 16388 for room entry).
    pub sdk_code: u32,
    /// What it means, in this project's words.
    pub description: &'static str,
    /// What to do about it, in this project's words.
    pub fix: &'static str,
    /// Whether a probe can see it.
    pub detect: Detect,
}

/// A row of the common-messages table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageEntry {
    /// The message string exactly as published (`RtcError: no valid ice candidate found`).
    pub message: &'static str,
    /// The SDK error this message usually comes with, where there is one.
    pub sdk_code: Option<u32>,
    /// What it means, in this project's words.
    pub description: &'static str,
    /// What to do about it, in this project's words.
    pub fix: &'static str,
    /// Whether a probe can see it.
    pub detect: Detect,
}

/// Any entry of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An SDK error code.
    Sdk(&'static SdkError),
    /// An account or room-entry detail code.
    Detail(&'static DetailCode),
    /// A common error message.
    Message(&'static MessageEntry),
}

/// The SDK error with this decimal code.
///
/// # Panics
/// When the code is not in the table: diagnosis only ever asks for codes named by [`sdk`]
/// constants, and a test checks every constant.
pub fn sdk_error(code: u32) -> &'static SdkError {
    SDK_ERRORS
        .iter()
        .find(|entry| entry.code == code)
        .unwrap_or_else(|| panic!("SDK error {code} is not in the catalog"))
}

/// The account or room-entry entry with this code.
///
/// # Panics
/// When the code is not in the tables (diagnosis only asks for published codes).
pub fn detail_code(code: i64) -> &'static DetailCode {
    ACCOUNT_CODES
        .iter()
        .chain(ROOM_ENTRY_CODES.iter())
        .find(|entry| entry.code == code)
        .unwrap_or_else(|| panic!("detail code {code} is not in the catalog"))
}

/// The message entry with exactly this message string.
///
/// # Panics
/// When the message is not in the table (diagnosis only asks for published strings).
pub fn message(text: &str) -> &'static MessageEntry {
    MESSAGES
        .iter()
        .find(|entry| entry.message == text)
        .unwrap_or_else(|| panic!("message {text:?} is not in the catalog"))
}

/// Every entry, in the order the published tables list them.
pub fn entries() -> impl Iterator<Item = Entry> {
    SDK_ERRORS
        .iter()
        .map(Entry::Sdk)
        .chain(ACCOUNT_CODES.iter().map(Entry::Detail))
        .chain(ROOM_ENTRY_CODES.iter().map(Entry::Detail))
        .chain(MESSAGES.iter().map(Entry::Message))
}

impl Entry {
    /// Where the entry can be detected.
    pub fn detect(&self) -> Detect {
        match self {
            Entry::Sdk(entry) => entry.detect,
            Entry::Detail(entry) => entry.detect,
            Entry::Message(entry) => entry.detect,
        }
    }

    /// Our description of the entry.
    pub fn description(&self) -> &'static str {
        match self {
            Entry::Sdk(entry) => entry.description,
            Entry::Detail(entry) => entry.description,
            Entry::Message(entry) => entry.description,
        }
    }

    /// Our fix for the entry.
    pub fn fix(&self) -> &'static str {
        match self {
            Entry::Sdk(entry) => entry.fix,
            Entry::Detail(entry) => entry.fix,
            Entry::Message(entry) => entry.fix,
        }
    }

    /// The name of the published table the entry comes from, as reports write it.
    pub fn table_name(&self) -> &'static str {
        match self {
            Entry::Sdk(_) => "sdk",
            Entry::Detail(DetailCode {
                table: DetailTable::Account,
                ..
            }) => "account",
            Entry::Detail(_) => "room_entry",
            Entry::Message(_) => "message",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_constant_is_a_row() {
        for code in sdk::ALL {
            assert_eq!(sdk_error(*code).code, *code);
        }
        assert_eq!(sdk::ALL.len(), SDK_ERRORS.len());
    }

    #[test]
    fn detail_codes_point_at_their_sdk_error() {
        for entry in ACCOUNT_CODES {
            assert_eq!(entry.table, DetailTable::Account);
            assert_eq!(entry.sdk_code, sdk::SIGNAL_CAHNNEL_SETUP_FAILED);
        }
        for entry in ROOM_ENTRY_CODES {
            assert_eq!(entry.table, DetailTable::RoomEntry);
            assert_eq!(entry.sdk_code, sdk::JOIN_ROOM_FAILED);
        }
        for entry in MESSAGES {
            if let Some(code) = entry.sdk_code {
                sdk_error(code);
            }
        }
    }

    #[test]
    fn every_entry_has_words_of_its_own() {
        for entry in entries() {
            assert!(entry.description().len() > 20, "{entry:?}");
            assert!(entry.fix().len() > 20, "{entry:?}");
            match entry.detect() {
                Detect::By(kinds) => assert!(!kinds.is_empty(), "{entry:?}"),
                Detect::Never(reason) => assert!(reason.len() > 20, "{entry:?}"),
                Detect::Any => {}
            }
        }
    }
}
