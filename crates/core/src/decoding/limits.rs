//! # How many rows one generation may run
//!
//! Beam search runs `num_beams` rows through the model at every step, and
//! sampling runs one row per returned sequence (`num_return_sequences`).
//! Every row costs memory that grows with the model, not with the prompt:
//!
//! ```text
//! bytes per row = (layers × 2 × kv_width × positions + vocab) × 4
//!                  └──── keys and values cached ────┘   └ logits ┘
//! ```
//!
//! where `kv_width` is what one layer caches per position for the keys
//! (the same again for the values: key/value heads × head dim), `positions`
//! is how long the row gets (prompt + new tokens, plus the source sequence
//! for an encoder-decoder's cross-attention) and every value is an `f32`.
//! It is a lower bound: the forward pass needs activations on top.
//!
//! Hugging Face accepts any `num_beams`; here a request is checked before
//! anything is allocated, in two steps:
//!
//! 1. [`check_row_cap`]: at most [`MAX_ROWS`] rows, whatever the model (the
//!    share-link parser clamps `beams` and `nrs` to the same cap);
//! 2. [`check_row_budget`]: the rows' key/value caches and logits must fit
//!    in [`ROW_MEMORY_BUDGET`] bytes for this model and length.
//!
//! A single row is always allowed: its size is set by `max_new_tokens` and
//! the context window, which the caller already bounds.

use super::DecodingError;

/// Most rows (beams, or sampled sequences) one generation may run. HF sets
/// no limit; beam search in practice uses 1–10 beams, and 64 keeps the
/// per-step beam bookkeeping (top `2 × beams` of `beams × vocab` scores) small.
pub const MAX_ROWS: usize = 64;

/// Bytes the rows of one generation may hold in key/value caches and logits:
/// 1 GiB, a quarter of the 4 GiB a wasm32 page can address at most, which
/// leaves room for the weights and the forward pass.
pub const ROW_MEMORY_BUDGET: usize = 1 << 30;

/// What one decoding row costs, as the model reports it
/// ([`super::StepModel::row_footprint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowFootprint {
    /// Layers that keep a key/value cache (0 for a model without one).
    pub layers: usize,
    /// Values one layer caches per position for the keys (and again for the
    /// values): key/value heads × head dim.
    pub kv_width: usize,
    /// Positions a row's cache holds at the end of generation.
    pub positions: usize,
    /// Logits per row (the vocabulary size).
    pub vocab: usize,
}

impl RowFootprint {
    /// `(layers × 2 × kv_width × positions + vocab) × 4` bytes, saturating at
    /// `usize::MAX` (which no budget admits).
    pub fn bytes(&self) -> usize {
        self.layers
            .saturating_mul(2)
            .saturating_mul(self.kv_width)
            .saturating_mul(self.positions)
            .saturating_add(self.vocab)
            .saturating_mul(4)
    }
}

/// The most rows that fit: `ROW_MEMORY_BUDGET / bytes per row`, capped at
/// [`MAX_ROWS`] and never below 1.
pub fn max_rows(footprint: &RowFootprint) -> usize {
    (ROW_MEMORY_BUDGET / footprint.bytes().max(1)).clamp(1, MAX_ROWS)
}

/// Refuses more than [`MAX_ROWS`] rows for `parameter` (`"num_beams"` or
/// `"num_return_sequences"`). Needs no model, so it runs before anything
/// is allocated.
pub fn check_row_cap(parameter: &'static str, rows: usize) -> Result<(), DecodingError> {
    if rows > MAX_ROWS {
        return Err(DecodingError::TooManyRows {
            parameter,
            requested: rows,
            limit: MAX_ROWS,
        });
    }
    Ok(())
}

/// Refuses `rows` rows when their key/value caches and logits would take
/// more than [`ROW_MEMORY_BUDGET`] bytes for this model (a single row always
/// passes).
pub fn check_row_budget(
    parameter: &'static str,
    rows: usize,
    footprint: &RowFootprint,
) -> Result<(), DecodingError> {
    check_row_cap(parameter, rows)?;
    let limit = max_rows(footprint);
    if rows > limit {
        return Err(DecodingError::RowsOverMemoryBudget {
            parameter,
            requested: rows,
            limit,
            bytes_per_row: footprint.bytes(),
            budget: ROW_MEMORY_BUDGET,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GPT-2 small (12 layers, width 768, vocabulary 50257) at its full
    /// 1024-token context.
    const GPT2_FULL: RowFootprint = RowFootprint {
        layers: 12,
        kv_width: 768,
        positions: 1024,
        vocab: 50257,
    };

    #[test]
    fn bytes_per_row_counts_keys_values_and_logits() {
        // 12 × 2 × 768 × 1024 cached floats + 50257 logits, 4 bytes each.
        assert_eq!(GPT2_FULL.bytes(), (12 * 2 * 768 * 1024 + 50257) * 4);
        let huge = RowFootprint {
            layers: usize::MAX,
            kv_width: 2,
            positions: 2,
            vocab: 1,
        };
        assert_eq!(huge.bytes(), usize::MAX);
    }

    #[test]
    fn budget_sets_the_row_limit_below_the_static_cap() {
        // 75.7 MiB per row: 14 rows fit in 1 GiB.
        assert_eq!(max_rows(&GPT2_FULL), 14);
        assert!(check_row_budget("num_beams", 14, &GPT2_FULL).is_ok());
        let err = check_row_budget("num_beams", 15, &GPT2_FULL).unwrap_err();
        assert!(
            matches!(
                err,
                DecodingError::RowsOverMemoryBudget {
                    limit: 14,
                    requested: 15,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = alloc::format!("{err}");
        assert!(
            message.contains("num_beams") && message.contains("14"),
            "{message}"
        );
        // A short generation on a small model: the static cap decides.
        let small = RowFootprint {
            layers: 6,
            kv_width: 192,
            positions: 10,
            vocab: 65,
        };
        assert_eq!(max_rows(&small), MAX_ROWS);
    }

    #[test]
    fn one_row_always_fits_and_the_cap_needs_no_model() {
        let enormous = RowFootprint {
            layers: 1 << 20,
            kv_width: 1 << 20,
            positions: 1 << 20,
            vocab: 1,
        };
        assert!(check_row_budget("num_return_sequences", 1, &enormous).is_ok());
        assert!(check_row_cap("num_beams", MAX_ROWS).is_ok());
        assert_eq!(
            check_row_cap("num_beams", 1_000_000),
            Err(DecodingError::TooManyRows {
                parameter: "num_beams",
                requested: 1_000_000,
                limit: MAX_ROWS
            })
        );
    }
}
