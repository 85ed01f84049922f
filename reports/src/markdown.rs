//! The Markdown renderer, for tickets and chat (GitHub-flavoured: tables).
//!
//! The layout is, top to bottom:
//!
//! 1. a heading with the verdict and a sentence on what it means for a call;
//! 2. the run: start, duration, counts, tool version, the SDK codes found, and a note when the run
//!    was interrupted;
//! 3. a summary table: a row per probe with its status, kind, target, duration and headline (the
//!    SDK error of its most serious finding, a warning, or why it was skipped);
//! 4. the findings: per probe with a warning or an error, each such finding with its code, name,
//!    hex, detail code, message, description, evidence and fix. Information (what decides
//!    nothing) is left to the other formats.
//!
//! Text from the report is escaped so that it reads as the same text once rendered: Markdown's
//! punctuation gets a backslash, a table cell's `|` is `\|` and its line breaks `<br>`, a line
//! that would start a list, a heading or a quote is escaped, and the catalog's backtick spans stay
//! code spans. Nothing in a report can add a link, an image or markup.

use std::fmt::Write as _;

use crate::phrases::{self, code_spans, duration};
use crate::{Finding, ProbeResult, Report, Severity};

/// Renders the report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## trtc-preflight: {}\n\n{}\n",
        phrases::verdict_word(report),
        phrases::verdict_sentence(report)
    );
    let _ = writeln!(
        out,
        "Started {} · took {} · {} · {} {}",
        code(&report.started_at, Place::Item),
        duration(report.duration_ms),
        phrases::counts(report),
        inline(&report.tool.name, Place::Item, false),
        inline(&report.tool.version, Place::Item, false),
    );
    if !report.codes.is_empty() {
        let codes: Vec<String> = report
            .codes
            .iter()
            .map(|code| format!("`{code}`"))
            .collect();
        let _ = writeln!(out, "\nSDK error codes: {}", codes.join(", "));
    }
    if !report.complete {
        out.push_str(
            "\n**Incomplete:** the run was interrupted, and the probes that had not finished are \
             missing from this report.\n",
        );
    }

    if !report.probes.is_empty() {
        out.push_str("\n| status | kind | target | took | result |\n|---|---|---|---:|---|\n");
        for probe in &report.probes {
            let _ = writeln!(
                out,
                "| **{}** | {} | {} | {} | {} |",
                phrases::status_word(probe.status),
                probe.kind.as_str(),
                code(phrases::label(probe), Place::Cell),
                duration(probe.duration_ms),
                phrases::headline(probe)
                    .map(|headline| inline(&headline, Place::Cell, false))
                    .unwrap_or_default(),
            );
        }
    }

    let problems: Vec<&ProbeResult> = report
        .probes
        .iter()
        .filter(|probe| {
            probe
                .findings
                .iter()
                .any(|finding| finding.severity >= Severity::Warning)
        })
        .collect();
    if !problems.is_empty() {
        out.push_str("\n### Findings\n");
    }
    for probe in problems {
        let _ = writeln!(
            out,
            "\n#### {} {} {}\n",
            phrases::status_word(probe.status),
            probe.kind.as_str(),
            code(phrases::label(probe), Place::Item),
        );
        if !probe.target.is_empty() {
            let _ = writeln!(out, "id {}\n", code(&probe.id, Place::Item));
        }
        let mut findings: Vec<&Finding> = probe
            .findings
            .iter()
            .filter(|finding| finding.severity >= Severity::Warning)
            .collect();
        findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
        for finding in findings {
            finding_item(&mut out, finding);
        }
    }
    out
}

/// One finding as a list item: the head line, then the description, evidence and fix, each on
/// its own line of the item.
fn finding_item(out: &mut String, finding: &Finding) {
    let mut head = format!("**{}**", finding.severity.as_str());
    let sdk = [
        finding.code.map(|code| code.to_string()),
        finding.name.clone(),
        finding.hex.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    if !sdk.is_empty() {
        let _ = write!(head, " {}", code(&sdk, Place::Item));
    }
    if let Some(detail) = finding.detail_code {
        let _ = write!(head, " detail **{detail}**");
    }
    if let Some(message) = &finding.message {
        let _ = write!(head, " · message {}", code(message, Place::Item));
    }
    let mut lines = vec![head];
    if !finding.description.trim().is_empty() {
        if finding.code.is_none() {
            // No SDK error: the description is the headline.
            lines[0].push_str(" · ");
            lines[0].push_str(&inline(&finding.description, Place::Item, false));
        } else {
            lines.push(inline(&finding.description, Place::Item, true));
        }
    }
    for (label, text) in [("Evidence", &finding.evidence), ("Fix", &finding.fix)] {
        if !text.trim().is_empty() {
            lines.push(format!("**{label}:** {}", inline(text, Place::Item, false)));
        }
    }
    // A hard line break (two spaces) between the lines of the item, continuation lines indented
    // under its text.
    let _ = writeln!(out, "- {}", lines.join("  \n  "));
}

/// Where report text goes: a table cell, or a list item (whose continuation lines are indented
/// by two spaces).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Cell,
    Item,
}

/// Report text for a list item or a table cell: punctuation escaped, the catalog's backtick spans
/// kept as code spans, line breaks kept (as `<br>` in a cell), no autolink.
/// `line_start`: the text starts a line (the block rules apply to its first characters).
fn inline(text: &str, place: Place, line_start: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (index, (is_code, part)) in code_spans(text).into_iter().enumerate() {
        if is_code {
            out.push_str(&code(&part, place));
        } else {
            out.push_str(&escape_from(&part, place, line_start && index == 0));
        }
    }
    out
}

