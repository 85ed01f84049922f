//! Secrets: userSig, privateMapKey, the application's secret key, the TURN password, the `serve`
//! token. They come from environment variables or files, and this type keeps them out of every
//! output: `Debug` and `Display` print where the secret came from, never its text.

use std::fmt;
use std::path::Path;

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
