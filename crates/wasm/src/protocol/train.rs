//! Protocol of the training in the worker (issue #7) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "train"` tag, e.g.
//! `{"kind":"train","op":"start", ...}`.
//!
//! One run lives in the worker between jobs:
//! - `start` builds the data, tokenizer, model and optimiser, then trains;
//!   it streams `started`, `steps` (loss, lr, tokens/s, grad norm) and
//!   `eval` (validation loss, samples, toy accuracy) and ends with
//!   `finished`, or with the generic `Cancelled` when the UI pauses it.
//! - `resume` continues the same run from the step it stopped at.
//! - `reset` drops the run.
//! - `export` returns the HF files; `use_model` makes the trained model the
//!   one every tab uses.

use crate::protocol::model::NamedFile;
use serde::{Deserialize, Serialize};

/// Where the training text comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum TrainData {
    /// Text the user pasted or uploaded.
    Text {
        /// The whole corpus.
        text: String,
    },
    /// A built-in toy task generated from the run's seed
    /// (`addition`, `reversal` or `grammar`).
    Toy {
        /// The task's key.
        task: String,
    },
}

/// Everything a run needs (the Train tab's settings).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainSettings {
    /// The corpus.
    pub data: TrainData,
    /// Fine-tune the model the session has loaded (its weights and its
    /// `tokenizer.json`) instead of a new one; `tokenizer`, `arch`, `layers`,
    /// `heads` and `width` are then the checkpoint's and ignored.
    #[serde(default)]
    pub from_loaded: bool,
    /// `char` or `bpe:N`.
    pub tokenizer: String,
    /// `gpt2` (learned positions, LayerNorm, GELU) or `llama` (RoPE,
    /// RMSNorm, SwiGLU).
    pub arch: String,
    /// Transformer blocks.
    pub layers: u32,
    /// Attention heads.
    pub heads: u32,
    /// Residual width (n_embd).
    pub width: u32,
    /// Context length (tokens per training sequence).
    pub context: u32,
    /// Sequences per micro-batch.
    pub batch: u32,
    /// Optimiser steps (the cosine decays to 0 at the last one).
    pub steps: u32,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: u32,
    /// Micro-batches accumulated per step.
    pub accum: u32,
    /// `fp32`, `bf16` or `fp16`.
    pub precision: String,
    /// Seed of initialisation, batches, toy data and samples.
    pub seed: u64,
    /// Fraction of the text (at its end) held out for validation.
    pub val_fraction: f64,
}

/// One optimiser step's statistics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepPoint {
    /// Steps done (1-based).
    pub step: u32,
    /// Mean training loss of the step, nats per token.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Training tokens per second so far in this job (evaluation excluded).
    pub tokens_per_sec: f64,
    /// True when fp16 overflow skipped the update.
    pub skipped: bool,
}

/// A periodic evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalPoint {
    /// Steps done when it was taken.
    pub step: u32,
    /// Validation loss, nats per token.
    pub val_loss: f64,
    /// Validation loss, nats per character of text.
    pub val_nats_per_char: f64,
    /// Exact-match accuracy on fresh toy examples (toy tasks only).
    pub accuracy: Option<f64>,
    /// Text the model wrote (toy tasks: prompts with greedy answers).
    pub sample: String,
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TrainRequest {
    /// Build a new run (replacing any previous one) and train it.
    Start {
        /// The run's settings.
        settings: TrainSettings,
    },
    /// Continue the paused run.
    Resume,
    /// Drop the run and free its memory.
    Reset,
    /// The trained model as HF files (`config.json`, `model.safetensors`,
    /// `tokenizer.json`).
    Export,
    /// Make the trained model the session's model for every tab.
    UseModel,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TrainResponse {
    /// The run is set up (streamed first by `start` and `resume`).
    Started {
        /// Trainable parameters.
        params: u64,
        /// Tokenizer vocabulary.
        vocab_size: u32,
        /// Training tokens.
        train_tokens: u64,
        /// Validation tokens.
        val_tokens: u64,
        /// Steps already done (0 for a fresh run).
        step: u32,
        /// Total steps of the schedule.
        total_steps: u32,
    },
    /// Steps done since the last message (streamed).
    Steps {
        /// One point per step.
        points: Vec<StepPoint>,
    },
    /// A periodic evaluation (streamed).
    Eval(EvalPoint),
    /// All steps of the schedule are done (final).
    Finished {
        /// Steps done.
        step: u32,
        /// Training tokens per second over this job.
        tokens_per_sec: f64,
    },
    /// The run was dropped (final).
    ResetDone,
    /// The HF files (final).
    Exported {
        /// `config.json`, `model.safetensors`, `tokenizer.json`.
        files: Vec<NamedFile>,
    },
    /// The trained model is now the session's model (final); the UI then
    /// asks `model/info` for its summary.
    InUse {
        /// The label it was given.
        label: String,
    },
}

impl TrainResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Started { .. } | Self::Steps { .. } | Self::Eval(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Request, Response};

    #[test]
    fn json_shape_and_finality() {
        let r = Request::Train(TrainRequest::Resume);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"kind":"train","op":"resume"}"#);
        let data = TrainData::Toy { task: "addition".into() };
        assert_eq!(serde_json::to_string(&data).unwrap(), r#"{"source":"toy","task":"addition"}"#);
        assert!(!Response::Train(TrainResponse::Steps { points: vec![] }).is_final());
        assert!(!Response::Train(TrainResponse::Eval(EvalPoint {
            step: 1,
            val_loss: 1.0,
            val_nats_per_char: 1.0,
            accuracy: None,
            sample: String::new()
        }))
        .is_final());
        assert!(Response::Train(TrainResponse::Finished { step: 3, tokens_per_sec: 1.0 }).is_final());
        assert!(Response::Train(TrainResponse::ResetDone).is_final());
    }
}
