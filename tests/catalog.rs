//! The catalog against the SDK's published error table.
//!
//! The published table (`trtc-web-4x-error-codes.md`) is parsed here with a small markdown-table
//! reader, independent of the catalog's own code, and compared with the catalog in both
//! directions: every published code, key, hex value and message string is in the catalog with the
//! same values and in the same order, and the catalog holds nothing the table does not. A last
//! test checks that our descriptions and fixes are our own words and not the table's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use trtc_preflight::catalog::{
    self, sdk, DetailCode, DetailTable, Detect, Entry, ACCOUNT_CODES, MESSAGES, ROOM_ENTRY_CODES,
    SDK_ERRORS,
};

const TABLE_FILE: &str = "trtc-web-4x-error-codes.md";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared original of the table, when this checkout sits beside it.
fn shared_copy() -> PathBuf {
    manifest_dir().join("..").join("shared").join(TABLE_FILE)
}

/// The copy kept in the repository.
fn docs_copy() -> PathBuf {
    manifest_dir().join("docs").join(TABLE_FILE)
}

/// The table to check against: the shared original when present, else the repository's copy.
fn published_path() -> PathBuf {
    let shared = shared_copy();
    if shared.is_file() {
        shared
    } else {
        docs_copy()
    }
}

/// One table of the markdown file: its `## ` heading, header cells and data rows.
#[derive(Debug)]
struct Table {
    heading: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The cells of a `| a | b |` line, trimmed, without the outer pipes.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner
        .split('|')
        .map(|cell| cell.trim().to_string())
        .collect()
}

/// Whether a row is the `|---|:--|` line under a header.
fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|cell| !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':' | ' ')))
}

/// Every table of the file, each under the last `## ` heading before it.
fn parse_tables(text: &str) -> Vec<Table> {
    let mut tables: Vec<Table> = Vec::new();
    let mut heading: Option<String> = None;
    let mut in_table = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(title) = trimmed.strip_prefix("## ") {
            heading = Some(title.trim().to_string());
            in_table = false;
            continue;
        }
        if !trimmed.starts_with('|') {
            in_table = false;
            continue;
        }
        let row = cells(trimmed);
        if !in_table {
            let heading = heading
                .clone()
                .unwrap_or_else(|| panic!("line {}: a table before any `## ` heading", number + 1));
            tables.push(Table {
                heading,
                header: row,
                rows: Vec::new(),
            });
            in_table = true;
            continue;
        }
        let table = tables.last_mut().expect("a table was started");
        if is_separator(&row) {
            assert!(
                table.rows.is_empty(),
                "line {}: separator after data rows",
                number + 1
            );
            continue;
        }
        assert_eq!(
            row.len(),
            table.header.len(),
            "line {}: {} cells under a header of {}: {line}",
            number + 1,
            row.len(),
            table.header.len()
        );
        table.rows.push(row);
    }
    tables
}

/// The four published tables, found by their headings and checked for their header cells.
struct Published {
    sdk: Vec<Vec<String>>,
    account: Vec<Vec<String>>,
    room_entry: Vec<Vec<String>>,
    messages: Vec<Vec<String>>,
}

fn published() -> Published {
    let path = published_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let tables = parse_tables(&text);
    let take = |heading: &str, header: &[&str]| -> Vec<Vec<String>> {
        let found: Vec<&Table> = tables.iter().filter(|t| t.heading == heading).collect();
        assert_eq!(found.len(), 1, "one table under `## {heading}`");
        assert_eq!(found[0].header, header, "header of `## {heading}`");
        found[0].rows.clone()
    };
    let published = Published {
        sdk: take(
            "Error Code Definitions",
            &["Key", "getCode", "Error Code", "Description"],
        ),
        account: take("Account Errors", &["Error Code", "Type", "Description"]),
        room_entry: take("Room Entry Errors", &["Error Code", "Description"]),
        messages: take(
            "Common Errors and Solutions",
            &["Error Message", "Description", "Solution"],
        ),
    };
    assert_eq!(tables.len(), 4, "exactly four tables in {}", path.display());
    published
}

/// The published code of an account or room-entry row, as an integer (`-8`, `10006`).
fn detail(cell: &str) -> i64 {
    cell.parse()
        .unwrap_or_else(|error| panic!("detail code {cell:?}: {error}"))
}

#[test]
fn docs_copy_is_identical_to_the_shared_table() {
    let docs = std::fs::read(docs_copy()).expect("docs/ holds a copy of the published table");
    assert!(
        String::from_utf8_lossy(&docs).contains("## Error Code Definitions"),
        "docs/{TABLE_FILE} is the error table"
    );
    let shared = shared_copy();
    if shared.is_file() {
        let original = std::fs::read(&shared).expect("the shared table is readable");
        assert!(
            docs == original,
            "docs/{TABLE_FILE} differs from {}: copy it again",
            shared.display()
        );
    }
}

