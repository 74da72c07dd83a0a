//! minnow's one error type: a message meant for a person (it names the shapes, the field, the line).
//! Every fallible API returns `Result<T>`; nothing in the engine panics on bad input.

use std::fmt;

/// An error with a human-readable message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

/// `std::result::Result` with minnow's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

/// `text` cut to `max` characters, marked `…` when cut: how a message echoes input that can be as
/// long as a file (a CSV cell, a metadata value, a parser's message quoting a header).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Returns early with a formatted [`Error`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}
