//! The text renderer (to be written).

use crate::{RenderOptions, Report};

/// Renders the report for a person.
pub fn render(report: &Report, options: RenderOptions) -> Vec<u8> {
    let _ = options;
    format!("{report:?}\n").into_bytes()
}
