//! Errors of the tokenizer pipeline and of tokenizer.json loading.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong while loading, running or training a tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerError {
    /// The file is not valid JSON (truncated, garbage, nested too deep...).
    Json(String),
    /// A field is missing or has the wrong JSON type; `path` names it.
    Field {
        /// Where in the document, e.g. `model.vocab`.
        path: String,
        /// What we expected there.
        expected: &'static str,
    },
    /// A component type that this implementation does not support (named).
    Unsupported {
        /// The pipeline stage, e.g. `normalizer`.
        stage: &'static str,
        /// The component as written in the file, e.g. `Nmt`.
        name: String,
    },
    /// A size from the file is above our safety limit.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A token referenced by the file is not in the vocabulary.
    UnknownToken {
        /// Where it was referenced.
        context: &'static str,
        /// The token.
        token: String,
    },
    /// An id in the file is outside the vocabulary, or two tokens share one.
    BadId {
        /// Where.
        context: &'static str,
        /// The id.
        id: u64,
    },
    /// A field has a value of the right type but not an acceptable one.
    Invalid {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// A `Split` regex ran past its time budget on one piece of text.
    TimeLimit {
        /// The regex as written in tokenizer.json.
        pattern: String,
        /// Bytes in the piece of text it was splitting.
        bytes: usize,
        /// The budget it ran out of, in milliseconds.
        limit_ms: u64,
    },
    /// The input text is too large to encode (offsets are kept in u32).
    InputTooLarge(usize),
    /// Training could not produce a tokenizer.
    Training(String),
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "tokenizer.json is not valid JSON: {e}"),
            Self::Field { path, expected } => write!(f, "tokenizer.json: `{path}` must be {expected}"),
            Self::Unsupported { stage, name } => write!(f, "unsupported {stage} `{name}`"),
            Self::TooLarge { what, size, limit } => {
                write!(f, "tokenizer.json: {what} has {size} entries, more than the limit of {limit}")
            }
            Self::UnknownToken { context, token } => {
                write!(f, "tokenizer.json: {context} names `{token}`, which is not in the vocabulary")
            }
            Self::BadId { context, id } => write!(f, "tokenizer.json: {context} has an invalid id {id}"),
            Self::Invalid { path, reason } => write!(f, "tokenizer.json: `{path}`: {reason}"),
            Self::TimeLimit { pattern, bytes, limit_ms } => write!(
                f,
                "tokenizer.json: Split regex `{pattern}` ran for more than {limit_ms} ms on a piece of {bytes} bytes \
                 (SPLIT_TIME_LIMIT_BASE + SPLIT_TIME_LIMIT_PER_BYTE per byte); the pattern is too costly on this text"
            ),
            Self::InputTooLarge(n) => write!(f, "input of {n} bytes is too large to encode"),
            Self::Training(e) => write!(f, "training failed: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TokenizerError {}
