//! Protocol of the Fine-tune area: LoRA on the session's model with
//! instruction data, the recipe of `llmlab_core::adapters::finetune` (the
//! one `llmlab lora train --data/--builtin` runs).
//!
//! Requests are tagged by `op` inside the outer `kind = "finetune"` tag:
//! - `preview` renders the first training example and marks which tokens
//!   carry loss (answer-only labels);
//! - `start` builds the run and trains it, streaming `started` (parameter
//!   counts, held-out prompts with their answers before training), `steps`
//!   (loss per step), and ends with `finished` (answers after training) or
//!   the generic `Cancelled`;
//! - `export` returns the trained adapter's peft files.

use crate::protocol::model::NamedFile;
use serde::{Deserialize, Serialize};

/// Where the instruction examples come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum FinetuneData {
    /// The built-in set of the run's seed.
    Builtin,
    /// Pasted Alpaca JSON/JSONL or chat JSONL.
    Jsonl {
        /// The records.
        text: String,
    },
}

/// The Fine-tune tab's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FinetuneSettings {
    /// The examples.
    pub data: FinetuneData,
    /// LoRA rank.
    pub r: u32,
    /// LoRA α.
    pub alpha: f64,
    /// Adapted modules; `default` takes peft's default for the model.
    pub targets: String,
    /// Constant learning rate.
    pub lr: f64,
    /// AdamW steps.
    pub steps: u32,
    /// Examples per step.
    pub batch: u32,
    /// Seed of the adapter, the batches and the built-in set.
    pub seed: u64,
}

/// One held-out prompt and the model's greedy answers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeldOut {
    /// The rendered prompt.
    pub prompt: String,
    /// The expected answer.
    pub expected: String,
    /// The answer before training.
    pub before: String,
    /// The answer after training (empty until finished).
    pub after: String,
}

/// One step's loss.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct LossPoint {
    /// Steps done (1-based).
    pub step: u32,
    /// Answer-only loss of the step's batch, nats per answer token.
    pub loss: f64,
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FinetuneRequest {
    /// Render and tokenize the first training example of `data`.
    Preview {
        /// The examples.
        data: FinetuneData,
        /// Seed (the built-in set depends on it).
        seed: u64,
    },
    /// Build a run (replacing any previous one) and train it.
    Start {
        /// The run's settings.
        settings: FinetuneSettings,
    },
    /// The trained adapter's files.
    Export,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FinetuneResponse {
    /// The first example's tokens, and which carry loss (final).
    Preview {
        /// Each token's text.
        tokens: Vec<String>,
        /// `true` where the label is the token (the answer).
        loss: Vec<bool>,
        /// Training examples.
        train_examples: u32,
        /// Held-out examples.
        held_out_examples: u32,
    },
    /// The run is built (streamed first).
    Started {
        /// LoRA's trainable parameters.
        trainable: u64,
        /// The base model's parameters (full fine-tuning trains them all).
        base: u64,
        /// Steps to run.
        total_steps: u32,
        /// The held-out prompts with the answers before training.
        held_out: Vec<HeldOut>,
        /// Held-out answer loss before training.
        held_out_loss: f64,
        /// Exactly right held-out answers before training.
        correct: u32,
    },
    /// Steps done since the last message (streamed).
    Steps {
        /// One point per step.
        points: Vec<LossPoint>,
    },
    /// All steps are done (final).
    Finished {
        /// Held-out prompts with answers before and after.
        held_out: Vec<HeldOut>,
        /// Held-out answer loss before training.
        loss_before: f64,
        /// Held-out answer loss after training.
        loss_after: f64,
        /// Exactly right held-out answers before.
        correct_before: u32,
        /// Exactly right held-out answers after.
        correct_after: u32,
    },
    /// The adapter's peft files (final).
    Exported {
        /// `adapter_config.json` and `adapter_model.safetensors`.
        files: Vec<NamedFile>,
    },
}

impl FinetuneResponse {
    /// Whether this is the last response of its job.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Started { .. } | Self::Steps { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Request, Response};

    #[test]
    fn json_shape_and_finality() {
        let r = Request::Finetune(FinetuneRequest::Export);
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"kind":"finetune","op":"export"}"#);
        assert_eq!(serde_json::to_string(&FinetuneData::Builtin).unwrap(), r#"{"source":"builtin"}"#);
        assert!(!Response::Finetune(FinetuneResponse::Steps { points: vec![] }).is_final());
        assert!(Response::Finetune(FinetuneResponse::Exported { files: vec![] }).is_final());
    }
}