#[test]
fn the_parser_reads_a_table_and_rejects_ragged_rows() {
    let text = "# x\n## One\n| a | b |\n|:--|--|\n| 1 | `x` |\n\ntext\n## Two\n| c |\n|-|\n| 2 |\n";
    let tables = parse_tables(text);
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0].heading, "One");
    assert_eq!(tables[0].header, ["a", "b"]);
    assert_eq!(tables[0].rows, [["1", "`x`"]]);
    assert_eq!(tables[1].heading, "Two");
    assert_eq!(tables[1].rows, [["2"]]);

    let ragged = std::panic::catch_unwind(|| parse_tables("## T\n| a | b |\n|--|--|\n| 1 |\n"));
    assert!(ragged.is_err(), "a row with too few cells is an error");
}

#[test]
fn published_table_sizes() {
    let published = published();
    assert_eq!(published.sdk.len(), 26);
    assert_eq!(published.account.len(), 62);
    assert_eq!(published.room_entry.len(), 9);
    assert_eq!(published.messages.len(), 14);
    assert_eq!(SDK_ERRORS.len(), published.sdk.len());
    assert_eq!(ACCOUNT_CODES.len(), published.account.len());
    assert_eq!(ROOM_ENTRY_CODES.len(), published.room_entry.len());
    assert_eq!(MESSAGES.len(), published.messages.len());
    assert_eq!(
        catalog::entries().count(),
        26 + 62 + 9 + 14,
        "entries() walks all four tables"
    );
}

#[test]
fn sdk_errors_match_the_published_table_in_order() {
    let published = published();
    for (index, (row, entry)) in published.sdk.iter().zip(SDK_ERRORS).enumerate() {
        let code: u32 = row[1].parse().expect("getCode is a decimal number");
        assert_eq!(entry.name, row[0], "row {index}: key");
        assert_eq!(entry.code, code, "row {index} ({}): code", row[0]);
        assert_eq!(
            entry.hex, row[2],
            "row {index} ({}): hex as published",
            row[0]
        );
        let hex = u32::from_str_radix(row[2].trim_start_matches("0x"), 16).expect("hex value");
        assert_eq!(hex, code, "row {index}: the published hex is the code");
    }
    assert_eq!(SDK_ERRORS.len(), published.sdk.len());
    assert_eq!(
        sdk::ALL,
        SDK_ERRORS.iter().map(|e| e.code).collect::<Vec<_>>()
    );

    // Both directions by lookup as well, so a mismatch names the missing key.
    let names: HashSet<&str> = published.sdk.iter().map(|row| row[0].as_str()).collect();
    for entry in SDK_ERRORS {
        assert!(
            names.contains(entry.name),
            "{} is not published",
            entry.name
        );
    }
    for row in &published.sdk {
        let entry = catalog::sdk_error(row[1].parse().unwrap());
        assert_eq!(entry.name, row[0]);
    }

    // The facts the rest of the program leans on, spelled as published.
    assert_eq!(sdk::SIGNAL_CAHNNEL_SETUP_FAILED, 16385);
    assert_eq!(catalog::sdk_error(16458).hex, "0x404a");
    assert_eq!(catalog::sdk_error(65535).hex, "0xFFFF");
}

#[test]
fn account_codes_match_the_published_table_in_order() {
    let published = published();
    for (index, (row, entry)) in published.account.iter().zip(ACCOUNT_CODES).enumerate() {
        assert_eq!(row[1], "Account system", "row {index}: type column");
        assert_eq!(entry.code, detail(&row[0]), "row {index}: code");
        assert_eq!(entry.table, DetailTable::Account);
        assert_eq!(entry.sdk_code, sdk::SIGNAL_CAHNNEL_SETUP_FAILED);
    }
    assert_eq!(ACCOUNT_CODES.len(), published.account.len());
    assert_eq!(ACCOUNT_CODES.first().map(|e| e.code), Some(-8));
    let last: Vec<i64> = ACCOUNT_CODES.iter().rev().take(2).map(|e| e.code).collect();
    assert_eq!(last, [70051, 70050], "70050 and 70051 are published last");
    detail_sets_agree(ACCOUNT_CODES, &published.account);
}

