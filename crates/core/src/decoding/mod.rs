//! # Decoding: turning next-token logits into text
//!
//! A language model only ever answers one question: "given these tokens, how
//! likely is each possible next token?". Decoding is everything that happens
//! between that answer and the text on screen. This module reproduces
//! Hugging Face `transformers.generate` (5.x) step for step, so that the same
//! model gives the same tokens here as in Python:
//!
//! - [`logits_process`]: the logits processors (repetition penalty,
//!   no-repeat-n-gram, minimum length) and the sampling warpers (temperature,
//!   top-k, top-p, min-p, typical-p), composed in exactly HF's order.
//! - [`sampling`]: softmax / log-softmax in `f32` as torch computes them, and
//!   the seeded categorical draw ([`crate::rng::Rng`]).
//! - [`greedy`]: argmax with torch's tie rule.
//! - [`beam_search`]: HF's vectorised beam search (top-2k continuations,
//!   finished-hypothesis bank, length penalty, `early_stopping`
//!   true / false / "never").
//! - [`stopping`]: EOS, `max_new_tokens` and stop strings.
//! - [`limits`]: how many beams / returned sequences fit in memory, checked
//!   before anything is allocated.
//! - [`settings`]: the checkpoint's `generation_config.json`, the user's
//!   settings and transformers' defaults, resolved into one [`GenerateConfig`]
//!   with HF's precedence (used by the CLI and the browser alike).
//! - [`generate`]: the driver that runs any [`StepModel`] (decoder-only or
//!   encoder-decoder behind the same trait) with one of the strategies and
//!   reports every step to a callback (streaming, probability bars, beam tree).

pub mod adapters;
pub mod beam_search;
pub mod generate;
pub mod greedy;
pub mod limits;
pub mod logits_process;
pub mod sampling;
pub mod settings;
pub mod stopping;

use alloc::string::String;
use core::fmt;

pub use generate::{generate, generate_batch, GenerateConfig, GeneratedSequence, Generation, StepEvent, Strategy};
pub use limits::RowFootprint;
pub use logits_process::{LogitsPipeline, ProcessReport, WarperConfig};

/// What can go wrong while decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodingError {
    /// The model produced a NaN logit (HF would silently propagate it; we stop).
    NanLogits {
        /// Generation step (0 = first new token) at which it happened.
        step: usize,
    },
    /// A logit was `+inf`, which makes softmax undefined.
    PositiveInfiniteLogits {
        /// Generation step at which it happened.
        step: usize,
    },
    /// The processors removed every token, so nothing can be chosen.
    AllTokensFiltered {
        /// Generation step at which it happened.
        step: usize,
    },
    /// A generation parameter is outside the range HF accepts.
    InvalidParameter(String),
    /// The logits row handed back by the model has the wrong length.
    LogitsShape {
        /// Expected number of values (rows × vocabulary).
        expected: usize,
        /// Number the model returned.
        got: usize,
    },
    /// The prompt is empty: there is nothing to condition on.
    EmptyPrompt,
    /// The model's forward pass failed (message from the model).
    Model(String),
    /// More beams / returned sequences than [`limits::MAX_ROWS`].
    TooManyRows {
        /// `"num_beams"` or `"num_return_sequences"`.
        parameter: &'static str,
        /// The value asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// The rows' key/value caches and logits would exceed
    /// [`limits::ROW_MEMORY_BUDGET`] for this model.
    RowsOverMemoryBudget {
        /// `"num_beams"` or `"num_return_sequences"`.
        parameter: &'static str,
        /// The value asked for.
        requested: usize,
        /// The most rows that fit.
        limit: usize,
        /// What one row needs, in bytes.
        bytes_per_row: usize,
        /// The budget, in bytes.
        budget: usize,
    },
}

