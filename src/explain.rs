//! `explain` and `codes`: finding catalog entries by code, name, hex value or message text, and
//! printing them as text or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::{self, Detect, Entry};

/// What a query found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// One or more entries.
    Found(Vec<Entry>),
    /// Nothing; the nearest keys to suggest.
    NotFound(Vec<String>),
}

/// Finds entries: a decimal code (`4099`, `-10012`), a hex value (`0x1003`), a key name (any
/// case), or message text (any case, any part of the message). Several matches are all returned.
pub fn lookup(query: &str) -> Lookup {
    let query = query.trim();
    let lower = query.to_ascii_lowercase();
    let found: Vec<Entry> = if let Ok(code) = query.trim_start_matches('+').parse::<i64>() {
        catalog::entries()
            .filter(|entry| match entry {
                Entry::Sdk(sdk) => i64::from(sdk.code) == code,
                Entry::Detail(detail) => detail.code == code,
                Entry::Message(_) => false,
            })
            .collect()
    } else if let Some(hex) = lower.strip_prefix("0x") {
        match u32::from_str_radix(hex, 16) {
            Ok(value) => catalog::entries()
                .filter(|entry| matches!(entry, Entry::Sdk(sdk) if sdk.code == value))
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        let exact: Vec<Entry> = catalog::entries()
            .filter(|entry| match entry {
                Entry::Sdk(sdk) => sdk.name.eq_ignore_ascii_case(query),
                Entry::Message(message) => message.message.eq_ignore_ascii_case(query),
                Entry::Detail(_) => false,
            })
            .collect();
        if exact.is_empty() && !lower.is_empty() {
            catalog::entries()
                .filter(|entry| match entry {
                    Entry::Sdk(sdk) => sdk.name.to_ascii_lowercase().contains(&lower),
                    Entry::Message(message) => {
                        message.message.to_ascii_lowercase().contains(&lower)
                    }
                    Entry::Detail(_) => false,
                })
                .collect()
        } else {
            exact
        }
    };
    if found.is_empty() {
        Lookup::NotFound(suggestions(&lower))
    } else {
        Lookup::Found(found)
    }
}

/// The three keys nearest to the query by edit distance.
fn suggestions(query: &str) -> Vec<String> {
    let mut keys: Vec<(usize, String)> = catalog::entries()
        .flat_map(|entry| match entry {
            Entry::Sdk(sdk) => vec![
                sdk.name.to_string(),
                sdk.code.to_string(),
                sdk.hex.to_string(),
            ],
            Entry::Detail(detail) => vec![detail.code.to_string()],
            Entry::Message(message) => vec![message.message.to_string()],
        })
        .map(|key| {
            let lowered = key.to_ascii_lowercase();
            // Compare a prefix of long keys, so a fragment of a message finds it.
            let head: String = lowered.chars().take(query.chars().count().max(4)).collect();
            (
                levenshtein(query, &lowered).min(levenshtein(query, &head) + 1),
                key,
            )
        })
        .collect();
    keys.sort();
    keys.dedup_by(|a, b| a.1 == b.1);
    keys.into_iter().take(3).map(|(_, key)| key).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A catalog entry as `explain --format json` and `codes --format json` write it.
#[derive(Debug, Serialize)]
pub struct EntryJson {
    /// `sdk`, `account`, `room_entry` or `message`.
    pub table: &'static str,
    /// The SDK code, or the account / room-entry code; null for a message.
    pub code: Option<i64>,
    /// The SDK key name (SDK errors only).
    pub name: Option<&'static str>,
    /// The hex value as published (SDK errors only).
    pub hex: Option<&'static str>,
    /// The message string (messages only).
    pub message: Option<&'static str>,
    /// The SDK error a detail code or message comes with.
    pub sdk_code: Option<u32>,
    /// What it means.
    pub description: &'static str,
    /// What to do.
    pub fix: &'static str,
    /// The probe kinds that can detect it (`["*"]` for any); null when none can.
    pub detectable_by: Option<Vec<&'static str>>,
    /// Why it cannot be detected before a call; null when it can.
    pub not_detectable_reason: Option<&'static str>,
}

impl From<Entry> for EntryJson {
    fn from(entry: Entry) -> EntryJson {
        let (detectable_by, not_detectable_reason) = match entry.detect() {
            Detect::By(kinds) => (Some(kinds.iter().map(|kind| kind.as_str()).collect()), None),
            Detect::Any => (Some(vec!["*"]), None),
            Detect::Never(reason) => (None, Some(reason)),
        };
        let (code, name, hex, message, sdk_code) = match entry {
            Entry::Sdk(sdk) => (
                Some(i64::from(sdk.code)),
                Some(sdk.name),
                Some(sdk.hex),
                None,
                None,
            ),
            Entry::Detail(detail) => (Some(detail.code), None, None, None, Some(detail.sdk_code)),
            Entry::Message(message) => (None, None, None, Some(message.message), message.sdk_code),
        };
        EntryJson {
            table: entry.table_name(),
            code,
            name,
            hex,
            message,
            sdk_code,
            description: entry.description(),
            fix: entry.fix(),
            detectable_by,
            not_detectable_reason,
        }
    }
}

/// Entries as a JSON array.
pub fn to_json(entries: &[Entry]) -> String {
    let list: Vec<EntryJson> = entries.iter().copied().map(EntryJson::from).collect();
    serde_json::to_string_pretty(&list).expect("catalog entries serialise") + "\n"
}

/// One entry for a person.
pub fn to_text(entry: Entry) -> String {
    let mut out = String::new();
    let sdk_line = |code: u32| {
        let sdk = catalog::sdk_error(code);
        format!("{} {} ({})", sdk.code, sdk.name, sdk.hex)
    };
    match entry {
        Entry::Sdk(sdk) => {
            let _ = writeln!(out, "{} {} ({})  SDK error", sdk.code, sdk.name, sdk.hex);
        }
        Entry::Detail(detail) => {
            let table = if entry.table_name() == "account" {
                "account code"
            } else {
                "room-entry code"
            };
            let _ = writeln!(
                out,
                "{}  {table}, reported with {}",
                detail.code,
                sdk_line(detail.sdk_code)
            );
        }
        Entry::Message(message) => {
            let with = message.sdk_code.map_or(String::new(), |code| {
                format!(", comes with {}", sdk_line(code))
            });
            let _ = writeln!(out, "\"{}\"  message{with}", message.message);
        }
    }
    let _ = writeln!(out, "  Meaning:  {}", entry.description());
    let _ = writeln!(out, "  Fix:      {}", entry.fix());
    let _ = match entry.detect() {
        Detect::By(kinds) => {
            let names: Vec<_> = kinds.iter().map(|kind| kind.as_str()).collect();
            writeln!(
                out,
                "  Checked:  before a call by the {} probes",
                names.join(", ")
            )
        }
        Detect::Any => writeln!(
            out,
            "  Checked:  any probe reports it when it cannot classify what it saw"
        ),
        Detect::Never(reason) => writeln!(out, "  Checked:  not before a call: {reason}"),
    };
    if let Entry::Sdk(sdk) = entry {
        let messages: Vec<String> = catalog::MESSAGES
            .iter()
            .filter(|message| message.sdk_code == Some(sdk.code))
            .map(|message| format!("\"{}\"", message.message))
            .collect();
        if !messages.is_empty() {
            let _ = writeln!(out, "  Messages: {}", messages.join(", "));
        }
        let details: Vec<String> = catalog::ACCOUNT_CODES
            .iter()
            .chain(catalog::ROOM_ENTRY_CODES)
            .filter(|detail| {
                detail.sdk_code == sdk.code && !matches!(detail.detect, Detect::Never(_))
            })
            .map(|detail| detail.code.to_string())
            .collect();
        if !details.is_empty() {
            let _ = writeln!(
                out,
                "  Details checked here: {} (explain CODE for each)",
                details.join(", ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(query: &str) -> Vec<String> {
        match lookup(query) {
            Lookup::Found(entries) => entries
                .iter()
                .map(|entry| EntryJson::from(*entry))
                .map(key)
                .collect(),
            Lookup::NotFound(_) => vec![],
        }
    }

    fn key(entry: EntryJson) -> String {
        entry
            .name
            .map(String::from)
            .or(entry.message.map(String::from))
            .unwrap_or_else(|| entry.code.unwrap().to_string())
    }

    #[test]
    fn finds_by_every_kind_of_key() {
        assert_eq!(found("4099"), ["DEVICE_NOT_FOUND"]);
        assert_eq!(found("0x4003"), ["ICE_TRANSPORT_ERROR"]);
        assert_eq!(found("0X4003"), ["ICE_TRANSPORT_ERROR"]);
        assert_eq!(found("0x404A"), ["SWITCH_ROLE_FAILED"]);
        assert_eq!(found("client_banned"), ["CLIENT_BANNED"]);
        assert_eq!(found("-10018"), ["-10018"]);
        assert_eq!(found("70001"), ["70001"]);
        assert_eq!(found("10006"), ["10006"]);
        assert_eq!(
            found("no valid ice candidate"),
            ["RtcError: no valid ice candidate found"]
        );
        assert_eq!(
            found("dtls transport"),
            [
                "DTLS Transport connection timeout (10s)",
                "ICE/DTLS Transport connection failed"
            ]
        );
        assert_eq!(found("notallowederror"), ["NotAllowedError"]);
    }

    #[test]
    fn several_names_match_a_fragment() {
        let names = found("RECONNECTION_FAILED");
        assert_eq!(
            names,
            [
                "SIGNAL_CHANNEL_RECONNECTION_FAILED",
                "UPLINK_RECONNECTION_FAILED",
                "DOWNLINK_RECONNECTION_FAILED"
            ]
        );
    }

    #[test]
    fn suggests_the_nearest_keys() {
        match lookup("DEVICE_NOT_FOND") {
            Lookup::NotFound(suggestions) => assert_eq!(suggestions[0], "DEVICE_NOT_FOUND"),
            other => panic!("{other:?}"),
        }
        match lookup("10012") {
            Lookup::NotFound(suggestions) => assert!(
                suggestions.contains(&"-10012".to_string()),
                "{suggestions:?}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(lookup("0xZZ"), Lookup::NotFound(_)));
    }

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