#[test]
fn room_entry_codes_match_the_published_table_in_order() {
    let published = published();
    for (index, (row, entry)) in published
        .room_entry
        .iter()
        .zip(ROOM_ENTRY_CODES)
        .enumerate()
    {
        assert_eq!(entry.code, detail(&row[0]), "row {index}: code");
        assert_eq!(entry.table, DetailTable::RoomEntry);
        assert_eq!(entry.sdk_code, sdk::JOIN_ROOM_FAILED);
    }
    assert_eq!(ROOM_ENTRY_CODES.len(), published.room_entry.len());
    assert_eq!(
        ROOM_ENTRY_CODES[0].code, 10006,
        "10006 is published without a minus sign"
    );
    detail_sets_agree(ROOM_ENTRY_CODES, &published.room_entry);
}

/// Every published code is in the catalog table, and every catalog code is published, once.
fn detail_sets_agree(entries: &[DetailCode], rows: &[Vec<String>]) {
    let published: Vec<i64> = rows.iter().map(|row| detail(&row[0])).collect();
    let unique: HashSet<i64> = published.iter().copied().collect();
    assert_eq!(
        unique.len(),
        published.len(),
        "published codes are distinct"
    );
    for entry in entries {
        assert!(
            unique.contains(&entry.code),
            "{} is not published",
            entry.code
        );
        assert_eq!(catalog::detail_code(entry.code), entry);
    }
    for code in &published {
        assert!(
            entries.iter().any(|entry| entry.code == *code),
            "published {code} is missing"
        );
    }
}

#[test]
fn messages_match_the_published_table_in_order() {
    let published = published();
    for (index, (row, entry)) in published.messages.iter().zip(MESSAGES).enumerate() {
        assert_eq!(entry.message, row[0], "row {index}: message string");
    }
    assert_eq!(MESSAGES.len(), published.messages.len());
    let strings: HashSet<&str> = published.messages.iter().map(|r| r[0].as_str()).collect();
    for entry in MESSAGES {
        assert!(
            strings.contains(entry.message),
            "{:?} is not published",
            entry.message
        );
    }
    for row in &published.messages {
        assert_eq!(catalog::message(&row[0]).message, row[0]);
    }
}

#[test]
fn messages_carry_the_sdk_error_they_come_with() {
    let expected: &[(&str, Option<u32>)] = &[
        ("publish timeout", None),
        ("join room timeout", Some(sdk::JOIN_ROOM_FAILED)),
        (
            "DTLS Transport connection timeout (10s)",
            Some(sdk::ICE_TRANSPORT_ERROR),
        ),
        (
            "failed to connect to remote server via websocket",
            Some(sdk::SIGNAL_CAHNNEL_SETUP_FAILED),
        ),
        (
            "ICE/DTLS Transport connection failed",
            Some(sdk::ICE_TRANSPORT_ERROR),
        ),
        (
            "previous publishing is ongoing, please avoid re-publishing",
            None,
        ),
        ("AbortError", Some(sdk::INITIALIZE_FAILED)),
        ("NotReadableError", Some(sdk::INITIALIZE_FAILED)),
        ("NotFoundError", Some(sdk::DEVICE_NOT_FOUND)),
        ("NotAllowedError", Some(sdk::INITIALIZE_FAILED)),
        (
            "SignalChannel reconnect failed",
            Some(sdk::SIGNAL_CHANNEL_RECONNECTION_FAILED),
        ),
        (
            "duplicate publishing, please unpublish and then re-publish",
            None,
        ),
        ("OverconstrainedError", Some(sdk::INITIALIZE_FAILED)),
        (
            "RtcError: no valid ice candidate found",
            Some(sdk::ICE_TRANSPORT_ERROR),
        ),
    ];
    let actual: Vec<(&str, Option<u32>)> =
        MESSAGES.iter().map(|m| (m.message, m.sdk_code)).collect();
    assert_eq!(actual, expected);
}

