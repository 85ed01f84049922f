//! The trtc-preflight report document and one renderer per output format: reports render, they
//! do not decide.

pub mod area;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod metrics;
pub mod model;
mod phrases;
pub mod prometheus;
pub mod text;

pub use model::*;

/// The JSON Schema (draft 2020-12) of the `trtc-preflight/report/v1` document the `json` format
/// writes: `reports/schema/report.schema.json`.
pub const SCHEMA_JSON: &str = include_str!("../schema/report.schema.json");

/// An output format of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// For a person at a terminal.
    Text,
    /// The `trtc-preflight/report/v1` JSON document.
    Json,
    /// JUnit XML for CI systems.
    Junit,
    /// One self-contained HTML page for a person who opens it from an email or a ticket.
    Html,
    /// Markdown for tickets and chat: a summary table and the findings.
    Markdown,
    /// The Prometheus text exposition format, for node_exporter's textfile collector.
    Prometheus,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Junit,
        Format::Html,
        Format::Markdown,
        Format::Prometheus,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Prometheus => "prometheus",
        }
    }

    /// Parses a name used on the command line (any case).
    pub fn parse(name: &str) -> Option<Format> {
        let name = name.trim().to_ascii_lowercase();
        let name = match name.as_str() {
            "md" => "markdown",
            "prom" => "prometheus",
            other => other,
        };
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
    }
}

/// Options that change how a report looks, never what it says.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// Use ANSI colours (text only). The caller decides: a terminal, and `NO_COLOR` unset.
    pub color: bool,
    /// `--fail-on warning` is in force: JUnit reports a probe that warned as a failure, so the
    /// XML and the exit status agree.
    pub fail_on_warning: bool,
}

/// A report could not be turned into bytes.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// JSON serialisation failed.
    #[error("could not serialise the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JUnit serialisation failed.
    #[error("could not serialise the report as JUnit XML: {0}")]
    Junit(String),
}

/// Renders a report, finished or partial, in one format.
pub fn render(
    format: Format,
    report: &Report,
    options: RenderOptions,
) -> Result<Vec<u8>, RenderError> {
    match format {
        Format::Text => Ok(text::render(report, options)),
        Format::Json => json::render(report),
        Format::Junit => junit::render(report, options),
        Format::Html => Ok(html::render(report, options).into_bytes()),
        Format::Markdown => Ok(markdown::render(report).into_bytes()),
        Format::Prometheus => Ok(prometheus::render(report).into_bytes()),
    }
}
