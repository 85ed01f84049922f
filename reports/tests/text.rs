//! The text renderer: a snapshot of a representative report, and no escape byte without colour.

mod common;

use preflight_reports::{text, RenderOptions, Report};

fn plain(report: &Report) -> String {
    String::from_utf8(text::render(
        report,
        RenderOptions {
            color: false,
            ..RenderOptions::default()
        },
    ))
    .expect("UTF-8")
}

#[test]
fn full_report() {
    insta::assert_snapshot!(plain(&common::full_report()));
}

#[test]
fn interrupted_report() {
    insta::assert_snapshot!(plain(&common::interrupted_report()));
}

#[test]
fn no_escape_byte_without_colour() {
    for report in [
        common::full_report(),
        common::interrupted_report(),
        common::passing_report(),
    ] {
        let bytes = text::render(
            &report,
            RenderOptions {
                color: false,
                ..RenderOptions::default()
            },
        );
        assert!(
            !bytes.contains(&0x1b),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn colour_only_when_asked() {
    let coloured = String::from_utf8(text::render(
        &common::full_report(),
        RenderOptions {
            color: true,
            ..RenderOptions::default()
        },
    ))
    .unwrap();
    assert!(coloured.contains("\x1b[31mFAIL\x1b[0m"));
    assert!(coloured.contains("\x1b[33mWARN\x1b[0m"));
    assert!(coloured.contains("\x1b[32mPASS\x1b[0m"));
    assert!(coloured.contains("\x1b[2mSKIP\x1b[0m"));
    // Without the escapes, the coloured text is the plain text.
    let mut stripped = coloured.clone();
    for sgr in ["\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[2m", "\x1b[0m"] {
        stripped = stripped.replace(sgr, "");
    }
    assert_eq!(stripped, plain(&common::full_report()));
}
