//! Protocol of the tokenizers (issue #3) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "tokenize"` tag, e.g.
//! `{"kind":"tokenize","op":"..."}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TokenizeRequest {}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TokenizeResponse {}

impl TokenizeResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}
