//! # Instruction tuning: turning conversations into training text
//!
//! - [`chat_template`] (std): a checkpoint's Jinja chat template rendered
//!   exactly as transformers' `apply_chat_template`, with the assistant's
//!   characters marked so that only the answer carries loss.
//! - [`data`]: Alpaca and chat records rendered in a plain prompt format and
//!   tokenized with labels on the answer only.
//! - [`builtin`]: the built-in instruction set, generated from a seed with a
//!   held-out split.

use alloc::string::String;
use core::fmt;

pub mod builtin;
#[cfg(feature = "std")]
pub mod chat_template;
pub mod data;

/// What can go wrong when preparing instruction data.
#[derive(Clone, Debug, PartialEq)]
pub enum InstructionError {
    /// The chat template does not compile, or is missing or too large.
    Template(String),
    /// Rendering failed (the template raised an error, ran out of fuel, ...).
    Render(String),
    /// The messages are not a list of objects, or hold reserved characters.
    Messages(String),
    /// Instruction data is not Alpaca JSON(L) or chat JSONL (the message
    /// names the record or line).
    Data(String),
    /// An example cannot be tokenized, or does not fit the model's context.
    Tokenize(String),
}

impl fmt::Display for InstructionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Template(msg) => write!(f, "chat template: {msg}"),
            Self::Render(msg) => write!(f, "chat template failed: {msg}"),
            Self::Messages(msg) => write!(f, "messages: {msg}"),
            Self::Data(msg) => write!(f, "instruction data: {msg}"),
            Self::Tokenize(msg) => write!(f, "tokenizing an example: {msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for InstructionError {}
