//! Protocol of the model loading and introspection (issue #4) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "model"` tag, e.g.
//! `{"kind":"model","op":"..."}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModelRequest {}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModelResponse {}

impl ModelResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}
