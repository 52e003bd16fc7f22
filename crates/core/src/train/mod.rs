//! Training: backpropagation through a decoder-only transformer, AdamW with
//! warmup + cosine decay, gradient clipping and accumulation, and mixed
//! precision, on the same layers as inference (one model definition), so the
//! same code trains natively and in the browser's worker.
//!
//! - [`model`]: the GPT-2 / Llama shaped model: the inference engine's
//!   `DecoderOnly` (layers in `nn/`, each with its hand-written backward)
//!   holding f32 master weights, and its gradients.
//! - [`optim`]: learning-rate schedule, clipping, AdamW.
//! - [`precision`]: bf16/fp16 compute and fp16 dynamic loss scaling.
//! - [`trainer`]: the step loop (accumulation, precision, schedule) and
//!   evaluation in nats per character.
//! - [`checkpoint`]: Hugging Face `safetensors` + `config.json` in and out.
//! - [`toy`]: built-in toy tasks (addition, reversal, a bracket grammar)
//!   with exact-match accuracy.
//! - [`char_tokenizer`]: the character-level vocabulary and its HF
//!   `tokenizer.json`.
//! - [`recipe`]: settings → text split, tokenizer, model shape and AdamW,
//!   shared by `llmlab train` and the browser's Train tab.

use alloc::string::String;
use core::fmt;

pub mod char_tokenizer;
pub mod checkpoint;
pub mod config;
pub mod model;
pub mod optim;
pub mod precision;
pub mod recipe;
pub mod toy;
pub mod trainer;

pub use config::{Arch, Config};
pub use model::Model;
pub use precision::Precision;

/// Everything that can go wrong while training.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// Buffers or tensors whose sizes do not fit together (the message says which).
    Shape(&'static str),
    /// A token id that is not in the vocabulary.
    TokenOutOfRange(u32),
    /// An unusable model configuration.
    Config(String),
    /// `backward` called without a preceding forward pass with targets.
    NoForward,
    /// A checkpoint, config or tokenizer file that cannot be read.
    Format(String),
    /// Not enough text to cut one training sequence.
    NotEnoughData,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shape(what) => write!(f, "shape error: {what}"),
            Self::TokenOutOfRange(t) => write!(f, "token id {t} is outside the vocabulary"),
            Self::Config(msg) => write!(f, "invalid model config: {msg}"),
            Self::NoForward => write!(f, "backward needs a forward pass with targets first"),
            Self::Format(msg) => write!(f, "invalid file: {msg}"),
            Self::NotEnoughData => write!(f, "not enough text for one training sequence"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TrainError {}
