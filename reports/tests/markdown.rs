//! The Markdown renderer: snapshots of representative reports, and the output read back by
//! GitHub's own Markdown implementation (`cmark-gfm`, Debian package `cmark-gfm`): the summary
//! table has a row per probe and five cells in each, every error and warning is in the findings
//! with its text intact, and nothing in a report became markup. Without `cmark-gfm` the reading
//! test says so and passes, unless `TRTC_PREFLIGHT_REQUIRE_PEERS=1` (CI) makes that a failure.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use preflight_reports::{markdown, Report, Severity};

#[test]
fn full_report() {
    insta::assert_snapshot!(markdown::render(&common::full_report()));
}

#[test]
fn interrupted_report() {
    insta::assert_snapshot!(markdown::render(&common::interrupted_report()));
}

#[test]
fn showcase_report() {
    insta::assert_snapshot!(markdown::render(&common::showcase_report()));
}

#[test]
fn every_table_row_has_five_cells_whatever_the_text() {
    let text = markdown::render(&common::showcase_report());
    let rows: Vec<&str> = text.lines().filter(|line| line.starts_with("| ")).collect();
    // The header and a row per probe (the delimiter row starts with `|-`).
    assert_eq!(rows.len(), 1 + common::showcase_report().probes.len());
    for row in rows {
        // Unescaped pipes delimit the cells: six of them around five cells.
        let delimiters = row
            .char_indices()
            .filter(|(at, ch)| *ch == '|' && (*at == 0 || row.as_bytes()[at - 1] != b'\\'))
            .count();
        assert_eq!(delimiters, 6, "{row}");
    }
}

/// `cmark-gfm` with GitHub's extensions (tables, strikethrough, autolinks) in its safe mode, which
/// drops raw HTML (the test detects that); `None` when it is not installed.
fn cmark_gfm(markdown: &str) -> Option<String> {
    let binary = "/usr/bin/cmark-gfm";
    if !Path::new(binary).is_file() {
        let what = "no /usr/bin/cmark-gfm (Debian package cmark-gfm)";
        if std::env::var("TRTC_PREFLIGHT_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{what}; TRTC_PREFLIGHT_REQUIRE_PEERS=1 requires every test peer");
        }
        eprintln!("SKIPPED: {what} (TRTC_PREFLIGHT_REQUIRE_PEERS=1 makes this a failure)");
        return None;
    }
    let mut child = Command::new(binary)
        .args([
            "--extension",
            "table",
            "--extension",
            "strikethrough",
            "--extension",
            "autolink",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cmark-gfm starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(markdown.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    Some(String::from_utf8(output.stdout).unwrap())
}

/// The text of rendered HTML: tags dropped, entities decoded, blanks collapsed.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            ch if !in_tag => text.push(ch),
            _ => {}
        }
    }
    common::squash(
        &text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

#[test]
fn github_markdown_reads_the_table_and_every_finding_as_text() {
    for report in [
        common::showcase_report(),
        common::full_report(),
        common::interrupted_report(),
        common::passing_report(),
    ] {
        let source = markdown::render(&report);
        let Some(html) = cmark_gfm(&source) else {
            return;
        };
        // Nothing became markup: no raw HTML (cmark-gfm would drop it), no link, no image, no
        // list or heading made out of a finding's lines.
        assert!(!html.contains("raw HTML omitted"), "{html}");
        for tag in [
            "<a ",
            "<img",
            "<script",
            "<em>",
            "<del>",
            "<blockquote>",
            "<ol",
        ] {
            assert!(!html.contains(tag), "{tag} in\n{html}");
        }
        assert_eq!(html.matches("<table>").count(), 1, "{html}");
        assert_eq!(
            html.matches("<tr>").count(),
            1 + report.probes.len(),
            "{html}"
        );
        assert_eq!(
            html.matches("<td").count(),
            5 * report.probes.len(),
            "{html}"
        );
        let problems: Vec<_> = report
            .probes
            .iter()
            .flat_map(|probe| &probe.findings)
            .filter(|finding| finding.severity >= Severity::Warning)
            .collect();
        assert_eq!(html.matches("<li>").count(), problems.len(), "{html}");
        // Headings: the verdict, "Findings" when there are problems, and a probe each.
        let probes_with_problems = report
            .probes
            .iter()
            .filter(|probe| {
                probe
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning)
            })
            .count();
        let headings = html.matches("<h2>").count()
            + html.matches("<h3>").count()
            + html.matches("<h4>").count();
        assert_eq!(
            headings,
            1 + usize::from(!problems.is_empty()) + probes_with_problems,
            "{html}"
        );
        let text = text_of(&html);
        for finding in problems {
            for field in [&finding.description, &finding.evidence, &finding.fix] {
                let want = common::as_rendered(field);
                assert!(text.contains(&want), "{want:?} not in\n{text}");
            }
            if let (Some(code), Some(name), Some(hex)) = (finding.code, &finding.name, &finding.hex)
            {
                assert!(text.contains(&format!("{code} {name} {hex}")), "{text}");
            }
            if let Some(message) = &finding.message {
                assert!(text.contains(message.as_str()), "{text}");
            }
        }
        check_verdict(&report, &text);
    }
}

fn check_verdict(report: &Report, text: &str) {
    let word = match report.verdict {
        preflight_reports::Verdict::Pass => "PASS",
        preflight_reports::Verdict::Warn => "WARN",
        preflight_reports::Verdict::Fail => "FAIL",
    };
    assert!(
        text.starts_with(&format!("trtc-preflight: {word}")),
        "{text}"
    );
}
