//! The JSON renderer: the report document as DESIGN.md and the schema specify it.

use crate::{RenderError, Report};

/// Serialises the report as pretty-printed JSON followed by a newline.
pub fn render(report: &Report) -> Result<Vec<u8>, RenderError> {
    let mut bytes = serde_json::to_vec_pretty(report)?;
    bytes.push(b'\n');
    Ok(bytes)
}