#[test]
fn what_the_design_diagnoses_is_detectable_and_the_rest_says_why_not() {
    // DESIGN.md, "Diagnosis: what must map to what".
    let sdk_codes = [
        4096, 4098, 4099, 4100, 16385, 16386, 16387, 16388, 16389, 16390, 16451, 16457, 65535,
    ];
    for code in sdk_codes {
        let detect = catalog::sdk_error(code).detect;
        assert!(!matches!(detect, Detect::Never(_)), "{code}: {detect:?}");
    }
    for code in [
        70001, 70002, 70003, 70005, 70009, 70013, 70014, -10012, -10018, -10019,
    ] {
        let detect = catalog::detail_code(code).detect;
        assert!(!matches!(detect, Detect::Never(_)), "{code}: {detect:?}");
    }
    for text in [
        "NotFoundError",
        "NotAllowedError",
        "NotReadableError",
        "OverconstrainedError",
        "AbortError",
        "RtcError: no valid ice candidate found",
        "ICE/DTLS Transport connection failed",
        "DTLS Transport connection timeout (10s)",
        "failed to connect to remote server via websocket",
        "SignalChannel reconnect failed",
        "join room timeout",
    ] {
        let detect = catalog::message(text).detect;
        assert!(!matches!(detect, Detect::Never(_)), "{text}: {detect:?}");
    }

    let mut detectable = 0;
    for entry in catalog::entries() {
        match entry.detect() {
            Detect::Any => assert!(
                matches!(entry, Entry::Sdk(e) if e.code == sdk::UNKNOWN),
                "only UNKNOWN may come from any probe: {entry:?}"
            ),
            Detect::By(kinds) => {
                detectable += 1;
                let distinct: HashSet<_> = kinds.iter().collect();
                assert_eq!(distinct.len(), kinds.len(), "{entry:?} lists a kind twice");
            }
            Detect::Never(reason) => assert!(
                reason.split_whitespace().count() >= 6,
                "{entry:?}: a reason, not a placeholder"
            ),
        }
    }
    assert_eq!(detectable, 12 + 7 + 3 + 11, "SDK, account, room, messages");
}

/// Lower-case words of a text, with markup (HTML tags, link targets, backticks, emphasis) removed.
fn words(text: &str) -> Vec<String> {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // An HTML tag or a link target: drop it, keep a word boundary.
            '<' => {
                for next in chars.by_ref() {
                    if next == '>' {
                        break;
                    }
                }
                plain.push(' ');
            }
            ']' if chars.peek() == Some(&'(') => {
                for next in chars.by_ref() {
                    if next == ')' {
                        break;
                    }
                }
                plain.push(' ');
            }
            _ => plain.push(c),
        }
    }
    plain
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs of this many consecutive words shared with the table count as copied.
const COPIED_RUN: usize = 8;

#[test]
fn the_word_splitter_drops_markup() {
    assert_eq!(
        words("Check your [firewall configuration](https://x.example/a-b).<br>`userSig` **OK**"),
        [
            "check",
            "your",
            "firewall",
            "configuration",
            "usersig",
            "ok"
        ]
    );
}

#[test]
fn descriptions_and_fixes_are_our_own_words() {
    let published = published();
    // The published prose: the description and solution columns of every table.
    let prose: Vec<&String> = published
        .sdk
        .iter()
        .map(|row| &row[3])
        .chain(published.account.iter().map(|row| &row[2]))
        .chain(published.room_entry.iter().map(|row| &row[1]))
        .chain(published.messages.iter().flat_map(|row| [&row[1], &row[2]]))
        .collect();
    let mut runs: HashSet<Vec<String>> = HashSet::new();
    let mut whole: HashSet<Vec<String>> = HashSet::new();
    for cell in &prose {
        let cell_words = words(cell);
        for run in cell_words.windows(COPIED_RUN) {
            runs.insert(run.to_vec());
        }
        whole.insert(cell_words);
    }
    assert!(
        runs.len() > 500,
        "the published prose was read ({} runs)",
        runs.len()
    );

    let mut checked = 0;
    for entry in catalog::entries() {
        let reason = match entry.detect() {
            Detect::Never(reason) => Some(reason),
            _ => None,
        };
        for text in [Some(entry.description()), Some(entry.fix()), reason]
            .into_iter()
            .flatten()
        {
            let ours = words(text);
            assert!(
                !whole.contains(&ours),
                "{entry:?}: copies a published cell: {text}"
            );
            for run in ours.windows(COPIED_RUN) {
                assert!(
                    !runs.contains(run),
                    "{entry:?}: {:?} is copied from the published table",
                    run.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2 * (26 + 62 + 9 + 14), "every text was checked");
}

#[test]
fn fixes_for_network_errors_name_trtc_ports() {
    let ice = catalog::sdk_error(sdk::ICE_TRANSPORT_ERROR);
    for port in ["8000", "8080", "8800", "843", "443", "16285"] {
        assert!(ice.description.contains(port), "16387 names UDP {port}");
    }
    let signaling = catalog::sdk_error(sdk::SIGNAL_CAHNNEL_SETUP_FAILED);
    assert!(signaling.fix.contains("443") && signaling.fix.contains("8687"));
    assert!(catalog::detail_code(-10012).fix.contains("useStringRoomId"));
    assert!(catalog::detail_code(-10018).fix.contains("privateMapKey"));
}

#[test]
fn published_paths_resolve() {
    let path = published_path();
    assert!(path.is_file(), "{} exists", path.display());
    assert!(Path::new(&docs_copy()).is_file());
}
