//! Protocol of the metrics and perplexity (issue #6) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "evaluate"` tag, e.g.
//! `{"kind":"evaluate","op":"..."}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EvaluateRequest {}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EvaluateResponse {}

impl EvaluateResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}
