//! Validation helpers for `config.json` fields.
//!
//! Sizes from a config decide how much memory a model needs, so each is
//! checked for being positive and under a generous cap before anything is
//! allocated; shapes in the weights are then cross-checked against them.

use super::LoadError;
use alloc::format;

/// Largest accepted vocabulary.
pub const MAX_VOCAB: usize = 1 << 20;
/// Largest accepted width (hidden size, FFN size).
pub const MAX_WIDTH: usize = 1 << 17;
/// Largest accepted layer count.
pub const MAX_LAYERS: usize = 512;
/// Largest accepted head count.
pub const MAX_HEADS: usize = 1024;
/// Largest accepted position table / context length.
pub const MAX_POSITIONS: usize = 1 << 22;

/// `value` must be in `1..=cap`.
pub fn check_size(field: &str, value: usize, cap: usize) -> Result<(), LoadError> {
    if value == 0 {
        return Err(LoadError::Config(format!("{field} must be positive")));
    }
    if value > cap {
        return Err(LoadError::Config(format!("{field} = {value} exceeds the limit of {cap}")));
    }
    Ok(())
}

/// `whole` must be a multiple of `part` (e.g. heads dividing the width).
pub fn check_divides(whole_field: &str, whole: usize, part_field: &str, part: usize) -> Result<(), LoadError> {
    if part == 0 || whole % part != 0 {
        return Err(LoadError::Config(format!("{part_field} ({part}) must divide {whole_field} ({whole})")));
    }
    Ok(())
}

/// `value` must be finite and positive (epsilons, RoPE θ).
pub fn check_positive_float(field: &str, value: f64) -> Result<(), LoadError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(LoadError::Config(format!("{field} must be a positive finite number, got {value}")));
    }
    Ok(())
}

/// Parses `config.json` text into `T`, mapping serde errors to [`LoadError::Config`].
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, LoadError> {
    serde_json::from_str(text).map_err(|e| LoadError::Config(format!("{e}")))
}