/// [`escape_from`] for text that starts a line.
#[cfg(test)]
fn escape(text: &str, place: Place) -> String {
    escape_from(text, place, true)
}

/// Plain text with Markdown's inline punctuation escaped. A line break becomes `<br>` in a table
/// cell and an indented hard break in a list item, and a line that would start a block (`#`,
/// `>`, `-`, `+`, `=`, `1.`) is escaped, and so are the `:` of `://` and the `.` of `www.`;
/// `line_start` says whether the text starts a line.
fn escape_from(text: &str, place: Place, line_start: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = line_start;
    let mut list_marker = false;
    for (index, &ch) in chars.iter().enumerate() {
        let before = index.checked_sub(1).map(|i| chars[i]);
        let after = chars.get(index + 1).copied();
        match ch {
            '\n' => {
                out.push_str(match place {
                    Place::Cell => "<br>",
                    Place::Item => "  \n  ",
                });
                line_start = true;
                continue;
            }
            '\r' => continue,
            // Leading blanks would make an indented code block: drop them.
            ' ' | '\t' if line_start => continue,
            '\\' | '`' | '*' | '[' | ']' | '<' | '|' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            // Inside a word (`TRTC_USER_SIG`) an underscore emphasises nothing.
            '_' if before.is_some_and(char::is_alphanumeric)
                && after.is_some_and(char::is_alphanumeric) =>
            {
                out.push('_')
            }
            '_' => out.push_str("\\_"),
            // `http://` and `www.` would become links (GitHub's autolinks): a report's text stays
            // text.
            ':' if chars[index + 1..].starts_with(&['/', '/']) => out.push_str("\\:"),
            '.' if index >= 3
                && chars[index - 3..index] == ['w', 'w', 'w']
                && (index == 3 || !chars[index - 4].is_alphanumeric()) =>
            {
                out.push_str("\\.")
            }
            // `&copy;` would be an entity.
            '&' if after.is_some_and(|next| next.is_ascii_alphanumeric() || next == '#') => {
                out.push_str("\\&")
            }
            '#' | '>' | '-' | '+' | '=' if line_start => {
                out.push('\\');
                out.push(ch);
            }
            // `1. ` would start a numbered list: the dot after the digits gets the backslash.
            ch if ch.is_ascii_digit() && line_start && ordered_marker(&chars[index..]) => {
                out.push(ch);
                list_marker = true;
            }
            '.' | ')' if list_marker => {
                out.push('\\');
                out.push(ch);
                list_marker = false;
            }
            ch if ch.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
            }
            ch => out.push(ch),
        }
        line_start = false;
    }
    out
}

/// Whether the characters start with digits followed by `.` or `)` (an ordered list marker).
fn ordered_marker(chars: &[char]) -> bool {
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && digits <= 9 && matches!(chars.get(digits), Some('.') | Some(')'))
}

/// A code span that holds `text` verbatim: fenced with more backticks than any run inside it,
/// padded when it starts or ends with a backtick; line breaks become spaces, and in a table cell
/// `|` is `\|` (GFM reads cells before code spans).
fn code(text: &str, place: Place) -> String {
    let mut body: String = text
        .chars()
        .map(|ch| match ch {
            '\n' | '\r' | '\t' => ' ',
            ch => ch,
        })
        .collect();
    body = body
        .chars()
        .map(|ch| {
            if ch.is_control() {
                format!("\\u{{{:x}}}", u32::from(ch))
            } else {
                ch.to_string()
            }
        })
        .collect();
    if place == Place::Cell {
        body = body.replace('|', "\\|");
    }
    if body.trim().is_empty() {
        return String::new();
    }
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_escaped_and_words_with_underscores_stay_readable() {
        assert_eq!(
            escape(
                "a <b> & c | *d* [e](f) _g_ TRTC_USER_SIG &amp; \\",
                Place::Item
            ),
            "a \\<b> & c \\| \\*d\\* \\[e\\](f) \\_g\\_ TRTC_USER_SIG \\&amp; \\\\"
        );
    }

    #[test]
    fn urls_do_not_become_links() {
        assert_eq!(
            escape(
                "see https://a.example/x and www.b.example, not awww.c",
                Place::Item
            ),
            "see https\\://a.example/x and www\\.b.example, not awww.c"
        );
    }

    #[test]
    fn cells_keep_line_breaks_as_br() {
        assert_eq!(escape("one\ntwo|three", Place::Cell), "one<br>two\\|three");
    }

    #[test]
    fn lines_that_would_start_a_block_are_escaped() {
        assert_eq!(escape("# no", Place::Item), "\\# no");
        assert_eq!(
            escape("a\n- b\n> c", Place::Item),
            "a  \n  \\- b  \n  \\> c"
        );
        assert_eq!(escape("2. not a list", Place::Item), "2\\. not a list");
        assert_eq!(escape("a 2. b", Place::Item), "a 2. b");
        assert_eq!(escape("    code", Place::Item), "code");
    }

    #[test]
    fn code_spans_outlast_backticks_inside_them() {
        assert_eq!(code("plain", Place::Item), "`plain`");
        assert_eq!(code("a`b", Place::Item), "``a`b``");
        assert_eq!(code("`x`", Place::Item), "`` `x` ``");
        assert_eq!(code("a|b", Place::Cell), "`a\\|b`");
        assert_eq!(code("two\nlines", Place::Item), "`two lines`");
        assert_eq!(code("", Place::Item), "");
    }

    #[test]
    fn catalog_spans_stay_code() {
        assert_eq!(
            inline("pass `--stun a|b` and *go*", Place::Cell, false),
            "pass `--stun a\\|b` and \\*go\\*"
        );
    }
}
