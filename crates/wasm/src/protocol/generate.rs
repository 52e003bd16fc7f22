//! Protocol of the decoding (issue #5) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "generate"` tag, e.g.
//! `{"kind":"generate","op":"run",...}`. A run streams one [`GenerateResponse::Started`],
//! then one [`GenerateResponse::Step`] per generated token (or beam step), then
//! ends with [`GenerateResponse::Finished`] (also after Stop: the partial output).

use llmlab_core::decoding::settings::{ResolvedSetting, UserSettings};
use serde::{Deserialize, Serialize};

/// The Generate tab's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GenerateSettings {
    /// Decoding settings. A field left `None` takes the loaded checkpoint's
    /// `generation_config.json` value, then transformers' default (the same
    /// rule as the CLI's flags); the tab's share state says which are set.
    pub decoding: UserSettings,
    /// Use the KV cache (off: every step re-reads the whole sequence).
    pub kv_cache: bool,
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GenerateRequest {
    /// Generate from `prompt` with the loaded model. Without a tokenizer the
    /// prompt is a list of token ids (`464, 3290, 318`).
    Run {
        /// Prompt text (or token ids).
        prompt: String,
        /// Decoding settings.
        settings: GenerateSettings,
    },
}

/// A token with its text and probability.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenProb {
    /// Token id.
    pub id: u32,
    /// Decoded text (`#id` without a tokenizer).
    pub text: String,
    /// Probability after processing.
    pub prob: f32,
}

/// One row of a greedy / sampling step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RowView {
    /// The chosen token.
    pub chosen: TokenProb,
    /// Best candidates, most likely first.
    pub candidates: Vec<TokenProb>,
    /// Tokens kept by top-k, if it ran.
    pub kept_after_top_k: Option<usize>,
    /// Tokens kept by top-p, if it ran.
    pub kept_after_top_p: Option<usize>,
    /// Tokens left after every processor.
    pub kept: usize,
    /// The row had already finished (the token is padding).
    pub padding: bool,
}

/// One candidate of a beam search step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BeamView {
    /// Running beam it extends.
    pub parent: usize,
    /// Token appended.
    pub token: u32,
    /// Its text.
    pub text: String,
    /// Cumulative log-probability of the extended beam.
    pub cumulative_logprob: f32,
    /// `running`, `finished`, `rejected` (finished but not kept) or `pruned`.
    pub fate: String,
    /// The running beam it becomes (fate `running`).
    pub next_beam: Option<usize>,
}

/// What one step produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepView {
    /// Greedy / sampling: one entry per returned sequence.
    Tokens {
        /// 0 for the first new token.
        step: usize,
        /// Per-row choice.
        rows: Vec<RowView>,
    },
    /// Beam search: the candidates, best first.
    Beams {
        /// 0 for the first new token.
        step: usize,
        /// Candidates and their fate.
        candidates: Vec<BeamView>,
    },
}

/// One returned sequence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SequenceView {
    /// Full ids as HF returns them (prompt + new tokens for causal models).
    pub ids: Vec<i64>,
    /// The new tokens decoded (ids without a tokenizer).
    pub text: String,
    /// Beam score (HF's `sequences_scores`) or the sum of the chosen log-probs.
    pub score: f32,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GenerateResponse {
    /// The prompt was tokenized and generation starts (streamed).
    Started {
        /// Prompt token texts (after any truncation).
        prompt_tokens: Vec<String>,
        /// Visible note when the prompt or the length had to be cut to fit
        /// the context window.
        note: Option<String>,
        /// Effective strategy (`greedy`, `beam`, `sample`): temperature 0 or
        /// one beam fall back to greedy, as in HF.
        strategy: String,
        /// Beams (1 unless beam search).
        num_beams: usize,
        /// Every setting the run decodes with and where it came from (the
        /// user, the checkpoint's `generation_config.json`, transformers'
        /// default), as `llmlab_core::decoding::settings::explain` lists them.
        resolved: Vec<ResolvedSetting>,
    },
    /// One step (streamed).
    Step {
        /// What it produced.
        step: StepView,
    },
    /// The final answer (complete, or partial after Stop).
    Finished {
        /// Returned sequences, best first for beam search.
        sequences: Vec<SequenceView>,
        /// Prompt length in tokens (the new tokens follow it in `ids`).
        prompt_len: usize,
        /// New tokens per second over the model time.
        tokens_per_second: f64,
        /// Model calls made.
        forward_calls: usize,
        /// Whether the KV cache was on.
        kv_cache: bool,
        /// True when Stop ended it early.
        cancelled: bool,
    },
}

impl GenerateResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        matches!(self, GenerateResponse::Finished { .. })
    }
}
