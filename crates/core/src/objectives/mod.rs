//! # Pre-training objectives: what the model is asked to predict
//!
//! The three families of the curriculum differ less in their layers than in
//! the question each training example asks:
//!
//! - **causal LM** (GPT): predict token `t+1` from tokens `..=t`; the labels
//!   are the inputs shifted by one (see `models::gradients::causal_lm_loss`).
//! - **masked LM** (BERT), [`mlm_masking`]: hide 15% of the tokens and predict
//!   them from both sides, exactly as transformers'
//!   `DataCollatorForLanguageModeling` builds the batch.
//! - **span corruption** (T5), [`span_corruption`]: replace random spans by
//!   sentinel tokens in the encoder input; the decoder writes each sentinel
//!   followed by the span it hid, as in transformers' `run_t5_mlm_flax.py`.
//!
//! Every random decision is drawn from [`crate::rng::Rng`] (seeded), and can
//! also be handed in from outside, so that a test feeds the very same
//! decisions to the reference implementation and compares the batches.

use alloc::string::String;
use core::fmt;

pub mod mlm_masking;
pub mod span_corruption;

/// What can go wrong while building an objective's batch.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectiveError {
    /// Rows of a batch (or of its decisions / mask) that do not have the same shape.
    Shape(String),
    /// A probability outside `[0, 1]`, or settings that cannot be combined.
    Setting(String),
    /// The tokenizer lacks a token the objective needs (e.g. `[MASK]`).
    MissingToken(String),
    /// A sequence too short for the objective (span corruption needs 2 tokens).
    TooShort {
        /// The length given.
        length: usize,
        /// The least length that works.
        minimum: usize,
    },
}

impl fmt::Display for ObjectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            Self::Setting(msg) => write!(f, "invalid setting: {msg}"),
            Self::MissingToken(msg) => write!(f, "missing token: {msg}"),
            Self::TooShort { length, minimum } => {
                write!(f, "a sequence of {length} tokens is too short (span corruption needs at least {minimum})")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ObjectiveError {}

/// A batch as the model sees it: inputs and labels (`-100` = not scored).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectiveBatch {
    /// `(B, T_in)` model inputs.
    pub input_ids: alloc::vec::Vec<alloc::vec::Vec<i64>>,
    /// `(B, T_out)` labels; `-100` where nothing is predicted.
    pub labels: alloc::vec::Vec<alloc::vec::Vec<i64>>,
}

/// Ids of the tokenizer's special tokens (`[CLS]`, `[PAD]`, `<extra_id_0>`,
/// ...): the positions the masked-LM collator never selects, as
/// transformers' `all_special_ids`.
pub fn special_ids(tokenizer: &crate::tokenizers::Tokenizer) -> alloc::vec::Vec<u32> {
    let mut ids: alloc::vec::Vec<u32> =
        tokenizer.added_vocabulary.tokens().into_iter().filter(|(_, t)| t.special).map(|(id, _)| id).collect();
    ids.sort_unstable();
    ids
}

/// The mask token of a BERT-style tokenizer (`[MASK]`, or RoBERTa's `<mask>`).
pub fn mask_token_id(tokenizer: &crate::tokenizers::Tokenizer) -> Result<u32, ObjectiveError> {
    ["[MASK]", "<mask>"]
        .iter()
        .find_map(|t| tokenizer.token_to_id(t))
        .ok_or_else(|| ObjectiveError::MissingToken("the tokenizer has no [MASK] or <mask> token".into()))
}
