//! Secrets: userSig, privateMapKey, the application's secret key, the TURN password, the `serve`
//! token. They come from environment variables or files, and this type keeps them out of every
//! output: `Debug` and `Display` print where the secret came from, never its text.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// Every secret this process has read, so that the log writer can take them out of whatever a
/// library logs (a WebSocket library traces its whole upgrade request, headers included).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The shortest secret the log writer looks for (shorter ones would match ordinary words).
const SHORTEST_REDACTED: usize = 6;

/// Remembers `text` as a secret: the log writer replaces it with `***`.
pub fn register(text: &str) {
    let text = text.trim();
    if text.len() < SHORTEST_REDACTED {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    if !known.iter().any(|secret| secret == text) {
        known.push(text.to_string());
        // Longest first: a secret that contains another is replaced whole.
        known.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = std::borrow::Cow::Borrowed(text);
    for secret in known.iter() {
        if text.contains(secret.as_str()) {
            text = std::borrow::Cow::Owned(text.replace(secret.as_str(), "***"));
        }
    }
    text
}

/// The log writer: standard error, one event at a time, registered secrets replaced.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactingStderr;

/// One event being written (see [`RedactingStderr`]).
pub struct RedactedEvent(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactedEvent;

    fn make_writer(&'a self) -> RedactedEvent {
        RedactedEvent(Vec::with_capacity(256))
    }
}

impl Write for RedactedEvent {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedEvent {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(redact(&text).as_bytes());
    }
}

/// Where a secret was read from, for evidence ("TRTC_USER_SIG is empty").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An environment variable.
    Env(&'static str),
    /// A file, as given on the command line or in a profile.
    File(String),
    /// Made by this run (`demo`'s token for its own `serve`).
    Generated,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(name) => write!(f, "the environment variable {name}"),
            Source::File(path) => write!(f, "the file {path}"),
            Source::Generated => write!(f, "a value generated for this run"),
        }
    }
}

/// A secret value and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    /// Where it was read from.
    pub source: Source,
}

impl Secret {
    /// A secret read from `source`. Surrounding whitespace (a file's final newline) is dropped.
    pub fn new(text: &str, source: Source) -> Secret {
        register(text);
        Secret {
            text: text.trim().to_string(),
            source,
        }
    }

    /// Reads a secret from a file.
    pub fn from_file(path: &Path, shown_as: String) -> std::io::Result<Secret> {
        let text = std::fs::read_to_string(path)?;
        Ok(Secret::new(&text, Source::File(shown_as)))
    }

    /// The secret's text. Call only where the value is used, never to show it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// Characters in the secret (reports may show the length, never the text).
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} characters from {})", self.len(), self.source)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret from {}>", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_text() {
        let secret = Secret::new("  hunter2\n", Source::Env("TRTC_USER_SIG"));
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }
}
