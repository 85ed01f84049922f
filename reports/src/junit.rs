//! The JUnit XML renderer (to be written).

use crate::{RenderError, Report};

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> Result<Vec<u8>, RenderError> {
    let _ = report;
    Err(RenderError::Junit("not written yet".into()))
}
