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

/// `message` with every quoted run (between backticks or double quotes) longer than `max` bytes cut
/// to about `max` bytes and marked `…`, so an error never echoes a huge input back.
pub fn cap_quoted(message: &str, max: usize) -> String {
    let mut out = String::with_capacity(message.len().min(4 * max));
    // The open quote and the bytes kept inside it so far (None once cut).
    let mut quote: Option<(char, Option<usize>)> = None;
    for c in message.chars() {
        match quote {
            Some((q, _)) if c == q => {
                quote = None;
                out.push(c);
            }
            Some((q, Some(n))) if n + c.len_utf8() <= max => {
                quote = Some((q, Some(n + c.len_utf8())));
                out.push(c);
            }
            Some((q, Some(_))) => {
                quote = Some((q, None));
                out.push('…');
            }
            Some((_, None)) => {}
            None => {
                if c == '`' || c == '"' {
                    quote = Some((c, Some(0)));
                }
                out.push(c);
            }
        }
    }
    out
}

/// Returns early with a formatted [`Error`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}
