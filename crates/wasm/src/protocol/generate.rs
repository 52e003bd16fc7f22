//! Protocol of the decoding (issue #5) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "generate"` tag, e.g.
//! `{"kind":"generate","op":"..."}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GenerateRequest {}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GenerateResponse {}

impl GenerateResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}
