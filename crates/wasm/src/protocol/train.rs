//! Protocol of the training in the worker (issue #7) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "train"` tag, e.g.
//! `{"kind":"train","op":"..."}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TrainRequest {}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TrainResponse {}

impl TrainResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}