impl fmt::Display for DecodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodingError::NanLogits { step } => {
                write!(f, "the model produced NaN logits at generation step {step}")
            }
            DecodingError::PositiveInfiniteLogits { step } => {
                write!(f, "the model produced +inf logits at generation step {step}")
            }
            DecodingError::AllTokensFiltered { step } => write!(
                f,
                "every token was filtered out at generation step {step} (check top-k/top-p/min-p/typical-p, \
                 no-repeat-ngram and min-new-tokens settings)"
            ),
            DecodingError::InvalidParameter(msg) => write!(f, "invalid generation parameter: {msg}"),
            DecodingError::LogitsShape { expected, got } => {
                write!(f, "the model returned {got} logits, expected {expected}")
            }
            DecodingError::EmptyPrompt => write!(f, "the prompt is empty (HF needs at least one input token)"),
            DecodingError::Model(msg) => write!(f, "model error: {msg}"),
            DecodingError::TooManyRows { parameter, requested, limit } => write!(
                f,
                "{parameter} = {requested} is over the limit of {limit} rows per generation (MAX_ROWS)"
            ),
            DecodingError::RowsOverMemoryBudget { parameter, requested, limit, bytes_per_row, budget } => write!(
                f,
                "{parameter} = {requested} does not fit in memory: each row needs {:.1} MiB of key/value cache and \
                 logits for this model and length, and the budget is {} MiB (ROW_MEMORY_BUDGET), so at most \
                 {limit} rows; lower {parameter} or max_new_tokens",
                *bytes_per_row as f64 / (1u64 << 20) as f64,
                budget >> 20
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodingError {}

/// A model as decoding sees it: a batch of `rows` sequences that grow by one
/// token per step, with a key/value cache so each step costs one position.
///
/// Decoder-only models run the prompt in [`StepModel::start`]; an
/// encoder-decoder model (T5) runs its encoder once when it is built and
/// treats the decoder start ids as the "prompt". Logits are returned flat,
/// row-major: `rows × vocab_size` values for the last position of each row.
pub trait StepModel {
    /// Number of logits per row (the LM head width).
    fn vocab_size(&self) -> usize;
    /// Maximum total sequence length the model can attend over, if bounded.
    fn max_positions(&self) -> Option<usize>;
    /// Reset the cache, run `prompt` once for each of `rows` identical rows and
    /// return the last position's logits, `rows × vocab_size`.
    fn start(&mut self, prompt: &[u32], rows: usize) -> Result<alloc::vec::Vec<f32>, String>;
    /// Several prompts at once: `prompts` are left-padded to one length with
    /// `attention_mask` 0 on the padding (as HF's tokenizer pads for
    /// generation); each prompt runs for `rows_per_prompt` consecutive rows
    /// (HF's `repeat_interleave`). Returns `(prompts × rows_per_prompt) ×
    /// vocab_size` logits. Models that decode one prompt at a time accept a
    /// single unpadded prompt only.
    fn start_batch(
        &mut self,
        prompts: &[alloc::vec::Vec<u32>],
        attention_mask: &[alloc::vec::Vec<u8>],
        rows_per_prompt: usize,
    ) -> Result<alloc::vec::Vec<f32>, String> {
        match (prompts, attention_mask) {
            ([prompt], [mask]) if mask.iter().all(|&m| m == 1) => self.start(prompt, rows_per_prompt),
            _ => Err(String::from("this model decodes one prompt at a time (batched prompts need a decoder-only model)")),
        }
    }
    /// Append one token per row (`tokens.len() == rows`) and return the new
    /// last-position logits, `rows × vocab_size`.
    fn step(&mut self, tokens: &[u32]) -> Result<alloc::vec::Vec<f32>, String>;
    /// Keep cache row `beam_idx[i]` as new row `i` (beam search reorders, and
    /// sampling with several sequences never needs to).
    fn reorder(&mut self, beam_idx: &[usize]) -> Result<(), String>;
    /// What one row costs in memory once it holds `positions` tokens (see
    /// [`limits`]). The default counts only the logits, as for a model
    /// without a key/value cache.
    fn row_footprint(&self, positions: usize) -> RowFootprint {
        RowFootprint {
            layers: 0,
            kv_width: 0,
            positions,
            vocab: self.vocab_size(),
        }
    }
}
